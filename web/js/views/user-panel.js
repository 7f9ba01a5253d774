// The user side panel: edit (merge PATCH with If-Match), create, reset
// password, sessions and delete. One panel element, rebuilt per user.

import { request, me, isAbort } from '/admin/js/api.js';
import {
  h, clear, icon, alertBox, statusBox, field, busy, setFieldError, clearFieldErrors,
  showFieldErrors, problemText, confirmDialog, dialogOpen, trapFocus, timeEl, badge,
} from '/admin/js/dom.js';

const ROLES = ['admin', 'user'];

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function deepEqual(a, b) {
  return JSON.stringify(a) === JSON.stringify(b) ||
    (isObject(a) && isObject(b) && Object.keys(a).length === Object.keys(b).length &&
      Object.keys(a).every((k) => k in b && deepEqual(a[k], b[k])));
}

/** The RFC 7396 merge patch that turns `a` into `b` (both objects). */
function mergeDiff(a, b) {
  const out = {};
  for (const k of Object.keys(a)) if (!(k in b)) out[k] = null;
  for (const [k, v] of Object.entries(b)) {
    if (!(k in a)) out[k] = v;
    else if (!deepEqual(a[k], v)) out[k] = isObject(a[k]) && isObject(v) ? mergeDiff(a[k], v) : v;
  }
  return out;
}

/** Parses the attributes textarea: {value} or {error}. */
function parseAttributes(text) {
  const t = text.trim();
  if (!t) return { value: {} };
  try {
    const v = JSON.parse(t);
    if (!isObject(v)) return { error: 'Attributes must be a JSON object, such as {"team": "ops"}.' };
    return { value: v };
  } catch (e) {
    return { error: `Not valid JSON: ${e.message}` };
  }
}

function shortAgent(ua) {
  if (!ua) return 'Unknown client';
  const browser = (ua.match(/(Edg|OPR|Firefox|Chrome|Safari|curl|Wget|python-requests|Go-http-client)\/[\d.]+/) || [])[0];
  const os = (ua.match(/\((?:[^;)]*; )?([^;)]+)/) || [])[1];
  if (browser) return os ? `${browser.replace('Edg', 'Edge').replace('OPR', 'Opera')} · ${os}` : browser;
  return ua.length > 60 ? `${ua.slice(0, 57)}…` : ua;
}

export function createPanel(hooks) {
  const backdrop = h('div', { class: 'backdrop', hidden: true });
  const panel = h('aside', {
    id: 'user-panel',
    class: 'panel',
    role: 'dialog',
    'aria-modal': 'true',
    'aria-labelledby': 'user-panel-title',
    tabindex: '-1',
    hidden: true,
  });
  document.body.append(backdrop, panel);
  backdrop.addEventListener('click', () => close());
  const untrap = trapFocus(panel);

  let state = null; // {mode, id, user, etag, returnFocus, ctrl}
  let seq = 0;

  const onKey = (e) => {
    if (e.key === 'Escape' && state && !dialogOpen()) {
      e.preventDefault();
      close();
    }
  };
  document.addEventListener('keydown', onKey);

  function setInert(on) {
    const layout = document.querySelector('#app .layout');
    if (layout) layout.inert = on;
  }

  function show(returnFocus) {
    if (panel.hidden) {
      panel.hidden = false;
      backdrop.hidden = false;
      setInert(true);
      document.body.classList.add('has-panel');
    }
    if (state && !state.returnFocus) state.returnFocus = returnFocus;
  }

  function header(title) {
    const closeBtn = h('button', { type: 'button', class: 'btn btn-icon btn-ghost', 'aria-label': 'Close panel', id: 'panel-close' }, icon('close'));
    closeBtn.addEventListener('click', () => close());
    return h('div', { class: 'panel-head' },
      h('h2', { id: 'user-panel-title', class: 'panel-title', text: title }),
      closeBtn);
  }

  function abortPending() {
    if (state && state.ctrl) state.ctrl.abort();
  }

  // --- open / close ----------------------------------------------------------

  async function openUser(id, returnFocus = document.activeElement, { notice = '' } = {}) {
    if (state && state.mode === 'edit' && state.id === id && !panel.hidden) return;
    abortPending();
    const prevFocus = state && state.returnFocus;
    state = { mode: 'edit', id, user: null, etag: null, returnFocus: prevFocus || returnFocus, ctrl: new AbortController() };
    const my = ++seq;
    clear(panel).append(header('User'), h('div', { class: 'panel-body' }, h('p', { class: 'muted loading-text', role: 'status', text: 'Loading user…' })));
    show(returnFocus);
    panel.focus();
    try {
      const res = await request(`/users/${encodeURIComponent(id)}`, { signal: state.ctrl.signal });
      if (my !== seq) return;
      state.user = res.data;
      state.etag = res.etag || `"${res.data.version}"`;
      renderEdit({ notice });
    } catch (e) {
      if (isAbort(e) || my !== seq) return;
      const msg = e.status === 404 ? 'This user does not exist (it may have been deleted).' : e.detail;
      clear(panel).append(header('User'), h('div', { class: 'panel-body' }, h('div', { class: 'alert', role: 'alert', text: msg })));
      if (e.status === 404 && hooks.onDeleted) hooks.onDeleted(id, { silent: true });
    }
  }

  function openCreate(returnFocus = document.activeElement) {
    abortPending();
    seq += 1;
    state = { mode: 'create', id: null, user: null, etag: null, returnFocus, ctrl: new AbortController() };
    renderCreate();
    show(returnFocus);
  }

  function close({ fromRoute = false } = {}) {
    if (!state) return;
    abortPending();
    const { returnFocus, id } = state;
    state = null;
    seq += 1;
    panel.classList.remove('open');
    panel.hidden = true;
    backdrop.hidden = true;
    document.body.classList.remove('has-panel');
    setInert(false);
    clear(panel);
    if (hooks.onClose) hooks.onClose({ fromRoute, id, returnFocus });
  }

  // --- the user form ----------------------------------------------------------

  function buildForm(mode, user) {
    const u = user || { roles: ['user'], status: 'active', attributes: {}, email_verified: false };
    const inputs = {
      name: h('input', { name: 'name', type: 'text', autocomplete: 'off', maxlength: '200', value: u.name || '' }),
      email: h('input', { name: 'email', type: 'email', autocomplete: 'off', required: true, spellcheck: 'false', autocapitalize: 'none', value: u.email || '' }),
      username: h('input', { name: 'username', type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none', maxlength: '64', value: u.username || '' }),
      status: h('select', { name: 'status' },
        h('option', { value: 'active', text: 'Active' }),
        h('option', { value: 'disabled', text: 'Disabled' })),
      email_verified: h('input', { name: 'email_verified', type: 'checkbox', checked: !!u.email_verified }),
      attributes: h('textarea', { name: 'attributes', rows: '6', spellcheck: 'false', class: 'mono' }),
    };
    inputs.status.value = u.status || 'active';
    inputs.attributes.value = JSON.stringify(u.attributes || {}, null, 2);
    if (mode === 'create') {
      inputs.password = h('input', { name: 'password', type: 'password', autocomplete: 'new-password', minlength: '8' });
    }
    const roleBoxes = ROLES.map((r) => h('input', { type: 'checkbox', name: 'roles', value: r, checked: (u.roles || []).includes(r) }));
    const rolesError = h('p', { class: 'field-error', id: 'user-roles-error', hidden: true, dataset: { field: 'roles' } });
    const rolesSet = h('fieldset', { class: 'field fieldset', 'aria-describedby': 'user-roles-error' },
      h('legend', { text: 'Roles' }),
      h('div', { class: 'check-row' }, roleBoxes.map((b) => h('label', { class: 'check' }, b, h('span', { text: b.value })))),
      rolesError);

    const attrs = field('Attributes (JSON object)', inputs.attributes, { hint: 'Custom data, at most 16 KiB. Remove a key to delete it.' });
    inputs.attributes.addEventListener('input', () => {
      const r = parseAttributes(inputs.attributes.value);
      setFieldError(attrs.error, r.error || '', inputs.attributes);
    });

    const verified = h('label', { class: 'check' }, inputs.email_verified, h('span', { text: 'Email verified' }));
    const verifiedError = h('p', { class: 'field-error', hidden: true, dataset: { field: 'email_verified' } });

    const alert = alertBox();
    const status = statusBox();
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', text: mode === 'create' ? 'Create user' : 'Save changes' });
    const cancel = h('button', { type: 'button', class: 'btn', text: mode === 'create' ? 'Cancel' : 'Close' });
    cancel.addEventListener('click', () => close());

    const form = h('form', { id: 'user-form', class: 'form', novalidate: true },
      h('div', { class: 'grid-2' },
        field('Name', inputs.name).wrap,
        field('Username', inputs.username, { hint: 'Optional. Letters, digits, . _ -' }).wrap),
      field('Email', inputs.email).wrap,
      inputs.password ? field('Password', inputs.password, { hint: 'Optional; at least 8 characters. Without one the user cannot sign in with a password.' }).wrap : null,
      h('div', { class: 'grid-2' },
        rolesSet,
        field('Status', inputs.status).wrap),
      h('div', { class: 'field' }, verified, verifiedError),
      attrs.wrap,
      alert,
      h('div', { class: 'form-actions' }, submit, cancel, status));

    const values = () => {
      const parsed = parseAttributes(inputs.attributes.value);
      return {
        name: inputs.name.value.trim() || null,
        email: inputs.email.value.trim(),
        username: inputs.username.value.trim() || null,
        roles: roleBoxes.filter((b) => b.checked).map((b) => b.value),
        status: inputs.status.value,
        email_verified: inputs.email_verified.checked,
        attributes: parsed,
        password: inputs.password ? inputs.password.value : undefined,
      };
    };

    const fill = (nu) => {
      inputs.name.value = nu.name || '';
      inputs.email.value = nu.email || '';
      inputs.username.value = nu.username || '';
      inputs.status.value = nu.status;
      inputs.email_verified.checked = !!nu.email_verified;
      inputs.attributes.value = JSON.stringify(nu.attributes || {}, null, 2);
      roleBoxes.forEach((b) => { b.checked = (nu.roles || []).includes(b.value); });
      clearFieldErrors(form);
    };

    /** Local checks before sending; true when the form may be sent. */
    const precheck = (v) => {
      clearFieldErrors(form);
      alert.hide();
      let ok = true;
      if (v.attributes.error) {
        setFieldError(attrs.error, v.attributes.error, inputs.attributes);
        inputs.attributes.focus();
        ok = false;
      }
      if (!v.email) {
        const err = form.querySelector('.field-error[data-field="email"]');
        setFieldError(err, 'Email is required.', inputs.email);
        inputs.email.focus();
        ok = false;
      }
      return ok;
    };

    return { form, inputs, alert, status, submit, values, fill, precheck };
  }

  function meta(user) {
    const idCode = h('code', { class: 'mono select-all', text: user.id });
    return h('dl', { class: 'meta' },
      h('div', {}, h('dt', { text: 'ID' }), h('dd', {}, idCode)),
      h('div', {}, h('dt', { text: 'Created' }), h('dd', {}, timeEl(user.created_at, true))),
      h('div', {}, h('dt', { text: 'Updated' }), h('dd', {}, timeEl(user.updated_at, true))),
      h('div', {}, h('dt', { text: 'Version' }), h('dd', { text: String(user.version) })));
  }

  function renderCreate() {
    const f = buildForm('create', null);
    f.form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const v = f.values();
      if (!f.precheck(v)) return;
      const body = {
        email: v.email,
        roles: v.roles,
        status: v.status,
        email_verified: v.email_verified,
      };
      if (v.name) body.name = v.name;
      if (v.username) body.username = v.username;
      if (v.password) body.password = v.password;
      if (Object.keys(v.attributes.value).length) body.attributes = v.attributes.value;
      await busy(f.submit, async () => {
        try {
          const res = await request('/users', { method: 'POST', body, signal: state.ctrl.signal });
          if (hooks.onCreated) hooks.onCreated(res.data);
        } catch (err) {
          if (isAbort(err)) return;
          const left = showFieldErrors(f.form, err.errors);
          f.alert.show(problemText(err, left));
        }
      });
    });
    clear(panel).append(header('New user'), h('div', { class: 'panel-body' }, f.form));
    f.inputs.name.focus();
  }

  function renderEdit({ flash = '', notice = '' } = {}) {
    const user = state.user;
    const my = seq;
    const f = buildForm('edit', user);
    const title = header(user.name || user.email);

    f.form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const v = f.values();
      if (!f.precheck(v)) return;
      const cur = state.user;
      const patch = {};
      if (v.name !== (cur.name ?? null)) patch.name = v.name;
      if (v.email !== cur.email) patch.email = v.email;
      if (v.username !== (cur.username ?? null)) patch.username = v.username;
      if ([...v.roles].sort().join() !== [...(cur.roles || [])].sort().join()) patch.roles = v.roles;
      if (v.status !== cur.status) patch.status = v.status;
      if (v.email_verified !== !!cur.email_verified) patch.email_verified = v.email_verified;
      const attrPatch = mergeDiff(cur.attributes || {}, v.attributes.value);
      if (Object.keys(attrPatch).length) patch.attributes = attrPatch;
      if (!Object.keys(patch).length) {
        f.status.flash('No changes to save.');
        return;
      }
      await busy(f.submit, async () => {
        try {
          const res = await request(`/users/${encodeURIComponent(cur.id)}`, {
            method: 'PATCH',
            body: patch,
            headers: { 'If-Match': state.etag },
            signal: state.ctrl.signal,
          });
          if (my !== seq) return;
          state.user = res.data;
          state.etag = res.etag || `"${res.data.version}"`;
          f.fill(res.data);
          title.querySelector('.panel-title').textContent = res.data.name || res.data.email;
          metaBox.replaceWith(metaBox = meta(res.data));
          f.status.flash('Changes saved.');
          if (hooks.onSaved) hooks.onSaved(res.data);
        } catch (err) {
          if (isAbort(err) || my !== seq) return;
          if (err.status === 412) {
            await reload('This user was changed elsewhere since you opened it. The latest version is shown now; make your changes again.');
            return;
          }
          if (err.status === 404) {
            f.alert.show('This user no longer exists.');
            if (hooks.onDeleted) hooks.onDeleted(cur.id, { silent: true });
            return;
          }
          const left = showFieldErrors(f.form, err.errors);
          f.alert.show(problemText(err, left));
        }
      });
    });

    let metaBox = meta(user);
    const body = h('div', { class: 'panel-body' },
      metaBox,
      f.form,
      passwordSection(user),
      sessionsSection(user),
      dangerSection(user));
    clear(panel).append(title, body);
    if (flash) f.alert.show(flash);
    if (notice) f.status.flash(notice);
    if (!panel.contains(document.activeElement) || document.activeElement === panel) {
      f.inputs.name.focus();
    }

    async function reload(message) {
      try {
        const res = await request(`/users/${encodeURIComponent(user.id)}`, { signal: state.ctrl.signal });
        if (my !== seq) return;
        state.user = res.data;
        state.etag = res.etag || `"${res.data.version}"`;
        if (hooks.onSaved) hooks.onSaved(res.data);
        renderEdit({ flash: message });
        panel.querySelector('#user-form [name="name"]').focus();
      } catch (err) {
        if (isAbort(err) || my !== seq) return;
        f.alert.show(err.status === 404 ? 'This user was deleted elsewhere.' : err.detail);
        if (err.status === 404 && hooks.onDeleted) hooks.onDeleted(user.id, { silent: true });
      }
    }
  }

  // --- password ---------------------------------------------------------------

  function passwordSection(user) {
    const self = me() && me().id === user.id;
    const current = self ? h('input', { name: 'current_password', type: 'password', autocomplete: 'current-password', required: true }) : null;
    const pw = h('input', { name: 'new_password', type: 'password', autocomplete: 'new-password', required: true, minlength: '8' });
    const alert = alertBox();
    const status = statusBox();
    const submit = h('button', { type: 'submit', class: 'btn', text: 'Set password' });
    // For password managers: which account this password belongs to.
    const account = h('input', { type: 'text', name: 'account', autocomplete: 'username', value: user.email, hidden: true, readonly: true, tabindex: '-1', 'aria-hidden': 'true' });
    const form = h('form', { id: 'password-form', class: 'form', novalidate: true },
      account,
      current ? field('Your current password', current).wrap : null,
      field('New password', pw, { hint: self ? 'At least 8 characters. This signs you out everywhere, including here.' : 'At least 8 characters. This signs the user out of every session.' }).wrap,
      alert,
      h('div', { class: 'form-actions' }, submit, status));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearFieldErrors(form);
      alert.hide();
      if (pw.value.length < 8) {
        setFieldError(form.querySelector('.field-error[data-field="new_password"]'), 'Use at least 8 characters.', pw);
        pw.focus();
        return;
      }
      const body = { new_password: pw.value };
      if (current) body.current_password = current.value;
      const ctrl = state.ctrl;
      await busy(submit, async () => {
        try {
          await request(`/users/${encodeURIComponent(user.id)}/password`, { method: 'POST', body, signal: ctrl.signal });
          pw.value = '';
          if (current) current.value = '';
          status.flash('Password changed; sessions were signed out.', 6000);
          const list = panel.querySelector('#session-list');
          if (list && list.reload) list.reload();
        } catch (err) {
          if (isAbort(err)) return;
          const left = showFieldErrors(form, err.errors);
          alert.show(problemText(err, left));
        }
      });
    });
    return h('section', { class: 'panel-section', 'aria-labelledby': 'pw-title' },
      h('h3', { id: 'pw-title', text: 'Reset password' }),
      form);
  }

  // --- sessions ---------------------------------------------------------------

  function sessionsSection(user) {
    const list = h('ul', { id: 'session-list', class: 'session-list', 'aria-live': 'polite' });
    const alert = alertBox();
    const status = statusBox();
    const revokeAll = h('button', { type: 'button', id: 'revoke-all-sessions', class: 'btn btn-sm', text: 'Revoke all', disabled: true });

    const load = async () => {
      const ctrl = state && state.ctrl;
      if (!ctrl) return;
      alert.hide();
      list.setAttribute('aria-busy', 'true');
      try {
        const data = (await request(`/users/${encodeURIComponent(user.id)}/sessions`, { signal: ctrl.signal })).data;
        const items = data.items || [];
        clear(list);
        revokeAll.disabled = !items.length;
        if (!items.length) {
          list.append(h('li', { class: 'empty', text: 'No active sessions.' }));
        }
        for (const s of items) {
          const btn = h('button', { type: 'button', class: 'btn btn-sm btn-ghost revoke-session', text: 'Revoke', 'aria-label': `Revoke session from ${shortAgent(s.user_agent)}` });
          btn.addEventListener('click', () => busy(btn, async () => {
            try {
              await request(`/users/${encodeURIComponent(user.id)}/sessions/${encodeURIComponent(s.id)}`, { method: 'DELETE', signal: ctrl.signal });
              status.flash('Session revoked.');
              await load();
              revokeAll.focus();
            } catch (err) {
              if (!isAbort(err)) alert.show(err.status === 404 ? 'That session had already ended.' : err.detail);
              if (err.status === 404) load();
            }
          }));
          list.append(h('li', { class: 'session', dataset: { id: s.id } },
            h('div', { class: 'session-main' },
              h('span', { class: 'session-agent', title: s.user_agent || '', text: shortAgent(s.user_agent) }),
              s.current ? badge('this session', 'info') : null),
            h('div', { class: 'session-meta muted' },
              h('span', { text: s.ip || 'unknown address' }), ' · last used ', timeEl(s.last_used_at, true), ' · expires ', timeEl(s.expires_at, true)),
            btn));
        }
      } catch (err) {
        if (isAbort(err)) return;
        clear(list);
        alert.show(err.detail);
      } finally {
        list.removeAttribute('aria-busy');
      }
    };
    list.reload = load;

    revokeAll.addEventListener('click', async () => {
      const ok = await confirmDialog({
        title: `Sign ${user.email} out everywhere?`,
        message: 'Every session of this user ends now; they must sign in again.',
        ok: 'Revoke all',
      });
      if (!ok || !state) return;
      const ctrl = state.ctrl;
      await busy(revokeAll, async () => {
        try {
          await request(`/users/${encodeURIComponent(user.id)}/sessions`, { method: 'DELETE', signal: ctrl.signal });
          status.flash('All sessions revoked.');
        } catch (err) {
          if (!isAbort(err)) alert.show(err.detail);
        }
      });
      load();
    });

    load();
    return h('section', { class: 'panel-section', 'aria-labelledby': 'sess-title' },
      h('div', { class: 'section-head' }, h('h3', { id: 'sess-title', text: 'Sessions' }), revokeAll),
      alert, list, status);
  }

  // --- delete -----------------------------------------------------------------

  function dangerSection(user) {
    const alert = alertBox();
    const del = h('button', { type: 'button', id: 'delete-user', class: 'btn btn-danger' }, icon('trash'), h('span', { text: 'Delete user' }));
    del.addEventListener('click', async () => {
      alert.hide();
      const cur = state && state.user;
      if (!cur) return;
      const ok = await confirmDialog({
        title: `Delete user ${cur.email}?`,
        message: 'The account, its sessions and its password are removed. This cannot be undone.',
        ok: 'Delete',
      });
      if (!ok || !state) return;
      const ctrl = state.ctrl;
      await busy(del, async () => {
        try {
          await request(`/users/${encodeURIComponent(cur.id)}`, { method: 'DELETE', headers: { 'If-Match': state.etag }, signal: ctrl.signal });
          if (hooks.onDeleted) hooks.onDeleted(cur.id, { email: cur.email });
          close();
        } catch (err) {
          if (isAbort(err)) return;
          if (err.status === 404) {
            if (hooks.onDeleted) hooks.onDeleted(cur.id, { email: cur.email });
            close();
            return;
          }
          alert.show(err.status === 412 ? 'This user was changed elsewhere; review the latest version (close and reopen) before deleting.' : err.detail);
        }
      });
    });
    return h('section', { class: 'panel-section danger-zone', 'aria-labelledby': 'danger-title' },
      h('h3', { id: 'danger-title', text: 'Danger zone' }),
      h('p', { class: 'muted', text: 'Deleting a user cannot be undone.' }),
      alert,
      del);
  }

  return {
    openUser,
    openCreate,
    close,
    get isOpen() { return !!state; },
    get currentId() { return state && state.id; },
    destroy() {
      abortPending();
      state = null;
      document.removeEventListener('keydown', onKey);
      untrap();
      setInert(false);
      document.body.classList.remove('has-panel');
      panel.remove();
      backdrop.remove();
    },
  };
}
