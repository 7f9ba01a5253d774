// The panel's "New user" form: POST /users, then the owner's onCreated hook.

import { request, isAbort } from '/admin/js/api.js';
import { h, clear, busy, showFieldErrors, problemText } from '/admin/js/dom.js';
import { buildForm, readForm, checkForm } from '/admin/js/views/user-panel/form.js';
import { panelHead } from '/admin/js/views/user-panel/head.js';

/** Fills the panel of context `ctx` (see user-panel.js) with the create form. */
export function renderCreate(ctx) {
  const f = buildForm('create', null, () => ctx.close());
  f.form.addEventListener('submit', (e) => {
    e.preventDefault();
    createUser(ctx, f);
  });
  clear(ctx.panel).append(panelHead('New user', () => ctx.close()), h('div', { class: 'panel-body' }, f.form));
  f.inputs.name.focus();
}

/** The POST body for form values `v`: empty optional fields are left out. */
function createBody(v) {
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
  return body;
}

async function createUser(ctx, f) {
  const v = readForm(f);
  if (!checkForm(f, v)) return;
  const body = createBody(v);
  await busy(f.submit, async () => {
    try {
      const res = await request('/users', { method: 'POST', body, signal: ctx.state.ctrl.signal });
      if (ctx.hooks.onCreated) ctx.hooks.onCreated(res.data);
    } catch (err) {
      if (isAbort(err)) return;
      const left = showFieldErrors(f.form, err.errors);
      f.alert.show(problemText(err, left));
    }
  });
}
