//! The P-256 key that signs ID tokens with ES256 for the clients that ask
//! for it: made and used through ring (`generate_pkcs8`, fixed-length
//! signatures as JWS wants them).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde::{Deserialize, Serialize};

use super::tokens::{Jwk, TokenError};

/// The key as stored: PKCS#8 DER, with the public point for the JWK.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredEcKey {
    pub kid: String,
    pub pkcs8: Vec<u8>,
    /// The public point's coordinates, base64url.
    pub x: String,
    pub y: String,
    pub created_at: i64,
}

impl std::fmt::Debug for StoredEcKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredEcKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn rejected(e: impl std::fmt::Display) -> TokenError {
    TokenError::Sign(format!("P-256 key: {e}"))
}

impl StoredEcKey {
    pub fn generate(now: i64) -> Result<Self, TokenError> {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(rejected)?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref(), &rng)
            .map_err(rejected)?;
        // Uncompressed point: 0x04, then x and y, 32 bytes each.
        let point = pair.public_key().as_ref();
        let mut kid = [0u8; 9];
        rand::rng().fill_bytes(&mut kid);
        Ok(Self {
            kid: format!("ec-{}", URL_SAFE_NO_PAD.encode(kid)),
            pkcs8: doc.as_ref().to_vec(),
            x: URL_SAFE_NO_PAD.encode(&point[1..33]),
            y: URL_SAFE_NO_PAD.encode(&point[33..65]),
            created_at: now,
        })
    }
}

/// A loaded key, ready to sign.
pub struct EcSigner {
    kid: String,
    pair: EcdsaKeyPair,
    jwk: Jwk,
}

impl EcSigner {
    pub fn new(k: &StoredEcKey) -> Result<Self, TokenError> {
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &k.pkcs8,
            &SystemRandom::new(),
        )
        .map_err(rejected)?;
        Ok(Self {
            kid: k.kid.clone(),
            pair,
            jwk: Jwk::ec(&k.kid, &k.x, &k.y),
        })
    }

    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// A compact JWS of `claims` with `{"alg":"ES256","typ":"JWT","kid":…}`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": self.kid});
        let head = URL_SAFE_NO_PAD.encode(header.to_string());
        let body = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(claims).map_err(|e| TokenError::Sign(e.to_string()))?);
        let input = format!("{head}.{body}");
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| TokenError::Sign("ECDSA signing failed".into()))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};

    #[test]
    fn signs_what_an_independent_es256_verifier_accepts() {
        let stored = StoredEcKey::generate(0).unwrap();
        let signer = EcSigner::new(&stored).unwrap();
        let claims = serde_json::json!({"sub": "u", "exp": 4_000_000_000i64, "aud": "c"});
        let token = signer.sign(&claims).unwrap();
        let key = DecodingKey::from_ec_components(&stored.x, &stored.y).unwrap();
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&["c"]);
        let got = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &v).unwrap();
        assert_eq!(got.claims["sub"], "u");
        let parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(r#"{"sub":"admin","exp":4000000000,"aud":"c"}"#);
        let bad = format!("{}.{forged}.{}", parts[0], parts[2]);
        assert!(jsonwebtoken::decode::<serde_json::Value>(&bad, &key, &v).is_err());
    }
}
