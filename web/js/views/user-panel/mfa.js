// The panel's "Second factor" part: whether the user has one and, if so,
// "Reset second factor" (after confirmation) for a lost phone: every factor
// goes and the user's sessions end; it signs in with its password next.

import { request, isAbort } from '/admin/js/api.js';
import { h, alertBox, statusBox, busy, confirmDialog, badge } from '/admin/js/dom.js';

/** The section for `user`; `ctx` is the panel's context (see user-panel.js). */
export function mfaSection(ctx, user) {
  const alert = alertBox();
  const status = statusBox();
  const state = badge(user.mfa_enabled ? 'On' : 'Off', user.mfa_enabled ? 'ok' : 'off');
  state.id = 'user-mfa-state';
  const reset = h('button', { type: 'button', id: 'reset-mfa', class: 'btn btn-sm', text: 'Reset second factor', hidden: !user.mfa_enabled });
  reset.addEventListener('click', async () => {
    alert.hide();
    const ok = await confirmDialog({
      title: `Reset the second factor of ${user.email}?`,
      message: 'Their authenticator app and recovery codes stop working and every session of theirs ends. They sign in with their password alone next time.',
      ok: 'Reset',
    });
    if (!ok || !ctx.state) return;
    await busy(reset, async () => {
      try {
        await request(`/users/${encodeURIComponent(user.id)}/mfa`, { method: 'DELETE', signal: ctx.state.ctrl.signal });
        state.textContent = 'Off';
        state.className = 'badge badge-off';
        reset.hidden = true;
        status.flash('Second factor reset; their sessions have ended.');
      } catch (err) {
        if (!isAbort(err)) alert.show(err.detail);
      }
    });
  });
  return h('section', { class: 'panel-section', 'aria-labelledby': 'mfa-title' },
    h('div', { class: 'section-head' }, h('h3', { id: 'mfa-title', text: 'Second factor' }), state),
    alert, status, reset);
}
