//! Passkeys (WebAuthn): registering one for the signed-in user, signing in
//! with one alone (a discoverable credential, the user verified by the
//! authenticator), using one as the second step of a sign-in, and listing,
//! renaming and removing them.
//!
//! Every ceremony starts with a challenge that the store keeps for five
//! minutes and one answer, right or wrong; the relying party is the
//! server's public URL. The checks themselves are `auth::webauthn`'s.

use std::time::Duration;

use super::mfa::{
    BAD_CHALLENGE, BAD_CODE, Committed, Proof, notify, save_factors, spend_totp_code,
};
use super::*;
use crate::auth::totp;
use crate::auth::webauthn::{self, Ceremony, ClientData, Refused, RelyingParty};
use crate::domain::Passkey;
use crate::store::{Ceremony as Stored, CeremonyPurpose};

/// How long a browser has to answer a WebAuthn challenge.
const CEREMONY_TTL: Duration = Duration::from_secs(5 * 60);
/// Passkeys one user may have.
pub const MAX_PASSKEYS: usize = 20;
const BAD_CEREMONY: &str =
    "The passkey challenge is not valid, was already answered or has expired; start again.";
const UNKNOWN_PASSKEY: &str = "This passkey is not registered here.";

/// What a browser needs to create a passkey (`navigator.credentials.create`).
pub struct CreationOptions {
    pub rp: RelyingParty,
    /// The product's name, shown by the browser.
    pub rp_name: String,
    pub challenge: Vec<u8>,
    /// The user's id, as the authenticator stores it.
    pub user_handle: Vec<u8>,
    pub user_name: String,
    pub display_name: String,
    /// The user's passkeys already registered (id, transports): an
    /// authenticator holding one makes no second.
    pub exclude: Vec<(Vec<u8>, Vec<String>)>,
    pub timeout_ms: u64,
}

/// What a browser needs to sign in with a passkey (`navigator.credentials.get`).
pub struct RequestOptions {
    pub rp_id: String,
    pub challenge: Vec<u8>,
    /// Empty: any passkey of this site the authenticator holds.
    pub allow: Vec<(Vec<u8>, Vec<String>)>,
    /// `required` when the passkey is the only proof, else `preferred`.
    pub user_verification: &'static str,
    pub timeout_ms: u64,
}

/// A registration ceremony's answer, decoded from base64url.
pub struct NewPasskey {
    pub id: Vec<u8>,
    pub client_data_json: Vec<u8>,
    pub attestation_object: Vec<u8>,
    pub transports: Vec<String>,
}

/// An authentication ceremony's answer, decoded from base64url.
pub struct PasskeyAssertion {
    pub id: Vec<u8>,
    pub client_data_json: Vec<u8>,
    pub authenticator_data: Vec<u8>,
    pub signature: Vec<u8>,
    pub user_handle: Option<Vec<u8>>,
}

/// A refused answer as an error: a client that does not speak WebAuthn is
/// a bad body; a proof that does not hold, a failed sign-in.
pub(super) fn refused(r: Refused) -> Error {
    match r {
        Refused::Malformed(m) => Error::Validation(vec![FieldError::new("credential", m)]),
        Refused::Failed(m) => Error::Unauthorized(m),
    }
}

fn descriptors(keys: &[Passkey]) -> Vec<(Vec<u8>, Vec<String>)> {
    keys.iter()
        .map(|k| (k.id.clone(), k.transports.clone()))
        .collect()
}

/// Checks `a` against `key` and moves its counter on; the `amr` value it
/// adds on success.
pub(super) fn check_assertion(
    rp: &RelyingParty,
    key: &mut Passkey,
    a: &PasskeyAssertion,
    require_uv: bool,
    at: OffsetDateTime,
) -> Result<webauthn::Asserted, Refused> {
    let ok = webauthn::assertion(
        rp,
        &key.public_key,
        key.sign_count,
        &a.client_data_json,
        &a.authenticator_data,
        &a.signature,
        require_uv,
    )?;
    key.sign_count = ok.sign_count;
    key.last_used_at = Some(Timestamp::from_datetime(at));
    Ok(ok)
}

impl Auth {
    /// The relying party passkeys are bound to: the public URL's host.
    pub(super) fn relying_party(&self) -> Result<RelyingParty, Error> {
        RelyingParty::from_url(self.0.mail.base_url()).ok_or(Error::StateConflict(
            "Passkeys need a domain name: set --public-url (an IP address cannot be a WebAuthn relying party).",
        ))
    }

    /// A ceremony's expiry, from `at`.
    fn ceremony(purpose: CeremonyPurpose, at: OffsetDateTime) -> Stored {
        Stored {
            purpose,
            expires_at: Timestamp::from_datetime(at).after(CEREMONY_TTL),
        }
    }

    /// Starts registering a passkey for the caller, proven by the password
    /// or a current TOTP code: a passkey signs in alone, so an access token
    /// alone (perhaps a stolen one) may not add one.
    pub async fn passkey_register_start(
        &self,
        caller: &Caller,
        proof: Proof,
    ) -> Result<CreationOptions, Error> {
        let id = Self::own_user(caller)?;
        allow(caller, Action::ManageOwnMfa(id))?;
        let rp = self.relying_party()?;
        self.throttle_mfa(id.0, caller.ip.as_deref())?;
        let audit = Audit::by(caller, "mfa.passkey.add").target(id);
        let code = self.password_or_code(id, proof, audit.clone()).await?;
        let challenge = webauthn::new_challenge();
        let at = now();
        let key = webauthn::challenge_key(&challenge);
        let stored = Self::ceremony(CeremonyPurpose::Register { user_id: id.0 }, at);
        let (user, keys) = self
            .0
            .store
            .write(move |tx| -> Committed<(User, Vec<Passkey>)> {
                let user = tx.get_user(id)?.ok_or(Error::NotFound)?;
                let mut f = tx.factors(id)?;
                if f.passkeys.len() >= MAX_PASSKEYS {
                    return Ok(Err(Error::StateConflict(
                        "This account has the most passkeys allowed (20); remove one first.",
                    )));
                }
                if let Some(code) = &code {
                    if !spend_totp_code(&mut f, code, at) {
                        audit.clone().failed("wrong code").write(tx, at)?;
                        return Ok(Err(Error::Unauthorized(BAD_CODE)));
                    }
                    tx.put_factors(id, &f)?;
                }
                tx.put_ceremony(&key, &stored)?;
                Ok(Ok((user, f.passkeys)))
            })
            .await??;
        let user_name = user
            .username
            .as_ref()
            .map(|u| u.as_str().to_owned())
            .unwrap_or_else(|| user.email.as_str().to_owned());
        Ok(CreationOptions {
            rp,
            rp_name: self.totp_issuer(),
            challenge: challenge.to_vec(),
            user_handle: user.id.0.as_bytes().to_vec(),
            display_name: user
                .name
                .as_ref()
                .map(|n| n.as_str().to_owned())
                .unwrap_or_else(|| user_name.clone()),
            user_name,
            exclude: descriptors(&keys),
            timeout_ms: CEREMONY_TTL.as_millis() as u64,
        })
    }

    /// Finishes registering a passkey; the first factor of an account also
    /// brings recovery codes (shown this once).
    pub async fn passkey_register_finish(
        &self,
        caller: &Caller,
        name: Option<String>,
        cred: NewPasskey,
    ) -> Result<(Passkey, Option<Vec<String>>), Error> {
        let id = Self::own_user(caller)?;
        allow(caller, Action::ManageOwnMfa(id))?;
        let rp = self.relying_party()?;
        let client =
            ClientData::parse(&cred.client_data_json, Ceremony::Create, &rp).map_err(refused)?;
        let made = webauthn::registration(&rp, &cred.id, &cred.attestation_object);
        let codes = totp::recovery_codes();
        let hashes: Vec<[u8; 32]> = codes.iter().map(|c| totp::recovery_hash(id.0, c)).collect();
        let key = webauthn::challenge_key(&client.challenge);
        let audit = Audit::by(caller, "mfa.passkey.add").target(id);
        let at = now();
        let mail = self.0.mail.clone();
        let (passkey, first) = self
            .0
            .store
            .write(move |tx| -> Committed<(Passkey, bool)> {
                let live = |c: &Stored| c.expires_at > Timestamp::from_datetime(at);
                match tx.take_ceremony(&key)?.filter(live) {
                    Some(Stored {
                        purpose: CeremonyPurpose::Register { user_id },
                        ..
                    }) if user_id == id.0 => {}
                    _ => return Ok(Err(Error::Unauthorized(BAD_CEREMONY))),
                }
                let made = match made.clone() {
                    Ok(m) => m,
                    Err(r) => {
                        audit.clone().failed("credential refused").write(tx, at)?;
                        return Ok(Err(refused(r)));
                    }
                };
                let user = tx.get_user(id)?.ok_or(Error::NotFound)?;
                let mut f = tx.factors(id)?;
                if tx.passkey_owner(&made.id)?.is_some() {
                    return Ok(Err(Error::StateConflict(
                        "This passkey is already registered.",
                    )));
                }
                if f.passkeys.len() >= MAX_PASSKEYS {
                    return Ok(Err(Error::StateConflict(
                        "This account has the most passkeys allowed (20); remove one first.",
                    )));
                }
                let passkey = Passkey {
                    id: made.id,
                    name: name
                        .clone()
                        .unwrap_or_else(|| format!("Passkey {}", f.passkeys.len() + 1)),
                    public_key: made.public_key,
                    sign_count: made.sign_count,
                    backup_eligible: made.backup_eligible,
                    transports: cred.transports.clone(),
                    created_at: Timestamp::from_datetime(at),
                    last_used_at: None,
                };
                let first = f.recovery_codes.is_empty();
                if first {
                    f.recovery_codes = hashes.clone();
                }
                f.passkeys.push(passkey.clone());
                save_factors(tx, &user, &f, at)?;
                let change = format!("A passkey named \"{}\" was added", passkey.name);
                notify(&mail, tx, &user, &change, at)?;
                audit
                    .clone()
                    .detail(format!("passkey \"{}\"", passkey.name))
                    .write(tx, at)?;
                Ok(Ok((passkey, first)))
            })
            .await??;
        self.0.mail.wake();
        Ok((passkey, first.then_some(codes)))
    }

    /// Starts a passkey sign-in: alone (no `mfa_token`: any passkey of this
    /// site, the user verified), or as the second step of the sign-in the
    /// `mfa_token` names (that user's passkeys).
    pub async fn passkey_login_start(
        &self,
        mfa_token: Option<&str>,
        ip: Option<String>,
    ) -> Result<RequestOptions, Error> {
        let rp = self.relying_party()?;
        let challenge = webauthn::new_challenge();
        let key = webauthn::challenge_key(&challenge);
        let at = now();
        let (purpose, allow_keys) = match mfa_token {
            None => {
                self.throttle_ip(ip.as_deref())?;
                (CeremonyPurpose::SignIn, Vec::new())
            }
            Some(t) => {
                let hash = secrets::sha256(t);
                let live =
                    move |c: &crate::store::Challenge| c.expires_at > Timestamp::from_datetime(at);
                let Some(c) = self.0.store.read(|r| r.challenge(&hash))?.filter(live) else {
                    return Err(Error::Unauthorized(BAD_CHALLENGE));
                };
                self.throttle_mfa(c.user_id, ip.as_deref())?;
                let keys = self
                    .0
                    .store
                    .read(|r| r.factors(UserId(c.user_id)))?
                    .passkeys;
                if keys.is_empty() {
                    return Err(Error::StateConflict("This account has no passkey."));
                }
                let purpose = CeremonyPurpose::SecondFactor {
                    user_id: c.user_id,
                    mfa_token: hash,
                };
                (purpose, descriptors(&keys))
            }
        };
        let user_verification = match purpose {
            CeremonyPurpose::SignIn => "required",
            _ => "preferred",
        };
        let stored = Self::ceremony(purpose, at);
        self.0
            .store
            .write(move |tx| Ok::<_, Error>(tx.put_ceremony(&key, &stored)?))
            .await?;
        Ok(RequestOptions {
            rp_id: rp.id,
            challenge: challenge.to_vec(),
            allow: allow_keys,
            user_verification,
            timeout_ms: CEREMONY_TTL.as_millis() as u64,
        })
    }

    /// Finishes a sign-in with a passkey alone.
    pub async fn passkey_login_finish(
        &self,
        a: PasskeyAssertion,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> Result<LoginResult, Error> {
        let rp = self.relying_party()?;
        let client = ClientData::parse(&a.client_data_json, Ceremony::Get, &rp).map_err(refused)?;
        let key = webauthn::challenge_key(&client.challenge);
        let at = now();
        let owner = self.0.store.read(|r| r.passkey_owner(&a.id))?;
        let Some(uid) = owner else {
            // Spend the challenge all the same.
            self.0
                .store
                .write(move |tx| Ok::<_, Error>(tx.take_ceremony(&key).map(drop)?))
                .await?;
            return Err(Error::Unauthorized(UNKNOWN_PASSKEY));
        };
        let (session, refresh, refresh_hash) = self.new_session(uid, &ip, user_agent, at);
        let must_verify_email = self.0.mail.config().require_email_verification;
        let outcome = self
            .0
            .store
            .write(move |tx| -> Committed<(User, Session)> {
                let live = |c: &Stored| c.expires_at > Timestamp::from_datetime(at);
                if !matches!(
                    tx.take_ceremony(&key)?.filter(live),
                    Some(Stored {
                        purpose: CeremonyPurpose::SignIn,
                        ..
                    })
                ) {
                    return Ok(Err(Error::Unauthorized(BAD_CEREMONY)));
                }
                let user = match tx.get_user(uid)? {
                    Some(u) if u.status == Status::Active => u,
                    _ => return Ok(Err(Error::Unauthorized(UNKNOWN_PASSKEY))),
                };
                let audit = Audit::for_user(&user, "login", ip.clone());
                let mut f = tx.factors(uid)?;
                let Some(pk) = f.passkeys.iter_mut().find(|k| k.id == a.id) else {
                    return Ok(Err(Error::Unauthorized(UNKNOWN_PASSKEY)));
                };
                // Signing in alone, the authenticator must name its user
                // (WebAuthn §7.2 step 6).
                if a.user_handle.as_deref() != Some(uid.0.as_bytes().as_slice()) {
                    audit
                        .failed("passkey without its user handle, or of another user")
                        .write(tx, at)?;
                    return Ok(Err(Error::Unauthorized(UNKNOWN_PASSKEY)));
                }
                let asserted = match check_assertion(&rp, pk, &a, true, at) {
                    Ok(ok) => ok,
                    Err(r) => {
                        let why = match r {
                            Refused::Malformed(m) | Refused::Failed(m) => m,
                        };
                        audit
                            .failed(format!("passkey refused: {why}"))
                            .write(tx, at)?;
                        return Ok(Err(refused(r)));
                    }
                };
                if must_verify_email && !user.email_verified {
                    audit.failed("email address not verified").write(tx, at)?;
                    return Ok(Err(Error::EmailUnverified));
                }
                let mut s = session.clone();
                s.amr = vec![pk.method()];
                if asserted.user_verified {
                    s.amr.push(AuthMethod::Mfa);
                }
                let detail = format!("passkey \"{}\"", pk.name);
                tx.put_factors(uid, &f)?;
                tx.insert_session(&s, &refresh_hash)?;
                audit.detail(detail).write(tx, at)?;
                Ok(Ok((user, s)))
            })
            .await?;
        let (user, session) = match outcome {
            Ok(done) => done,
            Err(e) => {
                metrics::counter!("roster_logins_total", "outcome" => "passkey_refused")
                    .increment(1);
                return Err(e);
            }
        };
        metrics::counter!("roster_logins_total", "outcome" => "success").increment(1);
        self.issue(user, &session, refresh, at)
    }

    /// The caller's passkeys.
    pub fn passkeys(&self, caller: &Caller) -> Result<Vec<Passkey>, Error> {
        let id = Self::own_user(caller)?;
        allow(caller, Action::ManageOwnMfa(id))?;
        Ok(self.0.store.read(|r| r.factors(id))?.passkeys)
    }

    /// Renames one of the caller's passkeys.
    pub async fn rename_passkey(
        &self,
        caller: &Caller,
        credential: Vec<u8>,
        name: String,
    ) -> Result<Passkey, Error> {
        let id = Self::own_user(caller)?;
        allow(caller, Action::ManageOwnMfa(id))?;
        let audit = Audit::by(caller, "mfa.passkey.rename").target(id);
        let at = now();
        self.0
            .store
            .write(move |tx| {
                let mut f = tx.factors(id)?;
                let pk = f
                    .passkeys
                    .iter_mut()
                    .find(|k| k.id == credential)
                    .ok_or(Error::NotFound)?;
                let before = std::mem::replace(&mut pk.name, name.clone());
                let out = pk.clone();
                tx.put_factors(id, &f)?;
                audit
                    .clone()
                    .detail(format!("\"{before}\" → \"{name}\""))
                    .write(tx, at)?;
                Ok(out)
            })
            .await
    }

    /// Removes one of the caller's passkeys, proven by the password or a
    /// current TOTP code (as for TOTP); with no factor left, the recovery
    /// codes go too.
    pub async fn remove_passkey(
        &self,
        caller: &Caller,
        credential: Vec<u8>,
        proof: Proof,
    ) -> Result<(), Error> {
        let id = Self::own_user(caller)?;
        allow(caller, Action::ManageOwnMfa(id))?;
        self.throttle_mfa(id.0, caller.ip.as_deref())?;
        let audit = Audit::by(caller, "mfa.passkey.remove").target(id);
        let code = self.password_or_code(id, proof, audit.clone()).await?;
        let at = now();
        let mail = self.0.mail.clone();
        self.0
            .store
            .write(move |tx| -> Committed<()> {
                let user = tx.get_user(id)?.ok_or(Error::NotFound)?;
                let mut f = tx.factors(id)?;
                let Some(i) = f.passkeys.iter().position(|k| k.id == credential) else {
                    return Ok(Err(Error::NotFound));
                };
                if let Some(code) = &code
                    && !spend_totp_code(&mut f, code, at)
                {
                    audit.clone().failed("wrong code").write(tx, at)?;
                    return Ok(Err(Error::Unauthorized(BAD_CODE)));
                }
                let gone = f.passkeys.remove(i);
                if !f.any() {
                    f.recovery_codes.clear();
                }
                save_factors(tx, &user, &f, at)?;
                let change = format!("The passkey \"{}\" was removed", gone.name);
                notify(&mail, tx, &user, &change, at)?;
                audit
                    .clone()
                    .detail(format!("passkey \"{}\"", gone.name))
                    .write(tx, at)?;
                Ok(Ok(()))
            })
            .await??;
        self.0.mail.wake();
        Ok(())
    }
}
