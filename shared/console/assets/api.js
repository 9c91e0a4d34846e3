// The Integrations API as the console uses it: only the documented /v1 routes, on the
// page's own origin, with the signed-in token as bearer.

import { basePath } from './config.js';
import { token } from './auth.js';

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0: no answer)
   * @param {string} code the API's error code ("network" without an answer)
   * @param {string} message the API's message
   * @param {string} field the request member at fault, if any
   * @param {Headers|null} headers the response's headers
   */
  constructor(status, code, message, field, headers, requestID = '') {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
    this.requestID = requestID;
    this.retryAfter = headers?.get('Retry-After') || '';
    this.etag = headers?.get('ETag') || '';
  }
}

const seg = encodeURIComponent;

export function integrationsPath(app) {
  return `/v1/apps/${seg(app)}/integrations/mparticle`;
}

export function integrationPath(app, id) {
  return `${integrationsPath(app)}/${seg(id)}`;
}

/** The entity tag of an integration's version, as the API sends it in ETag. */
export function etagOf(item) {
  return `"${item.version}"`;
}

/**
 * One request. Resolves to {status, data, etag}; rejects with ApiError for an error
 * answer or none at all.
 */
export async function request(method, path, { body, ifMatch } = {}) {
  const headers = { Accept: 'application/json', Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (ifMatch) headers['If-Match'] = ifMatch;
  let res;
  try {
    res = await fetch(basePath() + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
      redirect: 'error',
    });
  } catch {
    throw new ApiError(0, 'network', 'The Integrations API could not be reached. Check your connection and try again.', '', null);
  }
  let data = null;
  if (res.status !== 204) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    // The API's {"error": {...}}; API Gateway's own refusals are {"message": "..."}.
    const e = data?.error || {};
    throw new ApiError(res.status, e.code || '', e.message || data?.message || res.statusText || '', e.field || '', res.headers, e.request_id || '');
  }
  return { status: res.status, data, etag: res.headers.get('ETag') || '' };
}

export async function eventTypes() {
  return (await request('GET', '/v1/event-types')).data.items;
}

/** Every integration of the app, following the list's pages. */
export async function listIntegrations(app) {
  const items = [];
  let next = '';
  // The app's bound (MaxIntegrationsPerApp) keeps this short; the cap only stops a loop.
  for (let page = 0; page < 50; page++) {
    const q = new URLSearchParams({ limit: '100' });
    if (next) q.set('next', next);
    const { data } = await request('GET', `${integrationsPath(app)}?${q}`);
    items.push(...data.items);
    next = data.next || '';
    if (!next) break;
  }
  return items;
}

export async function getIntegration(app, id) {
  const { data, etag } = await request('GET', integrationPath(app, id));
  return { item: data, etag: etag || etagOf(data) };
}

export async function createIntegration(app, body) {
  return (await request('POST', integrationsPath(app), { body })).data;
}

export async function updateIntegration(app, id, etag, body) {
  return (await request('PATCH', integrationPath(app, id), { body, ifMatch: etag })).data;
}

export async function deleteIntegration(app, id, etag) {
  await request('DELETE', integrationPath(app, id), { ifMatch: etag });
}

export async function testIntegration(app, id) {
  return (await request('POST', `${integrationPath(app, id)}/test`)).data;
}
