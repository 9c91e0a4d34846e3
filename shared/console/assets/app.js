// The console's entry point: sign-in, the app switch, the list of the app's mParticle
// integrations and its row actions (edit, enable or disable, test, delete).

import { readConfig } from './config.js';
import * as auth from './auth.js';
import * as api from './api.js';
import { setupForm, setEventTypes, openCreate, openEdit } from './form.js';
import { $, el, showAlert, clearAlert, showStatus, clearStatus, describe, platformName, formatTime } from './ui.js';

let cfg;
let app = '';
let items = [];
let eventTypesLoaded = false;
// The row action to give focus back to after the list is drawn again.
let focusAfter = null;

const hooks = {
  onOpen() {},
  onClose() {
    $('add').focus();
  },
  onSaved(item, mode) {
    if (mode === 'create') showStatus(`Integration “${item.name}” added.`, 'good');
    else if (mode === 'edit') showStatus(`Changes to “${item.name}” saved.`, 'good');
    else showStatus('No changes to save.');
    focusAfter = { id: item.id, action: 'edit' };
    refresh();
  },
  signInAction,
};

function signInAction() {
  return { label: 'Sign in again', run: () => signIn(app) };
}

async function signIn(forApp) {
  try {
    await auth.beginSignIn(cfg, { app: forApp, loginHint: cfg.dev ? forApp : '' });
  } catch (err) {
    showSignedOut();
    showAlert(err.message);
  }
}

function showSignedOut(text) {
  $('session').hidden = true;
  $('list-view').hidden = true;
  $('form-view').hidden = true;
  $('signed-out').hidden = false;
  if (text) $('signed-out-text').textContent = text;
}

function setApp(next) {
  app = next;
  $('signed-in').textContent = `App ${app}`;
  $('switch-app').value = '';
  const u = new URL(location.href);
  u.search = '?' + new URLSearchParams({ app }).toString();
  history.replaceState(null, '', u.toString());
  document.title = `mParticle integrations · ${app} · Nami ML`;
}

async function showSignedIn(forApp) {
  $('signed-out').hidden = true;
  $('session').hidden = false;
  $('form-view').hidden = true;
  $('list-view').hidden = false;
  const granted = auth.grantedApps();
  $('granted-apps').replaceChildren(...granted.map((id) => el('option', { value: id })));
  setApp(forApp || granted[0] || '');
  if (!app) {
    render(false);
    showAlert('Your sign-in grants no app. Enter an app ID under “Switch app”.');
    return;
  }
  await refresh();
}

/** Loads the event types (once) and the app's integrations, and draws the list. */
async function refresh() {
  const button = $('refresh');
  button.disabled = true;
  try {
    if (!eventTypesLoaded) {
      setEventTypes(await api.eventTypes());
      eventTypesLoaded = true;
    }
    items = await api.listIntegrations(app);
    clearAlert();
    render();
  } catch (err) {
    if (!(err instanceof api.ApiError)) throw err;
    items = [];
    render(false);
    if (err.status === 404) {
      showAlert(`No access to app “${app}”: it does not exist, or your sign-in does not grant it. Switch to another app.`);
    } else {
      showAlert(describe(err, `app “${app}”`), err.status === 401 ? signInAction() : { label: 'Try again', run: refresh });
    }
  } finally {
    button.disabled = false;
  }
}

/** Draws the list; loaded false: the list could not be read (nothing to show or add to). */
function render(loaded = true) {
  const body = $('rows');
  body.replaceChildren(...items.map(row));
  $('empty').hidden = !loaded || items.length > 0;
  $('integrations').hidden = items.length === 0;
  $('add').hidden = !loaded;
  if (focusAfter) {
    const { id, action } = focusAfter;
    focusAfter = null;
    const target =
      body.querySelector(`tr[data-id="${CSS.escape(id)}"] button[data-action="${action}"]`) ||
      body.querySelector(`tr[data-id="${CSS.escape(id)}"] button`) ||
      $('add');
    target.focus();
  }
}

function health(item) {
  const s = item.status || { health: 'unknown' };
  if (s.health === 'ok') return el('span', { class: 'health-ok', text: 'OK' });
  if (s.health === 'unhealthy') {
    return el(
      'span',
      {},
      el('span', { class: 'health-unhealthy', text: 'Unhealthy' }),
      s.last_error ? el('span', { class: 'sub', text: s.last_error }) : null,
    );
  }
  return el('span', { class: 'health-unknown', text: 'Unknown' });
}

function counts(item) {
  const d = item.delivery_status;
  if (!d) return el('span', { class: 'health-unknown', text: 'No data' });
  const c = d.last_24h || {};
  const list = el(
    'ul',
    { class: 'counts' },
    el('li', { text: `${c.delivered ?? 0} delivered` }),
    el('li', { text: `${c.retried ?? 0} retried` }),
    el('li', { text: `${c.dead_lettered ?? 0} dead-lettered` }),
    el('li', { text: `${c.skipped ?? 0} skipped` }),
  );
  const wrap = el('div', {}, list);
  if (d.last_delivery_at) wrap.append(el('span', { class: 'sub', text: `Last delivery ${formatTime(d.last_delivery_at)}` }));
  if (d.last_failure) {
    wrap.append(el('span', { class: 'sub', text: `Last failure ${formatTime(d.last_failure_at)}: ${d.last_failure.message}` }));
  }
  return wrap;
}

function actionButton(label, action, name, run, cls = 'secondary') {
  const b = el('button', { type: 'button', class: cls, 'aria-label': `${label} ${name}`, 'data-action': action, text: label });
  b.addEventListener('click', () => run(b));
  return b;
}

function row(item) {
  const legacy = item.scope === 'all_platforms';
  const nameCell = el('td', { class: 'cell-name', 'data-label': 'Name' }, el('span', { text: item.name }));
  if (legacy) {
    nameCell.append(
      el('span', { class: 'badge deprecated', text: 'Deprecated' }),
      el('p', {
        class: 'deprecation',
        text:
          'Sends the events of every platform of the app, a legacy option. To replace it, add one integration per platform with “Only the selected platform”, then delete this one.',
      }),
    );
  }
  const where = legacy ? 'All platforms' : `App platform ${item.app_platform_id || ''}`;
  const endpoint = item.pod ? `Pod ${item.pod}` : 'Partner endpoint';
  const name = item.name;
  return el(
    'tr',
    { 'data-id': item.id },
    nameCell,
    el(
      'td',
      { 'data-label': 'Platform' },
      el('span', { text: platformName(item.platform) }),
      el('span', { class: 'sub', text: where }),
      el('span', { class: 'sub', text: endpoint }),
    ),
    el('td', { 'data-label': 'Enabled', text: item.enabled ? 'Yes' : 'No' }),
    el('td', { 'data-label': 'Health' }, health(item)),
    el('td', { 'data-label': 'Last 24 h' }, counts(item)),
    el(
      'td',
      { 'data-label': 'Actions' },
      el(
        'div',
        { class: 'row-actions' },
        actionButton('Edit', 'edit', name, () => edit(item)),
        actionButton(item.enabled ? 'Disable' : 'Enable', 'toggle', name, (b) => toggle(item, b)),
        actionButton('Send test event', 'test', name, (b) => test(item, b)),
        actionButton('Delete', 'delete', name, (b) => confirmDelete(item, b)),
      ),
    ),
  );
}

async function edit(item) {
  clearStatus();
  try {
    const { item: fresh, etag } = await api.getIntegration(app, item.id);
    openEdit(app, fresh, etag, hooks);
  } catch (err) {
    if (!(err instanceof api.ApiError)) throw err;
    rowFailed(err, item);
  }
}

/** Shows a row action's failure; a vanished or changed integration reloads the list. */
function rowFailed(err, item) {
  showAlert(describe(err, `“${item.name}”`), err.status === 401 ? signInAction() : undefined);
  if (err.status === 404 || err.status === 412) {
    focusAfter = { id: item.id, action: 'edit' };
    refresh().then(() => {
      // refresh clears the alert when the list loads; the reason for reloading stays.
      showAlert(describe(err, `“${item.name}”`));
    });
  }
}

async function toggle(item, button) {
  clearStatus();
  button.disabled = true;
  try {
    const saved = await api.updateIntegration(app, item.id, api.etagOf(item), { enabled: !item.enabled });
    items = items.map((it) => (it.id === saved.id ? saved : it));
    focusAfter = { id: saved.id, action: 'toggle' };
    render();
    showStatus(`“${saved.name}” is ${saved.enabled ? 'enabled' : 'disabled'}.`, 'good');
  } catch (err) {
    if (!(err instanceof api.ApiError)) throw err;
    button.disabled = false;
    rowFailed(err, item);
  }
}

// Each verdict of POST .../test: its word, and what to do about it.
const verdicts = {
  delivered: ['delivered', 'mParticle accepted it.'],
  credentials_refused: ['credentials refused', 'mParticle refused the key and secret: rotate them with the feed’s current ones.'],
  rejected: ['rejected', 'mParticle refused the event.'],
  throttled: ['throttled', 'mParticle is limiting this feed’s traffic; try again later.'],
  unreachable: ['not delivered', 'mParticle could not be reached, or redirected the request: check the endpoint.'],
};

async function test(item, button) {
  clearStatus();
  clearAlert();
  button.disabled = true;
  showStatus(`Test event: sending to “${item.name}”…`);
  try {
    const r = await api.testIntegration(app, item.id);
    const [word, advice] = verdicts[r.verdict] || [r.verdict, ''];
    const http = r.status ? `HTTP ${r.status}, ` : 'no answer, ';
    const reason = r.reason ? ` mParticle’s reason: ${r.reason}` : '';
    showStatus(`Test event: ${word} for “${item.name}” (${http}${r.latency_ms} ms). ${advice}${reason}`, r.verdict === 'delivered' ? 'good' : 'bad');
    // The test marks the integration healthy or unhealthy: show its new state.
    focusAfter = { id: item.id, action: 'test' };
    await refresh();
  } catch (err) {
    if (!(err instanceof api.ApiError)) throw err;
    showStatus(`Test event: not sent to “${item.name}”.`, 'bad');
    if (err.status === 429) {
      showAlert(`“${item.name}” was tested moments ago.${describe(err).replace(/^[^.]*\./, '')}`);
    } else {
      rowFailed(err, item);
    }
  } finally {
    button.disabled = false;
  }
}

let deleting = null; // {item, opener}

function confirmDelete(item, opener) {
  clearStatus();
  deleting = { item, opener };
  $('delete-heading').textContent = `Delete ${item.name}?`;
  const dlg = $('delete-dialog');
  dlg.showModal();
  $('delete-cancel').focus();
}

function closeDelete() {
  const d = deleting;
  deleting = null;
  const dlg = $('delete-dialog');
  if (dlg.open) dlg.close();
  if (d?.opener?.isConnected) d.opener.focus();
}

async function doDelete() {
  if (!deleting) return;
  const { item } = deleting;
  const button = $('delete-confirm');
  button.disabled = true;
  try {
    try {
      await api.deleteIntegration(app, item.id, api.etagOf(item));
    } catch (err) {
      // The item is gone but its secret's clean-up failed: a second DELETE finishes it
      // (and answers 404).
      if (!(err instanceof api.ApiError) || err.code !== 'cleanup_pending') throw err;
      await api.deleteIntegration(app, item.id, '*').catch((again) => {
        if (!(again instanceof api.ApiError) || again.status !== 404) throw again;
      });
    }
    deleting = null;
    $('delete-dialog').close();
    items = items.filter((it) => it.id !== item.id);
    render();
    showStatus(`Integration “${item.name}” deleted.`, 'good');
    $('add').focus();
  } catch (err) {
    if (!(err instanceof api.ApiError)) throw err;
    closeDelete();
    rowFailed(err, item);
  } finally {
    button.disabled = false;
  }
}

function setup() {
  setupForm(hooks);
  $('sign-in').addEventListener('click', () => signIn(new URLSearchParams(location.search).get('app') || app || cfg.dev_app || ''));
  $('sign-out').addEventListener('click', () => {
    auth.signOut();
    items = [];
    $('rows').replaceChildren();
    clearStatus();
    clearAlert();
    showSignedOut('You are signed out of the console.');
    $('sign-in').focus();
  });
  $('refresh').addEventListener('click', () => {
    clearStatus();
    refresh();
  });
  $('add').addEventListener('click', () => {
    clearStatus();
    openCreate(app, hooks);
  });
  $('switch-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('switch-app');
    const next = input.value.trim();
    // The API's app id syntax: anything else could only be refused.
    const bad = !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(next);
    $('switch-app-error').textContent = bad ? 'Enter an app ID: letters, digits and . _ : - only.' : '';
    if (bad) {
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    input.removeAttribute('aria-invalid');
    clearStatus();
    clearAlert();
    if (cfg.dev) {
      // The local provider signs in for the app named in login_hint.
      signIn(next);
      return;
    }
    setApp(next);
    refresh();
  });
  $('delete-confirm').addEventListener('click', doDelete);
  $('delete-cancel').addEventListener('click', closeDelete);
  // Escape closes the dialog (its cancel event); focus goes back to the row's button.
  $('delete-dialog').addEventListener('cancel', (e) => {
    e.preventDefault();
    closeDelete();
  });
}

async function start() {
  try {
    cfg = readConfig();
  } catch (err) {
    showSignedOut(err.message);
    $('sign-in').hidden = true;
    return;
  }
  setup();
  const wanted = new URLSearchParams(location.search).get('app') || '';
  if (auth.isCallback()) {
    try {
      const forApp = await auth.completeSignIn(cfg);
      await showSignedIn(forApp);
    } catch (err) {
      showSignedOut();
      showAlert(err.message);
    }
    return;
  }
  if (cfg.dev) {
    // The local provider approves at once: the console opens signed in.
    await signIn(wanted || cfg.dev_app || '');
    return;
  }
  showSignedOut();
}

start();
