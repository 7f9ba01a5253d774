// Passkeys in the browser: the server's WebAuthn options (JSON, binary as
// base64url) turned into what navigator.credentials takes, and the
// credential it gives back turned into JSON again. Browsers with
// PublicKeyCredential.parse*FromJSON / toJSON do the same; this also works
// where they are missing.

export function supported() {
  return typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;
}

function toBytes(b64url) {
  const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function toB64url(buf) {
  const bytes = new Uint8Array(buf);
  let bin = '';
  bytes.forEach((b) => { bin += String.fromCharCode(b); });
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const descriptor = (d) => ({ ...d, id: toBytes(d.id) });

/** navigator.credentials.create with the server's creation options. */
export async function create(options) {
  const o = options.publicKey;
  const cred = await navigator.credentials.create({
    publicKey: {
      ...o,
      challenge: toBytes(o.challenge),
      user: { ...o.user, id: toBytes(o.user.id) },
      excludeCredentials: (o.excludeCredentials || []).map(descriptor),
    },
  });
  const r = cred.response;
  return {
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    response: {
      clientDataJSON: toB64url(r.clientDataJSON),
      attestationObject: toB64url(r.attestationObject),
      transports: typeof r.getTransports === 'function' ? r.getTransports() : [],
    },
    clientExtensionResults: {},
  };
}

/** navigator.credentials.get with the server's request options. */
export async function get(options) {
  const o = options.publicKey;
  const cred = await navigator.credentials.get({
    publicKey: {
      ...o,
      challenge: toBytes(o.challenge),
      allowCredentials: (o.allowCredentials || []).map(descriptor),
    },
  });
  const r = cred.response;
  return {
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    response: {
      clientDataJSON: toB64url(r.clientDataJSON),
      authenticatorData: toB64url(r.authenticatorData),
      signature: toB64url(r.signature),
      userHandle: r.userHandle ? toB64url(r.userHandle) : null,
    },
    clientExtensionResults: {},
  };
}

/** Whether `err` is the person closing the browser's passkey prompt. */
export function cancelled(err) {
  return err && (err.name === 'NotAllowedError' || err.name === 'AbortError');
}
