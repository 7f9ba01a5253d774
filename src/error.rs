//! The service's error kinds: what went wrong in terms a client can act on.
//! No HTTP in here; `api::problem` renders these once, as problem+json.

use crate::domain::FieldError;
use crate::store::StoreError;

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
    /// Too many attempts; try again after this many seconds (429).
    #[error("too many requests")]
    TooManyRequests { retry_after: u64 },
    /// A unique field already belongs to another record.
    #[error("{field} is already taken")]
    Conflict { field: &'static str },
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

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { field } => Error::Conflict { field },
            StoreError::Closed => Error::Unavailable,
            StoreError::Storage(e) if is_unavailable(&e) => {
                tracing::error!(error = %e, "store cannot write");
                Error::Unavailable
            }
            other => Error::Internal(other.into()),
        }
    }
}

/// I/O trouble (disk full, read-only file system) is an outage to report as
/// 503, not a bug.
fn is_unavailable(e: &redb::Error) -> bool {
    matches!(e, redb::Error::Io(_) | redb::Error::PreviousIo)
}
