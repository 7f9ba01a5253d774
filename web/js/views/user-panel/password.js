// The panel's "Reset password" part. For the signed-in admin's own account
// it asks for the current password too; a change ends the user's sessions.

import { request, me, isAbort } from '/admin/js/api.js';
import { h, alertBox, statusBox, field, busy, setFieldError, clearFieldErrors, showFieldErrors, problemText } from '/admin/js/dom.js';

/** The section for `user`; `ctx` is the panel's context (see user-panel.js). */
export function passwordSection(ctx, user) {
  const self = me() && me().id === user.id;
  const p = passwordForm(user, self);
  p.form.addEventListener('submit', (e) => {
    e.preventDefault();
    setPassword(ctx, user, p);
  });
  return h('section', { class: 'panel-section', 'aria-labelledby': 'pw-title' },
    h('h3', { id: 'pw-title', text: 'Reset password' }),
    p.form);
}

function passwordForm(user, self) {
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
  return { form, current, pw, alert, status, submit };
}

async function setPassword(ctx, user, { form, current, pw, alert, status, submit }) {
  clearFieldErrors(form);
  alert.hide();
  if (pw.value.length < 8) {
    setFieldError(form.querySelector('.field-error[data-field="new_password"]'), 'Use at least 8 characters.', pw);
    pw.focus();
    return;
  }
  const body = { new_password: pw.value };
  if (current) body.current_password = current.value;
  const ctrl = ctx.state.ctrl;
  await busy(submit, async () => {
    try {
      await request(`/users/${encodeURIComponent(user.id)}/password`, { method: 'POST', body, signal: ctrl.signal });
      pw.value = '';
      if (current) current.value = '';
      status.flash('Password changed; sessions were signed out.', 6000);
      const list = ctx.panel.querySelector('#session-list');
      if (list && list.reload) list.reload();
    } catch (err) {
      if (isAbort(err)) return;
      const left = showFieldErrors(form, err.errors);
      alert.show(problemText(err, left));
    }
  });
}
