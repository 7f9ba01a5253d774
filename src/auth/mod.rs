//! Authentication building blocks, pure and HTTP-free: password hashing on a
//! bounded pool, Ed25519 JWTs, random secrets and their hashes, and the one
//! authorization policy. Never imports axum or the store.

pub mod ec_key;
pub mod passwords;
pub mod policy;
pub mod rsa_key;
pub mod secrets;
pub mod tokens;
pub mod totp;
pub mod webauthn;
