// #/webhooks: the endpoints roster POSTs user changes to (signed the
// Standard Webhooks way), and #/webhooks/<id>: one endpoint's deliveries.
// This file builds the page and switches between the two; the parts live in
// js/views/webhooks/ (form.js, list.js, deliveries.js).
//
// They share one view object, `v`:
//   destroyed    set on unmount; late answers are dropped
//   ctrl         aborts the view's requests on unmount
//   f            the create form's parts (form.js)
//   secretSlot   where a new signing secret is shown, once
//   list, count, listAlert, notice   the endpoint list (list.js)
//   listPage     the form and the list, hidden while deliveries show; the
//                secret box stays in it until dismissed
//   detailSlot, detail   where the deliveries page goes, and its instance

import { h, alertBox, statusBox } from '/admin/js/dom.js';
import { webhookForm, createWebhook } from '/admin/js/views/webhooks/form.js';
import { listParts, addRow, load } from '/admin/js/views/webhooks/list.js';
import { mountDeliveries } from '/admin/js/views/webhooks/deliveries.js';

export function mount(container, arg) {
  const v = {
    destroyed: false,
    ctrl: new AbortController(),
    f: webhookForm(),
    secretSlot: h('div', { class: 'secret-slot' }),
    ...listParts(),
    listAlert: alertBox(),
    notice: statusBox(),
    detailSlot: h('div', { class: 'view' }),
    detail: null,
  };
  v.listPage = h('section', { class: 'view view-webhooks', 'aria-labelledby': 'webhooks-title' },
    h('div', { class: 'view-head' }, h('div', {}, h('h1', { id: 'webhooks-title', text: 'Webhooks' }), v.count)),
    h('p', { class: 'muted lede', text: 'roster POSTs every user change to these endpoints, in order, and retries until the receiver answers 2xx. Each request is signed with the endpoint’s secret (webhook-signature header).' }),
    v.f.form,
    v.secretSlot,
    h('h2', { id: 'webhooks-list-title', class: 'section-title', text: 'Endpoints' }),
    v.listAlert,
    v.notice,
    v.list);
  container.append(v.listPage, v.detailSlot);
  v.f.form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const created = await createWebhook(v);
    if (created && !v.destroyed) addRow(v, created);
  });

  show(v, arg);

  return {
    update(id) {
      show(v, id);
    },
    unmount() {
      v.destroyed = true;
      v.ctrl.abort();
      if (v.detail) v.detail.unmount();
      v.listPage.remove();
      v.detailSlot.remove();
    },
  };
}

/** Shows the deliveries of endpoint `id`, or (no id) the list, refreshed. */
function show(v, id) {
  const from = v.detail ? v.detail.id : null;
  if (v.detail) v.detail.unmount();
  v.detail = null;
  v.listPage.hidden = !!id;
  v.detailSlot.hidden = !id;
  if (id) {
    v.detail = { id, ...mountDeliveries(v.detailSlot, id) };
  } else {
    load(v, from);
  }
}
