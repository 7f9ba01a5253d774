// The Webhooks page's create form, and the signing-secret callout that the
// create and rotate answers (the only ones that carry `secret`) lead to.

import { request, isAbort } from '/admin/js/api.js';
import {
  h, clear, icon, alertBox, field, busy, setFieldError, clearFieldErrors, showFieldErrors, problemText,
} from '/admin/js/dom.js';
import { secretBox } from '/admin/js/views/secret-box.js';

export const EVENT_TYPES = [
  ['user.created', 'a user is created'],
  ['user.updated', 'a user is changed'],
  ['user.deleted', 'a user is deleted'],
  ['user.password_changed', 'a password is set or changed'],
  ['user.sessions_revoked', 'all of a user’s sessions are revoked'],
];

export function webhookForm() {
  const url = h('input', { id: 'webhook-url', name: 'url', type: 'url', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'https://example.com/roster-hook' });
  const description = h('input', { id: 'webhook-description', name: 'description', type: 'text', autocomplete: 'off', maxlength: '200', placeholder: 'e.g. CRM sync' });
  const typeBoxes = EVENT_TYPES.map(([value]) => h('input', { type: 'checkbox', name: 'event_types', value }));
  const typesError = h('p', { class: 'field-error', id: 'webhook-types-error', hidden: true, dataset: { field: 'event_types' } });
  const types = h('fieldset', { class: 'field fieldset', 'aria-describedby': 'webhook-types-hint webhook-types-error' },
    h('legend', { text: 'Events' }),
    h('div', { class: 'check-col' }, typeBoxes.map((b, i) => h('label', { class: 'check' }, b,
      h('span', {}, h('code', { text: b.value }), h('span', { class: 'muted', text: ` — ${EVENT_TYPES[i][1]}` }))))),
    h('p', { class: 'hint', id: 'webhook-types-hint', text: 'None checked: every event.' }),
    typesError);
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, icon('plus'), h('span', { text: 'Add endpoint' }));
  const form = h('form', { id: 'webhook-form', class: 'form card', novalidate: true },
    h('h2', { class: 'card-title', text: 'New endpoint' }),
    h('div', { class: 'grid-2' },
      field('URL', url, { hint: 'roster POSTs each event here as JSON, signed with the endpoint’s secret.' }).wrap,
      field('Description (optional)', description).wrap),
    types,
    alert,
    h('div', { class: 'form-actions' }, submit));
  return { form, url, description, typeBoxes, alert, submit };
}

/** The POST body for the form, or null after marking what is wrong. */
function webhookBody({ form, url, description, typeBoxes }) {
  const value = url.value.trim();
  let message = '';
  if (!value) message = 'Enter the address to send events to.';
  else if (!/^https?:\/\/[^/]/i.test(value)) message = 'Enter a full address starting with https://.';
  if (message) {
    setFieldError(form.querySelector('.field-error[data-field="url"]'), message, url);
    url.focus();
    return null;
  }
  const body = { url: value, event_types: typeBoxes.filter((b) => b.checked).map((b) => b.value) };
  if (description.value.trim()) body.description = description.value.trim();
  return body;
}

/** Creates the endpoint from the form; resolves to it (null on failure). */
export async function createWebhook(v) {
  const { f } = v;
  clearFieldErrors(f.form);
  f.alert.hide();
  const body = webhookBody(f);
  if (!body) return null;
  return busy(f.submit, async () => {
    try {
      const created = (await request('/webhooks', { method: 'POST', body, signal: v.ctrl.signal })).data;
      showSecret(v, created, false);
      f.url.value = '';
      f.description.value = '';
      f.typeBoxes.forEach((b) => { b.checked = false; });
      return created;
    } catch (err) {
      if (isAbort(err)) return null;
      const left = showFieldErrors(f.form, err.errors);
      f.alert.show(problemText(err, left));
      return null;
    }
  });
}

/** Shows `hook.secret` once: after creating the endpoint, or rotating its secret. */
export function showSecret(v, hook, rotated) {
  const box = secretBox({
    id: 'webhook-secret',
    copyId: 'copy-webhook-secret',
    title: `${rotated ? 'New signing secret' : 'Signing secret'} of ${hook.url}`,
    secret: hook.secret,
    warning: rotated
      ? 'Copy it now: this secret will not be shown again. The previous secret stays valid for 24 hours, so the receiver can switch over.'
      : 'Copy it now: this secret will not be shown again. The receiver needs it to check the webhook-signature header.',
    onDismiss: () => {
      clear(v.secretSlot);
      v.f.url.focus();
    },
  });
  clear(v.secretSlot).append(box);
  box.focus();
}
