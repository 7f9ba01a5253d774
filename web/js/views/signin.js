// The sign-in page: email (or username) and password. On success it hands
// the signed-in user to the caller; it knows nothing of the shell.

import * as API from '/admin/js/api.js';
import { h, clear, alertBox, statusBox, field, busy, clearFieldErrors, showFieldErrors, problemText } from '/admin/js/dom.js';
import { authCard } from '/admin/js/views/auth-card.js';

/**
 * Replaces `root` with the sign-in form. `message` shows as an alert,
 * `notice` as a lasting status line, `email` prefills the login field (and
 * puts the focus on the password); `onSignedIn(user)` runs after a sign-in.
 */
export function showSignIn(root, { message = '', email = '', notice = '', onSignedIn }) {
  document.title = 'Sign in · roster';
  const f = loginForm(email);
  f.form.addEventListener('submit', (e) => {
    e.preventDefault();
    submitLogin(f, onSignedIn);
  });
  const status = statusBox();
  clear(root).append(authCard('Sign in to the admin console', '', status, f.form));
  if (message) f.alert.show(message);
  if (notice) status.flash(notice, 0);
  (email ? f.password : f.login).focus();
}

function loginForm(email) {
  const login = h('input', { name: 'login', type: 'text', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false', value: email });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', text: 'Sign in' });
  const form = h('form', { id: 'login-form', class: 'form', novalidate: true },
    field('Email or username', login).wrap,
    field('Password', password).wrap,
    alert,
    submit);
  return { form, login, password, alert, submit };
}

async function submitLogin({ form, login, password, alert, submit }, onSignedIn) {
  alert.hide();
  clearFieldErrors(form);
  if (!login.value.trim() || !password.value) {
    alert.show('Enter your email (or username) and password.');
    (login.value.trim() ? password : login).focus();
    return;
  }
  await busy(submit, async () => {
    submit.textContent = 'Signing in…';
    try {
      const user = await API.login(login.value.trim(), password.value);
      onSignedIn(user);
    } catch (err) {
      const left = showFieldErrors(form, err.errors);
      alert.show(problemText(err, left));
      password.value = '';
      if (!form.querySelector('[aria-invalid]')) password.focus();
    } finally {
      submit.textContent = 'Sign in';
    }
  });
}
