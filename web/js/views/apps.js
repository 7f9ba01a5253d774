// #/apps: the apps that sign their users in through roster (OpenID Connect
// clients). Register one (a confidential client's secret is shown once),
// see each one's client_id and redirect URIs, change one (the form above,
// in edit mode), rotate a secret, remove an app.

import { api, request, isAbort } from '/admin/js/api.js';
import {
  h, clear, icon, alertBox, statusBox, field, busy, badge, timeEl, plural, confirmDialog,
  clearFieldErrors, showFieldErrors, problemText,
} from '/admin/js/dom.js';
import { secretBox } from '/admin/js/views/secret-box.js';

export function mount(container) {
  const v = {
    destroyed: false,
    ctrl: new AbortController(),
    f: clientForm(),
    secretSlot: h('div', { class: 'secret-slot' }),
    list: h('ul', { id: 'client-list', class: 'webhook-list', 'aria-labelledby': 'clients-list-title' }),
    count: h('p', { class: 'count', 'aria-live': 'polite' }),
    listAlert: alertBox(),
    notice: statusBox(),
  };
  const view = h('section', { class: 'view view-apps', 'aria-labelledby': 'apps-title' },
    h('div', { class: 'view-head' }, h('div', {}, h('h1', { id: 'apps-title', text: 'Sign-in apps' }), v.count)),
    h('p', { class: 'muted lede' },
      'Apps that sign their users in through roster with OpenID Connect. Point an app at the issuer ',
      h('code', { text: window.location.origin }),
      ' (discovery: ', h('code', { text: '/.well-known/openid-configuration' }), ').'),
    v.f.form, v.secretSlot,
    h('h2', { id: 'clients-list-title', class: 'section-title', text: 'Registered apps' }),
    v.listAlert, v.notice, v.list);
  container.append(view);
  v.f.form.addEventListener('submit', (e) => {
    e.preventDefault();
    create(v);
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

function clientForm() {
  const name = h('input', { id: 'client-name', name: 'name', type: 'text', required: true, maxlength: '100', autocomplete: 'off', placeholder: 'e.g. Team wiki' });
  const uris = h('textarea', { id: 'client-redirect-uris', name: 'redirect_uris', rows: '2', spellcheck: 'false', placeholder: 'https://wiki.example.com/oauth/callback' });
  const kind = h('select', { id: 'client-kind', name: 'kind' },
    h('option', { value: 'confidential', text: 'Confidential (a server: has a secret)' }),
    h('option', { value: 'public', text: 'Public (a browser or mobile app: PKCE)' }));
  const alg = h('select', { id: 'client-alg', name: 'id_token_alg' },
    h('option', { value: 'RS256', text: 'RS256 (every library)' }),
    h('option', { value: 'ES256', text: 'ES256' }),
    h('option', { value: 'EdDSA', text: 'EdDSA' }));
  const skip = h('input', { id: 'client-skip-consent', name: 'skip_consent', type: 'checkbox' });
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, icon('plus'), h('span', { text: 'Register app' }));
  const cancel = h('button', { type: 'button', class: 'btn', id: 'client-cancel', text: 'Cancel', hidden: true });
  const title = h('h2', { class: 'card-title', text: 'New app' });
  const form = h('form', { id: 'client-form', class: 'form card', novalidate: true },
    title,
    h('div', { class: 'grid-2' },
      field('Name', name, { hint: 'Shown to people on the consent page.' }).wrap,
      field('Kind', kind).wrap),
    field('Redirect URIs', uris, { hint: 'One per line; matched exactly. https, or http on localhost.', errorFor: 'redirect_uris' }).wrap,
    h('div', { class: 'grid-2' },
      field('ID token signature', alg).wrap,
      h('label', { class: 'check' }, skip, h('span', { text: 'First-party app: do not ask people to consent' }))),
    alert,
    h('div', { class: 'form-actions' }, submit, cancel));
  const f = { form, title, name, uris, kind, alg, skip, alert, submit, cancel, editing: null };
  cancel.addEventListener('click', () => editMode(f, null));
  return f;
}

/** Puts the form in edit mode for client `c`, or (null) back to "New app". */
function editMode(f, c) {
  f.editing = c;
  f.form.reset();
  clearFieldErrors(f.form);
  f.alert.hide();
  f.title.textContent = c ? `Edit ${c.name}` : 'New app';
  f.submit.lastChild.textContent = c ? 'Save changes' : 'Register app';
  f.cancel.hidden = !c;
  f.kind.disabled = !!c;
  if (c) {
    f.name.value = c.name;
    f.uris.value = c.redirect_uris.join('\n');
    f.kind.value = c.kind;
    f.alg.value = c.id_token_alg;
    f.skip.checked = c.skip_consent;
    f.name.focus();
  }
}

async function create(v) {
  const { f } = v;
  clearFieldErrors(f.form);
  f.alert.hide();
  const body = {
    name: f.name.value.trim(),
    redirect_uris: f.uris.value.split('\n').map((s) => s.trim()).filter(Boolean),
    id_token_alg: f.alg.value,
    skip_consent: f.skip.checked,
  };
  const editing = f.editing;
  if (!editing) body.kind = f.kind.value;
  await busy(f.submit, async () => {
    try {
      if (editing) {
        const path = `/oauth-clients/${encodeURIComponent(editing.client_id)}`;
        const changed = await api(path, { method: 'PATCH', body, signal: v.ctrl.signal });
        if (v.destroyed) return;
        const old = v.list.querySelector(`.webhook-row[data-id="${CSS.escape(changed.client_id)}"]`);
        if (old) old.replaceWith(rowFor(v, changed));
        editMode(f, null);
        v.notice.flash(`Saved ${changed.name}.`);
        return;
      }
      const created = (await request('/oauth-clients', { method: 'POST', body, signal: v.ctrl.signal })).data;
      if (v.destroyed) return;
      showCreated(v, created, false);
      f.form.reset();
      v.list.prepend(rowFor(v, created));
      updateCount(v);
    } catch (err) {
      if (isAbort(err)) return;
      const left = showFieldErrors(f.form, err.errors);
      f.alert.show(problemText(err, left));
    }
  });
}

/** Shows the client_id, and the secret once (confidential apps). */
function showCreated(v, c, rotated) {
  if (!c.client_secret) {
    v.notice.flash(`Registered ${c.name}. Its client_id is ${c.client_id}; it signs in with PKCE, no secret.`);
    return;
  }
  const box = secretBox({
    id: 'client-secret',
    copyId: 'copy-client-secret',
    title: `${rotated ? 'New client secret' : 'Client secret'} of ${c.name} (client_id ${c.client_id})`,
    secret: c.client_secret,
    warning: rotated
      ? 'Copy it now: it will not be shown again. The previous secret no longer works.'
      : 'Copy it now: it will not be shown again. The app sends it with the client_id to the token endpoint.',
    onDismiss: () => {
      clear(v.secretSlot);
      v.f.name.focus();
    },
  });
  clear(v.secretSlot).append(box);
  box.focus();
}

function meta(label, value) {
  return h('div', {}, h('dt', { text: label }), h('dd', {}, value));
}

function rowFor(v, c) {
  const btn = (action, text, extra = {}) => h('button', { type: 'button', class: 'btn btn-sm', dataset: { action }, text, ...extra });
  const actions = [
    btn('edit', 'Edit', { 'aria-label': `Edit ${c.name}` }),
    c.kind === 'confidential' ? btn('rotate', 'Rotate secret', { 'aria-label': `Rotate the secret of ${c.name}` }) : null,
    btn('delete', 'Delete', { class: 'btn btn-sm btn-danger-ghost', 'aria-label': `Delete ${c.name}` }),
  ];
  const li = h('li', { class: 'webhook-row card', dataset: { id: c.client_id } },
    h('div', { class: 'webhook-head' },
      h('div', { class: 'webhook-title' }, h('strong', { text: c.name }), h('p', {}, h('code', { class: 'select-all', text: c.client_id }))),
      badge(c.kind, c.kind === 'public' ? 'accent' : '')),
    h('dl', { class: 'webhook-meta' },
      meta('Redirect URIs', c.redirect_uris.length ? c.redirect_uris.map((u) => h('code', { text: u })) : '—'),
      meta('Scopes', c.scopes.join(' ')),
      meta('ID tokens', c.id_token_alg),
      meta('Consent', c.skip_consent ? 'not asked' : 'asked'),
      meta('Created', timeEl(c.created_at))),
    h('div', { class: 'form-actions webhook-actions' }, actions));
  li.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-action]');
    if (b) ({ edit: (vv) => editMode(vv.f, c), rotate, delete: remove })[b.dataset.action](v, c, li, b);
  });
  return li;
}

function updateCount({ list, count }) {
  const n = list.querySelectorAll('.webhook-row').length;
  count.textContent = plural(n, 'app', 'apps');
  const empty = list.querySelector('.empty');
  if (!n && !empty) list.append(h('li', { class: 'empty', text: 'No apps yet. Register one above.' }));
  if (n && empty) empty.remove();
}

async function rotate(v, c, li, b) {
  const ok = await confirmDialog({
    title: `Rotate the secret of ${c.name}?`,
    message: 'The current secret stops working at once; the app needs the new one.',
    ok: 'Rotate',
  });
  if (!ok || v.destroyed) return;
  await busy(b, async () => {
    try {
      const updated = (await request(`/oauth-clients/${encodeURIComponent(c.client_id)}/rotate-secret`, { method: 'POST', signal: v.ctrl.signal })).data;
      showCreated(v, updated, true);
    } catch (err) {
      if (!isAbort(err)) v.listAlert.show(err.detail);
    }
  });
}

async function remove(v, c, li, b) {
  const ok = await confirmDialog({
    title: `Delete ${c.name}?`,
    message: 'People can no longer sign in to it through roster, and every session it holds ends now.',
    ok: 'Delete',
  });
  if (!ok || v.destroyed) return;
  await busy(b, async () => {
    try {
      await request(`/oauth-clients/${encodeURIComponent(c.client_id)}`, { method: 'DELETE', signal: v.ctrl.signal });
      v.notice.flash(`Deleted ${c.name}.`);
    } catch (err) {
      if (isAbort(err)) return;
      if (err.status !== 404) {
        v.listAlert.show(err.detail);
        return;
      }
    }
    li.remove();
    updateCount(v);
    if (v.f.editing && v.f.editing.client_id === c.client_id) editMode(v.f, null);
    v.f.name.focus();
  });
}

async function load(v) {
  v.list.setAttribute('aria-busy', 'true');
  try {
    const data = await api('/oauth-clients', { signal: v.ctrl.signal });
    if (v.destroyed) return;
    clear(v.list);
    [...data.items].reverse().forEach((c) => v.list.append(rowFor(v, c)));
    updateCount(v);
  } catch (err) {
    if (!isAbort(err) && !v.destroyed) v.listAlert.show(err.detail);
  } finally {
    v.list.setAttribute('aria-busy', 'false');
  }
}
