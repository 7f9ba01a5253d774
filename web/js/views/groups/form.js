// A group's fields (name, description, the roles it grants), shared by the
// "New group" form on the list page and the details form of one group;
// reading and checking them; and creating a group from the list page's form.

import { request, isAbort } from '/admin/js/api.js';
import {
  h, icon, alertBox, field, busy, setFieldError, clearFieldErrors, showFieldErrors, problemText,
} from '/admin/js/dom.js';

const ROLES = [
  ['admin', 'manage users, groups and keys'],
  ['user', 'sign in and manage their own account'],
];

/**
 * The fields for `group` (null: a new one), their ids starting with
 * `prefix`: `<prefix>-name`, `<prefix>-description`, `<prefix>-role-<role>`.
 */
export function groupFields(prefix, group = null) {
  const name = h('input', {
    id: `${prefix}-name`, name: 'name', type: 'text', required: true, autocomplete: 'off', maxlength: '128', value: group ? group.name : '',
  });
  const description = h('input', {
    id: `${prefix}-description`, name: 'description', type: 'text', autocomplete: 'off', maxlength: '1000', value: group ? group.description || '' : '',
  });
  const roleBoxes = ROLES.map(([role]) => h('input', {
    type: 'checkbox', id: `${prefix}-role-${role}`, name: 'roles', value: role, checked: !!group && (group.roles || []).includes(role),
  }));
  const hintId = `${prefix}-roles-hint`;
  const errorId = `${prefix}-roles-error`;
  const roles = h('fieldset', { class: 'field fieldset', 'aria-describedby': `${hintId} ${errorId}` },
    h('legend', { text: 'Roles granted to members' }),
    h('div', { class: 'check-row' }, roleBoxes.map((b, i) => h('label', { class: 'check' }, b,
      h('span', {}, b.value, h('span', { class: 'muted', text: ` — ${ROLES[i][1]}` }))))),
    h('p', { class: 'hint', id: hintId, text: 'Members have these on top of their own roles, from the moment they join until they leave.' }),
    h('p', { class: 'field-error', id: errorId, hidden: true, dataset: { field: 'roles' } }));
  return {
    name,
    description,
    roleBoxes,
    nameField: field('Name', name, { hint: 'Unique, whatever the case.' }).wrap,
    descriptionField: field('Description (optional)', description).wrap,
    roles,
  };
}

/** The values of fields `g` (see groupFields); an empty description is null. */
export function readGroup(g) {
  return {
    name: g.name.value.trim(),
    description: g.description.value.trim() || null,
    roles: g.roleBoxes.filter((b) => b.checked).map((b) => b.value),
  };
}

/** Puts `group` into fields `g`. */
export function fillGroup(g, group) {
  g.name.value = group.name;
  g.description.value = group.description || '';
  g.roleBoxes.forEach((b) => { b.checked = (group.roles || []).includes(b.value); });
}

/** Local checks before sending; true when `values` may be sent. */
export function checkGroup(form, g, values) {
  clearFieldErrors(form);
  if (values.name) return true;
  setFieldError(form.querySelector('.field-error[data-field="name"]'), 'Enter a name for the group.', g.name);
  g.name.focus();
  return false;
}

/** The list page's "New group" form. */
export function createForm() {
  const g = groupFields('group');
  const alert = alertBox();
  const submit = h('button', { type: 'submit', id: 'group-create', class: 'btn btn-primary' }, icon('plus'), h('span', { text: 'Create group' }));
  const form = h('form', { id: 'group-form', class: 'form card', novalidate: true, 'aria-labelledby': 'group-form-title' },
    h('h2', { id: 'group-form-title', class: 'card-title', text: 'New group' }),
    h('div', { class: 'grid-2' }, g.nameField, g.descriptionField),
    g.roles,
    alert,
    h('div', { class: 'form-actions' }, submit));
  return { form, g, alert, submit };
}

/** Creates a group from the form of list page `v`; resolves to it (null on failure). */
export async function createGroup(v) {
  const { form, g, alert, submit } = v.f;
  alert.hide();
  const values = readGroup(g);
  if (!checkGroup(form, g, values)) return null;
  const body = { name: values.name, roles: values.roles };
  if (values.description) body.description = values.description;
  return busy(submit, async () => {
    try {
      const created = (await request('/groups', { method: 'POST', body, signal: v.ctrl.signal })).data;
      fillGroup(g, { name: '', description: '', roles: [] });
      g.name.focus();
      return created;
    } catch (err) {
      if (isAbort(err)) return null;
      const left = showFieldErrors(form, err.errors);
      alert.show(problemText(err, left));
      return null;
    }
  });
}
