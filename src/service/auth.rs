//! Authentication use cases: bootstrap of the first admin, login, refresh
//! with rotation and reuse detection, logout, registration, passwords,
//! sessions, API keys and the audit log.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::passwords::{HashError, Hasher, Verified};
use crate::auth::policy::{Action, Caller, Principal};
use crate::auth::secrets::{self, API_KEY_PREFIX};
use crate::auth::tokens::{Claims, StoredKey, Tokens};
use crate::config::AuthConfig;
use crate::domain::{
    ApiKey, AuditEntry, FieldError, Password, Scope, Session, Status, User, UserDraft, UserId, fold,
};
use crate::error::Error;
use crate::store::{Store, StoreError, micros};

use super::{Audit, allow, now};

const SIGNING_KEYS: &str = "signing_keys";
const SETUP_TOKEN: &str = "setup_token";
const AUDIT_BUDGET: usize = 10_000;

/// What a login or refresh returns.
pub struct LoginResult {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: String,
    pub user: User,
}

/// A session as the API shows it.
pub struct SessionView {
    pub session: Session,
    pub current: bool,
}

pub struct KeyCreated {
    pub key: ApiKey,
    pub secret: String,
}

#[derive(Clone)]
pub struct Auth(Arc<Inner>);

struct Inner {
    store: Store,
    hasher: Hasher,
    tokens: Tokens,
    cfg: AuthConfig,
    /// Per account (folded login) and per client IP.
    by_account: Option<DefaultKeyedRateLimiter<String>>,
    by_ip: Option<DefaultKeyedRateLimiter<String>>,
    /// Access tokens whose signature was already checked, with their claims:
    /// an Ed25519 verification costs tens of microseconds, a look-up well
    /// under one. Bounded; `exp` is still checked on every hit, and the
    /// session and user are still read on every request.
    verified: RwLock<HashMap<String, Arc<Claims>>>,
}

const VERIFIED_CACHE: usize = 16_384;

pub(crate) fn hash_error(e: HashError) -> Error {
    match e {
        HashError::Busy => Error::Unavailable,
        HashError::Failed(m) => Error::Internal(anyhow::anyhow!(m)),
    }
}

impl Auth {
    /// Loads the signing keys (making the first one on first start) and sets
    /// up the password pool and the login limiters.
    pub async fn init(store: Store, cfg: AuthConfig, hasher: Hasher) -> Result<Self, Error> {
        let keys = load_or_create_keys(&store).await?;
        let tokens = Tokens::new(&keys, &cfg.issuer, &cfg.audience)
            .map_err(|e| Error::Internal(anyhow::anyhow!(e)))?;
        let limiter = |per_minute: u32, burst: u32| {
            let q = Quota::per_minute(NonZeroU32::new(per_minute).expect("rates are positive"))
                .allow_burst(NonZeroU32::new(burst.max(1)).expect("burst is positive"));
            RateLimiter::keyed(q)
        };
        let by_account = cfg.login_rate_limit.map(|r| limiter(r, cfg.login_burst));
        // One address may try several accounts (a shared NAT): five times the
        // per-account allowance.
        let by_ip = cfg
            .login_rate_limit
            .map(|r| limiter(r.saturating_mul(5), cfg.login_burst.saturating_mul(5)));
        Ok(Self(Arc::new(Inner {
            store,
            hasher,
            tokens,
            cfg,
            by_account,
            by_ip,
            verified: RwLock::new(HashMap::new()),
        })))
    }

    pub fn jwks(&self) -> Value {
        self.0.tokens.jwks()
    }

    /// Drops limiter state of keys not seen for a while (call periodically).
    pub fn forget_idle_limits(&self) {
        for l in [&self.0.by_account, &self.0.by_ip].into_iter().flatten() {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// 429 when either the account or the address is over its allowance.
    fn throttle(&self, account: &str, ip: Option<&str>) -> Result<(), Error> {
        let check = |l: &Option<DefaultKeyedRateLimiter<String>>, key: &str| -> Result<(), Error> {
            let Some(l) = l else { return Ok(()) };
            l.check_key(&key.to_owned()).map_err(|not_until| {
                let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
                Error::TooManyRequests {
                    retry_after: wait.as_secs() + 1,
                }
            })
        };
        if let Some(ip) = ip {
            check(&self.0.by_ip, ip)?;
        }
        check(&self.0.by_account, account)
    }

    /// Makes sure there is an admin. Returns a one-time setup token to print
    /// when there is none and none was configured.
    pub async fn bootstrap(&self) -> Result<Option<String>, Error> {
        if self.0.store.read(|r| r.admin_exists())? {
            return Ok(None);
        }
        if let Some((email, password)) = self.0.cfg.bootstrap_admin.clone() {
            let mut body = Map::new();
            body.insert("email".into(), email.into());
            self.create_admin(body, &password, &Caller::system(), None)
                .await?;
            tracing::info!("created the first admin from ROSTER_ADMIN_EMAIL");
            return Ok(None);
        }
        let token = secrets::random_token();
        let hash = secrets::sha256(&token);
        self.0
            .store
            .write(move |tx| {
                tx.set_meta(SETUP_TOKEN, &hash)?;
                Ok::<_, Error>(())
            })
            .await?;
        Ok(Some(token))
    }

    /// Creates an admin with a password, if (and only if) no admin exists
    /// yet, and — with `setup_token` — only if the token is the one issued.
    pub async fn create_admin(
        &self,
        mut body: Map<String, Value>,
        password: &str,
        caller: &Caller,
        setup_token: Option<&str>,
    ) -> Result<User, Error> {
        body.insert("roles".into(), serde_json::json!(["admin", "user"]));
        body.remove("password");
        let draft = UserDraft::from_json(body).map_err(Error::Validation)?;
        let password = Password::parse(password)
            .map_err(|m| Error::Validation(vec![FieldError::new("password", m)]))?;
        let phc = self
            .0
            .hasher
            .hash(password.expose())
            .await
            .map_err(hash_error)?;
        let token_hash = setup_token.map(secrets::sha256);
        let at = now();
        let user = User::from_draft(UserId::new(), draft, at);
        let caller = caller.clone();
        self.0
            .store
            .write(move |tx| {
                if tx.admin_exists()? {
                    return Err(Error::Conflict { field: "admin" });
                }
                if let Some(hash) = &token_hash {
                    let stored = tx.meta(SETUP_TOKEN)?;
                    if stored.as_deref() != Some(hash.as_slice()) {
                        return Err(Error::Unauthorized(
                            "The setup token is not valid (it is single-use).",
                        ));
                    }
                    tx.delete_meta(SETUP_TOKEN)?;
                }
                tx.insert_user(&user)?;
                tx.set_password_hash(user.id, &phc)?;
                Audit::by(&caller, "admin.create")
                    .target(user.id)
                    .write(tx, at)?;
                Ok(user.clone())
            })
            .await
    }

    pub async fn login(
        &self,
        login: &str,
        password: &str,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> Result<LoginResult, Error> {
        let folded = fold(login.trim());
        if let Err(e) = self.throttle(&folded, ip.as_deref()) {
            metrics::counter!("roster_logins_total", "outcome" => "throttled").increment(1);
            return Err(e);
        }
        let found = self
            .0
            .store
            .read(|r| match r.find_user_by_login(&folded)? {
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
        // Unknown user, no password, wrong password and disabled user all
        // cost one hash and answer the same.
        let verified = self
            .0
            .hasher
            .verify(password, phc.as_deref())
            .await
            .map_err(hash_error)?;
        let at = now();
        let fail_audit = |detail: &str| Audit {
            action: "login",
            actor: Some(
                user.as_ref()
                    .map_or_else(|| folded.clone(), |u| format!("user:{}", u.id)),
            ),
            target: user.as_ref().map(|u| u.id.to_string()),
            ip: ip.clone(),
            success: false,
            detail: Some(detail.to_owned()),
        };
        let ok_user = match (&user, &verified) {
            (Some(u), Verified::Yes | Verified::YesRehashed(_)) if u.status == Status::Active => {
                u.clone()
            }
            _ => {
                let (why, outcome) = match (&user, &verified) {
                    (None, _) => ("unknown login", "unknown_login"),
                    (Some(_), Verified::No) => ("wrong password", "wrong_password"),
                    _ => ("user disabled", "disabled"),
                };
                metrics::counter!("roster_logins_total", "outcome" => outcome).increment(1);
                let audit = fail_audit(why);
                self.0.store.write(move |tx| audit.write(tx, at)).await?;
                return Err(Error::Unauthorized("The login or password is wrong."));
            }
        };
        let rehash = match verified {
            Verified::YesRehashed(new) => Some(new),
            _ => None,
        };
        let refresh = secrets::random_token();
        let session = Session {
            id: Uuid::now_v7(),
            user_id: ok_user.id.0,
            generation: 0,
            created_at: micros(at),
            last_used_at: micros(at),
            expires_at: micros(at) + self.0.cfg.refresh_token_ttl.as_micros() as i64,
            revoked: false,
            ip: ip.clone(),
            user_agent: user_agent.map(|s| s.chars().take(256).collect()),
        };
        let hash = secrets::sha256(&refresh);
        let s = session.clone();
        let uid = ok_user.id;
        let audit_ip = ip.clone();
        let user = self
            .0
            .store
            .write(move |tx| {
                // Re-read inside the transaction: the user may have changed.
                let u = tx
                    .get_user(uid)?
                    .ok_or(Error::Unauthorized("The login or password is wrong."))?;
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
    }

    fn issue(
        &self,
        user: User,
        session: &Session,
        refresh: String,
        at: OffsetDateTime,
    ) -> Result<LoginResult, Error> {
        let ttl = self.0.cfg.access_token_ttl;
        let claims = Claims {
            sub: user.id.to_string(),
            iat: at.unix_timestamp(),
            exp: at.unix_timestamp() + ttl.as_secs() as i64,
            iss: self.0.tokens.issuer.clone(),
            aud: self.0.tokens.audience.clone(),
            roles: user.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            sid: session.id.to_string(),
        };
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
        })
    }

    /// Rotates a refresh token. A token that was already rotated (a reuse,
    /// so possibly stolen) revokes its whole session and is refused.
    pub async fn refresh(&self, token: &str, ip: Option<String>) -> Result<LoginResult, Error> {
        let hash = secrets::sha256(token);
        self.throttle(
            &format!("refresh:{}", &token.get(..16).unwrap_or(token)),
            ip.as_deref(),
        )?;
        let next = secrets::random_token();
        let next_hash = secrets::sha256(&next);
        let at = now();
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
                if s.revoked || s.expires_at <= micros(at) {
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
                s.last_used_at = micros(at);
                tx.rotate_session(&s, &next_hash)?;
                Ok(Outcome::Rotated(Box::new((user, s))))
            })
            .await?;
        match outcome {
            Outcome::Rotated(b) => {
                let (user, session) = *b;
                self.issue(user, &session, next, at)
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

    /// Who is calling: from an access token or an API key. The session and
    /// the user are read from the store, so logout, revocation, disabling
    /// and role changes take effect at once.
    pub fn authenticate(&self, bearer: &str, ip: Option<String>) -> Result<Caller, Error> {
        let at = micros(OffsetDateTime::now_utc());
        if let Some(rest) = bearer.strip_prefix(API_KEY_PREFIX) {
            if rest.len() > 128 {
                return Err(Error::Unauthorized("The API key is not valid."));
            }
            let hash = secrets::sha256(bearer);
            let key = self.0.store.api_key_by_hash(&hash)?;
            return match key {
                Some(k) if k.expires_at.is_none_or(|e| e > at) => Ok(Caller {
                    principal: Principal::ApiKey {
                        id: k.id,
                        scopes: k.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
                    },
                    ip,
                }),
                _ => Err(Error::Unauthorized("The API key is not valid.")),
            };
        }
        if bearer.len() > 4096 {
            return Err(Error::Unauthorized("The access token is not valid."));
        }
        let claims = self.verified_claims(bearer, at / 1_000_000)?;
        let (Some(uid), Ok(sid)) = (UserId::parse(&claims.sub), Uuid::try_parse(&claims.sid))
        else {
            return Err(Error::Unauthorized("The access token is not valid."));
        };
        let (user, session) = self.0.store.user_and_session(uid, sid)?;
        match (user, session) {
            (Some(u), Some(s))
                if u.status == Status::Active && !s.revoked && s.user_id == uid.0 =>
            {
                Ok(Caller {
                    principal: Principal::User {
                        id: uid,
                        roles: u.roles,
                        session: sid,
                    },
                    ip,
                })
            }
            _ => Err(Error::Unauthorized("The session has ended; sign in again.")),
        }
    }

    /// The claims of a valid access token, from the cache when it was seen.
    fn verified_claims(&self, token: &str, now_secs: i64) -> Result<Arc<Claims>, Error> {
        let cached = self
            .0
            .verified
            .read()
            .ok()
            .and_then(|m| m.get(token).cloned());
        if let Some(c) = cached {
            // The cache skips only the signature check, never expiry.
            if c.exp > now_secs {
                return Ok(c);
            }
            return Err(Error::Unauthorized("The access token is not valid."));
        }
        let claims = Arc::new(
            self.0
                .tokens
                .verify(token)
                .map_err(|_| Error::Unauthorized("The access token is not valid."))?,
        );
        if let Ok(mut m) = self.0.verified.write() {
            if m.len() >= VERIFIED_CACHE {
                m.clear();
            }
            m.insert(token.to_owned(), claims.clone());
        }
        Ok(claims)
    }

    /// Self sign-up, when enabled: a plain user with a password.
    pub async fn register(
        &self,
        mut body: Map<String, Value>,
        ip: Option<String>,
    ) -> Result<User, Error> {
        if !self.0.cfg.allow_registration {
            return Err(Error::Forbidden);
        }
        let email_key = body
            .get("email")
            .and_then(Value::as_str)
            .map(|e| fold(e.trim()))
            .unwrap_or_default();
        self.throttle(&format!("register:{email_key}"), ip.as_deref())?;
        let password = take_password(&mut body, true)?.expect("required above");
        // Only profile fields: roles, status and verification are the server's.
        for field in ["roles", "status", "email_verified"] {
            if body.contains_key(field) {
                return Err(Error::Validation(vec![FieldError::new(
                    field,
                    "may not be set when registering",
                )]));
            }
        }
        let draft = UserDraft::from_json(body).map_err(Error::Validation)?;
        let phc = self
            .0
            .hasher
            .hash(password.expose())
            .await
            .map_err(hash_error)?;
        let at = now();
        let user = User::from_draft(UserId::new(), draft, at);
        self.0
            .store
            .write(move |tx| {
                tx.insert_user(&user)?;
                tx.set_password_hash(user.id, &phc)?;
                Audit {
                    action: "register",
                    actor: Some(format!("user:{}", user.id)),
                    target: Some(user.id.to_string()),
                    ip: ip.clone(),
                    success: true,
                    detail: None,
                }
                .write(tx, at)?;
                Ok(user.clone())
            })
            .await
    }

    /// Sets a password and revokes every session of the user. A user changing
    /// its own password must give the current one; an admin resetting another
    /// user's need not.
    pub async fn change_password(
        &self,
        caller: &Caller,
        id: UserId,
        current: Option<String>,
        new: &str,
    ) -> Result<(), Error> {
        allow(caller, Action::ChangePassword(id))?;
        let new = Password::parse(new)
            .map_err(|m| Error::Validation(vec![FieldError::new("new_password", m)]))?;
        let is_self = matches!(&caller.principal, Principal::User { id: me, .. } if *me == id);
        let (user, stored_hash) = self
            .0
            .store
            .read(|r| Ok((r.get_user(id)?, r.password_hash(id)?)))?;
        user.ok_or(Error::NotFound)?;
        if is_self {
            let current = current.ok_or_else(|| {
                Error::Validation(vec![FieldError::new("current_password", "is required")])
            })?;
            let ok = self
                .0
                .hasher
                .verify(&current, stored_hash.as_deref())
                .await
                .map_err(hash_error)?;
            if ok == Verified::No {
                return Err(Error::Validation(vec![FieldError::new(
                    "current_password",
                    "is not correct",
                )]));
            }
        }
        let phc = self.0.hasher.hash(new.expose()).await.map_err(hash_error)?;
        let at = now();
        let audit = Audit::by(caller, "password.change").target(id);
        self.0
            .store
            .write(move |tx| {
                tx.get_user(id)?.ok_or(Error::NotFound)?;
                tx.set_password_hash(id, &phc)?;
                let n = tx.revoke_user_sessions(id)?;
                audit
                    .clone()
                    .detail(format!("{n} sessions revoked"))
                    .write(tx, at)
            })
            .await
    }

    /// How many sessions are live now (dashboard).
    pub async fn live_session_count(&self, caller: &Caller) -> Result<u64, Error> {
        allow(caller, Action::ReadStats)?;
        let store = self.0.store.clone();
        let now = micros(OffsetDateTime::now_utc());
        tokio::task::spawn_blocking(move || store.read(|r| r.count_live_sessions(now)))
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("session count task failed: {e}")))?
            .map_err(Error::from)
    }

    pub fn sessions(&self, caller: &Caller, id: UserId) -> Result<Vec<SessionView>, Error> {
        allow(caller, Action::ManageSessions(id))?;
        let now = micros(OffsetDateTime::now_utc());
        let (user, sessions) = self
            .0
            .store
            .read(|r| Ok((r.get_user(id)?, r.user_sessions(id)?)))?;
        user.ok_or(Error::NotFound)?;
        let current = match &caller.principal {
            Principal::User { session, .. } => Some(*session),
            _ => None,
        };
        let mut out: Vec<SessionView> = sessions
            .into_iter()
            .filter(|s| !s.revoked && s.expires_at > now)
            .map(|s| SessionView {
                current: Some(s.id) == current,
                session: s,
            })
            .collect();
        out.sort_by_key(|v| std::cmp::Reverse(v.session.created_at));
        Ok(out)
    }

    /// Revokes one session of the user, or all of them with `None`.
    pub async fn revoke_sessions(
        &self,
        caller: &Caller,
        id: UserId,
        sid: Option<Uuid>,
    ) -> Result<(), Error> {
        allow(caller, Action::ManageSessions(id))?;
        let audit = Audit::by(caller, "session.revoke").target(id);
        let at = now();
        self.0
            .store
            .write(move |tx| {
                tx.get_user(id)?.ok_or(Error::NotFound)?;
                let detail = match sid {
                    Some(sid) => {
                        match tx.session(sid)? {
                            Some(s) if s.user_id == id.0 && !s.revoked => {}
                            _ => return Err(Error::NotFound),
                        }
                        tx.revoke_session(sid)?;
                        format!("session {sid}")
                    }
                    None => format!("{} sessions", tx.revoke_user_sessions(id)?),
                };
                audit.clone().detail(detail).write(tx, at)
            })
            .await
    }

    pub async fn create_api_key(
        &self,
        caller: &Caller,
        body: Map<String, Value>,
    ) -> Result<KeyCreated, Error> {
        allow(caller, Action::ManageApiKeys)?;
        let mut errors = Vec::new();
        let mut name = String::new();
        let mut scopes: Vec<String> = Vec::new();
        let mut expires_at = None;
        for (k, v) in body {
            match (k.as_str(), v) {
                ("name", Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 100 => {
                    name = s.trim().to_owned()
                }
                ("name", _) => errors.push(FieldError::new("name", "must be 1 to 100 characters")),
                ("scopes", Value::Array(items)) if !items.is_empty() => {
                    for item in items {
                        match item.as_str().and_then(Scope::parse) {
                            Some(s) if !scopes.iter().any(|x| x == s.as_str()) => {
                                scopes.push(s.as_str().into())
                            }
                            Some(_) => {}
                            None => {
                                errors.push(FieldError::new(
                                    "scopes",
                                    "must hold only users:read, users:write, admin",
                                ));
                                break;
                            }
                        }
                    }
                }
                ("scopes", _) => errors.push(FieldError::new(
                    "scopes",
                    "must be a non-empty array of scopes",
                )),
                ("expires_at", Value::Null) => {}
                ("expires_at", Value::String(s)) => {
                    match OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
                    {
                        Ok(t) if t > OffsetDateTime::now_utc() => expires_at = Some(micros(t)),
                        Ok(_) => {
                            errors.push(FieldError::new("expires_at", "must be in the future"))
                        }
                        Err(_) => {
                            errors.push(FieldError::new("expires_at", "must be an RFC 3339 time"))
                        }
                    }
                }
                ("expires_at", _) => {
                    errors.push(FieldError::new("expires_at", "must be an RFC 3339 time"))
                }
                (other, _) => errors.push(FieldError::new(other, "is not a known field")),
            }
        }
        if name.is_empty() && !errors.iter().any(|e| e.field == "name") {
            errors.push(FieldError::new("name", "is required"));
        }
        if scopes.is_empty() && !errors.iter().any(|e| e.field == "scopes") {
            errors.push(FieldError::new("scopes", "is required"));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let secret = secrets::new_api_key();
        let at = now();
        let key = ApiKey {
            id: Uuid::now_v7(),
            name,
            scopes,
            prefix: secret.chars().take(API_KEY_PREFIX.len() + 6).collect(),
            created_at: micros(at),
            expires_at,
            created_by: Some(caller.actor()),
        };
        let hash = secrets::sha256(&secret);
        let audit = Audit::by(caller, "api_key.create").target(key.id);
        let k = key.clone();
        self.0
            .store
            .write(move |tx| {
                tx.insert_api_key(&k, &hash)?;
                audit.write(tx, at)
            })
            .await?;
        Ok(KeyCreated { key, secret })
    }

    pub fn api_keys(&self, caller: &Caller) -> Result<Vec<ApiKey>, Error> {
        allow(caller, Action::ManageApiKeys)?;
        let mut keys = self.0.store.read(|r| r.api_keys())?;
        keys.sort_by_key(|k| std::cmp::Reverse(k.created_at));
        Ok(keys)
    }

    pub async fn revoke_api_key(&self, caller: &Caller, id: Uuid) -> Result<(), Error> {
        allow(caller, Action::ManageApiKeys)?;
        let audit = Audit::by(caller, "api_key.revoke").target(id);
        let at = now();
        self.0
            .store
            .write(move |tx| {
                if !tx.delete_api_key(id)? {
                    return Err(Error::NotFound);
                }
                audit.write(tx, at)
            })
            .await
    }

    /// Audit entries, newest first; `cursor` is the id of the last entry seen.
    pub async fn audit(
        &self,
        caller: &Caller,
        limit: usize,
        cursor: Option<Uuid>,
        actor: Option<String>,
        action: Option<String>,
    ) -> Result<(Vec<AuditEntry>, Option<Uuid>), Error> {
        allow(caller, Action::ReadAudit)?;
        let store = self.0.store.clone();
        tokio::task::spawn_blocking(move || {
            let filter = |e: &AuditEntry| {
                actor
                    .as_deref()
                    .is_none_or(|a| e.actor.as_deref() == Some(a))
                    && action.as_deref().is_none_or(|a| e.action == a)
            };
            store.read(|r| r.audit_page(cursor, limit, AUDIT_BUDGET, &filter))
        })
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("audit task failed: {e}")))?
        .map_err(Error::from)
    }
}

/// Takes `password` out of a body and checks it. `required`: absent is an error.
pub(crate) fn take_password(
    body: &mut Map<String, Value>,
    required: bool,
) -> Result<Option<Password>, Error> {
    match body.remove("password") {
        None | Some(Value::Null) if !required => Ok(None),
        None | Some(Value::Null) => Err(Error::Validation(vec![FieldError::new(
            "password",
            "is required",
        )])),
        Some(Value::String(s)) => Password::parse(&s)
            .map(Some)
            .map_err(|m| Error::Validation(vec![FieldError::new("password", m)])),
        Some(_) => Err(Error::Validation(vec![FieldError::new(
            "password",
            "must be a string",
        )])),
    }
}

async fn load_or_create_keys(store: &Store) -> Result<Vec<StoredKey>, Error> {
    if let Some(bytes) = store.read(|r| r.meta(SIGNING_KEYS))? {
        return postcard::from_bytes(&bytes)
            .map_err(|e| Error::from(StoreError::Corrupt(format!("signing keys: {e}"))));
    }
    store
        .write(|tx| {
            // Another start may have made them meanwhile: keep those.
            if let Some(bytes) = tx.meta(SIGNING_KEYS)? {
                return postcard::from_bytes(&bytes)
                    .map_err(|e| Error::from(StoreError::Corrupt(format!("signing keys: {e}"))));
            }
            let keys = vec![StoredKey::generate(
                OffsetDateTime::now_utc().unix_timestamp(),
            )];
            let bytes = postcard::to_stdvec(&keys).expect("keys serialise");
            tx.set_meta(SIGNING_KEYS, &bytes)?;
            Ok(keys)
        })
        .await
}

/// Adds a new signing key (offline: `roster keys rotate`). Keys older than
/// the three newest are dropped; tokens they signed have long expired.
pub async fn rotate_keys(store: &Store) -> Result<String, Error> {
    store
        .write(|tx| {
            let mut keys: Vec<StoredKey> = match tx.meta(SIGNING_KEYS)? {
                Some(b) => postcard::from_bytes(&b)
                    .map_err(|e| Error::from(StoreError::Corrupt(e.to_string())))?,
                None => Vec::new(),
            };
            let k = StoredKey::generate(OffsetDateTime::now_utc().unix_timestamp());
            let kid = k.kid.clone();
            keys.push(k);
            if keys.len() > 3 {
                keys.drain(..keys.len() - 3);
            }
            tx.set_meta(
                SIGNING_KEYS,
                &postcard::to_stdvec(&keys).expect("keys serialise"),
            )?;
            Ok(kid)
        })
        .await
}
