// The panel's "Danger zone": delete the open user (after confirmation, with
// If-Match), then tell the owner and close.

import { request, isAbort } from '/admin/js/api.js';
import { h, icon, alertBox, busy, confirmDialog } from '/admin/js/dom.js';

/** The section; it deletes `ctx.state.user` (see user-panel.js for `ctx`). */
export function dangerSection(ctx) {
  const alert = alertBox();
  const del = h('button', { type: 'button', id: 'delete-user', class: 'btn btn-danger' }, icon('trash'), h('span', { text: 'Delete user' }));
  del.addEventListener('click', () => deleteUser(ctx, del, alert));
  return h('section', { class: 'panel-section danger-zone', 'aria-labelledby': 'danger-title' },
    h('h3', { id: 'danger-title', text: 'Danger zone' }),
    h('p', { class: 'muted', text: 'Deleting a user cannot be undone.' }),
    alert,
    del);
}

async function deleteUser(ctx, del, alert) {
  alert.hide();
  const cur = ctx.state && ctx.state.user;
  if (!cur) return;
  const ok = await confirmDialog({
    title: `Delete user ${cur.email}?`,
    message: 'The account, its sessions and its password are removed. This cannot be undone.',
    ok: 'Delete',
  });
  if (!ok || !ctx.state) return;
  const ctrl = ctx.state.ctrl;
  const gone = () => {
    if (ctx.hooks.onDeleted) ctx.hooks.onDeleted(cur.id, { email: cur.email });
    ctx.close();
  };
  await busy(del, async () => {
    try {
      await request(`/users/${encodeURIComponent(cur.id)}`, { method: 'DELETE', headers: { 'If-Match': ctx.state.etag }, signal: ctrl.signal });
      gone();
    } catch (err) {
      if (isAbort(err)) return;
      if (err.status === 404) {
        gone();
        return;
      }
      alert.show(err.status === 412 ? 'This user was changed elsewhere; review the latest version (close and reopen) before deleting.' : err.detail);
    }
  });
}
