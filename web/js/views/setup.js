// The first-admin setup page (/admin/setup?token=…): the one-time link roster
// prints on its first start creates the administrator, then sign-in follows.

import * as API from '/admin/js/api.js';
import { h, clear, alertBox, field, busy, clearFieldErrors, showFieldErrors, problemText } from '/admin/js/dom.js';
import { authCard } from '/admin/js/views/auth-card.js';

/**
 * Replaces `root` with the setup form for `token` (or a note when the link
 * has none). After the admin is created, `signIn({email, notice})` shows the
 * sign-in page.
 */
export function showSetup(root, token, { signIn }) {
  document.title = 'Set up · roster';
  if (!token) {
    const p = h('p', { class: 'alert', role: 'alert', text: 'This setup link has no token. Use the full link that roster printed when it started.' });
    const back = h('a', { class: 'btn', href: '/admin/', text: 'Go to sign in' });
    clear(root).append(authCard('Create the first admin', '', p, back));
    return;
  }
  const f = setupForm();
  f.form.addEventListener('submit', (e) => {
    e.preventDefault();
    submitSetup(f, token, signIn);
  });
  clear(root).append(authCard('Create the first admin', 'This one-time link creates the administrator account.', f.form));
  f.email.focus();
}

function setupForm() {
  const email = h('input', { name: 'email', type: 'email', autocomplete: 'email', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const name = h('input', { name: 'name', type: 'text', autocomplete: 'name' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: '8' });
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', text: 'Create admin' });
  const form = h('form', { id: 'setup-form', class: 'form', novalidate: true },
    field('Email', email).wrap,
    field('Name (optional)', name).wrap,
    field('Password', password, { hint: 'At least 8 characters.' }).wrap,
    alert,
    submit);
  return { form, email, name, password, alert, submit };
}

async function submitSetup({ form, email, name, password, alert, submit }, token, signIn) {
  alert.hide();
  clearFieldErrors(form);
  const body = { token, email: email.value.trim(), password: password.value };
  if (name.value.trim()) body.name = name.value.trim();
  await busy(submit, async () => {
    try {
      await API.publicRequest('/setup', { method: 'POST', body });
      history.replaceState(null, '', '/admin/');
      signIn({ email: body.email, notice: 'Admin account created. Sign in with your new password.' });
    } catch (err) {
      const left = showFieldErrors(form, err.errors);
      alert.show(problemText(err, left));
    }
  });
}
