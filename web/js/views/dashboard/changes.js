// The dashboard's "Recent changes" panel: user changes as they happen, from
// the change stream (js/events.js), newest first, the latest MAX kept.
//
// The stream starts at "now", so the panel begins empty; a `reset` event
// (the position asked for is gone from the change log) empties it again with
// a note, since what it showed may have missed changes. The panel element
// carries data-state (connecting, live, waiting, stopped) for the status line
// and for tests.

import { followEvents } from '/admin/js/events.js';
import { h, clear, badge } from '/admin/js/dom.js';

const MAX = 20;

const KINDS = {
  'user.created': 'ok',
  'user.updated': 'info',
  'user.deleted': 'warn',
  'user.password_changed': 'accent',
  'user.sessions_revoked': 'off',
};

const timeFmt = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'long' });

/** Builds the panel; returns {el, close}. The stream opens at once. */
export function changesPanel() {
  const p = {
    list: h('ol', { id: 'recent-changes-list', class: 'change-list', 'aria-live': 'polite', 'aria-relevant': 'additions' }),
    empty: h('p', { class: 'empty change-empty', text: 'No changes since you opened the dashboard.' }),
    note: h('p', { id: 'recent-changes-note', class: 'change-note', hidden: true }),
    status: h('span', { class: 'live-status', role: 'status' }),
  };
  p.el = h('section', { id: 'recent-changes', class: 'card changes', 'aria-labelledby': 'changes-title', dataset: { state: 'connecting' } },
    h('div', { class: 'section-head' }, h('h2', { id: 'changes-title', class: 'card-title', text: 'Recent changes' }), p.status),
    p.note,
    p.list,
    p.empty);
  setState(p, 'connecting');
  const stream = followEvents('/events', {
    onEvent: (ev) => onEvent(p, ev),
    onState: (state, detail) => setState(p, state, detail),
  });
  return { el: p.el, close: () => stream.close() };
}

function setState(p, state, detail = {}) {
  p.el.dataset.state = state;
  const text = {
    connecting: 'Connecting…',
    live: 'Live',
    waiting: `Reconnecting in ${Math.ceil((detail.ms || 0) / 1000)} s…`,
    stopped: `Stopped: ${(detail.error && (detail.error.detail || detail.error.message)) || 'the stream is not available.'}`,
  }[state] || state;
  p.status.textContent = text;
}

function onEvent(p, ev) {
  let data;
  try {
    data = JSON.parse(ev.data);
  } catch {
    return; // not one of ours; the next event will be
  }
  if (ev.type === 'reset') {
    clear(p.list);
    p.note.textContent = `The change stream started over (${data.reason || 'position no longer available'}); earlier changes are not listed.`;
    p.note.hidden = false;
    p.empty.hidden = false;
    return;
  }
  if (!String(ev.type).startsWith('user.')) return;
  p.list.prepend(changeItem(ev, data));
  while (p.list.children.length > MAX) p.list.lastElementChild.remove();
  p.empty.hidden = true;
}

function changeItem(ev, e) {
  const user = e.data || {};
  const who = user.id && ev.type !== 'user.deleted'
    ? h('a', { class: 'change-email', href: `#/users/${encodeURIComponent(user.id)}`, text: user.email || user.id })
    : h('span', { class: 'change-email', text: user.email || user.id || '—' });
  const fields = Array.isArray(e.changed_fields) && e.changed_fields.length
    ? h('span', { class: 'change-fields muted', text: e.changed_fields.join(', ') })
    : null;
  const at = new Date(e.occurred_at);
  const time = Number.isNaN(at.getTime())
    ? h('span', { class: 'muted', text: '—' })
    : h('time', { class: 'change-time muted', datetime: e.occurred_at, title: fullFmt.format(at), text: timeFmt.format(at) });
  return h('li', { class: 'change-item', dataset: { eventId: String(e.id ?? ev.id), type: ev.type } },
    badge(ev.type, KINDS[ev.type] || ''),
    h('span', { class: 'change-who' }, who, fields),
    time);
}
