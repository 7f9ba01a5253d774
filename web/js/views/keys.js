// #/keys: create API keys (the secret is shown once), list and revoke them.
//
// The functions below share one view object, `v`: destroyed (set on
// unmount), ctrl (aborts the view's requests), f (the create form's parts,
// see keyForm) and the elements tbody, table, tableWrap, listAlert, notice,
// count and secretSlot.

import { api, request, isAbort } from '/admin/js/api.js';
import {
  h, clear, icon, timeEl, badge, alertBox, statusBox, field, busy, setFieldError,
  clearFieldErrors, showFieldErrors, problemText, confirmDialog, plural,
} from '/admin/js/dom.js';
import { secretBox } from '/admin/js/views/secret-box.js';

const SCOPES = [
  ['users:read', 'Read users and search'],
  ['users:write', 'Create, change and delete users'],
  ['admin', 'Everything an admin can do'],
];

function tomorrow() {
  const d = new Date();
  d.setDate(d.getDate() + 1);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export function mount(container) {
  const v = {
    destroyed: false,
    ctrl: new AbortController(),
    f: keyForm(),
    secretSlot: h('div', { class: 'secret-slot' }),
    ...keysTable(),
    listAlert: alertBox(),
    notice: statusBox(),
    count: h('p', { class: 'count', 'aria-live': 'polite' }),
  };
  const view = h('section', { class: 'view view-keys', 'aria-labelledby': 'keys-title' },
    h('div', { class: 'view-head' }, h('div', {}, h('h1', { id: 'keys-title', text: 'API keys' }), v.count)),
    h('p', { class: 'muted lede', text: 'Keys let other services call the API with Authorization: Bearer <secret>. Give each service its own key with the fewest scopes it needs.' }),
    v.f.form,
    v.secretSlot,
    h('h2', { class: 'section-title', text: 'Active keys' }),
    v.listAlert,
    v.notice,
    v.tableWrap);
  container.append(view);
  v.f.form.addEventListener('submit', (e) => {
    e.preventDefault();
    createKey(v);
  });

  load(v);

  return {
    unmount() {
      v.destroyed = true;
      v.ctrl.abort();
      view.remove();
    },
  };
}

// --- the create form -----------------------------------------------------------

function keyForm() {
  const name = h('input', { name: 'name', type: 'text', required: true, maxlength: '100', autocomplete: 'off', placeholder: 'e.g. billing-service' });
  const expires = h('input', { name: 'expires_at', type: 'date', min: tomorrow() });
  const rate = h('input', { name: 'rate_limit', id: 'key-rate-limit', type: 'number', min: '1', max: '1000000', step: '1', inputmode: 'numeric', placeholder: 'the server’s' });
  const scopeBoxes = SCOPES.map(([value]) => h('input', { type: 'checkbox', name: 'scopes', value, checked: value === 'users:read' }));
  const scopesError = h('p', { class: 'field-error', id: 'key-scopes-error', hidden: true, dataset: { field: 'scopes' } });
  const scopes = h('fieldset', { class: 'field fieldset', 'aria-describedby': 'key-scopes-error' },
    h('legend', { text: 'Scopes' }),
    h('div', { class: 'check-col' }, scopeBoxes.map((b, i) => h('label', { class: 'check' }, b,
      h('span', {}, h('code', { text: b.value }), h('span', { class: 'muted', text: ` — ${SCOPES[i][1]}` }))))),
    scopesError);
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, icon('plus'), h('span', { text: 'Create key' }));
  const form = h('form', { id: 'key-form', class: 'form card', novalidate: true },
    h('h2', { class: 'card-title', text: 'New API key' }),
    h('div', { class: 'grid-2' },
      field('Name', name).wrap,
      field('Expires (optional)', expires, { hint: 'The key stops working at the end of this day.', errorFor: 'expires_at' }).wrap,
      field('Requests per second (optional)', rate, { hint: 'Its own limit instead of the server’s.', errorFor: 'rate_limit' }).wrap),
    scopes,
    alert,
    h('div', { class: 'form-actions' }, submit));
  return { form, name, expires, rate, scopeBoxes, scopesError, alert, submit };
}

/** The POST body for the form, or null after marking what is wrong. */
function keyBody({ form, name, expires, rate, scopeBoxes, scopesError }) {
  const chosen = scopeBoxes.filter((b) => b.checked).map((b) => b.value);
  let bad = false;
  if (!name.value.trim()) {
    setFieldError(form.querySelector('.field-error[data-field="name"]'), 'Give the key a name.', name);
    name.focus();
    bad = true;
  }
  if (!chosen.length) {
    setFieldError(scopesError, 'Choose at least one scope.');
    if (!bad) scopeBoxes[0].focus();
    bad = true;
  }
  const body = { name: name.value.trim(), scopes: chosen };
  if (expires.value) {
    const end = new Date(`${expires.value}T23:59:59`);
    if (Number.isNaN(end.getTime()) || end <= new Date()) {
      setFieldError(form.querySelector('.field-error[data-field="expires_at"]'), 'Choose a date in the future.', expires);
      if (!bad) expires.focus();
      bad = true;
    } else {
      body.expires_at = end.toISOString().replace(/\.\d{3}Z$/, 'Z');
    }
  }
  if (rate.value) {
    const n = Number(rate.value);
    if (!Number.isInteger(n) || n < 1 || n > 1000000) {
      setFieldError(form.querySelector('.field-error[data-field="rate_limit"]'), 'A whole number from 1 to 1 000 000.', rate);
      if (!bad) rate.focus();
      bad = true;
    } else {
      body.rate_limit = n;
    }
  }
  return bad ? null : body;
}

async function createKey(v) {
  const { f, tbody } = v;
  clearFieldErrors(f.form);
  f.alert.hide();
  const body = keyBody(f);
  if (!body) return;
  await busy(f.submit, async () => {
    try {
      const res = await request('/api-keys', { method: 'POST', body, signal: v.ctrl.signal });
      const created = res.data;
      showSecret(v, created);
      const empty = tbody.querySelector('.empty-row');
      if (empty) empty.remove();
      tbody.prepend(rowFor(v, created));
      updateCount(v);
      f.name.value = '';
      f.expires.value = '';
    } catch (err) {
      if (isAbort(err)) return;
      const left = showFieldErrors(f.form, err.errors);
      f.alert.show(problemText(err, left));
    }
  });
}

// --- the new key's secret ------------------------------------------------------

/** Shows the secret of the key just `created`, once, with Copy and dismiss. */
function showSecret(v, created) {
  const box = secretBox({
    id: 'key-secret',
    copyId: 'copy-secret',
    title: `Secret of “${created.name}”`,
    secret: created.secret,
    warning: 'Copy it now: this secret will not be shown again. If you lose it, revoke the key and create a new one.',
    onDismiss: () => {
      clear(v.secretSlot);
      v.f.name.focus();
    },
  });
  clear(v.secretSlot).append(box);
  box.focus();
}

// --- the list ------------------------------------------------------------------

function keysTable() {
  const tbody = h('tbody', {});
  const table = h('table', { id: 'keys-table', class: 'table' },
    h('caption', { class: 'sr-only', text: 'API keys' }),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col', text: 'Name' }),
      h('th', { scope: 'col', class: 'col-prefix', text: 'Prefix' }),
      h('th', { scope: 'col', text: 'Scopes' }),
      h('th', { scope: 'col', class: 'col-created', text: 'Created' }),
      h('th', { scope: 'col', class: 'col-expires', text: 'Expires' }),
      h('th', { scope: 'col', class: 'col-used', text: 'Last used' }),
      h('th', { scope: 'col', class: 'col-actions' }, h('span', { class: 'sr-only', text: 'Actions' })))),
    tbody);
  const tableWrap = h('div', { class: 'table-wrap' }, table);
  return { tbody, table, tableWrap };
}

function updateCount({ tbody, count }) {
  const n = tbody.querySelectorAll('tr[data-id]').length;
  count.textContent = plural(n, 'key', 'keys');
  if (!n && !tbody.querySelector('.empty-row')) {
    tbody.append(h('tr', { class: 'empty-row' }, h('td', { colspan: '7' }, h('div', { class: 'empty', text: 'No API keys yet.' }))));
  }
}

function rowFor(v, k) {
  const revoke = h('button', { type: 'button', class: 'btn btn-sm btn-danger-ghost revoke', text: 'Revoke', 'aria-label': `Revoke key ${k.name}` });
  const tr = h('tr', { dataset: { id: k.id } },
    h('td', {}, h('span', { class: 'cell-main', text: k.name }), k.created_by ? h('span', { class: 'cell-sub muted', title: k.created_by, text: `by ${k.created_by}` }) : null),
    h('td', { class: 'col-prefix' }, h('code', { text: `${k.prefix}…` })),
    h('td', {}, (k.scopes || []).map((s) => badge(s, s === 'admin' ? 'accent' : ''))),
    h('td', { class: 'col-created' }, timeEl(k.created_at)),
    h('td', { class: 'col-expires' }, k.expires_at ? timeEl(k.expires_at) : h('span', { class: 'muted', text: 'Never' })),
    h('td', { class: 'col-used' }, k.last_used_at ? timeEl(k.last_used_at) : h('span', { class: 'muted', text: 'Not yet' }),
      k.rate_limit ? h('span', { class: 'cell-sub muted', text: `${k.rate_limit}/s` }) : null),
    h('td', { class: 'col-actions' }, revoke));
  revoke.addEventListener('click', () => revokeKey(v, k, tr, revoke));
  return tr;
}

async function revokeKey(v, k, tr, revoke) {
  const ok = await confirmDialog({
    title: `Revoke key “${k.name}”?`,
    message: 'Anything using this key loses access at once. This cannot be undone.',
    ok: 'Revoke',
  });
  if (!ok || v.destroyed) return;
  v.listAlert.hide();
  await busy(revoke, async () => {
    try {
      await request(`/api-keys/${encodeURIComponent(k.id)}`, { method: 'DELETE', signal: v.ctrl.signal });
      removeRow(v, tr);
      v.notice.flash(`Revoked “${k.name}”.`);
    } catch (err) {
      if (isAbort(err)) return;
      if (err.status === 404) {
        removeRow(v, tr);
        return;
      }
      v.listAlert.show(err.detail);
    }
  });
}

/** Takes a revoked key's row away; the focus goes to a neighbour's Revoke, else the form. */
function removeRow(v, tr) {
  const sib = tr.nextElementSibling || tr.previousElementSibling;
  tr.remove();
  updateCount(v);
  const focusTo = sib && sib.querySelector('button.revoke');
  (focusTo || v.f.name).focus();
}

async function load(v) {
  const { table, tableWrap, tbody } = v;
  table.setAttribute('aria-busy', 'true');
  tableWrap.classList.add('is-loading');
  if (!tbody.firstChild) tbody.append(h('tr', { class: 'empty-row' }, h('td', { colspan: '6' }, h('div', { class: 'empty', text: 'Loading keys…' }))));
  try {
    const data = await api('/api-keys', { signal: v.ctrl.signal });
    if (v.destroyed) return;
    clear(tbody);
    const items = [...(data.items || [])].sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
    items.forEach((k) => tbody.append(rowFor(v, k)));
    updateCount(v);
  } catch (err) {
    if (isAbort(err) || v.destroyed) return;
    clear(tbody);
    v.listAlert.show(err.detail);
  } finally {
    table.setAttribute('aria-busy', 'false');
    tableWrap.classList.remove('is-loading');
  }
}
