//! Access tokens: JWTs signed with Ed25519 (EdDSA), with a key id in the
//! header. The newest key signs; every key in the set verifies, so tokens
//! signed before a rotation stay valid until they expire.
//!
//! Verification accepts EdDSA only and checks the signature, `exp`, `iss`
//! and `aud`; `alg: none`, other algorithms and unknown key ids fail.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub roles: Vec<String>,
    pub sid: String,
    /// How the session's sign-in was proven (RFC 8176 values: `pwd`,
    /// `otp`, `mfa`; `email` for a mailed link), so that an app can ask
    /// for a second factor before a sensitive action.
    #[serde(default)]
    pub amr: Vec<String>,
}

/// One signing key as stored: its id, its 32-byte Ed25519 seed, and when it
/// was made (Unix seconds).
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredKey {
    pub kid: String,
    pub seed: [u8; 32],
    pub created_at: i64,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl StoredKey {
    pub fn generate(now: i64) -> Self {
        let mut seed = [0u8; 32];
        rand::rng().fill_bytes(&mut seed);
        let mut kid = [0u8; 9];
        rand::rng().fill_bytes(&mut kid);
        Self {
            kid: URL_SAFE_NO_PAD.encode(kid),
            seed,
            created_at: now,
        }
    }

    fn public_x(&self) -> String {
        let public = SigningKey::from_bytes(&self.seed).verifying_key();
        URL_SAFE_NO_PAD.encode(public.as_bytes())
    }
}

/// PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410): a fixed 16-byte prefix.
fn pkcs8(seed: &[u8; 32]) -> Vec<u8> {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(seed);
    der
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("cannot sign: {0}")]
    Sign(String),
}

/// The key set in use, ready to sign and verify.
pub struct Tokens {
    signing_kid: String,
    signing: EncodingKey,
    verifying: Vec<(String, DecodingKey, String)>,
    validation: Validation,
    pub issuer: String,
    pub audience: String,
}

impl Tokens {
    /// `keys` must not be empty; the last one signs.
    pub fn new(keys: &[StoredKey], issuer: &str, audience: &str) -> Result<Self, TokenError> {
        let current = keys
            .last()
            .ok_or_else(|| TokenError::Sign("no signing key".into()))?;
        let mut verifying = Vec::new();
        for k in keys {
            let x = k.public_x();
            let dk =
                DecodingKey::from_ed_components(&x).map_err(|e| TokenError::Sign(e.to_string()))?;
            verifying.push((k.kid.clone(), dk, x));
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Ok(Self {
            signing_kid: current.kid.clone(),
            signing: EncodingKey::from_ed_der(&pkcs8(&current.seed)),
            verifying,
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        self.sign_any(claims)
    }

    /// Signs any claims with the current Ed25519 key (ID tokens and the
    /// access tokens OAuth clients get, which carry their own audience).
    pub fn sign_any<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.signing_kid.clone());
        jsonwebtoken::encode(&header, claims, &self.signing)
            .map_err(|e| TokenError::Sign(e.to_string()))
    }

    /// The key that verifies `token`: EdDSA only, by its key id.
    fn key_for(&self, token: &str) -> Result<&DecodingKey, TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid("algorithm not allowed".into()));
        }
        let kid = header
            .kid
            .ok_or_else(|| TokenError::Invalid("no key id".into()))?;
        self.verifying
            .iter()
            .find(|(k, _, _)| *k == kid)
            .map(|(_, key, _)| key)
            .ok_or_else(|| TokenError::Invalid("unknown key id".into()))
    }

    /// Verifies a token from [`sign_any`](Self::sign_any): EdDSA, a known
    /// key id, `exp` and `iss`; the audience is the caller's to check.
    pub fn verify_any<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
    ) -> Result<T, TokenError> {
        let key = self.key_for(token)?;
        let mut v = Validation::new(Algorithm::EdDSA);
        v.algorithms = vec![Algorithm::EdDSA];
        v.set_issuer(&[issuer]);
        v.validate_aud = false;
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        v.leeway = 5;
        jsonwebtoken::decode::<T>(token, key, &v)
            .map(|d| d.claims)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let key = self.key_for(token)?;
        jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    /// The public keys as a JWK set.
    pub fn jwk_set(&self) -> JwkSet {
        JwkSet {
            keys: self
                .verifying
                .iter()
                .map(|(kid, _, x)| Jwk::ed25519(kid, x))
                .collect(),
        }
    }
}

/// A JSON Web Key Set (RFC 7517): the Ed25519 keys of access tokens (and
/// of EdDSA ID tokens), and the RSA key of RS256 ID tokens once made.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Jwks)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// One public key.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Jwk {
    /// `OKP` (Ed25519), `RSA` or `EC` (P-256).
    #[schema(value_type = String, pattern = "^(OKP|RSA|EC)$")]
    kty: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^(Ed25519|P-256)$")]
    crv: Option<&'static str>,
    /// The Ed25519 public key, or the P-256 point's x, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    /// The P-256 point's y, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    y: Option<String>,
    /// The RSA modulus, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    /// The RSA public exponent, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    e: Option<String>,
    /// Matches the `kid` in a token's header.
    kid: String,
    #[schema(value_type = String, pattern = "^(EdDSA|RS256|ES256)$")]
    alg: &'static str,
    #[serde(rename = "use")]
    #[schema(value_type = String, pattern = "^sig$")]
    use_: &'static str,
}

impl Jwk {
    fn ed25519(kid: &str, x: &str) -> Self {
        Self {
            kty: "OKP",
            crv: Some("Ed25519"),
            x: Some(x.to_owned()),
            y: None,
            n: None,
            e: None,
            kid: kid.to_owned(),
            alg: "EdDSA",
            use_: "sig",
        }
    }

    pub(super) fn ec(kid: &str, x: &str, y: &str) -> Self {
        Self {
            kty: "EC",
            crv: Some("P-256"),
            x: Some(x.to_owned()),
            y: Some(y.to_owned()),
            n: None,
            e: None,
            kid: kid.to_owned(),
            alg: "ES256",
            use_: "sig",
        }
    }

    pub(super) fn rsa(kid: &str, n: &str, e: &str) -> Self {
        Self {
            kty: "RSA",
            crv: None,
            x: None,
            y: None,
            n: Some(n.to_owned()),
            e: Some(e.to_owned()),
            kid: kid.to_owned(),
            alg: "RS256",
            use_: "sig",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            amr: vec!["pwd".into()],
            sub: "u".into(),
            iat: 0,
            exp,
            iss: "roster".into(),
            aud: "roster".into(),
            roles: vec!["user".into()],
            sid: "s".into(),
        }
    }

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    #[test]
    fn sign_verify_and_rotation() {
        let k1 = StoredKey::generate(0);
        let t1 = Tokens::new(std::slice::from_ref(&k1), "roster", "roster").unwrap();
        let tok = t1.sign(&claims(now() + 60)).unwrap();
        assert_eq!(t1.verify(&tok).unwrap().sub, "u");

        // After a rotation the old token still verifies; new ones use the new kid.
        let k2 = StoredKey::generate(1);
        let t2 = Tokens::new(&[k1, k2.clone()], "roster", "roster").unwrap();
        assert!(t2.verify(&tok).is_ok());
        let tok2 = t2.sign(&claims(now() + 60)).unwrap();
        assert!(t1.verify(&tok2).is_err(), "unknown kid");
        assert_eq!(t2.jwk_set().keys.len(), 2);
    }

    #[test]
    fn forged_expired_and_foreign_tokens_fail() {
        let k = StoredKey::generate(0);
        let t = Tokens::new(std::slice::from_ref(&k), "roster", "roster").unwrap();
        assert!(
            t.verify(&t.sign(&claims(now() - 3600)).unwrap()).is_err(),
            "expired"
        );
        let mut foreign = claims(now() + 60);
        foreign.aud = "other".into();
        assert!(t.verify(&t.sign(&foreign).unwrap()).is_err(), "audience");
        let mut foreign = claims(now() + 60);
        foreign.iss = "someone-else".into();
        assert!(t.verify(&t.sign(&foreign).unwrap()).is_err(), "issuer");

        let good = t.sign(&claims(now() + 60)).unwrap();
        let parts: Vec<&str> = good.split('.').collect();
        // Tampered payload.
        let mut c = claims(now() + 60);
        c.roles = vec!["admin".into()];
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        assert!(
            t.verify(&format!("{}.{}.{}", parts[0], forged_payload, parts[2]))
                .is_err()
        );
        // alg: none.
        let none_header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, k.kid));
        assert!(t.verify(&format!("{none_header}.{}.", parts[1])).is_err());
        // HS256 with the public key as secret (the classic confusion attack).
        let hs = jsonwebtoken::encode(
            &Header {
                kid: Some(k.kid.clone()),
                ..Header::new(Algorithm::HS256)
            },
            &claims(now() + 60),
            &EncodingKey::from_secret(k.public_x().as_bytes()),
        )
        .unwrap();
        assert!(t.verify(&hs).is_err());
        assert!(t.verify("garbage").is_err());
    }
}
