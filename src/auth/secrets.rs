//! Random secrets (refresh tokens, API keys, setup tokens) and the SHA-256
//! under which they are stored: a stolen database holds no usable secret.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// 256 random bits, base64url without padding (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn sha256(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// Prefix of API key secrets, so a leaked key is recognisable (secret scanners).
pub const API_KEY_PREFIX: &str = "rk_";

pub fn new_api_key() -> String {
    format!("{API_KEY_PREFIX}{}", random_token())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_long() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(new_api_key().starts_with("rk_"));
        assert_ne!(sha256(&a), sha256(&b));
    }
}
