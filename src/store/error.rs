//! The store's errors, and their one conversion into the service's
//! [`Error`](crate::error::Error): redb's types never leave this module tree.

use std::sync::Arc;

use crate::error::Error;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{field} is already taken")]
    Conflict { field: &'static str },
    #[error("storage error: {0}")]
    Storage(Arc<redb::Error>),
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("the store is closed")]
    Closed,
    #[error("a write failed: {0}")]
    Job(String),
    /// A request this store cannot serve as configured.
    #[error("{0}")]
    Unsupported(&'static str),
}

macro_rules! storage_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Storage(Arc::new(e.into()))
            }
        }
    )*};
}
storage_error_from!(
    redb::Error,
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError
);

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { field } => Error::Conflict { field },
            StoreError::Closed => Error::Unavailable,
            StoreError::Unsupported(why) => Error::BadRequest(why.to_owned()),
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
