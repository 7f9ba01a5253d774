//! The use cases: the rules of users, authentication and audit. The only
//! layer that uses the store (and, later, search); it knows nothing of HTTP.
//! Every use case that acts for a caller asks `auth::policy::authorize` first.

mod auth;
pub mod events;
mod groups;
pub mod housekeeping;
pub mod mail;
pub mod oauth;
mod search;
mod transfer;
mod users;
pub mod webhooks;

/// A hit's highlighted fields: (field name, marked-up text), in field order.
pub use crate::search::Highlight;
pub use auth::{
    Auth, CHALLENGE_TTL, CreationOptions, KeyCreated, LoginResult, MAX_PASSKEYS, MfaStatus,
    NewPasskey, PasskeyAssertion, Proof, RequestOptions, SecondFactorDue, SecondStep, SessionView,
    SignIn, TotpSetup, rotate_keys,
};
pub use events::Events;
pub use groups::{
    GROUP_LIMIT_DEFAULT, GROUP_LIMIT_MAX, GroupChange, Groups, IdCursorPage, MAX_GROUPS,
};
pub use oauth::OAuth;
pub use search::{Hit, IndexStatus, Results, Search, rebuild_offline, reseal_index};
pub use transfer::{
    CSV_COLUMNS, Format, ImportReport, Importer, LineError, MAX_LINE, backup, check_csv_header,
    csv_record, export,
};
pub use users::{LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, ListParams, Page, Precondition, Users};
pub use webhooks::Webhooks;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::passwords::HashError;
use crate::auth::policy::{Action, Caller, Denied, authorize};
use crate::domain::AuditEntry;
use crate::domain::{Outcome, Timestamp};
use crate::error::Error;
use crate::store::Tx;

/// Asks the policy; 403 if it says no.
pub(crate) fn allow(caller: &Caller, action: Action) -> Result<(), Error> {
    authorize(caller, action).map_err(|d| match d {
        Denied::NotAllowed => Error::Forbidden,
        Denied::MfaEnrolmentRequired => Error::MfaEnrolmentRequired,
    })
}

pub(crate) fn now() -> OffsetDateTime {
    // Microsecond precision: what the store keeps, so a returned value equals
    // the same value read back.
    Timestamp::truncate(OffsetDateTime::now_utc())
}

/// One audit entry, written in the caller's transaction. Owns its data, so
/// it can be moved into a (re-runnable) write.
#[derive(Clone)]
pub(crate) struct Audit {
    pub action: &'static str,
    pub actor: Option<String>,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub success: bool,
    pub detail: Option<String>,
}

impl Audit {
    pub fn by(caller: &Caller, action: &'static str) -> Audit {
        Audit {
            action,
            actor: Some(caller.actor()),
            target: None,
            ip: caller.ip.clone(),
            success: true,
            detail: None,
        }
    }

    /// An entry for an act of `user` itself, from `ip`.
    pub fn for_user(user: &crate::domain::User, action: &'static str, ip: Option<String>) -> Audit {
        Audit {
            action,
            actor: Some(format!("user:{}", user.id)),
            target: Some(user.id.to_string()),
            ip,
            success: true,
            detail: None,
        }
    }

    pub fn target(mut self, t: impl ToString) -> Self {
        self.target = Some(t.to_string());
        self
    }

    /// Marks the entry a failure, saying why.
    pub fn failed(mut self, why: impl Into<String>) -> Self {
        self.success = false;
        self.detail = Some(why.into());
        self
    }

    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }

    pub fn write(&self, tx: &mut Tx<'_>, at: OffsetDateTime) -> Result<(), Error> {
        tx.append_audit(&AuditEntry {
            id: Uuid::now_v7(),
            at: Timestamp::from_datetime(at),
            action: self.action.to_owned(),
            actor: self.actor.clone(),
            target: self.target.clone(),
            ip: self.ip.clone(),
            outcome: Outcome::of(self.success),
            detail: self.detail.clone(),
        })?;
        Ok(())
    }
}

/// The password pool's failures: busy is an outage (503), anything else a bug.
pub(crate) fn hash_error(e: HashError) -> Error {
    match e {
        HashError::Busy => Error::Unavailable,
        HashError::Failed(m) => Error::Internal(anyhow::anyhow!(m)),
    }
}
