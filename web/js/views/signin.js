// The sign-in page: email (or username) and password, or a passkey alone;
// then, for an account with a second factor, a code from the authenticator
// app, a passkey, or a recovery code. On success it hands the signed-in user
// to the caller; it knows nothing of the shell.

import * as API from '/admin/js/api.js';
import { h, clear, alertBox, statusBox, field, busy, clearFieldErrors, showFieldErrors, problemText } from '/admin/js/dom.js';
import { authCard } from '/admin/js/views/auth-card.js';
import * as WebAuthn from '/admin/js/webauthn.js';

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
    submitLogin(f, onSignedIn, root);
  });
  const status = statusBox();
  const passkey = WebAuthn.supported() ? passkeyButton(f.alert, onSignedIn) : null;
  clear(root).append(authCard('Sign in to the admin console', '', status, f.form, passkey));
  if (message) f.alert.show(message);
  if (notice) status.flash(notice, 0);
  (email ? f.password : f.login).focus();
}

/** "Sign in with a passkey": no login name, no password. */
function passkeyButton(alert, onSignedIn) {
  const btn = h('button', { type: 'button', id: 'passkey-signin', class: 'btn btn-ghost btn-block', text: 'Sign in with a passkey' });
  btn.addEventListener('click', () => busy(btn, async () => {
    alert.hide();
    try {
      onSignedIn(await API.signInWithPasskey(WebAuthn));
    } catch (err) {
      if (WebAuthn.cancelled(err)) alert.show('The passkey prompt was closed. Try again, or use your password.');
      else alert.show(err.detail || err.message);
    }
  }));
  return h('div', { class: 'passkey-signin' }, h('p', { class: 'muted divider', text: 'or' }), btn);
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

async function submitLogin({ form, login, password, alert, submit }, onSignedIn, root) {
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
      const r = await API.login(login.value.trim(), password.value);
      if (r.secondFactor) showSecondFactor(root, r.secondFactor, { onSignedIn });
      else onSignedIn(r.user);
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

/**
 * Replaces `root` with the second step of a sign-in: a 6-digit code from
 * the authenticator app, or (switching) a recovery code.
 */
export function showSecondFactor(root, challenge, { onSignedIn }) {
  document.title = 'Second step · roster';
  let method = challenge.methods.includes('totp') ? 'totp' : 'recovery';
  const passkey = challenge.methods.includes('webauthn') && WebAuthn.supported()
    ? h('button', { type: 'button', id: 'mfa-passkey', class: 'btn btn-primary btn-block', text: 'Use your passkey' })
    : null;
  const code = h('input', { name: 'code', id: 'mfa-code', type: 'text', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const label = h('span');
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', text: 'Verify' });
  const other = h('button', { type: 'button', id: 'mfa-switch', class: 'btn btn-ghost btn-block' });
  const codeField = field('', code);
  codeField.wrap.querySelector('label').append(label);
  const form = h('form', { id: 'mfa-form', class: 'form', novalidate: true }, codeField.wrap, alert, submit,
    challenge.methods.includes('recovery') && challenge.methods.includes('totp') ? other : null);
  const describe = () => {
    const totp = method === 'totp';
    label.textContent = totp ? 'Code from your authenticator app' : 'Recovery code';
    code.setAttribute('autocomplete', totp ? 'one-time-code' : 'off');
    code.setAttribute('inputmode', totp ? 'numeric' : 'text');
    code.setAttribute('maxlength', totp ? '6' : '32');
    other.textContent = totp ? 'Use a recovery code instead' : 'Use the authenticator app instead';
  };
  describe();
  other.addEventListener('click', () => {
    method = method === 'totp' ? 'recovery' : 'totp';
    code.value = '';
    alert.hide();
    describe();
    code.focus();
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alert.hide();
    if (!code.value.trim()) {
      alert.show('Enter the code.');
      code.focus();
      return;
    }
    await busy(submit, async () => {
      try {
        const user = await API.verifySecondFactor(challenge, method, code.value.trim());
        onSignedIn(user);
      } catch (err) {
        if (err.status === 401 && /mfa_token/.test(err.detail)) {
          showSignIn(root, { message: 'That sign-in has expired. Please sign in again.', onSignedIn });
          return;
        }
        alert.show(problemText(err, []));
        code.value = '';
        code.focus();
      }
    });
  });
  if (passkey) {
    passkey.addEventListener('click', () => busy(passkey, async () => {
      alert.hide();
      try {
        onSignedIn(await API.passkeySecondStep(WebAuthn, challenge));
      } catch (err) {
        if (err.status === 401 && /mfa_token/.test(err.detail)) {
          showSignIn(root, { message: 'That sign-in has expired. Please sign in again.', onSignedIn });
          return;
        }
        alert.show(WebAuthn.cancelled(err) ? 'The passkey prompt was closed. Try again, or enter a code.' : (err.detail || err.message));
      }
    }));
    submit.classList.replace('btn-primary', 'btn-ghost');
  }
  clear(root).append(authCard('Second step', 'Your account is protected by a second factor.', statusBox(), passkey, form));
  (passkey || code).focus();
}
