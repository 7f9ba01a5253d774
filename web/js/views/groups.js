// #/groups: groups of users and the roles each grants its members, and
// #/groups/<id>: one group (its details, members, adding members, delete).
// This file builds the list page and switches between the two; the parts
// live in js/views/groups/ (form.js, list.js, detail.js, members.js,
// add-members.js).
//
// The list page's parts share one view object, `v`:
//   destroyed    set on unmount; late answers are dropped
//   ctrl         aborts the create form's request on unmount
//   f            the create form's parts (form.js)
//   search, table, tbody, count, more, q, offset, total, seq
//                the search box and the list (list.js)
//   loadCtrl     the list load in flight, aborted by the next one and on unmount
//   listAlert, notice   problems and outcomes on the list page
//   pendingNotice       an outcome to show once the list is back (a deletion)
//   listPage     the form and the list, hidden while one group shows
//   detailSlot, detail  where one group's page goes, and its instance

import { h, alertBox, statusBox, debounce, busy } from '/admin/js/dom.js';
import { createForm, createGroup } from '/admin/js/views/groups/form.js';
import { listParts, addRow, load } from '/admin/js/views/groups/list.js';
import { mountGroup } from '/admin/js/views/groups/detail.js';

export function mount(container, arg) {
  const v = {
    destroyed: false,
    ctrl: new AbortController(),
    f: createForm(),
    ...listParts(),
    listAlert: alertBox(),
    notice: statusBox('notice-float'),
    pendingNotice: '',
    detailSlot: h('div', { class: 'view' }),
    detail: null,
  };
  v.listPage = h('section', { class: 'view view-groups', 'aria-labelledby': 'groups-title' },
    h('div', { class: 'view-head' }, h('div', {}, h('h1', { id: 'groups-title', text: 'Groups' }), v.count)),
    h('p', { class: 'muted lede', text: 'A group gathers users; the roles it grants are theirs, on top of their own, for as long as they are members.' }),
    v.f.form,
    h('h2', { class: 'section-title', text: 'All groups' }),
    v.searchBox,
    v.listAlert,
    v.notice,
    v.tableWrap,
    h('div', { class: 'pager' }, v.more));
  container.append(v.listPage, v.detailSlot);
  wire(v);
  show(v, arg);

  return {
    update(id) {
      show(v, id);
    },
    unmount() {
      v.destroyed = true;
      v.ctrl.abort();
      if (v.loadCtrl) v.loadCtrl.abort();
      v.onType.cancel();
      if (v.detail) v.detail.unmount();
      v.listPage.remove();
      v.detailSlot.remove();
    },
  };
}

/** The create form, search as you type (at once on Enter) and "Load more". */
function wire(v) {
  v.f.form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const created = await createGroup(v);
    if (!created || v.destroyed) return;
    addRow(v, created);
    v.notice.flash(`Created the group ${created.name}.`);
  });
  v.onType = debounce(() => {
    if (v.search.value.trim() !== v.q) load(v);
  }, 150);
  v.search.addEventListener('input', v.onType);
  v.search.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return;
    e.preventDefault();
    v.onType.cancel();
    load(v);
  });
  v.more.addEventListener('click', () => busy(v.more, () => load(v, { append: true })));
}

/**
 * Shows group `id`, or (no id) the list, reloaded; coming back from a
 * group, the focus goes to its link (or, if it is gone, the search box).
 */
function show(v, id) {
  const from = v.detail ? v.detail.id : null;
  if (v.detail) v.detail.unmount();
  v.detail = null;
  v.listPage.hidden = !!id;
  v.detailSlot.hidden = !id;
  if (id) {
    v.detail = {
      id,
      ...mountGroup(v.detailSlot, id, {
        onDeleted(group) {
          v.pendingNotice = `Deleted the group ${group.name}.`;
          location.hash = '#/groups';
        },
      }),
    };
  } else {
    if (v.pendingNotice) v.notice.flash(v.pendingNotice);
    v.pendingNotice = '';
    load(v, { focusId: from });
  }
}
