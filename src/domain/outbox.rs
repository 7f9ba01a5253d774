//! What the account flows send and keep: one-time tokens (stored under the
//! SHA-256 of their secret) and outbox jobs (work to do after a commit,
//! such as a mail to send), both written in the transaction that causes
//! them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Timestamp;

/// What a token sent by mail is good for. Each link is good for one
/// purpose only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TokenPurpose {
    VerifyEmail,
    ResetPassword,
    MagicLink,
    ChangeEmail,
}

impl TokenPurpose {
    /// The word used in audit actions and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::VerifyEmail => "verify-email",
            TokenPurpose::ResetPassword => "password-reset",
            TokenPurpose::MagicLink => "magic-link",
            TokenPurpose::ChangeEmail => "email-change",
        }
    }
}

/// A single-use token as stored: it holds while the user's address is still
/// `email` (for an email change: the new address, still free) and until
/// `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneTimeToken {
    pub purpose: TokenPurpose,
    pub user_id: Uuid,
    /// The address the link was sent to: the current one, or for an email
    /// change the new one.
    pub email: String,
    pub expires_at: Timestamp,
}

/// A unit of work in the outbox. The queue knows only `kind` and `payload`
/// (a mail today, a webhook delivery tomorrow); the worker for the kind
/// reads the payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// UUIDv7: jobs are taken in the order they were written.
    pub id: Uuid,
    pub kind: JobKind,
    pub payload: Vec<u8>,
    pub created_at: Timestamp,
    /// Not to be tried before this time (the backoff after a failure).
    pub not_before: Timestamp,
    pub attempts: u32,
    /// Why the last attempt failed (no secrets: an SMTP reply or an I/O error).
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobKind {
    Mail,
}

impl Job {
    pub fn new(kind: JobKind, payload: Vec<u8>, at: Timestamp) -> Self {
        Self {
            id: Uuid::now_v7(),
            kind,
            payload,
            created_at: at,
            not_before: at,
            attempts: 0,
            last_error: None,
        }
    }
}

/// A mail, rendered when it is queued: what the outbox worker sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The template it came from (`verify-email`, `password-changed`, …),
    /// for the log and metrics.
    pub template: String,
}
