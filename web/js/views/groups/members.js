// One group's members: the list in pages of 50 ("Load more" follows
// next_cursor), each with a link to the user and a Remove button, and the
// "Add members" card above it (add-members.js). Someone just added goes to
// the top of the list; a later page skips them, and a page asked for before
// a removal does not bring the removed back.
//
// `d` is the group page's object (see detail.js); `d.members` holds this
// part's elements, `cursor` (where "Load more" goes on) and `cancel()`.

import { api, request, qs, isAbort } from '/admin/js/api.js';
import { h, alertBox, statusBox, busy, badge } from '/admin/js/dom.js';
import { addMembersPart, userLabel } from '/admin/js/views/groups/add-members.js';

const PAGE = 50;

/** The "Add members" and "Members" cards of group page `d`. */
export function membersSection(d) {
  const m = {
    list: h('ul', { id: 'member-list', class: 'member-list', 'aria-labelledby': 'members-title' }),
    more: h('button', { type: 'button', id: 'member-more', class: 'btn', text: 'Load more', hidden: true }),
    alert: alertBox(),
    status: statusBox(),
    cursor: null,
    // Pages loaded so far, and who was removed when: a page asked for
    // before a removal may still list the user.
    loads: 0,
    removedAt: new Map(),
  };
  const add = addMembersPart(d, (user, group) => {
    m.removedAt.delete(user.id);
    if (!rowOf(m, user.id)) m.list.prepend(memberRow(d, user));
    showEmpty(m);
    d.onGroup(group);
  });
  m.add = add;
  m.cancel = add.cancel;
  d.members = m;
  m.more.addEventListener('click', () => busy(m.more, () => load(d, true)));
  load(d, false);
  return [
    add.card,
    h('section', { class: 'card group-section', 'aria-labelledby': 'members-title' },
      h('h2', { id: 'members-title', class: 'card-title', text: 'Members' }),
      m.alert,
      m.status,
      m.list,
      h('div', { class: 'pager' }, m.more)),
  ];
}

const rowOf = (m, id) => m.list.querySelector(`.member-row[data-id="${CSS.escape(id)}"]`);

function memberRow(d, user) {
  const remove = h('button', {
    type: 'button', class: 'btn btn-sm btn-danger-ghost', dataset: { action: 'remove' }, text: 'Remove', 'aria-label': `Remove ${userLabel(user)} from the group`,
  });
  const li = h('li', { class: 'member-row', dataset: { id: user.id } },
    h('div', { class: 'member-who' },
      h('a', { class: 'member-name', href: `#/users/${encodeURIComponent(user.id)}`, text: userLabel(user) }),
      user.name ? h('span', { class: 'member-email', text: user.email }) : null),
    user.status === 'active' ? null : badge(user.status, 'off'),
    remove);
  remove.addEventListener('click', () => removeMember(d, user, li, remove));
  return li;
}

/** Says so when the list is empty; takes the note away when it is not. */
function showEmpty(m) {
  const empty = m.list.querySelector('.empty');
  const any = !!m.list.querySelector('.member-row');
  if (any && empty) empty.remove();
  if (!any && !empty) m.list.append(h('li', { class: 'empty', text: 'No members yet. Find users above to add them.' }));
}

/** Loads the first page, or (`append`) the next; rows already listed are skipped. */
async function load(d, append) {
  const m = d.members;
  const my = ++m.loads;
  m.list.setAttribute('aria-busy', 'true');
  if (!m.list.firstChild) m.list.append(h('li', { class: 'empty', text: 'Loading members…' }));
  try {
    const page = await api(`/groups/${encodeURIComponent(d.id)}/members${qs({ limit: PAGE, cursor: append ? m.cursor : null })}`, { signal: d.ctrl.signal });
    if (d.destroyed) return;
    m.list.querySelectorAll('.empty').forEach((e) => e.remove());
    for (const user of page.items || []) {
      const gone = (m.removedAt.get(user.id) ?? 0) >= my;
      if (!gone && !rowOf(m, user.id)) m.list.append(memberRow(d, user));
    }
    m.cursor = page.next_cursor || null;
    m.more.hidden = !m.cursor;
    showEmpty(m);
  } catch (err) {
    if (isAbort(err) || d.destroyed) return;
    m.list.querySelectorAll('.empty').forEach((e) => e.remove());
    m.alert.show(err.detail);
  } finally {
    if (!d.destroyed) m.list.setAttribute('aria-busy', 'false');
  }
}

/** Takes `user` out of the group; the focus moves to the next Remove (or the search). */
async function removeMember(d, user, li, button) {
  const m = d.members;
  m.alert.hide();
  await busy(button, async () => {
    try {
      await request(`/groups/${encodeURIComponent(d.id)}/members/${encodeURIComponent(user.id)}`, { method: 'DELETE', signal: d.ctrl.signal });
    } catch (err) {
      if (isAbort(err) || d.destroyed) return;
      // 404: not a member any more (or no group); the refresh below tells which.
      if (err.status !== 404) {
        m.alert.show(err.detail);
        return;
      }
    }
    m.removedAt.set(user.id, m.loads);
    const sib = li.nextElementSibling || li.previousElementSibling;
    li.remove();
    showEmpty(m);
    m.status.flash(`Removed ${userLabel(user)}.`);
    m.add.mark(user.id, false);
    const next = sib && sib.querySelector('[data-action="remove"]');
    (next || m.add.search).focus();
    d.refreshGroup();
  });
}
