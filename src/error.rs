//! The service's error kinds: what went wrong in terms a client can act on.
//! No HTTP and no storage types in here: `api::problem` renders these once,
//! as problem+json, and each lower layer converts its own errors at its edge
//! (`store::StoreError` in `store/error.rs`).

use crate::domain::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request names fields whose values break a rule.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The request itself is malformed (query string, cursor, header).
    #[error("{0}")]
    BadRequest(String),
    #[error("not found")]
    NotFound,
    /// No valid credentials (401). The message is safe to show.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Authenticated, but the policy says no (403).
    #[error("forbidden")]
    Forbidden,
    /// A feature this server has turned off (403); the message says which.
    #[error("{0}")]
    Disabled(&'static str),
    /// The password was right but the address is not verified yet, and the
    /// server requires it (403).
    #[error("email address not verified")]
    EmailUnverified,
    /// The caller's roles require a second factor, and it has none yet: it
    /// may only enrol one (403).
    #[error("second factor required")]
    MfaEnrolmentRequired,
    /// A mailed link's token that is unknown, expired, already used or for
    /// another purpose (400).
    #[error("invalid or expired link")]
    InvalidToken,
    /// Too many attempts; try again after this many seconds (429).
    #[error("too many requests")]
    TooManyRequests { retry_after: u64 },
    /// A unique field already belongs to another record.
    #[error("{field} is already taken")]
    Conflict { field: &'static str },
    /// The resource is not in a state that allows this (409); the message
    /// says what to do.
    #[error("{0}")]
    StateConflict(&'static str),
    /// `If-Match` did not match the current version.
    #[error("precondition failed: the current version is {current}")]
    PreconditionFailed { current: u64 },
    /// Search cannot answer now (index rebuilding or behind).
    #[error("{0}")]
    SearchUnavailable(&'static str),
    /// The store cannot take writes now (shutting down, disk trouble).
    #[error("service unavailable")]
    Unavailable,
    /// Anything else: logged in full, never shown to the client.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}
