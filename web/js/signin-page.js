// roster's own sign-in page (/account/login: an app sent the person here):
// the passkey buttons. The page works without this script (a password,
// then a code); with it a passkey signs in alone, or is the second step.
// The session a passkey sign-in makes is handed to the server once, by a
// form post that turns it into the page's cookie.

import * as WebAuthn from '/admin/js/webauthn.js';

async function post(path, body) {
  const res = await fetch(`/api/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    credentials: 'omit',
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.detail || `The server answered ${res.status}.`);
  return data;
}

function adopt(tokens) {
  const form = document.getElementById('session-form');
  form.elements.session.value = tokens.refresh_token;
  form.submit();
}

function showError(err) {
  const box = document.getElementById('passkey-error');
  box.textContent = WebAuthn.cancelled(err) ? 'The passkey prompt was closed. Try again, or use your password.' : err.message;
  box.hidden = false;
}

function offer(id, run) {
  const button = document.getElementById(id);
  if (!button || !WebAuthn.supported()) return;
  button.hidden = false;
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      adopt(await run());
    } catch (err) {
      showError(err);
      button.disabled = false;
    }
  });
}

offer('passkey-signin', async () => {
  const options = await post('/auth/webauthn/login/start', {});
  const credential = await WebAuthn.get(options);
  return post('/auth/webauthn/login/finish', { credential });
});

offer('passkey-second', async () => {
  const mfaToken = document.querySelector('#second-factor-form [name=mfa_token]').value;
  const options = await post('/auth/webauthn/login/start', { mfa_token: mfaToken });
  const credential = await WebAuthn.get(options);
  return post('/auth/mfa/verify', { mfa_token: mfaToken, method: 'webauthn', credential });
});
