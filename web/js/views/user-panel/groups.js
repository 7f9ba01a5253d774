// The panel's "Groups" part: the groups the user is a member of, each
// linking to its page (#/groups/<id>) with the roles it grants them.

import { request, isAbort } from '/admin/js/api.js';
import { h, clear, alertBox, badge } from '/admin/js/dom.js';

/** The section for `user`; `ctx` is the panel's context (see user-panel.js). */
export function groupsSection(ctx, user) {
  const list = h('ul', { id: 'user-groups', class: 'user-groups', 'aria-labelledby': 'user-groups-title' },
    h('li', { class: 'empty', text: 'Loading groups…' }));
  const alert = alertBox();
  load(ctx, user, list, alert);
  return h('section', { class: 'panel-section', 'aria-labelledby': 'user-groups-title' },
    h('h3', { id: 'user-groups-title', text: 'Groups' }),
    alert,
    list);
}

async function load(ctx, user, list, alert) {
  const ctrl = ctx.state && ctx.state.ctrl;
  if (!ctrl) return;
  list.setAttribute('aria-busy', 'true');
  try {
    const data = (await request(`/users/${encodeURIComponent(user.id)}/groups`, { signal: ctrl.signal })).data;
    clear(list);
    const items = [...(data.items || [])].sort((a, b) => a.name.localeCompare(b.name));
    if (!items.length) list.append(h('li', { class: 'empty', text: 'Not a member of any group.' }));
    for (const g of items) list.append(groupItem(g));
  } catch (err) {
    if (isAbort(err)) return;
    clear(list);
    alert.show(err.detail);
  } finally {
    list.removeAttribute('aria-busy');
  }
}

function groupItem(g) {
  const granted = g.roles && g.roles.length
    ? [h('span', { class: 'muted', text: 'grants ' }), g.roles.map((r) => badge(r, r === 'admin' ? 'accent' : ''))]
    : h('span', { class: 'muted', text: 'grants no roles' });
  return h('li', { class: 'user-group', dataset: { id: g.id } },
    h('a', { class: 'user-group-link', href: `#/groups/${encodeURIComponent(g.id)}`, text: g.name }),
    h('span', { class: 'user-group-roles' }, granted));
}
