//! Second factors as stored, and how a sign-in was proven.
//!
//! A user's [`Factors`] are one record: the TOTP secret once confirmed (with
//! the last time step used, so that a code is good once), a secret being
//! set up, and the hashes of unused recovery codes. Secrets never leave the
//! service: no response or log shows them after set-up.

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// A user's second factors.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Factors {
    pub totp: Option<TotpFactor>,
    /// Set up but not yet confirmed with a code: not a factor yet.
    pub pending_totp: Option<PendingTotp>,
    /// SHA-256 of each unused recovery code (salted with the user id).
    pub recovery_codes: Vec<[u8; 32]>,
}

impl Factors {
    /// A factor is enrolled (recovery codes alone are not one).
    pub fn any(&self) -> bool {
        self.totp.is_some()
    }

    /// The ways the second step of a sign-in may be taken.
    pub fn methods(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.totp.is_some() {
            out.push("totp");
        }
        if !self.recovery_codes.is_empty() {
            out.push("recovery");
        }
        out
    }
}

impl std::fmt::Debug for Factors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Factors")
            .field("totp", &self.totp.is_some())
            .field("pending_totp", &self.pending_totp.is_some())
            .field("recovery_codes", &self.recovery_codes.len())
            .finish()
    }
}

/// A confirmed TOTP (RFC 6238: SHA-1, 6 digits, 30 s).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpFactor {
    pub secret: Vec<u8>,
    pub enabled_at: Timestamp,
    /// The time step of the last code accepted: only later steps are.
    pub last_step: u64,
}

/// A TOTP secret handed out by set-up, waiting for its first code.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTotp {
    pub secret: Vec<u8>,
    pub created_at: Timestamp,
}

/// How a sign-in was proven: the `amr` claim's values (RFC 8176).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuthMethod {
    /// A password.
    Pwd,
    /// A one-time password: a TOTP code or a recovery code.
    Otp,
    /// A link sent by mail (not in RFC 8176's registry).
    Email,
    /// More than one factor.
    Mfa,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Pwd => "pwd",
            AuthMethod::Otp => "otp",
            AuthMethod::Email => "email",
            AuthMethod::Mfa => "mfa",
        }
    }
}
