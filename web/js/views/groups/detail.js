// #/groups/<id>: one group. Its details form (saved as a merge PATCH of the
// changed fields with If-Match; a 412 shows the latest version), its members
// and adding more (members.js, add-members.js), and deleting it (confirmed,
// with If-Match).
//
// The functions here and in members.js share one object, `d`:
//   id, destroyed, ctrl   the group's id; set on unmount; aborts its requests
//   group                 the group as last heard from the server
//   base, etag            the version the details form was filled from, and
//                         its ETag (the If-Match of a save or a delete)
//   onGroup(group, etag)  takes in a newer version (after a membership change)
//   refreshGroup()        fetches the group again and takes it in
//   edit, members         the details form's parts; the members' (members.js)
//   title, memberCount, alert, body, onDeleted   the page's elements; the owner's callback

import { request, isAbort } from '/admin/js/api.js';
import {
  h, clear, icon, alertBox, statusBox, busy, confirmDialog, plural, showFieldErrors, problemText,
} from '/admin/js/dom.js';
import { groupFields, readGroup, fillGroup, checkGroup } from '/admin/js/views/groups/form.js';
import { membersSection } from '/admin/js/views/groups/members.js';

/** Shows group `id` in `container`; `onDeleted(group)` runs once it is deleted. */
export function mountGroup(container, id, { onDeleted }) {
  const d = {
    id,
    destroyed: false,
    ctrl: new AbortController(),
    group: null,
    base: null,
    etag: null,
    edit: null,
    members: null,
    title: h('h1', { id: 'group-title', tabindex: '-1', text: 'Group' }),
    memberCount: h('p', { id: 'group-member-count', class: 'count', 'aria-live': 'polite' }),
    alert: alertBox(),
    body: h('div', { class: 'group-body' }, h('p', { class: 'muted', role: 'status', text: 'Loading group…' })),
    onDeleted,
  };
  d.alert.id = 'group-alert';
  d.onGroup = (group, etag) => adopt(d, group, etag);
  d.refreshGroup = () => refresh(d);
  const view = h('section', { class: 'view-group', 'aria-labelledby': 'group-title' },
    h('a', { class: 'back-link', href: '#/groups' }, '← ', h('span', { text: 'All groups' })),
    h('div', { class: 'view-head' }, h('div', {}, d.title, d.memberCount)),
    d.alert,
    d.body);
  container.append(view);
  d.title.focus();
  open(d);
  return {
    unmount() {
      d.destroyed = true;
      d.ctrl.abort();
      if (d.members) d.members.cancel();
      view.remove();
    },
  };
}

const path = (d) => `/groups/${encodeURIComponent(d.id)}`;

/** Keeps `group` as the version the form edits (and the latest known). */
function keep(d, group, etag) {
  d.group = group;
  d.base = group;
  d.etag = etag || `"${group.version}"`;
  showHead(d);
}

function showHead(d) {
  const g = d.group;
  d.title.textContent = g.name;
  d.memberCount.textContent = plural(g.member_count, 'member', 'members');
  d.memberCount.dataset.count = String(g.member_count);
  document.title = `${g.name} · Groups · roster`;
}

const sameFields = (a, b) => a.name === b.name && (a.description ?? null) === (b.description ?? null) &&
  [...(a.roles || [])].sort().join() === [...(b.roles || [])].sort().join();

/**
 * Takes in a newer version of the group (a membership change bumps its
 * version). The form's If-Match follows it only while the fields the form
 * edits are the same: a rename elsewhere must meet its 412 on save.
 */
function adopt(d, group, etag) {
  if (d.destroyed) return;
  if (sameFields(d.base, group)) {
    d.base = group;
    d.etag = etag || `"${group.version}"`;
  }
  d.group = group;
  showHead(d);
}

async function open(d) {
  try {
    const res = await request(path(d), { signal: d.ctrl.signal });
    if (d.destroyed) return;
    keep(d, res.data, res.etag);
    d.edit = editForm(d);
    clear(d.body).append(d.edit.form, ...membersSection(d), dangerZone(d));
  } catch (err) {
    if (isAbort(err) || d.destroyed) return;
    clear(d.body);
    d.alert.show(err.status === 404 ? 'This group does not exist (it may have been deleted).' : err.detail);
  }
}

async function refresh(d) {
  try {
    const res = await request(path(d), { signal: d.ctrl.signal });
    adopt(d, res.data, res.etag);
  } catch (err) {
    if (isAbort(err) || d.destroyed) return;
    d.alert.show(err.status === 404 ? 'This group was deleted elsewhere.' : err.detail);
  }
}

/** Shows the latest version in the form, with `message` in `alert`; focuses `focusTo`. */
async function reload(d, message, alert, focusTo) {
  try {
    const res = await request(path(d), { signal: d.ctrl.signal });
    if (d.destroyed) return;
    keep(d, res.data, res.etag);
    fillGroup(d.edit.g, res.data);
    alert.show(message);
    focusTo.focus();
  } catch (err) {
    if (isAbort(err) || d.destroyed) return;
    alert.show(err.status === 404 ? 'This group was deleted elsewhere.' : err.detail);
  }
}

function editForm(d) {
  const g = groupFields('group-edit', d.group);
  const alert = alertBox();
  const status = statusBox();
  const submit = h('button', { type: 'submit', id: 'group-save', class: 'btn btn-primary', text: 'Save changes' });
  const form = h('form', { id: 'group-edit-form', class: 'form card', novalidate: true, 'aria-labelledby': 'group-edit-title' },
    h('h2', { id: 'group-edit-title', class: 'card-title', text: 'Details' }),
    h('div', { class: 'grid-2' }, g.nameField, g.descriptionField),
    g.roles,
    alert,
    h('div', { class: 'form-actions' }, submit, status));
  const e = { form, g, alert, status, submit };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    save(d, e);
  });
  return e;
}

/** The merge patch that turns group `base` into form values `v`; empty when nothing changed. */
function patchFor(base, v) {
  const patch = {};
  if (v.name !== base.name) patch.name = v.name;
  if (v.description !== (base.description ?? null)) patch.description = v.description;
  if ([...v.roles].sort().join() !== [...(base.roles || [])].sort().join()) patch.roles = v.roles;
  return patch;
}

async function save(d, { form, g, alert, status, submit }) {
  alert.hide();
  const values = readGroup(g);
  if (!checkGroup(form, g, values)) return;
  const patch = patchFor(d.base, values);
  if (!Object.keys(patch).length) {
    status.flash('No changes to save.');
    return;
  }
  await busy(submit, async () => {
    try {
      const res = await request(path(d), { method: 'PATCH', body: patch, headers: { 'If-Match': d.etag }, signal: d.ctrl.signal });
      if (d.destroyed) return;
      keep(d, res.data, res.etag);
      fillGroup(g, res.data);
      status.flash('Changes saved.');
    } catch (err) {
      if (isAbort(err) || d.destroyed) return;
      if (err.status === 412) {
        await reload(d, 'This group was changed elsewhere since you opened it. The latest version is shown now; make your changes again.', alert, g.name);
      } else if (err.status === 404) {
        alert.show('This group no longer exists.');
      } else {
        alert.show(problemText(err, showFieldErrors(form, err.errors)));
      }
    }
  });
}

function dangerZone(d) {
  const alert = alertBox();
  const del = h('button', { type: 'button', id: 'group-delete', class: 'btn btn-danger' }, icon('trash'), h('span', { text: 'Delete group' }));
  del.addEventListener('click', () => remove(d, del, alert));
  return h('section', { class: 'card group-section danger-zone', 'aria-labelledby': 'group-danger-title' },
    h('h2', { id: 'group-danger-title', class: 'card-title', text: 'Danger zone' }),
    h('p', { class: 'muted', text: 'Deleting the group ends its memberships: the users stay, with their own roles only. This cannot be undone.' }),
    alert,
    del);
}

async function remove(d, del, alert) {
  alert.hide();
  const group = d.group;
  const granted = group.roles && group.roles.length ? `, and lose the ${group.roles.join(' and ')} role${group.roles.length > 1 ? 's' : ''} it grants` : '';
  const ok = await confirmDialog({
    title: `Delete the group ${group.name}?`,
    message: group.member_count
      ? `Its ${plural(group.member_count, 'member leaves', 'members leave')} it at once${granted}. This cannot be undone.`
      : 'It has no members. This cannot be undone.',
    ok: 'Delete',
  });
  if (!ok || d.destroyed) return;
  await busy(del, async () => {
    try {
      await request(path(d), { method: 'DELETE', headers: { 'If-Match': d.etag }, signal: d.ctrl.signal });
    } catch (err) {
      if (isAbort(err) || d.destroyed) return;
      if (err.status === 412) {
        await reload(d, 'This group was changed elsewhere; the latest version is shown now. Review it before deleting.', alert, del);
        return;
      }
      if (err.status !== 404) {
        alert.show(err.detail);
        return;
      }
    }
    d.onDeleted(group);
  });
}
