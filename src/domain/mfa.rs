//! Second factors as stored, and how a sign-in was proven.
//!
//! A user's [`Factors`] are one record: the TOTP secret once confirmed (with
//! the last time step used, so that a code is good once), a secret being
//! set up, and the hashes of unused recovery codes. Secrets never leave the
//! service: no response or log shows them after set-up.
//!
//! Passkeys belong to the same record as far as the service sees, but the
//! store keeps them in a table of their own (with an index by credential
//! id, for sign-ins that start without a user).

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
    /// Stored apart (see above): not part of this record's encoding.
    #[serde(skip)]
    pub passkeys: Vec<Passkey>,
}

impl Factors {
    /// A factor is enrolled (recovery codes alone are not one).
    pub fn any(&self) -> bool {
        self.totp.is_some() || !self.passkeys.is_empty()
    }

    /// The ways the second step of a sign-in may be taken.
    pub fn methods(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.totp.is_some() {
            out.push("totp");
        }
        if !self.passkeys.is_empty() {
            out.push("webauthn");
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
            .field("passkeys", &self.passkeys.len())
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

/// A passkey: a WebAuthn credential of the user's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passkey {
    /// The credential id the authenticator chose.
    pub id: Vec<u8>,
    pub name: String,
    pub public_key: PublicKey,
    /// The signature counter last seen (0: the authenticator keeps none).
    pub sign_count: u32,
    /// Synced between devices (a software key), rather than bound to one.
    pub backup_eligible: bool,
    /// How the browser may reach it (`internal`, `usb`, `hybrid`, …).
    pub transports: Vec<String>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

impl Passkey {
    /// The `amr` value a use of this key adds (RFC 8176).
    pub fn method(&self) -> AuthMethod {
        if self.backup_eligible {
            AuthMethod::Swk
        } else {
            AuthMethod::Hwk
        }
    }
}

/// A passkey's public key, in the forms accepted (how it verifies is
/// `auth::webauthn`'s business).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PublicKey {
    /// ECDSA on P-256 with SHA-256: the SEC1 uncompressed point.
    Es256(Vec<u8>),
    Ed25519([u8; 32]),
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PublicKey::Es256(_) => "Es256",
            PublicKey::Ed25519(_) => "Ed25519",
        })
    }
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
    /// A key held in hardware (a passkey bound to one device).
    Hwk,
    /// A key held in software (a passkey synced between devices).
    Swk,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Pwd => "pwd",
            AuthMethod::Otp => "otp",
            AuthMethod::Email => "email",
            AuthMethod::Mfa => "mfa",
            AuthMethod::Hwk => "hwk",
            AuthMethod::Swk => "swk",
        }
    }
}
