// Small DOM helpers shared by the console's screens. Text from the API or the user is
// always set as text (textContent), never parsed as HTML.

export const $ = (id) => document.getElementById(id);

/** el('td', {class: 'x', 'data-label': 'Name'}, 'text', child, ...) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k === 'hidden') node.hidden = true;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Shows a message in the page's alert region; action adds a button beside it. */
export function showAlert(message, action) {
  const box = $('alert');
  box.replaceChildren(el('span', { text: message }));
  if (action) {
    const b = el('button', { type: 'button', class: 'secondary', text: action.label });
    b.addEventListener('click', action.run);
    box.append(b);
  }
}

export function clearAlert() {
  $('alert').replaceChildren();
}

/** Shows a polite status message; tone "good" or "bad" colours its edge. */
export function showStatus(message, tone = '') {
  const box = $('status');
  box.className = 'status' + (tone ? ' ' + tone : '');
  box.textContent = message;
}

export function clearStatus() {
  $('status').textContent = '';
}

export const platformNames = {
  ios: 'iOS',
  android: 'Android',
  amazon: 'Amazon',
  apple_tv: 'Apple TV',
  web: 'Web',
  roku: 'Roku',
  fire_tv: 'Fire TV',
  smart_tv: 'Smart TV',
  xbox: 'Xbox',
  alexa: 'Alexa',
};

export function platformName(p) {
  return platformNames[p] || p;
}

function seconds(retryAfter) {
  const n = Number.parseInt(retryAfter, 10);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/**
 * A sentence for an API error that belongs to no field. what names the object of the
 * request for 404s ("this integration", "app demo").
 */
export function describe(err, what = 'this integration') {
  const s = seconds(err.retryAfter);
  const wait = s ? ` Try again in ${s} second${s === 1 ? '' : 's'}.` : ' Try again in a minute.';
  switch (err.status) {
    case 0:
      return err.message;
    case 401:
      return 'Your sign-in has expired or was refused. Sign in again.';
    case 403:
      if (err.code === 'plan_required') {
        return 'Your plan does not include the mParticle integration: adding or enabling one needs the Enterprise plan.';
      }
      return 'Your sign-in does not allow this.';
    case 404:
      return `Not found: ${what} does not exist, or your sign-in does not grant access to it.`;
    case 409:
      if (err.code === 'integration_limit') {
        return 'This app has the most mParticle integrations allowed. Delete one before adding another.';
      }
      return 'The request collided with another one. Try again.';
    case 412:
      return `${capitalize(what)} was changed elsewhere since it was loaded. It has been reloaded: check it and try again.`;
    case 413:
      return 'The request is too large.';
    case 429:
      return (err.code === 'rate_limited' ? 'Too many requests for this app right now.' : 'Too many requests.') + wait;
  }
  if (err.status >= 500) {
    const ref = err.requestID ? ` (request ${err.requestID})` : '';
    return `The Integrations API failed${ref}. Try again; if it keeps failing, contact Nami support.`;
  }
  return err.message ? capitalize(err.message) + '.' : `The request failed (HTTP ${err.status}).`;
}

function capitalize(s) {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

export function formatTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}
