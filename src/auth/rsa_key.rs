//! The RSA key that signs ID tokens with RS256, OpenID Connect's default
//! algorithm (every relying party verifies it; not all verify EdDSA).
//!
//! The key is made once with the `rsa` crate (ring cannot generate RSA
//! keys) and then only signed with through ring, whose RSA is constant
//! time with blinding (the `rsa` crate's private operations are not).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde::{Deserialize, Serialize};

use super::tokens::{Jwk, TokenError};

/// Modulus size. 2048 bits is what OpenID Connect deployments use.
const BITS: usize = 2048;

/// The key as stored: PKCS#8 DER, with the public parts for the JWK.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredRsaKey {
    pub kid: String,
    pub pkcs8: Vec<u8>,
    /// Modulus and public exponent, base64url big-endian.
    pub n: String,
    pub e: String,
    pub created_at: i64,
}

impl std::fmt::Debug for StoredRsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredRsaKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl StoredRsaKey {
    /// A new key. Takes a moment (tens of milliseconds in a release build).
    pub fn generate(now: i64) -> Result<Self, TokenError> {
        use rsa::pkcs8::EncodePrivateKey;
        use rsa::traits::PublicKeyParts;
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, BITS)
            .map_err(|e| TokenError::Sign(format!("RSA key generation: {e}")))?;
        let der = key
            .to_pkcs8_der()
            .map_err(|e| TokenError::Sign(format!("RSA key encoding: {e}")))?;
        let mut kid = [0u8; 9];
        rand::rng().fill_bytes(&mut kid);
        Ok(Self {
            kid: format!("rs-{}", URL_SAFE_NO_PAD.encode(kid)),
            pkcs8: der.as_bytes().to_vec(),
            n: URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
            e: URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
            created_at: now,
        })
    }
}

/// A loaded key, ready to sign.
pub struct RsaSigner {
    kid: String,
    pair: RsaKeyPair,
    jwk: Jwk,
}

impl RsaSigner {
    pub fn new(k: &StoredRsaKey) -> Result<Self, TokenError> {
        let pair = RsaKeyPair::from_pkcs8(&k.pkcs8)
            .map_err(|e| TokenError::Sign(format!("RSA key rejected: {e}")))?;
        Ok(Self {
            kid: k.kid.clone(),
            pair,
            jwk: Jwk::rsa(&k.kid, &k.n, &k.e),
        })
    }

    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// A compact JWS of `claims` with `{"alg":"RS256","typ":"JWT","kid":…}`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let head = URL_SAFE_NO_PAD.encode(header.to_string());
        let body = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(claims).map_err(|e| TokenError::Sign(e.to_string()))?);
        let input = format!("{head}.{body}");
        let mut sig = vec![0u8; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| TokenError::Sign("RSA signing failed".into()))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};

    #[test]
    fn signs_what_an_independent_rs256_verifier_accepts() {
        let stored = StoredRsaKey::generate(0).unwrap();
        let signer = RsaSigner::new(&stored).unwrap();
        let claims = serde_json::json!({"sub": "u", "exp": 4_000_000_000i64, "aud": "c"});
        let token = signer.sign(&claims).unwrap();
        let key = DecodingKey::from_rsa_components(&stored.n, &stored.e).unwrap();
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&["c"]);
        let got = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &v).unwrap();
        assert_eq!(got.claims["sub"], "u");
        assert_eq!(got.header.kid.as_deref(), Some(stored.kid.as_str()));
        // A changed payload does not verify.
        let parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(r#"{"sub":"admin","exp":4000000000,"aud":"c"}"#);
        let bad = format!("{}.{forged}.{}", parts[0], parts[2]);
        assert!(jsonwebtoken::decode::<serde_json::Value>(&bad, &key, &v).is_err());
    }
}
