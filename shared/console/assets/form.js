// The add and edit form: the product's "mParticle" screen. It sends what the operator
// entered to the API (create: every member; edit: only what changed, with If-Match), and
// shows each error the API reports next to the field it names.

import * as api from './api.js';
import { $, el, showAlert, clearAlert, describe, platformNames } from './ui.js';

// Where the API's error "field" paths are shown: the id of the control, whose error
// element is "<id>-error".
const fieldIds = {
  name: 'name',
  enabled: 'enabled',
  scope: 'scope',
  allow_legacy_scope: 'scope',
  app_platform_id: 'app_platform_id',
  platform: 'platform',
  pod: 'pod',
  customer_id_source: 'customer_id_source',
  sandbox: 'sandbox',
  missing_customer_id: 'missing_customer_id',
  events: 'events',
  credentials: 'credentials',
  'credentials.key': 'key',
  'credentials.secret': 'secret',
  sandbox_credentials: 'sandbox_credentials',
  'sandbox_credentials.key': 'sandbox_key',
  'sandbox_credentials.secret': 'sandbox_secret',
};

/** The control id that shows errors of an API field path ("" when none does). */
export function fieldId(path) {
  const p = String(path || '').replace(/\[\d+\]$/, '');
  return fieldIds[p] || '';
}

const errorTargets = [...new Set(Object.values(fieldIds))];

let ctx = null; // {app, mode: 'create'|'edit', item, etag, onSaved, onClose, onAuth}
let eventTypes = [];

const form = () => $('integration-form');

/** Wires the form's controls once; hooks get the outcome. */
export function setupForm(hooks) {
  const sel = $('platform');
  for (const [value, label] of Object.entries(platformNames)) sel.append(el('option', { value, text: label }));
  form().addEventListener('submit', (e) => {
    e.preventDefault();
    submit(hooks);
  });
  $('cancel').addEventListener('click', () => close(hooks));
  form().addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !e.defaultPrevented) {
      e.preventDefault();
      close(hooks);
    }
  });
  $('events-all').addEventListener('click', () => setAllEvents(true));
  $('events-none').addEventListener('click', () => setAllEvents(false));
  $('sandbox').addEventListener('change', syncSandbox);
  for (const r of form().querySelectorAll('input[name="scope"]')) r.addEventListener('change', syncScope);
}

/** The event types (GET /v1/event-types), each a checkbox with its description. */
export function setEventTypes(types) {
  eventTypes = types;
  const list = $('event-list');
  list.replaceChildren();
  for (const t of types) {
    const slug = 'event-' + t.type.replace(/[^A-Za-z0-9]+/g, '-');
    list.append(
      el(
        'div',
        { class: 'check' },
        el('input', { type: 'checkbox', id: slug, name: 'events', value: t.type, 'aria-describedby': `${slug}-desc` }),
        el('div', {}, el('label', { for: slug, text: t.type }), el('p', { id: `${slug}-desc`, class: 'help', text: t.description })),
      ),
    );
  }
}

function setAllEvents(on) {
  for (const c of eventBoxes()) c.checked = on;
}

function eventBoxes() {
  return [...form().querySelectorAll('input[name="events"]')];
}

function checkedScope() {
  return form().querySelector('input[name="scope"]:checked')?.value || 'platform';
}

function syncScope() {
  const legacy = checkedScope() === 'all_platforms';
  $('app_platform_id').disabled = legacy;
}

function syncSandbox() {
  $('sandbox_credentials').hidden = $('sandbox').value !== 'separate';
}

export function openCreate(app, hooks) {
  ctx = { app, mode: 'create', item: null, etag: '' };
  reset();
  $('form-heading').textContent = 'Add integration';
  $('submit').textContent = 'Add New Integration';
  $('enabled').checked = true;
  $('scope-platform').checked = true;
  $('scope-legacy').hidden = true;
  $('credentials-legend').textContent = 'mParticle feed credentials';
  $('key-hint').hidden = true;
  $('sandbox-key-hint').hidden = true;
  setAllEvents(true);
  show(hooks);
  $('enabled').focus();
}

export function openEdit(app, item, etag, hooks) {
  ctx = { app, mode: 'edit', item, etag };
  reset();
  fill(item);
  show(hooks);
  $('name').focus();
}

function fill(item) {
  $('form-heading').textContent = `Edit ${item.name}`;
  $('submit').textContent = 'Save changes';
  $('enabled').checked = item.enabled;
  const legacy = item.scope === 'all_platforms';
  $('scope-legacy').hidden = !legacy;
  $(legacy ? 'scope-all' : 'scope-platform').checked = true;
  $('app_platform_id').value = item.app_platform_id || '';
  $('platform').value = item.platform;
  $('name').value = item.name;
  $('customer_id_source').value = item.customer_id_source;
  const chosen = new Set(item.events);
  for (const c of eventBoxes()) c.checked = chosen.has(c.value);
  $('pod').value = item.pod || '';
  $('sandbox').value = item.sandbox || 'development';
  $('missing_customer_id').value = item.missing_customer_id || 'send';
  $('credentials-legend').textContent = 'Rotate credentials';
  const hint = $('key-hint');
  hint.hidden = false;
  hint.textContent = item.credentials?.key_hint
    ? `Current key ends in …${item.credentials.key_hint}. Enter a new key and secret to rotate them; leave both empty to keep them.`
    : 'Enter a new key and secret to rotate them; leave both empty to keep them.';
  const sHint = $('sandbox-key-hint');
  sHint.hidden = !item.sandbox_credentials_set;
  sHint.textContent = item.sandbox_key_hint
    ? `Current sandbox key ends in …${item.sandbox_key_hint}. Leave both empty to keep them.`
    : 'Sandbox credentials are stored. Leave both empty to keep them.';
  syncScope();
  syncSandbox();
}

function reset() {
  form().reset();
  clearErrors();
  syncScope();
  syncSandbox();
}

function show(hooks) {
  clearAlert();
  $('list-view').hidden = true;
  $('form-view').hidden = false;
  hooks.onOpen?.();
}

function close(hooks) {
  const closing = ctx;
  form().reset();
  clearErrors();
  ctx = null;
  $('form-view').hidden = true;
  $('list-view').hidden = false;
  hooks.onClose?.(closing);
}

export function isOpen() {
  return ctx !== null;
}

function clearErrors() {
  $('form-error').textContent = '';
  for (const id of errorTargets) {
    const box = $(`${id}-error`);
    if (box) box.textContent = '';
  }
  for (const n of form().querySelectorAll('[aria-invalid]')) n.removeAttribute('aria-invalid');
}

/** The element to mark invalid and focus for a control id (a fieldset's first input). */
function control(id) {
  const n = $(id);
  if (n?.tagName === 'FIELDSET') return n.querySelector('input:not([disabled]), select') || n;
  return n;
}

/** Shows errors ([{id, message}], id "" for the form) and focuses the first. */
function showErrors(errors) {
  let first = null;
  for (const { id, message } of errors) {
    const box = id ? $(`${id}-error`) : null;
    if (!box) {
      const f = $('form-error');
      f.textContent = f.textContent ? `${f.textContent} ${message}` : message;
      first ??= f;
      continue;
    }
    box.textContent = message;
    const c = control(id);
    if (c && c !== box) {
      c.setAttribute('aria-invalid', 'true');
      const described = (c.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean);
      if (!described.includes(box.id)) c.setAttribute('aria-describedby', [...described, box.id].join(' '));
    }
    first ??= c || box;
  }
  first?.focus();
}

/** The label a person sees for a control id (a fieldset's legend). */
function labelOf(id) {
  const n = $(id);
  if (!n) return '';
  if (n.tagName === 'FIELDSET') return n.querySelector('legend')?.textContent.trim() || '';
  return form().querySelector(`label[for="${CSS.escape(id)}"]`)?.textContent.trim() || '';
}

/** The API's message, with the field path it starts with put as the field's label. */
function fieldMessage(err, id) {
  let m = String(err.message || '').trim();
  const label = id ? labelOf(id) : '';
  if (label && err.field && m.startsWith(err.field + ' ')) m = label + m.slice(err.field.length);
  return sentence(m);
}

function sentence(s) {
  s = String(s || '').trim();
  if (!s) return s;
  s = s[0].toUpperCase() + s.slice(1);
  return /[.!?]$/.test(s) ? s : s + '.';
}

/** The draft as the form holds it. */
function read() {
  return {
    enabled: $('enabled').checked,
    scope: checkedScope(),
    app_platform_id: $('app_platform_id').value.trim(),
    platform: $('platform').value,
    name: $('name').value,
    key: $('key').value.trim(),
    secret: $('secret').value.trim(),
    customer_id_source: $('customer_id_source').value,
    events: eventBoxes().filter((c) => c.checked).map((c) => c.value),
    pod: $('pod').value || null,
    sandbox: $('sandbox').value,
    sandbox_key: $('sandbox_key').value.trim(),
    sandbox_secret: $('sandbox_secret').value.trim(),
    missing_customer_id: $('missing_customer_id').value,
  };
}

/** Checks what the API would refuse for a missing value; the API judges everything else. */
function check(d, mode, item) {
  const errs = [];
  // In the form's order, so that focus goes to the first one on the screen.
  if (d.scope === 'platform' && !d.app_platform_id) errs.push({ id: 'app_platform_id', message: 'Enter the app platform ID.' });
  if (!d.name.trim()) errs.push({ id: 'name', message: 'Enter a name.' });
  const rotating = d.key || d.secret;
  if (mode === 'create' || rotating) {
    if (!d.key) errs.push({ id: 'key', message: mode === 'create' ? 'Enter the Server to Server Key.' : 'Enter the new key too, or clear the secret to keep the current credentials.' });
    if (!d.secret) errs.push({ id: 'secret', message: mode === 'create' ? 'Enter the Server to Server Secret.' : 'Enter the new secret too, or clear the key to keep the current credentials.' });
  }
  if (d.events.length === 0) errs.push({ id: 'events', message: 'Choose at least one event.' });
  if (d.sandbox === 'separate') {
    const needed = mode === 'create' || item?.sandbox !== 'separate';
    if (needed || d.sandbox_key || d.sandbox_secret) {
      if (!d.sandbox_key) errs.push({ id: 'sandbox_key', message: 'Enter the development feed\u2019s Server to Server Key.' });
      if (!d.sandbox_secret) errs.push({ id: 'sandbox_secret', message: 'Enter the development feed\u2019s Server to Server Secret.' });
    }
  }
  return errs;
}

function createBody(d) {
  const body = {
    name: d.name,
    enabled: d.enabled,
    scope: 'platform',
    app_platform_id: d.app_platform_id,
    platform: d.platform,
    customer_id_source: d.customer_id_source,
    events: d.events,
    credentials: { key: d.key, secret: d.secret },
    sandbox: d.sandbox,
    missing_customer_id: d.missing_customer_id,
  };
  if (d.pod) body.pod = d.pod;
  if (d.sandbox === 'separate') body.sandbox_credentials = { key: d.sandbox_key, secret: d.sandbox_secret };
  return body;
}

/** A merge patch of what changed against the integration as loaded. */
function patchBody(d, item) {
  const p = {};
  if (d.name !== item.name) p.name = d.name;
  if (d.enabled !== item.enabled) p.enabled = d.enabled;
  if (d.scope !== item.scope) p.scope = d.scope;
  if (d.scope === 'platform' && (d.app_platform_id !== (item.app_platform_id || '') || d.scope !== item.scope)) {
    p.app_platform_id = d.app_platform_id;
  }
  for (const k of ['platform', 'customer_id_source', 'sandbox', 'missing_customer_id']) {
    if (d[k] !== item[k]) p[k] = d[k];
  }
  if ((d.pod || null) !== (item.pod || null)) p.pod = d.pod;
  const before = [...item.events].sort().join(' ');
  if ([...d.events].sort().join(' ') !== before) p.events = d.events;
  if (d.key || d.secret) p.credentials = { key: d.key, secret: d.secret };
  if (d.sandbox === 'separate' && (d.sandbox_key || d.sandbox_secret)) {
    p.sandbox_credentials = { key: d.sandbox_key, secret: d.sandbox_secret };
  }
  return p;
}

async function submit(hooks) {
  if (!ctx) return;
  clearErrors();
  clearAlert();
  const d = read();
  const errs = check(d, ctx.mode, ctx.item);
  if (errs.length) {
    showErrors(errs);
    return;
  }
  const button = $('submit');
  button.disabled = true;
  const here = ctx;
  try {
    let saved;
    if (here.mode === 'create') {
      saved = await api.createIntegration(here.app, createBody(d));
    } else {
      const patch = patchBody(d, here.item);
      if (Object.keys(patch).length === 0) {
        close(hooks);
        hooks.onSaved?.(here.item, 'unchanged');
        return;
      }
      saved = await api.updateIntegration(here.app, here.item.id, here.etag, patch);
    }
    close(hooks);
    hooks.onSaved?.(saved, here.mode);
  } catch (err) {
    if (!(err instanceof api.ApiError)) throw err;
    await failed(err, here, hooks);
  } finally {
    button.disabled = false;
  }
}

async function failed(err, here, hooks) {
  if ([400, 413, 415, 422].includes(err.status)) {
    const id = fieldId(err.field);
    showErrors([{ id, message: fieldMessage(err, id) }]);
    return;
  }
  if (err.status === 412 && here.mode === 'edit') {
    try {
      const { item, etag } = await api.getIntegration(here.app, here.item.id);
      ctx = { ...here, item, etag };
      fill(item);
      showAlert(describe(err, `“${item.name}”`));
    } catch (again) {
      showAlert(describe(again instanceof api.ApiError ? again : err));
    }
    return;
  }
  if (err.status === 401) {
    showAlert(describe(err), hooks.signInAction?.());
    return;
  }
  if (err.status === 403 && err.code === 'plan_required' && here.mode === 'edit') {
    // Of the changes, only enabling needs the plan.
    showAlert(describe(err));
    showErrors([{ id: 'enabled', message: 'Enabling needs the Enterprise plan.' }]);
    return;
  }
  showAlert(describe(err, here.mode === 'edit' ? `“${here.item.name}”` : 'this app'));
}
