// The panel's "Email" part: whether the user's address is verified, and the
// mails an admin can have sent to the user: a verification link (while the
// address is not verified) and a password reset link. Both go through the
// public request endpoints a user would call; they answer 202 whatever the
// address, and the mail leaves through the outbox.

import { publicRequest, isAbort } from '/admin/js/api.js';
import { h, alertBox, statusBox, busy, badge, problemText } from '/admin/js/dom.js';

/** The section for `user`; `ctx` is the panel's context (see user-panel.js). */
export function mailSection(ctx, user) {
  const verified = user.email_verified === true;
  const alert = alertBox();
  const status = statusBox();
  const button = (id, text, path) => {
    const b = h('button', { type: 'button', id, class: 'btn btn-sm', text });
    b.addEventListener('click', () => send(ctx, path, { button: b, alert, status }));
    return b;
  };
  return h('section', { class: 'panel-section', 'aria-labelledby': 'mail-title' },
    h('div', { class: 'section-head' },
      h('h3', { id: 'mail-title', text: 'Email' }),
      h('span', { id: 'email-verified' }, badge(verified ? 'Verified' : 'Not verified', verified ? 'ok' : 'warn'))),
    h('p', { class: 'muted', text: verified
      ? `${user.email} is verified.`
      : `${user.email} is not verified yet.` }),
    alert,
    h('div', { class: 'form-actions' },
      verified ? null : button('send-verification', 'Send verification email', '/auth/verify-email/request'),
      button('send-password-reset', 'Send password reset', '/auth/password-reset/request'),
      status));
}

async function send(ctx, path, { button, alert, status }) {
  const state = ctx.state;
  if (!state || !state.user) return;
  const email = state.user.email;
  alert.hide();
  status.clear();
  await busy(button, async () => {
    try {
      await publicRequest(path, { method: 'POST', body: { email }, signal: state.ctrl.signal });
      status.flash(`Sent to ${email}.`, 6000);
    } catch (err) {
      if (!isAbort(err)) alert.show(problemText(err));
    }
  });
}
