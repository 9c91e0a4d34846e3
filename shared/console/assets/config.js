// The console's settings, which the server writes into the page's console-config meta
// element (the Content-Security-Policy allows no inline script to carry them).

/**
 * @typedef {object} Config
 * @property {string} issuer OpenID Connect issuer URL
 * @property {string} client_id the console's public client
 * @property {string} [redirect_uri] registered redirect URI; default: this page's /console
 * @property {string} scopes space-separated scopes to ask for
 * @property {"access"|"id"} token_use which token is sent as the bearer token
 * @property {boolean} [dev] the local stack's provider: sign in without a click
 * @property {string} [dev_app] the app the local console opens with
 */

/** @returns {Config} */
export function readConfig() {
  const meta = document.querySelector('meta[name="console-config"]');
  const cfg = JSON.parse(meta?.getAttribute('content') || '{}');
  if (!cfg.issuer || !cfg.client_id) {
    throw new Error('The console is not configured: the page carries no issuer or client id.');
  }
  return cfg;
}

/** The path the API and the console live under ("" unless behind a base path). */
export function basePath() {
  return location.pathname.replace(/\/console(\/.*)?$/, '');
}

/** The URL the issuer sends the browser back to after sign-in. */
export function redirectURI(cfg) {
  return cfg.redirect_uri || location.origin + basePath() + '/console';
}
