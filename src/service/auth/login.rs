//! Sign-in and its session: login with throttling, issuing a token pair,
//! refresh with rotation and reuse detection, logout.

use super::*;

impl Auth {
    pub async fn login(
        &self,
        login: &str,
        password: &str,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> Result<SignIn, Error> {
        let folded = fold(login.trim());
        if let Err(e) = self.throttle(&folded, ip.as_deref()) {
            metrics::counter!("roster_logins_total", "outcome" => "throttled").increment(1);
            return Err(e);
        }
        let (ok_user, rehash) = self.check_password(&folded, password, &ip).await?;
        if self.0.mail.config().require_email_verification && !ok_user.email_verified {
            metrics::counter!("roster_logins_total", "outcome" => "unverified").increment(1);
            let audit =
                Audit::for_user(&ok_user, "login", ip.clone()).failed("email address not verified");
            let at = now();
            self.0.store.write(move |tx| audit.write(tx, at)).await?;
            return Err(Error::EmailUnverified);
        }
        let at = now();
        if ok_user.mfa_enabled {
            return self.second_factor_due(ok_user.id, rehash, ip, at).await;
        }
        let (mut session, refresh, hash) = self.new_session(ok_user.id, &ip, user_agent, at);
        session.amr = vec![AuthMethod::Pwd];
        let s = session.clone();
        let uid = ok_user.id;
        let audit_ip = ip.clone();
        let user = self
            .0
            .store
            .write(move |tx| {
                // Re-read inside the transaction: the user may have changed
                // (and may have enrolled a factor since the read).
                let u = tx
                    .get_user(uid)?
                    .ok_or(Error::Unauthorized("The login or password is wrong."))?;
                if u.mfa_enabled {
                    return Err(Error::Unauthorized("The login or password is wrong."));
                }
                if let Some(phc) = &rehash {
                    tx.set_password_hash(uid, phc)?;
                }
                tx.insert_session(&s, &hash)?;
                Audit {
                    action: "login",
                    actor: Some(format!("user:{uid}")),
                    target: Some(uid.to_string()),
                    ip: audit_ip.clone(),
                    success: true,
                    detail: rehash
                        .as_ref()
                        .map(|_| "password re-hashed with current parameters".to_owned()),
                }
                .write(tx, at)?;
                Ok::<_, Error>(u)
            })
            .await?;
        metrics::counter!("roster_logins_total", "outcome" => "success").increment(1);
        self.issue(user, &session, refresh, at)
            .map(|r| SignIn::Done(Box::new(r)))
    }

    /// The first step of `uid`'s sign-in (a password) was right and a
    /// second factor is due: a challenge instead of a session.
    async fn second_factor_due(
        &self,
        uid: UserId,
        rehash: Option<String>,
        ip: Option<String>,
        at: OffsetDateTime,
    ) -> Result<SignIn, Error> {
        let challenge = mfa::NewChallenge::new();
        let hash = challenge.hash;
        let methods = self
            .0
            .store
            .write(move |tx| {
                let u = tx
                    .get_user(uid)?
                    .ok_or(Error::Unauthorized("The login or password is wrong."))?;
                if let Some(phc) = &rehash {
                    tx.set_password_hash(uid, phc)?;
                }
                let methods = mfa::put_challenge(tx, &hash, &u, AuthMethod::Pwd, at)?;
                Audit::for_user(&u, "login", ip.clone())
                    .detail("password right; second factor due")
                    .write(tx, at)?;
                Ok::<_, Error>(methods)
            })
            .await?;
        metrics::counter!("roster_logins_total", "outcome" => "second_factor_due").increment(1);
        Ok(SignIn::SecondFactorDue(challenge.due(methods)))
    }

    /// A new session for `user`, its first refresh token and that token's
    /// hash.
    pub(super) fn new_session(
        &self,
        user: UserId,
        ip: &Option<String>,
        user_agent: Option<String>,
        at: OffsetDateTime,
    ) -> (Session, String, [u8; 32]) {
        let refresh = secrets::random_token();
        let session = Session {
            id: Uuid::now_v7(),
            user_id: user.0,
            generation: 0,
            created_at: Timestamp::from_datetime(at),
            last_used_at: Timestamp::from_datetime(at),
            expires_at: Timestamp::from_datetime(at).after(self.0.cfg.refresh_token_ttl),
            revoked: false,
            ip: ip.clone(),
            user_agent: user_agent.map(|s| s.chars().take(256).collect()),
            amr: Vec::new(),
        };
        let hash = secrets::sha256(&refresh);
        (session, refresh, hash)
    }

    /// The active user `folded` names, if `password` is theirs, and the new
    /// hash when the stored one used older parameters. Unknown user, no
    /// password, wrong password and disabled user all cost one hash and
    /// answer the same; each failure is audited and counted.
    async fn check_password(
        &self,
        folded: &str,
        password: &str,
        ip: &Option<String>,
    ) -> Result<(User, Option<String>), Error> {
        let found = self.0.store.read(|r| match r.find_user_by_login(folded)? {
            Some(u) => {
                let phc = r.password_hash(u.id)?;
                Ok(Some((u, phc)))
            }
            None => Ok(None),
        })?;
        let (user, phc) = match found {
            Some((u, phc)) => (Some(u), phc),
            None => (None, None),
        };
        let verified = self
            .0
            .hasher
            .verify(password, phc.as_deref())
            .await
            .map_err(hash_error)?;
        let why = match (user, verified) {
            (Some(u), Verified::Yes) if u.status == Status::Active => return Ok((u, None)),
            (Some(u), Verified::YesRehashed(new)) if u.status == Status::Active => {
                return Ok((u, Some(new)));
            }
            (None, _) => ("unknown login", "unknown_login", None),
            (Some(u), Verified::No) => ("wrong password", "wrong_password", Some(u)),
            (Some(u), _) => ("user disabled", "disabled", Some(u)),
        };
        let (detail, outcome, user) = why;
        metrics::counter!("roster_logins_total", "outcome" => outcome).increment(1);
        let audit = Audit {
            action: "login",
            actor: Some(
                user.as_ref()
                    .map_or_else(|| folded.to_owned(), |u| format!("user:{}", u.id)),
            ),
            target: user.as_ref().map(|u| u.id.to_string()),
            ip: ip.clone(),
            success: false,
            detail: Some(detail.to_owned()),
        };
        let at = now();
        self.0.store.write(move |tx| audit.write(tx, at)).await?;
        Err(Error::Unauthorized("The login or password is wrong."))
    }

    pub(super) fn issue(
        &self,
        user: User,
        session: &Session,
        refresh: String,
        at: OffsetDateTime,
    ) -> Result<LoginResult, Error> {
        let ttl = self.0.cfg.access_token_ttl;
        let roles = self.effective_roles(&user)?;
        let claims = Claims {
            sub: user.id.to_string(),
            iat: at.unix_timestamp(),
            exp: at.unix_timestamp() + ttl.as_secs() as i64,
            iss: self.0.tokens.issuer.clone(),
            aud: self.0.tokens.audience.clone(),
            roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
            sid: session.id.to_string(),
            amr: session.amr.iter().map(|m| m.as_str().to_owned()).collect(),
        };
        let mfa_enrollment_required = !user.mfa_enabled && self.mfa_required_for(&roles);
        let access_token = self
            .0
            .tokens
            .sign(&claims)
            .map_err(|e| Error::Internal(anyhow::anyhow!(e)))?;
        Ok(LoginResult {
            access_token,
            expires_in: ttl.as_secs(),
            refresh_token: refresh,
            user,
            mfa_enrollment_required,
        })
    }

    /// Rotates a refresh token. A token that was already rotated (a reuse,
    /// so possibly stolen) revokes its whole session and is refused.
    pub async fn refresh(&self, token: &str, ip: Option<String>) -> Result<LoginResult, Error> {
        let at = now();
        let (user, session, next) = self.rotate_refresh(token, None, ip, at).await?;
        self.issue(user, &session, next, at)
    }

    /// The store's half of [`refresh`](Self::refresh): the session's next
    /// refresh token, with its user and session. A session an OAuth client
    /// holds is refreshed only by that client (`client`), and an API
    /// refresh (`None`) never turns an app's token into an API token.
    pub(crate) async fn rotate_refresh(
        &self,
        token: &str,
        client: Option<Uuid>,
        ip: Option<String>,
        at: OffsetDateTime,
    ) -> Result<(User, Session, String), Error> {
        let hash = secrets::sha256(token);
        self.throttle(
            &format!("refresh:{}", &token.get(..16).unwrap_or(token)),
            ip.as_deref(),
        )?;
        let next = secrets::random_token();
        let next_hash = secrets::sha256(&next);
        let audit_ip = ip.clone();
        enum Outcome {
            Rotated(Box<(User, Session)>),
            Reused,
            Refused,
        }
        let outcome = self
            .0
            .store
            .write(move |tx| {
                let Some((sid, generation)) = tx.refresh_token(&hash)? else {
                    return Ok::<_, Error>(Outcome::Refused);
                };
                let Some(mut s) = tx.session(sid)? else {
                    return Ok(Outcome::Refused);
                };
                if s.revoked || s.expires_at <= Timestamp::from_datetime(at) {
                    return Ok(Outcome::Refused);
                }
                let holder = tx.oauth()?.grant(sid)?.map(|g| g.client);
                if holder != client {
                    return Ok(Outcome::Refused);
                }
                if generation != s.generation {
                    tx.revoke_session(sid)?;
                    Audit {
                        action: "refresh.reuse",
                        actor: Some(format!("user:{}", s.user_id)),
                        target: Some(sid.to_string()),
                        ip: audit_ip.clone(),
                        success: false,
                        detail: Some("a spent refresh token was presented; session revoked".into()),
                    }
                    .write(tx, at)?;
                    return Ok(Outcome::Reused);
                }
                let user = match tx.get_user(UserId(s.user_id))? {
                    Some(u) if u.status == Status::Active => u,
                    _ => return Ok(Outcome::Refused),
                };
                s.generation += 1;
                s.last_used_at = Timestamp::from_datetime(at);
                tx.rotate_session(&s, &next_hash)?;
                Ok(Outcome::Rotated(Box::new((user, s))))
            })
            .await?;
        match outcome {
            Outcome::Rotated(b) => {
                let (user, session) = *b;
                Ok((user, session, next))
            }
            Outcome::Reused => Err(Error::Unauthorized(
                "This refresh token was already used; the session has been revoked.",
            )),
            Outcome::Refused => Err(Error::Unauthorized("The refresh token is not valid.")),
        }
    }

    /// Revokes the caller's session (an API key has none: 400).
    pub async fn logout(&self, caller: &Caller) -> Result<(), Error> {
        let Principal::User { session, .. } = &caller.principal else {
            return Err(Error::BadRequest(
                "Only a signed-in user has a session to end.".into(),
            ));
        };
        let (sid, audit) = (*session, Audit::by(caller, "logout"));
        let at = now();
        self.0
            .store
            .write(move |tx| {
                tx.revoke_session(sid)?;
                audit.clone().target(sid).write(tx, at)
            })
            .await
    }
}
