// Sign-in: OpenID Connect authorization code flow with PKCE (S256), for a public client in
// the browser. Tokens live in this module's memory only: a reload signs in again. Only the
// PKCE verifier, state and nonce wait in sessionStorage while the browser is at the issuer,
// and are removed as soon as it comes back.

import { redirectURI } from './config.js';

const pendingKey = 'nami-console-sign-in';
// A sign-in that takes longer than this at the issuer is not completed.
const pendingTTLms = 10 * 60 * 1000;

/** @type {{token: string, claims: object, idClaims: object} | null} */
let session = null;

export class SignInError extends Error {}

function base64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(n) {
  return base64url(crypto.getRandomValues(new Uint8Array(n)));
}

async function s256(text) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return base64url(new Uint8Array(digest));
}

/**
 * The claims of a JWT, decoded without verifying it: the page only uses them to list the
 * token's apps and its expiry. The API verifies every token it is sent.
 */
export function decodeClaims(jwt) {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(part + '='.repeat((4 - (part.length % 4)) % 4));
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === 'object' ? claims : {};
  } catch {
    return {};
  }
}

let discovery = null;

async function discover(cfg) {
  if (discovery) return discovery;
  const url = cfg.issuer.replace(/\/+$/, '') + '/.well-known/openid-configuration';
  let res;
  try {
    res = await fetch(url, { credentials: 'omit', cache: 'no-store' });
  } catch {
    throw new SignInError('The sign-in service could not be reached. Check your connection and try again.');
  }
  if (!res.ok) throw new SignInError(`The sign-in service answered ${res.status} to its discovery request.`);
  const doc = await res.json();
  for (const k of ['authorization_endpoint', 'token_endpoint']) {
    if (typeof doc[k] !== 'string') throw new SignInError(`The sign-in service's configuration has no ${k}.`);
    const u = new URL(doc[k]);
    // Plain http only on this machine (the local provider): elsewhere codes and tokens
    // would cross the network in clear.
    const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) {
      throw new SignInError(`The sign-in service's ${k} is not https.`);
    }
  }
  discovery = doc;
  return doc;
}

/**
 * Sends the browser to the issuer. app is where the console returns to; loginHint, when
 * given, is passed on (the local provider signs in for that app).
 */
export async function beginSignIn(cfg, { app = '', loginHint = '' } = {}) {
  const doc = await discover(cfg);
  const verifier = randomString(32);
  const state = randomString(16);
  const nonce = randomString(16);
  sessionStorage.setItem(pendingKey, JSON.stringify({ verifier, state, nonce, app, at: Date.now() }));
  const u = new URL(doc.authorization_endpoint);
  const p = u.searchParams;
  p.set('response_type', 'code');
  p.set('client_id', cfg.client_id);
  p.set('redirect_uri', redirectURI(cfg));
  p.set('scope', cfg.scopes || 'openid');
  p.set('state', state);
  p.set('nonce', nonce);
  p.set('code_challenge', await s256(verifier));
  p.set('code_challenge_method', 'S256');
  if (loginHint) p.set('login_hint', loginHint);
  location.assign(u.toString());
}

/** Whether this page load is the issuer sending the browser back. */
export function isCallback() {
  const p = new URLSearchParams(location.search);
  return p.has('state') && (p.has('code') || p.has('error'));
}

/**
 * Completes a sign-in the issuer sent the browser back from: checks state, exchanges the
 * code (with the PKCE verifier) for tokens, and removes code and state from the address
 * bar and the pending values from sessionStorage. Returns the app the sign-in was for.
 */
export async function completeSignIn(cfg) {
  const p = new URLSearchParams(location.search);
  let pending = null;
  try {
    pending = JSON.parse(sessionStorage.getItem(pendingKey) || 'null');
  } catch {
    pending = null;
  }
  sessionStorage.removeItem(pendingKey);
  const app = pending?.app || '';
  const clean = new URL(location.href);
  clean.search = app ? '?' + new URLSearchParams({ app }).toString() : '';
  history.replaceState(null, '', clean.toString());

  if (!pending || pending.state !== p.get('state') || Date.now() - pending.at > pendingTTLms) {
    throw new SignInError('This sign-in was not started here, or took too long. Sign in again.');
  }
  if (p.has('error')) {
    const why = p.get('error_description') || p.get('error');
    throw new SignInError(`The sign-in service refused the sign-in: ${why}.`);
  }
  const doc = await discover(cfg);
  let res;
  try {
    res = await fetch(doc.token_endpoint, {
      method: 'POST',
      credentials: 'omit',
      cache: 'no-store',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: p.get('code') || '',
        redirect_uri: redirectURI(cfg),
        client_id: cfg.client_id,
        code_verifier: pending.verifier,
      }),
    });
  } catch {
    throw new SignInError('The sign-in service could not be reached. Check your connection and try again.');
  }
  let body = {};
  try {
    body = await res.json();
  } catch {
    body = {};
  }
  if (!res.ok) {
    throw new SignInError(`The sign-in service refused the code: ${body.error_description || body.error || res.status}.`);
  }
  const idClaims = body.id_token ? decodeClaims(body.id_token) : {};
  if (body.id_token && idClaims.nonce !== pending.nonce) {
    throw new SignInError('The sign-in answer was not for this request (nonce). Sign in again.');
  }
  const token = cfg.token_use === 'id' ? body.id_token : body.access_token;
  if (!token) throw new SignInError(`The sign-in service sent no ${cfg.token_use === 'id' ? 'ID' : 'access'} token.`);
  session = { token, claims: decodeClaims(token), idClaims };
  return app;
}

export function token() {
  return session?.token || '';
}

export function signedIn() {
  return session !== null;
}

export function signOut() {
  session = null;
}

/**
 * The apps the token grants, for the app switch (the API decides; this only lists them):
 * nami_app_ids of the bearer token, or of the ID token when the access token has none.
 */
export function grantedApps() {
  for (const c of [session?.claims, session?.idClaims]) {
    const v = c?.nami_app_ids;
    if (Array.isArray(v)) return v.filter((x) => typeof x === 'string');
    if (typeof v === 'string' && v) return v.replace(/^\[|\]$/g, '').split(/[\s,]+/).filter(Boolean);
  }
  return [];
}
