//! The account flows that go through the user's mailbox: email
//! verification, password reset, magic-link sign-in and email change.
//!
//! A request answers the same whatever the address (202, after one audited
//! write either way, so that the time taken does not tell either); the
//! token (256 bits, stored as its SHA-256) and the mail carrying it are
//! written in that same transaction. A confirmation spends the token in the
//! transaction that makes its effect: if the effect fails, the token stays.

use crate::domain::{Email, OneTimeToken};

use super::*;

/// A mailed link, prepared before the write that stores it: the token's
/// record (under its hash) and the mail carrying it.
pub(super) struct Plan {
    user: User,
    hash: [u8; 32],
    stored: OneTimeToken,
    job: crate::domain::Job,
}

impl Plan {
    /// Stores the token and queues its mail, in the caller's transaction.
    pub(super) fn write(&self, tx: &mut crate::store::Tx<'_>) -> Result<(), Error> {
        tx.put_token(&self.hash, &self.stored)?;
        tx.enqueue(&self.job)?;
        Ok(())
    }
}

impl Auth {
    /// `POST …/verify-email/request`, `…/password-reset/request`,
    /// `…/magic-link/request`: mails a link to `email` if it names an
    /// account the link is for; answers the same either way.
    pub async fn request_link(
        &self,
        purpose: TokenPurpose,
        email: &str,
        ip: Option<String>,
    ) -> Result<(), Error> {
        if purpose == TokenPurpose::MagicLink && !self.0.mail.config().allow_magic_link {
            return Err(Error::Disabled(
                "Sign-in links are not enabled on this server.",
            ));
        }
        let email = Email::parse(email)
            .map_err(|m| Error::Validation(vec![FieldError::new("email", m)]))?;
        self.throttle(
            &format!("{}:{}", purpose.as_str(), email.folded()),
            ip.as_deref(),
        )?;
        let user = self
            .0
            .store
            .read(|r| r.find_user_by_login(&email.folded()))?;
        let wanted = user.filter(|u| {
            u.status == Status::Active
                && (purpose != TokenPurpose::VerifyEmail || !u.email_verified)
        });
        self.send_link(purpose, wanted, email.as_str().to_owned(), ip)
            .await
    }

    /// `POST …/verify-email/request` by a signed-in user, for itself.
    pub async fn request_own_verification(&self, caller: &Caller) -> Result<(), Error> {
        let Principal::User { id, .. } = &caller.principal else {
            return Err(Error::BadRequest(
                "An API key has no email address; give `email`.".into(),
            ));
        };
        let user = self
            .0
            .store
            .read(|r| r.get_user(*id))?
            .ok_or(Error::NotFound)?;
        self.throttle(
            &format!("verify-email:{}", user.email.folded()),
            caller.ip.as_deref(),
        )?;
        let email = user.email.as_str().to_owned();
        let wanted = Some(user).filter(|u| !u.email_verified);
        self.send_link(TokenPurpose::VerifyEmail, wanted, email, caller.ip.clone())
            .await
    }

    /// `POST …/email-change/request`: mails a link to the new address; the
    /// change happens when it is opened.
    pub async fn request_email_change(
        &self,
        caller: &Caller,
        new_email: &str,
    ) -> Result<(), Error> {
        let Principal::User { id, .. } = &caller.principal else {
            return Err(Error::BadRequest(
                "Only a signed-in user can change its address.".into(),
            ));
        };
        let new_email = Email::parse(new_email)
            .map_err(|m| Error::Validation(vec![FieldError::new("new_email", m)]))?;
        let user = self
            .0
            .store
            .read(|r| r.get_user(*id))?
            .ok_or(Error::NotFound)?;
        if user.email.folded() == new_email.folded() {
            return Err(Error::Validation(vec![FieldError::new(
                "new_email",
                "is already your address",
            )]));
        }
        self.throttle(&format!("email-change:{id}"), caller.ip.as_deref())?;
        self.send_link(
            TokenPurpose::ChangeEmail,
            Some(user),
            new_email.as_str().to_owned(),
            caller.ip.clone(),
        )
        .await
    }

    /// One write: the token and its mail when there is a `user` to send to,
    /// and an audit entry either way.
    async fn send_link(
        &self,
        purpose: TokenPurpose,
        user: Option<User>,
        to: String,
        ip: Option<String>,
    ) -> Result<(), Error> {
        let at = now();
        let stamp = Timestamp::from_datetime(at);
        let plan = match user {
            Some(user) => Some(self.link_plan(purpose, user, to.clone(), stamp)?),
            None => {
                // The same token and rendering work as for an account, thrown
                // away: the time taken does not tell whether there is one.
                let token = secrets::random_token();
                let _ = secrets::sha256(&token);
                let _ = self.0.mail.token_job(purpose, None, &to, &token, stamp)?;
                None
            }
        };
        let action = match purpose {
            TokenPurpose::VerifyEmail => "email.verify.request",
            TokenPurpose::ResetPassword => "password.reset.request",
            TokenPurpose::MagicLink => "magic_link.request",
            TokenPurpose::ChangeEmail => "email.change.request",
        };
        let audit = Audit {
            action,
            actor: Some(
                plan.as_ref()
                    .map_or_else(|| fold(&to), |p| format!("user:{}", p.user.id)),
            ),
            target: plan.as_ref().map(|p| p.user.id.to_string()),
            ip,
            success: plan.is_some(),
            detail: plan
                .is_none()
                .then(|| "no account this link is for; nothing sent".to_owned()),
        };
        let sends = plan.is_some();
        self.0
            .store
            .write(move |tx| {
                if let Some(p) = &plan {
                    p.write(tx)?;
                }
                audit.write(tx, at)
            })
            .await?;
        if sends {
            self.0.mail.wake();
        }
        Ok(())
    }

    /// A new token for `purpose` and the mail that carries it to `to`.
    pub(super) fn link_plan(
        &self,
        purpose: TokenPurpose,
        user: User,
        to: String,
        at: Timestamp,
    ) -> Result<Plan, Error> {
        let token = secrets::random_token();
        let stored = OneTimeToken {
            purpose,
            user_id: user.id.0,
            email: to.clone(),
            expires_at: at.after(self.0.mail.ttl(purpose)),
        };
        let job = self
            .0
            .mail
            .token_job(purpose, Some(&user), &to, &token, at)?;
        Ok(Plan {
            user,
            hash: secrets::sha256(&token),
            stored,
            job,
        })
    }

    /// The token's record if it is one for `purpose` and still valid
    /// (read only: nothing is spent).
    fn peek_token(&self, purpose: TokenPurpose, token: &str) -> Result<OneTimeToken, Error> {
        let hash = secrets::sha256(token);
        let found = self.0.store.read(|r| r.one_time_token(&hash))?;
        match found {
            Some(t) if t.purpose == purpose && t.expires_at > Timestamp::now() => Ok(t),
            _ => Err(Error::InvalidToken),
        }
    }

    /// A valid token for `purpose` and its user (read only: nothing is
    /// spent).
    fn token_user(
        &self,
        purpose: TokenPurpose,
        token: &str,
    ) -> Result<(OneTimeToken, User), Error> {
        let peeked = self.peek_token(purpose, token)?;
        let user = self.0.store.read(|r| r.get_user(UserId(peeked.user_id)))?;
        Ok((peeked, user.ok_or(Error::InvalidToken)?))
    }

    /// `POST …/verify-email/confirm`.
    pub async fn confirm_email(&self, token: &str, ip: Option<String>) -> Result<User, Error> {
        self.throttle(&confirm_key(token), ip.as_deref())?;
        self.peek_token(TokenPurpose::VerifyEmail, token)?;
        let hash = secrets::sha256(token);
        let at = now();
        let user = self
            .0
            .store
            .write(move |tx| {
                let (_, user) = spend(tx, &hash, TokenPurpose::VerifyEmail, at)?;
                let verified = verified(&user, at);
                tx.update_user(&user, &verified)?;
                Audit::for_user(&verified, "email.verify", ip.clone()).write(tx, at)?;
                Ok::<_, Error>(verified)
            })
            .await?;
        Ok(user)
    }

    /// `POST …/password-reset/confirm`: a new password, every session
    /// ended, a notice mailed.
    pub async fn confirm_password_reset(
        &self,
        token: &str,
        password: &str,
        ip: Option<String>,
    ) -> Result<(), Error> {
        self.throttle(&confirm_key(token), ip.as_deref())?;
        let new = Password::parse(password)
            .map_err(|m| Error::Validation(vec![FieldError::new("password", m)]))?;
        // Before the costly hash: a bad token costs a read, not an argon2 run.
        let (_, user) = self.token_user(TokenPurpose::ResetPassword, token)?;
        let phc = self.0.hasher.hash(new.expose()).await.map_err(hash_error)?;
        let hash = secrets::sha256(token);
        let at = now();
        let notice = self
            .0
            .mail
            .notice_job("password-changed", &user, None, at)?;
        self.0
            .store
            .write(move |tx| {
                let (_, user) = spend(tx, &hash, TokenPurpose::ResetPassword, at)?;
                tx.change_password(user.id, &phc)?;
                let n = tx.revoke_user_sessions(user.id)?;
                // Opening the link proved the address.
                if !user.email_verified {
                    tx.update_user(&user, &verified(&user, at))?;
                }
                tx.enqueue(&notice)?;
                Audit::for_user(&user, "password.reset", ip.clone())
                    .detail(format!("{n} sessions revoked"))
                    .write(tx, at)
            })
            .await?;
        self.0.mail.wake();
        Ok(())
    }

    /// `POST …/magic-link/confirm`: a session, as a login gives (or, for a
    /// user with a second factor, the challenge of its second step).
    pub async fn confirm_magic_link(
        &self,
        token: &str,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> Result<SignIn, Error> {
        if !self.0.mail.config().allow_magic_link {
            return Err(Error::Disabled(
                "Sign-in links are not enabled on this server.",
            ));
        }
        self.throttle(&confirm_key(token), ip.as_deref())?;
        let peeked = self.peek_token(TokenPurpose::MagicLink, token)?;
        let hash = secrets::sha256(token);
        let at = now();
        let (mut session, refresh, refresh_hash) =
            self.new_session(UserId(peeked.user_id), &ip, user_agent, at);
        session.amr = vec![AuthMethod::Email];
        let s = session.clone();
        let challenge = super::mfa::NewChallenge::new();
        let challenge_hash = challenge.hash;
        let (user, methods) = self
            .0
            .store
            .write(move |tx| {
                let (_, user) = spend(tx, &hash, TokenPurpose::MagicLink, at)?;
                if user.status != Status::Active || user.id.0 != s.user_id {
                    return Err(Error::InvalidToken);
                }
                let user = if user.email_verified {
                    user
                } else {
                    let v = verified(&user, at);
                    tx.update_user(&user, &v)?;
                    v
                };
                let audit = Audit::for_user(&user, "login", ip.clone());
                if user.mfa_enabled {
                    let methods = super::mfa::put_challenge(
                        tx,
                        &challenge_hash,
                        &user,
                        AuthMethod::Email,
                        at,
                    )?;
                    audit
                        .detail("magic link; second factor due")
                        .write(tx, at)?;
                    return Ok((user, Some(methods)));
                }
                tx.insert_session(&s, &refresh_hash)?;
                audit.detail("magic link").write(tx, at)?;
                Ok::<_, Error>((user, None))
            })
            .await?;
        if let Some(methods) = methods {
            return Ok(SignIn::SecondFactorDue(challenge.due(methods)));
        }
        metrics::counter!("roster_logins_total", "outcome" => "success").increment(1);
        self.issue(user, &session, refresh, at)
            .map(|r| SignIn::Done(Box::new(r)))
    }

    /// `POST …/email-change/confirm`: the new address, verified; a notice to
    /// the old one.
    pub async fn confirm_email_change(
        &self,
        token: &str,
        ip: Option<String>,
    ) -> Result<User, Error> {
        self.throttle(&confirm_key(token), ip.as_deref())?;
        let (peeked, old) = self.token_user(TokenPurpose::ChangeEmail, token)?;
        let new_email = Email::parse(&peeked.email).map_err(|_| Error::InvalidToken)?;
        let hash = secrets::sha256(token);
        let at = now();
        let notice = self
            .0
            .mail
            .notice_job("email-changed", &old, Some(new_email.as_str()), at)?;
        let user = self
            .0
            .store
            .write(move |tx| {
                let (_, user) = spend(tx, &hash, TokenPurpose::ChangeEmail, at)?;
                let mut draft = user.draft();
                draft.email = new_email.clone();
                draft.email_verified = true;
                let changed = user.replaced(draft, at);
                tx.update_user(&user, &changed)?;
                tx.enqueue(&notice)?;
                Audit::for_user(&changed, "email.change", ip.clone())
                    .detail(format!(
                        "{} → {}",
                        user.email.as_str(),
                        changed.email.as_str()
                    ))
                    .write(tx, at)?;
                Ok::<_, Error>(changed)
            })
            .await?;
        self.0.mail.wake();
        Ok(user)
    }
}

/// Spends a token in the write that uses it: it must be for `purpose` and
/// unexpired, its user must exist and (but for an email change, whose link
/// went to the new address) still have the address the link went to. An
/// error rolls the whole write back, so a token is spent only with its
/// effect.
fn spend(
    tx: &mut crate::store::Tx<'_>,
    hash: &[u8; 32],
    purpose: TokenPurpose,
    at: OffsetDateTime,
) -> Result<(OneTimeToken, User), Error> {
    let token = tx.take_token(hash)?.ok_or(Error::InvalidToken)?;
    if token.purpose != purpose || token.expires_at <= Timestamp::from_datetime(at) {
        return Err(Error::InvalidToken);
    }
    let user = tx
        .get_user(UserId(token.user_id))?
        .ok_or(Error::InvalidToken)?;
    if purpose != TokenPurpose::ChangeEmail && fold(user.email.as_str()) != fold(&token.email) {
        return Err(Error::InvalidToken);
    }
    Ok((token, user))
}

/// The per-"account" throttling key of a confirmation: the token's first
/// characters (as for refresh tokens), so that guesses at one link are
/// limited while other users' links are not.
fn confirm_key(token: &str) -> String {
    format!("confirm:{}", token.get(..16).unwrap_or(token))
}

/// `user` with its address marked verified, one version on.
fn verified(user: &User, at: OffsetDateTime) -> User {
    let mut draft = user.draft();
    draft.email_verified = true;
    user.replaced(draft, at)
}
