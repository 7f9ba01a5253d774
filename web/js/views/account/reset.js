// /account/reset: choose a new password with the token of a mailed reset
// link. The two entries must match (checked here); the server judges the
// password's strength and its 422 field errors show under the field.

import { publicRequest } from '/admin/js/api.js';
import { h, alertBox, field, busy, setFieldError, clearFieldErrors, showFieldErrors, problemText } from '/admin/js/dom.js';
import { showCard, doneBox, isInvalidToken } from '/admin/js/views/account/card.js';
import { showDeadLink } from '/admin/js/views/account/dead-link.js';

/** Replaces `root` with the reset form for `token`. */
export function showReset(root, token) {
  if (!token) {
    showDeadLink(root, 'reset', { missing: true });
    return;
  }
  const f = resetForm();
  f.form.addEventListener('submit', (e) => {
    e.preventDefault();
    submitReset(root, f, token);
  });
  showCard(root, { title: 'Choose a new password', subtitle: 'Enter a new password for your account, twice.' }, f.form);
  f.password.focus();
}

function resetForm() {
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: '8' });
  const repeat = h('input', { name: 'password_repeat', type: 'password', autocomplete: 'new-password', required: true });
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', text: 'Set new password' });
  const form = h('form', { id: 'reset-form', class: 'form', novalidate: true },
    field('New password', password, { hint: 'At least 8 characters.' }).wrap,
    field('Repeat the new password', repeat).wrap,
    alert,
    submit);
  return { form, password, repeat, alert, submit };
}

/** The first local problem with the entries, shown at its field; false if none. */
function localProblem({ form, password, repeat }) {
  const errorOf = (name) => form.querySelector(`.field-error[data-field="${name}"]`);
  if (!password.value) {
    setFieldError(errorOf('password'), 'Enter a new password.', password);
    password.focus();
    return true;
  }
  if (password.value !== repeat.value) {
    setFieldError(errorOf('password_repeat'), 'The two passwords do not match.', repeat);
    repeat.focus();
    return true;
  }
  return false;
}

async function submitReset(root, f, token) {
  const { form, password, alert, submit } = f;
  alert.hide();
  clearFieldErrors(form);
  if (localProblem(f)) return;
  await busy(submit, async () => {
    try {
      await publicRequest('/auth/password-reset/confirm', {
        method: 'POST',
        body: { token, password: password.value },
      });
      const text = 'Your password has been changed. Sign in with your new password.';
      showCard(root, { title: 'Password changed', moved: true, announce: text },
        doneBox(text),
        h('a', { class: 'btn btn-block', href: '/admin/', text: 'Go to sign in' }));
    } catch (err) {
      if (isInvalidToken(err)) {
        showDeadLink(root, 'reset', { moved: true });
        return;
      }
      const left = showFieldErrors(form, err.errors);
      alert.show(problemText(err, left));
    }
  });
}
