//! Second factors: TOTP set-up, confirmation and removal, recovery codes,
//! the second step of a sign-in, and an admin's reset.
//!
//! A sign-in of a user with a factor stops after its first step (a password
//! or a mailed link) with a challenge: an `mfa_token` good for five minutes
//! and one sign-in, bound to the user. Wrong codes are throttled per account
//! like passwords, and audited.

use std::time::Duration;

use super::*;
use crate::auth::totp;
use crate::auth::webauthn::{self, Ceremony, ClientData};
use crate::domain::{AuthMethod, Factors, PendingTotp, TotpFactor};
use crate::store::{Ceremony as Stored, CeremonyPurpose, Challenge, Tx};

use super::passkeys::{PasskeyAssertion, check_assertion, refused};

/// How long an `mfa_token` is good for.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(5 * 60);
/// How long a TOTP set-up waits for its first code.
const SETUP_TTL: Duration = Duration::from_secs(15 * 60);
pub(super) const BAD_CHALLENGE: &str = "The mfa_token is not valid or has expired; sign in again.";
pub(super) const BAD_CODE: &str = "The code is wrong, or was already used.";

/// What TOTP set-up hands out, once.
pub struct TotpSetup {
    /// Base32, for typing into an app.
    pub secret: String,
    pub otpauth_url: String,
    pub qr_svg: String,
}

/// The caller's second factors, without secrets.
pub struct MfaStatus {
    pub totp: bool,
    pub passkeys: usize,
    pub recovery_codes_left: usize,
    /// The caller's roles require a factor.
    pub required: bool,
}

/// A sign-in waiting for its second factor.
pub struct SecondFactorDue {
    pub mfa_token: String,
    pub methods: Vec<&'static str>,
    pub expires_in: u64,
}

/// What the first step of a sign-in gives.
pub enum SignIn {
    Done(Box<LoginResult>),
    SecondFactorDue(SecondFactorDue),
}

/// The second step of a sign-in: what proves it.
pub enum SecondStep {
    Totp(String),
    Recovery(String),
    Passkey(PasskeyAssertion),
}

/// How a factor is removed: the password or a current code proves it is
/// the user.
pub enum Proof {
    Password(String),
    Code(String),
}

/// A new `mfa_token` and the hash it is stored under.
pub(super) struct NewChallenge {
    token: String,
    pub(super) hash: [u8; 32],
}

impl NewChallenge {
    pub(super) fn new() -> Self {
        let token = secrets::random_token();
        let hash = secrets::sha256(&token);
        Self { token, hash }
    }

    pub(super) fn due(self, methods: Vec<&'static str>) -> SecondFactorDue {
        SecondFactorDue {
            mfa_token: self.token,
            methods,
            expires_in: CHALLENGE_TTL.as_secs(),
        }
    }
}

/// Stores the challenge `hash` for `user`, whose first step was `first`;
/// returns the methods the second step may use.
pub(super) fn put_challenge(
    tx: &mut Tx<'_>,
    hash: &[u8; 32],
    user: &User,
    first: AuthMethod,
    at: OffsetDateTime,
) -> Result<Vec<&'static str>, Error> {
    let c = Challenge {
        user_id: user.id.0,
        first,
        expires_at: Timestamp::from_datetime(at).after(CHALLENGE_TTL),
    };
    tx.put_challenge(hash, &c)?;
    Ok(tx.factors(user.id)?.methods())
}

/// A write whose failure (a wrong code) still commits, to keep its audit
/// entry: the outer error is the store's, the inner one the answer's.
pub(super) type Committed<T> = Result<Result<T, Error>, Error>;

fn unix_secs(at: OffsetDateTime) -> u64 {
    at.unix_timestamp().max(0) as u64
}

/// `user` with `mfa_enabled` set to `on`, one version on (`None` if it
/// already is).
fn with_mfa(user: &User, on: bool, at: OffsetDateTime) -> Option<User> {
    (user.mfa_enabled != on).then(|| User {
        mfa_enabled: on,
        updated_at: at,
        version: user.version + 1,
        ..user.clone()
    })
}

/// Saves `f` and keeps the user's `mfa_enabled` in step with it.
pub(super) fn save_factors(
    tx: &mut Tx<'_>,
    user: &User,
    f: &Factors,
    at: OffsetDateTime,
) -> Result<(), Error> {
    tx.put_factors(user.id, f)?;
    if let Some(next) = with_mfa(user, f.any(), at) {
        tx.update_user(user, &next)?;
    }
    Ok(())
}

/// Whether `code` is a current TOTP code of `f` (a step not used before);
/// if so, that step is now used.
pub(super) fn spend_totp_code(f: &mut Factors, code: &str, at: OffsetDateTime) -> bool {
    let Some(t) = f.totp.as_mut() else {
        return false;
    };
    match totp::matching_step(&t.secret, code, unix_secs(at), t.last_step) {
        Some(step) => {
            t.last_step = step;
            true
        }
        None => false,
    }
}

/// Queues, in the write's transaction, the mail telling `user` that its
/// factors changed (`change`, a sentence without its full stop).
pub(super) fn notify(
    mail: &Mail,
    tx: &mut Tx<'_>,
    user: &User,
    change: &str,
    at: OffsetDateTime,
) -> Result<(), Error> {
    tx.enqueue(&mail.factor_notice(user, change, at)?)?;
    Ok(())
}

impl Auth {
    /// Second-factor attempts of `user` count against its login allowance,
    /// whichever route they come by.
    pub(super) fn throttle_mfa(&self, user: Uuid, ip: Option<&str>) -> Result<(), Error> {
        self.throttle(&format!("mfa:{user}"), ip)
    }

    /// The signed-in user calling (an API key has no factors).
    pub(super) fn own_user(caller: &Caller) -> Result<UserId, Error> {
        match &caller.principal {
            Principal::User { id, .. } => Ok(*id),
            _ => Err(Error::BadRequest(
                "An API key is not a user; second factors need a user's access token.".into(),
            )),
        }
    }

    /// The user's roles and those its groups grant it.
    pub(crate) fn effective_roles(&self, user: &User) -> Result<Vec<Role>, Error> {
        let granted = self.0.store.read(|r| r.granted_roles(user.id))?;
        Ok(crate::domain::effective_roles(
            &user.roles,
            [granted.as_slice()],
        ))
    }

    /// Whether users with `roles` must have a second factor.
    pub fn mfa_required_for(&self, roles: &[Role]) -> bool {
        self.0.cfg.require_mfa_for.iter().any(|r| roles.contains(r))
    }

    /// The label authenticator apps show above the code.
    pub(super) fn totp_issuer(&self) -> String {
        let iss = &self.0.cfg.issuer;
        url::Url::parse(iss)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| iss.clone())
    }

    pub fn mfa_status(&self, caller: &Caller) -> Result<MfaStatus, Error> {
        let id = Self::own_user(caller)?;
        allow(caller, Action::ManageOwnMfa(id))?;
        let (user, f) = self
            .0
            .store
            .read(|r| Ok::<_, StoreError>((r.get_user(id)?, r.factors(id)?)))?;
        let user = user.ok_or(Error::NotFound)?;
        Ok(MfaStatus {
            totp: f.totp.is_some(),
            passkeys: f.passkeys.len(),
            recovery_codes_left: f.recovery_codes.len(),
            required: self.mfa_required_for(&self.effective_roles(&user)?),
        })
    }

    /// A new TOTP secret for the caller, waiting for its first code
    /// (replacing any set-up not confirmed). 409 when TOTP is on already.
    pub async fn totp_setup(&self, caller: &Caller) -> Result<TotpSetup, Error> {
        let id = Self::own_user(caller)?;
        allow(caller, Action::ManageOwnMfa(id))?;
        let secret = totp::new_secret();
        let (kept, audit) = (
            secret.clone(),
            Audit::by(caller, "mfa.totp.setup").target(id),
        );
        let at = now();
        let user = self
            .0
            .store
            .write(move |tx| {
                let user = tx.get_user(id)?.ok_or(Error::NotFound)?;
                let mut f = tx.factors(id)?;
                if f.totp.is_some() {
                    return Err(Error::StateConflict(
                        "TOTP is already set up; remove it first (DELETE /api/v1/auth/mfa/totp).",
                    ));
                }
                f.pending_totp = Some(PendingTotp {
                    secret: kept.clone(),
                    created_at: Timestamp::from_datetime(at),
                });
                tx.put_factors(id, &f)?;
                audit.clone().write(tx, at)?;
                Ok(user)
            })
            .await?;
        let otpauth_url = totp::otpauth_url(&secret, &self.totp_issuer(), user.email.as_str());
        let qr_svg = totp::qr_svg(&otpauth_url).map_err(|e| Error::Internal(anyhow::anyhow!(e)))?;
        Ok(TotpSetup {
            secret: totp::base32(&secret),
            otpauth_url,
            qr_svg,
        })
    }

    /// Turns the set-up TOTP on with its first code; returns the recovery
    /// codes (shown this once, stored hashed).
    pub async fn totp_confirm(&self, caller: &Caller, code: &str) -> Result<Vec<String>, Error> {
        let id = Self::own_user(caller)?;
        allow(caller, Action::ManageOwnMfa(id))?;
        self.throttle_mfa(id.0, caller.ip.as_deref())?;
        let codes = totp::recovery_codes();
        let hashes: Vec<[u8; 32]> = codes.iter().map(|c| totp::recovery_hash(id.0, c)).collect();
        let (code, audit) = (
            code.to_owned(),
            Audit::by(caller, "mfa.totp.enable").target(id),
        );
        let at = now();
        let mail = self.0.mail.clone();
        self.0
            .store
            .write(move |tx| -> Committed<()> {
                let user = tx.get_user(id)?.ok_or(Error::NotFound)?;
                let mut f = tx.factors(id)?;
                let pending = match &f.pending_totp {
                    Some(p) if p.created_at.after(SETUP_TTL) > Timestamp::from_datetime(at) => {
                        p.clone()
                    }
                    _ => {
                        return Ok(Err(Error::StateConflict(
                            "No TOTP set-up is waiting (or it expired); start with POST /api/v1/auth/mfa/totp/setup.",
                        )));
                    }
                };
                let Some(step) = totp::matching_step(&pending.secret, &code, unix_secs(at), 0)
                else {
                    audit.clone().failed("wrong code").write(tx, at)?;
                    return Ok(Err(Error::Unauthorized(BAD_CODE)));
                };
                f.totp = Some(TotpFactor {
                    secret: pending.secret,
                    enabled_at: Timestamp::from_datetime(at),
                    last_step: step,
                });
                f.pending_totp = None;
                f.recovery_codes = hashes.clone();
                save_factors(tx, &user, &f, at)?;
                notify(&mail, tx, &user, "An authenticator app was set up", at)?;
                audit.clone().write(tx, at)?;
                Ok(Ok(()))
            })
            .await??;
        self.0.mail.wake();
        Ok(codes)
    }

    /// Checks `proof` of user `id`: a password here (a wrong one audited as
    /// `audit`'s failure); a code is returned, to be checked in the write.
    pub(super) async fn password_or_code(
        &self,
        id: UserId,
        proof: Proof,
        audit: Audit,
    ) -> Result<Option<String>, Error> {
        let p = match proof {
            Proof::Code(c) => return Ok(Some(c)),
            Proof::Password(p) => p,
        };
        let phc = self.0.store.read(|r| r.password_hash(id))?;
        let ok = self
            .0
            .hasher
            .verify(&p, phc.as_deref())
            .await
            .map_err(hash_error)?;
        if matches!(ok, Verified::No) {
            let at = now();
            let a = audit.failed("wrong password");
            self.0
                .store
                .write(move |tx| a.clone().write(tx, at))
                .await?;
            return Err(Error::Unauthorized("The password is wrong."));
        }
        Ok(None)
    }

    /// Ten new recovery codes for the caller (the old ones stop working),
    /// proven by the password or a current TOTP code.
    pub async fn regenerate_recovery_codes(
        &self,
        caller: &Caller,
        proof: Proof,
    ) -> Result<Vec<String>, Error> {
        let id = Self::own_user(caller)?;
        allow(caller, Action::ManageOwnMfa(id))?;
        self.throttle_mfa(id.0, caller.ip.as_deref())?;
        let audit = Audit::by(caller, "mfa.recovery.regenerate").target(id);
        let code = self.password_or_code(id, proof, audit.clone()).await?;
        let codes = totp::recovery_codes();
        let hashes: Vec<[u8; 32]> = codes.iter().map(|c| totp::recovery_hash(id.0, c)).collect();
        let at = now();
        let mail = self.0.mail.clone();
        self.0
            .store
            .write(move |tx| -> Committed<()> {
                let user = tx.get_user(id)?.ok_or(Error::NotFound)?;
                let mut f = tx.factors(id)?;
                if !f.any() {
                    return Ok(Err(Error::StateConflict(
                        "No second factor is set up: recovery codes come with the first one.",
                    )));
                }
                if let Some(code) = &code
                    && !spend_totp_code(&mut f, code, at)
                {
                    audit.clone().failed("wrong code").write(tx, at)?;
                    return Ok(Err(Error::Unauthorized(BAD_CODE)));
                }
                f.recovery_codes = hashes.clone();
                tx.put_factors(id, &f)?;
                let change = "New recovery codes were made (the earlier ones no longer work)";
                notify(&mail, tx, &user, change, at)?;
                audit.clone().write(tx, at)?;
                Ok(Ok(()))
            })
            .await??;
        self.0.mail.wake();
        Ok(codes)
    }

    /// Turns TOTP off (and the recovery codes, unless a passkey is left),
    /// proven by the password or a current code.
    pub async fn totp_remove(&self, caller: &Caller, proof: Proof) -> Result<(), Error> {
        let id = Self::own_user(caller)?;
        allow(caller, Action::ManageOwnMfa(id))?;
        self.throttle_mfa(id.0, caller.ip.as_deref())?;
        let audit = Audit::by(caller, "mfa.totp.remove").target(id);
        let code = self.password_or_code(id, proof, audit.clone()).await?;
        let at = now();
        let mail = self.0.mail.clone();
        let done = self
            .0
            .store
            .write(move |tx| -> Committed<()> {
                let user = tx.get_user(id)?.ok_or(Error::NotFound)?;
                let mut f = tx.factors(id)?;
                let Some(t) = &f.totp else {
                    return Ok(Err(Error::StateConflict("TOTP is not set up.")));
                };
                if let Some(code) = &code
                    && totp::matching_step(&t.secret, code, unix_secs(at), t.last_step).is_none()
                {
                    audit.clone().failed("wrong code").write(tx, at)?;
                    return Ok(Err(Error::Unauthorized(BAD_CODE)));
                }
                f.totp = None;
                f.pending_totp = None;
                if !f.any() {
                    f.recovery_codes.clear();
                }
                save_factors(tx, &user, &f, at)?;
                notify(&mail, tx, &user, "The authenticator app was turned off", at)?;
                audit.clone().write(tx, at)?;
                Ok(Ok(()))
            })
            .await?;
        self.0.mail.wake();
        done
    }

    /// An admin removes every factor of user `id` and ends its sessions
    /// (a lost phone): it signs in with its password alone next time.
    pub async fn reset_mfa(&self, caller: &Caller, id: UserId) -> Result<(), Error> {
        allow(caller, Action::ResetMfa(id))?;
        let audit = Audit::by(caller, "mfa.reset").target(id);
        let at = now();
        let mail = self.0.mail.clone();
        self.0
            .store
            .write(move |tx| {
                let user = tx.get_user(id)?.ok_or(Error::NotFound)?;
                save_factors(tx, &user, &Factors::default(), at)?;
                let n = tx.revoke_user_sessions(id)?;
                notify(
                    &mail,
                    tx,
                    &user,
                    "An administrator removed every second factor and passkey, and signed out every session,",
                    at,
                )?;
                audit
                    .clone()
                    .detail(format!("factors removed, {n} sessions revoked"))
                    .write(tx, at)
            })
            .await?;
        self.0.mail.wake();
        Ok(())
    }

    /// The second step of a sign-in, for the challenge `mfa_token` names.
    pub async fn verify_second_factor(
        &self,
        mfa_token: &str,
        step: SecondStep,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> Result<LoginResult, Error> {
        let hash = secrets::sha256(mfa_token);
        let at = now();
        let live = move |c: &Challenge| c.expires_at > Timestamp::from_datetime(at);
        let Some(c) = self.0.store.read(|r| r.challenge(&hash))?.filter(live) else {
            return Err(Error::Unauthorized(BAD_CHALLENGE));
        };
        self.throttle_mfa(c.user_id, ip.as_deref())?;
        // A passkey's answer names its challenge: checked before the write.
        let (rp, ceremony) = match &step {
            SecondStep::Passkey(a) => {
                let rp = self.relying_party()?;
                let client =
                    ClientData::parse(&a.client_data_json, Ceremony::Get, &rp).map_err(refused)?;
                (Some(rp), Some(webauthn::challenge_key(&client.challenge)))
            }
            _ => (None, None),
        };
        let uid = UserId(c.user_id);
        let (session, refresh, refresh_hash) = self.new_session(uid, &ip, user_agent, at);
        let s = session.clone();
        let outcome = self
            .0
            .store
            .write(move |tx| -> Committed<(User, Session)> {
                let Some(c) = tx.challenge(&hash)?.filter(live) else {
                    return Ok(Err(Error::Unauthorized(BAD_CHALLENGE)));
                };
                let user = match tx.get_user(uid)? {
                    Some(u) if u.status == Status::Active && u.id.0 == c.user_id => u,
                    _ => return Ok(Err(Error::Unauthorized(BAD_CHALLENGE))),
                };
                let mut f = tx.factors(uid)?;
                let audit = Audit::for_user(&user, "login", ip.clone());
                // What proved it (for the audit) and the `amr` it adds, or
                // why not.
                let proven: Result<(String, AuthMethod), Error> = match &step {
                    SecondStep::Recovery(code) => {
                        let h = totp::recovery_hash(uid.0, code);
                        match f.recovery_codes.iter().position(|x| *x == h) {
                            Some(i) => {
                                f.recovery_codes.remove(i);
                                Ok(("recovery code".into(), AuthMethod::Otp))
                            }
                            None => Err(Error::Unauthorized(BAD_CODE)),
                        }
                    }
                    SecondStep::Totp(code) => {
                        let step = f.totp.as_ref().and_then(|t| {
                            totp::matching_step(&t.secret, code, unix_secs(at), t.last_step)
                        });
                        match (step, f.totp.as_mut()) {
                            (Some(step), Some(t)) => {
                                t.last_step = step;
                                Ok(("totp".into(), AuthMethod::Otp))
                            }
                            _ => Err(Error::Unauthorized(BAD_CODE)),
                        }
                    }
                    SecondStep::Passkey(a) => {
                        let key = ceremony.expect("parsed above");
                        let rp = rp.as_ref().expect("parsed above");
                        let ours = matches!(
                            tx.take_ceremony(&key)?,
                            Some(Stored { purpose: CeremonyPurpose::SecondFactor { user_id, mfa_token }, expires_at })
                                if user_id == uid.0 && mfa_token == hash
                                    && expires_at > Timestamp::from_datetime(at)
                        );
                        match f.passkeys.iter_mut().find(|k| k.id == a.id) {
                            _ if !ours => Err(Error::Unauthorized(
                                "The passkey challenge is not this sign-in's, or has expired; start again.",
                            )),
                            None => Err(Error::Unauthorized("This passkey is not this user's.")),
                            Some(pk) => check_assertion(rp, pk, a, false, at)
                                .map(|_| (format!("passkey \"{}\"", pk.name), pk.method()))
                                .map_err(refused),
                        }
                    }
                };
                let (how, method) = match proven {
                    Ok(p) => p,
                    Err(e) => {
                        let how = match &step {
                            SecondStep::Totp(_) => "totp",
                            SecondStep::Recovery(_) => "recovery code",
                            SecondStep::Passkey(_) => "passkey",
                        };
                        audit
                            .failed(format!("wrong second factor ({how})"))
                            .write(tx, at)?;
                        return Ok(Err(e));
                    }
                };
                tx.remove_challenge(&hash)?;
                tx.put_factors(uid, &f)?;
                let mut s = s.clone();
                s.amr = vec![c.first, method, AuthMethod::Mfa];
                tx.insert_session(&s, &refresh_hash)?;
                audit
                    .detail(format!("second factor: {how}"))
                    .write(tx, at)?;
                Ok(Ok((user, s)))
            })
            .await?;
        let (user, session) = match outcome {
            Ok(done) => done,
            Err(e) => {
                metrics::counter!("roster_logins_total", "outcome" => "wrong_second_factor")
                    .increment(1);
                return Err(e);
            }
        };
        metrics::counter!("roster_logins_total", "outcome" => "success").increment(1);
        self.issue(user, &session, refresh, at)
    }
}
