//! Authentication use cases: bootstrap of the first admin, login, refresh
//! with rotation and reuse detection, logout, registration, passwords,
//! sessions, API keys and the audit log. [`Auth`] and its state live here;
//! each family of use cases has a file of its own.

mod accounts;
mod audit;
mod bearer;
mod email;
mod for_oauth;
mod keys;
mod login;
mod mfa;
mod passkeys;
mod sessions;

use keys::load_or_create_keys;
pub use keys::rotate_keys;
pub use mfa::{CHALLENGE_TTL, MfaStatus, Proof, SecondFactorDue, SecondStep, SignIn, TotpSetup};
pub use passkeys::{CreationOptions, MAX_PASSKEYS, NewPasskey, PasskeyAssertion, RequestOptions};

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::passwords::{Hasher, Verified};
use crate::auth::policy::{Action, Caller, Principal};
use crate::auth::secrets::{self, API_KEY_PREFIX};
use crate::auth::tokens::{Claims, JwkSet, StoredKey, Tokens};
use crate::config::AuthConfig;
use crate::domain::{
    ApiKey, AuditEntry, AuthMethod, FieldError, NewApiKey, Password, Role, Session, Signup, Status,
    Timestamp, TokenPurpose, User, UserId, fold,
};
use crate::error::Error;
use crate::store::{Store, StoreError};

use super::mail::Mail;
use super::{Audit, allow, hash_error, now};

const SIGNING_KEYS: &str = "signing_keys";
const SETUP_TOKEN: &str = "setup_token";
const AUDIT_BUDGET: usize = 10_000;

/// What a login or refresh returns.
pub struct LoginResult {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: String,
    pub user: User,
    /// The user's roles require a second factor it does not have: until it
    /// enrols one, its tokens are good for little else.
    pub mfa_enrollment_required: bool,
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
    mail: Mail,
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
    /// API keys used since their use was last saved (by housekeeping).
    key_use: std::sync::Mutex<HashMap<Uuid, Timestamp>>,
}

/// How stale a key's saved `last_used_at` may get.
const KEY_USE_RESOLUTION: std::time::Duration = std::time::Duration::from_secs(60);

const VERIFIED_CACHE: usize = 16_384;

impl Auth {
    /// The server's public address (`--public-url`, else where it
    /// listens): the base of the URLs it hands out.
    pub fn base_url(&self) -> String {
        self.0.mail.base_url().to_owned()
    }

    /// Loads the signing keys (making the first one on first start) and sets
    /// up the password pool and the login limiters.
    pub async fn init(
        store: Store,
        cfg: AuthConfig,
        hasher: Hasher,
        mail: Mail,
    ) -> Result<Self, Error> {
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
            mail,
            tokens,
            cfg,
            by_account,
            by_ip,
            verified: RwLock::new(HashMap::new()),
            key_use: std::sync::Mutex::default(),
        })))
    }

    /// Notes a use of `key` at `at`, unless the saved time is recent.
    fn note_key_use(&self, key: &ApiKey, at: Timestamp) {
        let fresh = key
            .last_used_at
            .is_some_and(|t| at.duration_since(t) < KEY_USE_RESOLUTION);
        if !fresh {
            self.0
                .key_use
                .lock()
                .expect("not poisoned")
                .insert(key.id, at);
        }
    }

    /// Saves the key uses noted since the last call, in one transaction.
    pub async fn save_key_use(&self) -> Result<(), Error> {
        let used: Vec<(Uuid, Timestamp)> =
            std::mem::take(&mut *self.0.key_use.lock().expect("not poisoned"))
                .into_iter()
                .collect();
        if used.is_empty() {
            return Ok(());
        }
        let kept = used.clone();
        let saved = self.0.store.write(move |tx| tx.touch_api_keys(&used)).await;
        if saved.is_err() {
            // Back for the next try, unless a newer use was noted meanwhile.
            let mut pending = self.0.key_use.lock().expect("not poisoned");
            for (id, at) in kept {
                let t = pending.entry(id).or_insert(at);
                *t = (*t).max(at);
            }
        }
        Ok(saved?)
    }

    /// Jobs (mail) waiting in the outbox.
    pub fn outbox_pending(&self) -> Result<u64, Error> {
        Ok(self.0.store.read(|r| r.count_jobs())?)
    }

    /// The public keys that verify access tokens.
    pub fn jwk_set(&self) -> JwkSet {
        self.0.tokens.jwk_set()
    }

    /// Frees the password hashing memory no hash used for `idle`.
    pub fn release_idle_memory(&self, idle: std::time::Duration) {
        let freed = self.0.hasher.release_idle_memory(idle);
        if freed > 0 {
            tracing::debug!(buffers = freed, "idle password hashing memory freed");
        }
    }

    /// Drops limiter state of keys not seen for a while (call periodically).
    pub fn forget_idle_limits(&self) {
        for l in [&self.0.by_account, &self.0.by_ip].into_iter().flatten() {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// 429 when the address is over its allowance (a sign-in that names no
    /// account yet).
    fn throttle_ip(&self, ip: Option<&str>) -> Result<(), Error> {
        match (ip, &self.0.by_ip) {
            (Some(ip), Some(l)) => l.check_key(&ip.to_owned()).map_err(|not_until| {
                let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
                Error::TooManyRequests {
                    retry_after: wait.as_secs() + 1,
                }
            }),
            _ => Ok(()),
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
}
