// #/security: the signed-in person's own second factors. Set up an
// authenticator app (QR code or typed secret, then a first code), see the
// ten recovery codes once, or turn the app off with the password; add,
// rename and remove passkeys; see the apps signed in through roster and sign
// out of one. When the person's role requires a factor, the console brings
// them here first.

import * as API from '/admin/js/api.js';
import { api, isAbort } from '/admin/js/api.js';
import { h, clear, alertBox, statusBox, field, busy, badge, problemText, fmtDateTime } from '/admin/js/dom.js';
import * as WebAuthn from '/admin/js/webauthn.js';

export function mount(container) {
  const v = {
    destroyed: false,
    ctrl: new AbortController(),
    body: h('div', { id: 'security-body', 'aria-live': 'polite' }),
    alert: alertBox(),
    status: statusBox(),
  };
  const view = h('section', { class: 'view view-security', 'aria-labelledby': 'security-title' },
    h('div', { class: 'view-head' }, h('h1', { id: 'security-title', text: 'Security' })),
    h('p', { class: 'muted lede', text: 'A second factor keeps your account safe when your password is not: after the password, sign-in asks for a code from an app on your phone, or for a passkey.' }),
    v.alert, v.status, v.body);
  container.append(view);
  load(v);
  return {
    unmount() {
      v.destroyed = true;
      v.ctrl.abort();
      view.remove();
    },
  };
}

async function load(v) {
  v.alert.hide();
  try {
    const s = await api('/auth/mfa', { signal: v.ctrl.signal });
    if (!v.destroyed) showStatus(v, s);
  } catch (err) {
    if (!isAbort(err)) v.alert.show(err.detail);
  }
}

function showStatus(v, s) {
  const card = h('div', { class: 'card', id: 'totp-card' },
    h('div', { class: 'section-head' },
      h('h2', { class: 'card-title', text: 'Authenticator app' }),
      badge(s.totp ? 'On' : 'Off', s.totp ? 'ok' : 'off')));
  if (s.required && !s.totp && !s.passkeys) {
    card.append(h('p', { class: 'notice visible', id: 'mfa-required', role: 'status', text: 'Your role requires a second factor. Set up an authenticator app or add a passkey to go on using the console.' }));
  }
  if (s.totp) {
    card.append(h('p', { id: 'recovery-left', text: `${s.recovery_codes_left} of 10 recovery codes left.` }));
    card.append(newCodesForm(v), turnOffForm(v));
  } else {
    const start = h('button', { type: 'button', id: 'totp-start', class: 'btn btn-primary', text: 'Set up authenticator app' });
    start.addEventListener('click', () => busy(start, () => setUp(v, card)));
    card.append(h('p', { class: 'muted', text: 'Works with any TOTP app: Google Authenticator, Microsoft Authenticator, 1Password, Aegis, …' }), start);
  }
  const keys = h('div', { class: 'card', id: 'passkeys-card' }, h('p', { class: 'muted', text: 'Loading passkeys…' }));
  const apps = h('div', { class: 'card', id: 'apps-card' }, h('p', { class: 'muted', text: 'Loading apps…' }));
  clear(v.body).append(card, keys, apps);
  loadPasskeys(v, keys, s);
  loadApps(v, apps);
}

/** The apps this person is signed in to through roster, each with Sign out. */
async function loadApps(v, card) {
  const me = API.me();
  if (!me) return;
  const path = `/users/${encodeURIComponent(me.id)}/apps`;
  let items;
  try {
    items = (await api(path, { signal: v.ctrl.signal })).items;
  } catch (err) {
    if (!isAbort(err)) v.alert.show(err.detail);
    return;
  }
  if (v.destroyed) return;
  const list = h('ul', { id: 'app-list', class: 'passkey-list' });
  for (const a of items) {
    const out = h('button', { type: 'button', class: 'btn btn-sm btn-danger-ghost', dataset: { action: 'sign-out' }, text: 'Sign out', 'aria-label': `Sign out of ${a.name}` });
    const li = h('li', { class: 'passkey-row', dataset: { id: a.client_id } },
      h('div', {}, h('strong', { text: a.name }),
        h('p', { class: 'muted', text: `Shares: ${a.scopes.join(', ')} · last used ${fmtDateTime(a.last_used_at)}` })),
      out);
    out.addEventListener('click', () => busy(out, async () => {
      try {
        await api(`${path}/${encodeURIComponent(a.client_id)}`, { method: 'DELETE', signal: v.ctrl.signal });
        li.remove();
        v.status.flash(`Signed out of ${a.name}.`);
      } catch (err) {
        if (!isAbort(err)) v.alert.show(err.detail);
      }
    }));
    list.append(li);
  }
  clear(card).append(
    h('h2', { class: 'card-title', text: 'Signed-in apps' }),
    items.length ? list : h('p', { class: 'muted', id: 'no-apps', text: 'You are not signed in to any app through roster.' }));
}

async function loadPasskeys(v, card, s = {}) {
  let list;
  try {
    list = await api('/auth/webauthn/credentials', { signal: v.ctrl.signal });
  } catch (err) {
    if (!isAbort(err)) v.alert.show(err.detail);
    return;
  }
  if (v.destroyed) return;
  const items = list.items || [];
  clear(card).append(
    h('div', { class: 'section-head' },
      h('h2', { class: 'card-title', text: 'Passkeys' }),
      badge(items.length ? `${items.length}` : 'None', items.length ? 'ok' : 'off')),
    h('p', { class: 'muted', text: 'A passkey signs you in with your fingerprint, face or device PIN, without a password; after a password it is a second factor.' }));
  if (items.length) {
    card.append(h('ul', { id: 'passkey-list', class: 'list-plain' }, items.map((k) => passkeyRow(v, card, k))));
    if (!s.totp && s.recovery_codes_left !== undefined) {
      card.append(h('p', { id: 'recovery-left', text: `${s.recovery_codes_left} of 10 recovery codes left.` }));
    }
  }
  if (!WebAuthn.supported()) {
    card.append(h('p', { class: 'muted', text: 'This browser cannot make passkeys.' }));
    return;
  }
  const name = h('input', { name: 'name', id: 'passkey-name', type: 'text', maxlength: '64', placeholder: 'e.g. Work laptop' });
  const password = h('input', { name: 'password', id: 'passkey-password', type: 'password', autocomplete: 'current-password', required: true });
  const alert = alertBox();
  const add = h('button', { type: 'submit', id: 'passkey-add', class: 'btn btn-primary', text: 'Add a passkey' });
  const form = h('form', { id: 'passkey-form', class: 'form', novalidate: true },
    field('Name (optional)', name).wrap, field('Your password', password).wrap, alert, h('div', { class: 'form-actions' }, add));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alert.hide();
    if (!password.value) {
      alert.show('Enter your password: a passkey signs in on its own, so adding one needs it.');
      password.focus();
      return;
    }
    await busy(add, async () => {
      try {
        const options = await api('/auth/webauthn/register/start', { method: 'POST', body: { password: password.value }, signal: v.ctrl.signal });
        password.value = '';
        const credential = await WebAuthn.create(options);
        const body = { credential };
        if (name.value.trim()) body.name = name.value.trim();
        const r = await api('/auth/webauthn/register/finish', { method: 'POST', body, signal: v.ctrl.signal });
        API.setEnrolled();
        if (r.recovery_codes) showRecoveryCodes(v, r.recovery_codes, 'Your passkey is added. Save these recovery codes');
        else {
          v.status.flash(`Passkey "${r.passkey.name}" added.`);
          load(v);
        }
      } catch (err) {
        if (isAbort(err)) return;
        password.value = '';
        alert.show(WebAuthn.cancelled(err) ? 'The passkey prompt was closed; nothing was added.' : (err.detail || err.message));
      }
    });
  });
  card.append(form);
}

function passkeyRow(v, card, k) {
  const path = `/auth/webauthn/credentials/${k.id}`;
  const rename = h('button', { type: 'button', class: 'btn btn-ghost btn-sm', text: 'Rename', 'aria-label': `Rename ${k.name}` });
  const remove = h('button', { type: 'button', class: 'btn btn-danger btn-sm passkey-remove', text: 'Remove', 'aria-label': `Remove ${k.name}` });
  rename.addEventListener('click', () => busy(rename, async () => {
    const name = window.prompt('New name for this passkey', k.name);
    if (name === null || !name.trim()) return;
    try {
      await api(path, { method: 'PATCH', body: { name: name.trim() }, signal: v.ctrl.signal });
      load(v);
    } catch (err) {
      if (!isAbort(err)) v.alert.show(problemText(err, []));
    }
  }));
  // Removing asks for the password, in the row.
  remove.addEventListener('click', () => {
    const password = h('input', { type: 'password', class: 'passkey-remove-password', autocomplete: 'current-password', 'aria-label': `Your password, to remove ${k.name}` });
    const confirm = h('button', { type: 'submit', class: 'btn btn-danger btn-sm', text: `Remove ${k.name}` });
    const cancel = h('button', { type: 'button', class: 'btn btn-ghost btn-sm', text: 'Cancel' });
    const form = h('form', { class: 'passkey-remove-form', novalidate: true }, password, confirm, cancel);
    cancel.addEventListener('click', () => form.replaceWith(remove));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!password.value) {
        password.focus();
        return;
      }
      await busy(confirm, async () => {
        try {
          await api(path, { method: 'DELETE', body: { password: password.value }, signal: v.ctrl.signal });
          v.status.flash(`Passkey "${k.name}" removed.`);
          load(v);
        } catch (err) {
          if (isAbort(err)) return;
          password.value = '';
          v.alert.show(problemText(err, []));
        }
      });
    });
    remove.replaceWith(form);
    password.focus();
  });
  const used = k.last_used_at ? `last used ${fmtDateTime(k.last_used_at)}` : 'never used';
  return h('li', { class: 'passkey-row' },
    h('span', { class: 'passkey-name', text: k.name }),
    h('span', { class: 'muted', text: ` added ${fmtDateTime(k.created_at)}, ${used}${k.synced ? ', synced' : ''} ` }),
    rename, remove);
}

/** An SVG document as an <img> (the CSP allows data: images, not inline markup). */
function svgImage(svg, alt) {
  const bytes = new TextEncoder().encode(svg);
  let bin = '';
  bytes.forEach((b) => { bin += String.fromCharCode(b); });
  return h('img', { id: 'totp-qr', class: 'qr', src: `data:image/svg+xml;base64,${btoa(bin)}`, alt, width: 200, height: 200 });
}

async function setUp(v, card) {
  v.alert.hide();
  let s;
  try {
    s = await api('/auth/mfa/totp/setup', { method: 'POST', signal: v.ctrl.signal });
  } catch (err) {
    if (!isAbort(err)) v.alert.show(err.detail);
    return;
  }
  const code = h('input', { name: 'code', id: 'totp-code', type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '6', required: true });
  const alert = alertBox();
  const confirm = h('button', { type: 'submit', id: 'totp-confirm', class: 'btn btn-primary', text: 'Turn on' });
  const form = h('form', { id: 'totp-confirm-form', class: 'form', novalidate: true },
    h('ol', { class: 'steps' },
      h('li', { text: 'Scan this code with your authenticator app, or type the key below into it.' }),
      h('li', { text: 'Enter the 6-digit code the app shows.' })),
    svgImage(s.qr_svg, 'QR code of the authenticator key'),
    h('p', {}, 'Key: ', h('code', { id: 'totp-secret', class: 'mono secret-value', text: s.secret })),
    field('Code from the app', code).wrap,
    alert,
    h('div', { class: 'form-actions' }, confirm));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alert.hide();
    if (!/^\d{6}$/.test(code.value.trim())) {
      alert.show('Enter the 6 digits the app shows.');
      code.focus();
      return;
    }
    await busy(confirm, async () => {
      try {
        const r = await api('/auth/mfa/totp/confirm', { method: 'POST', body: { code: code.value.trim() }, signal: v.ctrl.signal });
        API.setEnrolled();
        showRecoveryCodes(v, r.recovery_codes);
      } catch (err) {
        if (isAbort(err)) return;
        alert.show(problemText(err, []));
        code.value = '';
        code.focus();
      }
    });
  });
  card.querySelector('#totp-start')?.remove();
  card.append(form);
  code.focus();
}

function showRecoveryCodes(v, codes, title = 'Your authenticator app is on. Save these recovery codes') {
  const done = h('button', { type: 'button', id: 'recovery-done', class: 'btn btn-primary', text: 'I have stored them' });
  const box = h('div', { id: 'recovery-box', class: 'secret-box', role: 'region', 'aria-labelledby': 'recovery-title', tabindex: '-1' },
    h('h2', { id: 'recovery-title', class: 'card-title', text: title }),
    h('p', { class: 'secret-warning', text: 'Each code signs you in once if you lose your phone. They are shown only now: print them or keep them in a password manager.' }),
    h('ul', { id: 'recovery-codes', class: 'recovery-codes mono' }, codes.map((c) => h('li', { text: c }))),
    h('div', { class: 'form-actions' }, done));
  done.addEventListener('click', () => {
    v.status.flash('Second factor set up.');
    load(v);
  });
  clear(v.body).append(box);
  box.focus();
}

/** Ten new recovery codes (the earlier ones stop working), with the password. */
function newCodesForm(v) {
  const password = h('input', { name: 'password', id: 'new-codes-password', type: 'password', autocomplete: 'current-password', required: true });
  const alert = alertBox();
  const make = h('button', { type: 'submit', id: 'new-codes', class: 'btn', text: 'Make new recovery codes' });
  const form = h('form', { class: 'form', novalidate: true },
    h('p', { class: 'muted', text: 'Used up or lost your recovery codes? Make ten new ones; the earlier ones stop working.' }),
    field('Password', password).wrap, alert, h('div', { class: 'form-actions' }, make));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alert.hide();
    if (!password.value) {
      alert.show('Enter your password.');
      password.focus();
      return;
    }
    await busy(make, async () => {
      try {
        const r = await api('/auth/mfa/recovery-codes', { method: 'POST', body: { password: password.value }, signal: v.ctrl.signal });
        showRecoveryCodes(v, r.recovery_codes, 'Your new recovery codes');
      } catch (err) {
        if (isAbort(err)) return;
        alert.show(problemText(err, []));
        password.value = '';
        password.focus();
      }
    });
  });
  return form;
}

function turnOffForm(v) {
  const password = h('input', { name: 'password', id: 'totp-off-password', type: 'password', autocomplete: 'current-password', required: true });
  const alert = alertBox();
  const off = h('button', { type: 'submit', id: 'totp-off', class: 'btn btn-danger', text: 'Turn off' });
  const form = h('form', { class: 'form', novalidate: true },
    h('p', { class: 'muted', text: 'Turning the app off also voids your recovery codes. Confirm with your password.' }),
    field('Password', password).wrap, alert, h('div', { class: 'form-actions' }, off));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alert.hide();
    if (!password.value) {
      alert.show('Enter your password.');
      password.focus();
      return;
    }
    await busy(off, async () => {
      try {
        await api('/auth/mfa/totp', { method: 'DELETE', body: { password: password.value }, signal: v.ctrl.signal });
        v.status.flash('The authenticator app is off.');
        load(v);
      } catch (err) {
        if (isAbort(err)) return;
        alert.show(problemText(err, []));
        password.value = '';
        password.focus();
      }
    });
  });
  return form;
}
