// The user form, shared by edit and create: its fields, reading and filling
// them, and the checks made before anything is sent.

import { h, alertBox, statusBox, field, setFieldError, clearFieldErrors } from '/admin/js/dom.js';
import { isObject } from '/admin/js/views/user-panel/patch.js';

const ROLES = ['admin', 'user'];

/** Parses the attributes textarea: {value} or {error}. */
function parseAttributes(text) {
  const t = text.trim();
  if (!t) return { value: {} };
  try {
    const v = JSON.parse(t);
    if (!isObject(v)) return { error: 'Attributes must be a JSON object, such as {"team": "ops"}.' };
    return { value: v };
  } catch (e) {
    return { error: `Not valid JSON: ${e.message}` };
  }
}

/**
 * The form for `user` (null: a new user). `mode` is 'edit' or 'create' (which
 * adds a password field); the cancel button calls `onCancel`. Returns the
 * parts that readForm, fillForm and checkForm work on.
 */
export function buildForm(mode, user, onCancel) {
  const u = user || { roles: ['user'], status: 'active', attributes: {}, email_verified: false };
  const inputs = userInputs(mode, u);
  const roleBoxes = ROLES.map((r) => h('input', { type: 'checkbox', name: 'roles', value: r, checked: (u.roles || []).includes(r) }));
  const attrs = attributesField(inputs.attributes);
  const verified = h('label', { class: 'check' }, inputs.email_verified, h('span', { text: 'Email verified' }));
  const verifiedError = h('p', { class: 'field-error', hidden: true, dataset: { field: 'email_verified' } });
  const alert = alertBox();
  const status = statusBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', text: mode === 'create' ? 'Create user' : 'Save changes' });
  const cancel = h('button', { type: 'button', class: 'btn', text: mode === 'create' ? 'Cancel' : 'Close' });
  cancel.addEventListener('click', () => onCancel());

  const form = h('form', { id: 'user-form', class: 'form', novalidate: true },
    h('div', { class: 'grid-2' },
      field('Name', inputs.name).wrap,
      field('Username', inputs.username, { hint: 'Optional. Letters, digits, . _ -' }).wrap),
    field('Email', inputs.email).wrap,
    inputs.password ? field('Password', inputs.password, { hint: 'Optional; at least 8 characters. Without one the user cannot sign in with a password.' }).wrap : null,
    h('div', { class: 'grid-2' },
      rolesFieldset(roleBoxes),
      field('Status', inputs.status).wrap),
    h('div', { class: 'field' }, verified, verifiedError),
    attrs.wrap,
    alert,
    h('div', { class: 'form-actions' }, submit, cancel, status));
  return { form, inputs, roleBoxes, attrs, alert, status, submit };
}

function userInputs(mode, u) {
  const inputs = {
    name: h('input', { name: 'name', type: 'text', autocomplete: 'off', maxlength: '200', value: u.name || '' }),
    email: h('input', { name: 'email', type: 'email', autocomplete: 'off', required: true, spellcheck: 'false', autocapitalize: 'none', value: u.email || '' }),
    username: h('input', { name: 'username', type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none', maxlength: '64', value: u.username || '' }),
    status: h('select', { name: 'status' },
      h('option', { value: 'active', text: 'Active' }),
      h('option', { value: 'disabled', text: 'Disabled' })),
    email_verified: h('input', { name: 'email_verified', type: 'checkbox', checked: !!u.email_verified }),
    attributes: h('textarea', { name: 'attributes', rows: '6', spellcheck: 'false', class: 'mono' }),
  };
  inputs.status.value = u.status || 'active';
  inputs.attributes.value = JSON.stringify(u.attributes || {}, null, 2);
  if (mode === 'create') {
    inputs.password = h('input', { name: 'password', type: 'password', autocomplete: 'new-password', minlength: '8' });
  }
  return inputs;
}

function rolesFieldset(roleBoxes) {
  const rolesError = h('p', { class: 'field-error', id: 'user-roles-error', hidden: true, dataset: { field: 'roles' } });
  return h('fieldset', { class: 'field fieldset', 'aria-describedby': 'user-roles-error' },
    h('legend', { text: 'Roles' }),
    h('div', { class: 'check-row' }, roleBoxes.map((b) => h('label', { class: 'check' }, b, h('span', { text: b.value })))),
    rolesError);
}

/** The attributes field; says as you type whether the JSON is an object. */
function attributesField(textarea) {
  const attrs = field('Attributes (JSON object)', textarea, { hint: 'Custom data, at most 16 KiB. Remove a key to delete it.' });
  textarea.addEventListener('input', () => {
    const r = parseAttributes(textarea.value);
    setFieldError(attrs.error, r.error || '', textarea);
  });
  return attrs;
}

/** The form's values; `attributes` is parseAttributes' {value} or {error}. */
export function readForm({ inputs, roleBoxes }) {
  return {
    name: inputs.name.value.trim() || null,
    email: inputs.email.value.trim(),
    username: inputs.username.value.trim() || null,
    roles: roleBoxes.filter((b) => b.checked).map((b) => b.value),
    status: inputs.status.value,
    email_verified: inputs.email_verified.checked,
    attributes: parseAttributes(inputs.attributes.value),
    password: inputs.password ? inputs.password.value : undefined,
  };
}

/** Puts user `nu` into the form and clears its errors. */
export function fillForm({ form, inputs, roleBoxes }, nu) {
  inputs.name.value = nu.name || '';
  inputs.email.value = nu.email || '';
  inputs.username.value = nu.username || '';
  inputs.status.value = nu.status;
  inputs.email_verified.checked = !!nu.email_verified;
  inputs.attributes.value = JSON.stringify(nu.attributes || {}, null, 2);
  roleBoxes.forEach((b) => { b.checked = (nu.roles || []).includes(b.value); });
  clearFieldErrors(form);
}

/** Local checks of values `v` before sending; true when the form may be sent. */
export function checkForm({ form, inputs, attrs, alert }, v) {
  clearFieldErrors(form);
  alert.hide();
  let ok = true;
  if (v.attributes.error) {
    setFieldError(attrs.error, v.attributes.error, inputs.attributes);
    inputs.attributes.focus();
    ok = false;
  }
  if (!v.email) {
    const err = form.querySelector('.field-error[data-field="email"]');
    setFieldError(err, 'Email is required.', inputs.email);
    inputs.email.focus();
    ok = false;
  }
  return ok;
}
