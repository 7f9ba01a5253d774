// The panel's "Sessions" part: the user's sessions, each revocable, and
// "Revoke all" (after confirmation).

import { request, isAbort } from '/admin/js/api.js';
import { h, clear, alertBox, statusBox, busy, confirmDialog, timeEl, badge } from '/admin/js/dom.js';

/** A short name for a client: "Firefox/128.0 · X11", else the user agent cut. */
function shortAgent(ua) {
  if (!ua) return 'Unknown client';
  const browser = (ua.match(/(Edg|OPR|Firefox|Chrome|Safari|curl|Wget|python-requests|Go-http-client)\/[\d.]+/) || [])[0];
  const os = (ua.match(/\((?:[^;)]*; )?([^;)]+)/) || [])[1];
  if (browser) return os ? `${browser.replace('Edg', 'Edge').replace('OPR', 'Opera')} · ${os}` : browser;
  return ua.length > 60 ? `${ua.slice(0, 57)}…` : ua;
}

/**
 * The section for `user`; `ctx` is the panel's context (see user-panel.js).
 * The list element gets a `reload()` so other parts can refresh it.
 */
export function sessionsSection(ctx, user) {
  const sec = {
    ctx,
    user,
    list: h('ul', { id: 'session-list', class: 'session-list', 'aria-live': 'polite' }),
    alert: alertBox(),
    status: statusBox(),
    revokeAll: h('button', { type: 'button', id: 'revoke-all-sessions', class: 'btn btn-sm', text: 'Revoke all', disabled: true }),
  };
  sec.list.reload = () => load(sec);
  sec.revokeAll.addEventListener('click', () => revokeAll(sec));
  load(sec);
  return h('section', { class: 'panel-section', 'aria-labelledby': 'sess-title' },
    h('div', { class: 'section-head' }, h('h3', { id: 'sess-title', text: 'Sessions' }), sec.revokeAll),
    sec.alert, sec.list, sec.status);
}

async function load(sec) {
  const { ctx, user, list, alert } = sec;
  const ctrl = ctx.state && ctx.state.ctrl;
  if (!ctrl) return;
  alert.hide();
  list.setAttribute('aria-busy', 'true');
  try {
    const data = (await request(`/users/${encodeURIComponent(user.id)}/sessions`, { signal: ctrl.signal })).data;
    showSessions(sec, data.items || [], ctrl);
  } catch (err) {
    if (isAbort(err)) return;
    clear(list);
    alert.show(err.detail);
  } finally {
    list.removeAttribute('aria-busy');
  }
}

function showSessions(sec, items, ctrl) {
  clear(sec.list);
  sec.revokeAll.disabled = !items.length;
  if (!items.length) {
    sec.list.append(h('li', { class: 'empty', text: 'No active sessions.' }));
  }
  for (const s of items) sec.list.append(sessionItem(sec, s, ctrl));
}

function sessionItem(sec, s, ctrl) {
  const btn = h('button', { type: 'button', class: 'btn btn-sm btn-ghost revoke-session', text: 'Revoke', 'aria-label': `Revoke session from ${shortAgent(s.user_agent)}` });
  btn.addEventListener('click', () => busy(btn, () => revokeOne(sec, s.id, ctrl)));
  return h('li', { class: 'session', dataset: { id: s.id } },
    h('div', { class: 'session-main' },
      h('span', { class: 'session-agent', title: s.user_agent || '', text: shortAgent(s.user_agent) }),
      s.current ? badge('this session', 'info') : null),
    h('div', { class: 'session-meta muted' },
      h('span', { text: s.ip || 'unknown address' }), ' · last used ', timeEl(s.last_used_at, true), ' · expires ', timeEl(s.expires_at, true)),
    btn);
}

async function revokeOne(sec, sessionId, ctrl) {
  try {
    await request(`/users/${encodeURIComponent(sec.user.id)}/sessions/${encodeURIComponent(sessionId)}`, { method: 'DELETE', signal: ctrl.signal });
    sec.status.flash('Session revoked.');
    await load(sec);
    sec.revokeAll.focus();
  } catch (err) {
    if (!isAbort(err)) sec.alert.show(err.status === 404 ? 'That session had already ended.' : err.detail);
    if (err.status === 404) load(sec);
  }
}

async function revokeAll(sec) {
  const { ctx, user, status, alert } = sec;
  const ok = await confirmDialog({
    title: `Sign ${user.email} out everywhere?`,
    message: 'Every session of this user ends now; they must sign in again.',
    ok: 'Revoke all',
  });
  if (!ok || !ctx.state) return;
  const ctrl = ctx.state.ctrl;
  await busy(sec.revokeAll, async () => {
    try {
      await request(`/users/${encodeURIComponent(user.id)}/sessions`, { method: 'DELETE', signal: ctrl.signal });
      status.flash('All sessions revoked.');
    } catch (err) {
      if (!isAbort(err)) alert.show(err.detail);
    }
  });
  load(sec);
}
