//! The relying-party side of WebAuthn (Level 2) that passkeys need, pure:
//! the options a browser is given, and the checks of what it sends back.
//!
//! Why not `webauthn-rs`: its core depends on OpenSSL unconditionally, which
//! this project refuses. What is here is the part of the specification a
//! relying party that asks for no attestation must do (§7.1, §7.2): the
//! client data (type, challenge, origin), the authenticator data (relying
//! party id hash, user presence and verification, the signature counter),
//! the credential public key (COSE: ES256 on P-256, EdDSA on Ed25519) and
//! the assertion signature. Attestation statements are not verified: roster
//! asks for `attestation: "none"` and treats every credential as
//! unattested, as the specification allows a relying party to.
//!
//! Challenges are the caller's business (the service stores each one for
//! one use); this module only reads them back out of the client data.

use ciborium::Value;
use serde::Deserialize;
use sha2::{Digest, Sha256};

pub use crate::domain::PublicKey;

/// COSE algorithm ids (RFC 9053) this relying party accepts.
pub const ES256: i64 = -7;
pub const EDDSA: i64 = -8;

/// Authenticator data flags (WebAuthn §6.1).
const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
const BACKUP_ELIGIBLE: u8 = 0x08;
const BACKED_UP: u8 = 0x10;
const ATTESTED: u8 = 0x40;

/// Longest credential id the specification allows.
pub const MAX_CREDENTIAL_ID: usize = 1023;

/// Why a ceremony's answer is refused. `Malformed` is a client that does
/// not speak WebAuthn; `Failed` is a proof that does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Malformed(&'static str),
    Failed(&'static str),
}

/// Where passkeys are bound: the relying party id (a domain) and the one
/// origin whose pages may use them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    pub id: String,
    pub origin: String,
}

impl RelyingParty {
    /// From the server's public URL. A relying party id must be a domain:
    /// a loopback address becomes `localhost` (what a browser on the same
    /// machine would be pointed at); any other address gives `None`.
    pub fn from_url(url: &str) -> Option<Self> {
        let u = url::Url::parse(url).ok()?;
        let host = match u.host()? {
            url::Host::Domain(d) => d.to_ascii_lowercase(),
            url::Host::Ipv4(ip) if ip.is_loopback() || ip.is_unspecified() => "localhost".into(),
            url::Host::Ipv6(ip) if ip.is_loopback() || ip.is_unspecified() => "localhost".into(),
            _ => return None,
        };
        let origin = match u.port() {
            Some(p) => format!("{}://{host}:{p}", u.scheme()),
            None => format!("{}://{host}", u.scheme()),
        };
        Some(Self { id: host, origin })
    }
}

/// What the browser says it signed (`clientDataJSON`, §5.8.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientData {
    /// The challenge, decoded.
    pub challenge: Vec<u8>,
}

#[derive(Deserialize)]
struct RawClientData {
    #[serde(rename = "type")]
    typ: String,
    challenge: String,
    origin: String,
    #[serde(default, rename = "crossOrigin")]
    cross_origin: bool,
}

/// The ceremony a client data belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ceremony {
    Create,
    Get,
}

impl ClientData {
    /// Parses `json` and checks its type and origin against `rp`; the
    /// challenge is for the caller to look up.
    pub fn parse(json: &[u8], want: Ceremony, rp: &RelyingParty) -> Result<Self, Refused> {
        let raw: RawClientData = serde_json::from_slice(json)
            .map_err(|_| Refused::Malformed("clientDataJSON is not WebAuthn client data"))?;
        let typ = match want {
            Ceremony::Create => "webauthn.create",
            Ceremony::Get => "webauthn.get",
        };
        if raw.typ != typ {
            return Err(Refused::Malformed("clientDataJSON is for another ceremony"));
        }
        if raw.origin != rp.origin || raw.cross_origin {
            return Err(Refused::Failed(
                "the credential was made for another origin",
            ));
        }
        let challenge =
            b64url(&raw.challenge).ok_or(Refused::Malformed("the challenge is not base64url"))?;
        Ok(Self { challenge })
    }
}

/// A new challenge: 32 random bytes.
pub fn new_challenge() -> [u8; 32] {
    use rand::RngCore;
    let mut c = [0u8; 32];
    rand::rng().fill_bytes(&mut c);
    c
}

/// What a challenge is stored under.
pub fn challenge_key(challenge: &[u8]) -> [u8; 32] {
    Sha256::digest(challenge).into()
}

/// Decodes unpadded (or padded) base64url.
pub fn b64url(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
}

/// Encodes as unpadded base64url, as WebAuthn's JSON forms do.
pub fn to_b64url(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

impl PublicKey {
    /// Whether `sig` signs `msg`.
    fn verifies(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self {
            PublicKey::Es256(point) => {
                use p256::ecdsa::signature::Verifier;
                let (Ok(key), Ok(sig)) = (
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(point),
                    p256::ecdsa::Signature::from_der(sig),
                ) else {
                    return false;
                };
                key.verify(msg, &sig).is_ok()
            }
            PublicKey::Ed25519(key) => {
                let (Ok(key), Ok(sig)) = (
                    ed25519_dalek::VerifyingKey::from_bytes(key),
                    ed25519_dalek::Signature::from_slice(sig),
                ) else {
                    return false;
                };
                key.verify_strict(msg, &sig).is_ok()
            }
        }
    }

    /// From a COSE_Key (RFC 9052 §7), only in the forms accepted here.
    fn from_cose(v: &Value) -> Result<Self, Refused> {
        let unsupported = Refused::Malformed("the credential key is not ES256 or EdDSA");
        let map = v
            .as_map()
            .ok_or(Refused::Malformed("the credential key is not a COSE key"))?;
        let field = |label: i64| {
            map.iter()
                .find(|(k, _)| k.as_integer().and_then(|i| i64::try_from(i).ok()) == Some(label))
                .map(|(_, v)| v)
        };
        let int = |label: i64| {
            field(label)
                .and_then(Value::as_integer)
                .and_then(|i| i64::try_from(i).ok())
        };
        let bytes = |label: i64| field(label).and_then(Value::as_bytes);
        match (int(1), int(3), int(-1)) {
            // kty EC2, alg ES256, crv P-256.
            (Some(2), Some(ES256), Some(1)) => {
                let (Some(x), Some(y)) = (bytes(-2), bytes(-3)) else {
                    return Err(unsupported);
                };
                if x.len() != 32 || y.len() != 32 {
                    return Err(unsupported);
                }
                let mut point = vec![4u8];
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                    .map_err(|_| Refused::Malformed("the credential key is not a P-256 point"))?;
                Ok(PublicKey::Es256(point))
            }
            // kty OKP, alg EdDSA, crv Ed25519.
            (Some(1), Some(EDDSA), Some(6)) => {
                let x: [u8; 32] = bytes(-2)
                    .and_then(|x| x.as_slice().try_into().ok())
                    .ok_or(unsupported)?;
                ed25519_dalek::VerifyingKey::from_bytes(&x)
                    .map_err(|_| Refused::Malformed("the credential key is not an Ed25519 key"))?;
                Ok(PublicKey::Ed25519(x))
            }
            _ => Err(unsupported),
        }
    }
}

/// The fixed head of authenticator data (§6.1).
struct AuthData<'a> {
    flags: u8,
    sign_count: u32,
    rest: &'a [u8],
}

impl<'a> AuthData<'a> {
    /// Parses `b` and checks the relying party id hash and user presence
    /// (and verification when `require_uv`).
    fn parse(b: &'a [u8], rp: &RelyingParty, require_uv: bool) -> Result<Self, Refused> {
        if b.len() < 37 {
            return Err(Refused::Malformed("the authenticator data is too short"));
        }
        if b[..32] != Sha256::digest(rp.id.as_bytes())[..] {
            return Err(Refused::Failed(
                "the credential was made for another relying party",
            ));
        }
        let flags = b[32];
        if flags & USER_PRESENT == 0 {
            return Err(Refused::Failed("the authenticator saw no user presence"));
        }
        if require_uv && flags & USER_VERIFIED == 0 {
            return Err(Refused::Failed("the authenticator did not verify the user"));
        }
        if flags & BACKED_UP != 0 && flags & BACKUP_ELIGIBLE == 0 {
            return Err(Refused::Malformed(
                "the authenticator data says backed up but not backup eligible",
            ));
        }
        Ok(Self {
            flags,
            sign_count: u32::from_be_bytes([b[33], b[34], b[35], b[36]]),
            rest: &b[37..],
        })
    }
}

/// A credential made by a registration ceremony, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    pub id: Vec<u8>,
    pub public_key: PublicKey,
    pub sign_count: u32,
    /// A synced passkey (may live on more than one device).
    pub backup_eligible: bool,
    pub user_verified: bool,
}

/// Checks an `attestationObject` (§7.1 steps 11–24, without attestation
/// trust): the credential `id` the browser reported must be the one inside.
pub fn registration(
    rp: &RelyingParty,
    id: &[u8],
    attestation_object: &[u8],
) -> Result<NewCredential, Refused> {
    let malformed = Refused::Malformed("attestationObject is not a WebAuthn attestation");
    let obj: Value = ciborium::from_reader(attestation_object).map_err(|_| malformed)?;
    let map = obj.as_map().ok_or(malformed)?;
    let auth_data = map
        .iter()
        .find(|(k, _)| k.as_text() == Some("authData"))
        .and_then(|(_, v)| v.as_bytes())
        .ok_or(malformed)?;
    let data = AuthData::parse(auth_data, rp, false)?;
    if data.flags & ATTESTED == 0 || data.rest.len() < 18 {
        return Err(Refused::Malformed("the attestation holds no credential"));
    }
    let len = u16::from_be_bytes([data.rest[16], data.rest[17]]) as usize;
    let after = &data.rest[18..];
    if len == 0 || len > MAX_CREDENTIAL_ID || after.len() < len {
        return Err(Refused::Malformed("the credential id is malformed"));
    }
    let (cred_id, key) = after.split_at(len);
    if cred_id != id {
        return Err(Refused::Malformed(
            "the credential id does not match the attestation",
        ));
    }
    let cose: Value = ciborium::from_reader(key)
        .map_err(|_| Refused::Malformed("the credential key is not CBOR"))?;
    Ok(NewCredential {
        id: cred_id.to_vec(),
        public_key: PublicKey::from_cose(&cose)?,
        sign_count: data.sign_count,
        backup_eligible: data.flags & BACKUP_ELIGIBLE != 0,
        user_verified: data.flags & USER_VERIFIED != 0,
    })
}

/// What a checked assertion proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asserted {
    pub sign_count: u32,
    pub user_verified: bool,
}

/// Checks an assertion (§7.2 steps 15–21) by `key`, whose last seen
/// signature counter is `last_count`. A counter that did not move forward
/// (when either is not zero) is refused: the credential may be cloned.
pub fn assertion(
    rp: &RelyingParty,
    key: &PublicKey,
    last_count: u32,
    client_data_json: &[u8],
    authenticator_data: &[u8],
    signature: &[u8],
    require_uv: bool,
) -> Result<Asserted, Refused> {
    let data = AuthData::parse(authenticator_data, rp, require_uv)?;
    let mut msg = authenticator_data.to_vec();
    msg.extend_from_slice(&Sha256::digest(client_data_json));
    if !key.verifies(&msg, signature) {
        return Err(Refused::Failed("the signature does not verify"));
    }
    if (data.sign_count != 0 || last_count != 0) && data.sign_count <= last_count {
        return Err(Refused::Failed(
            "the signature counter went back: the authenticator may be cloned",
        ));
    }
    Ok(Asserted {
        sign_count: data.sign_count,
        user_verified: data.flags & USER_VERIFIED != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::{SigningKey, signature::Signer};

    fn rp() -> RelyingParty {
        RelyingParty::from_url("https://id.example.com").unwrap()
    }

    fn auth_data(rp_id: &str, flags: u8, count: u32, attested: Option<(&[u8], &Value)>) -> Vec<u8> {
        let mut b = Sha256::digest(rp_id.as_bytes()).to_vec();
        b.push(flags);
        b.extend_from_slice(&count.to_be_bytes());
        if let Some((id, key)) = attested {
            b.extend_from_slice(&[0; 16]);
            b.extend_from_slice(&(id.len() as u16).to_be_bytes());
            b.extend_from_slice(id);
            ciborium::into_writer(key, &mut b).unwrap();
        }
        b
    }

    fn cose_es256(key: &SigningKey) -> Value {
        let point = key.verifying_key().to_encoded_point(false);
        Value::Map(vec![
            (1.into(), 2.into()),
            (3.into(), ES256.into()),
            ((-1).into(), 1.into()),
            ((-2).into(), Value::Bytes(point.x().unwrap().to_vec())),
            ((-3).into(), Value::Bytes(point.y().unwrap().to_vec())),
        ])
    }

    fn attestation(auth: Vec<u8>) -> Vec<u8> {
        let obj = Value::Map(vec![
            ("fmt".into(), "none".into()),
            ("attStmt".into(), Value::Map(vec![])),
            ("authData".into(), Value::Bytes(auth)),
        ]);
        let mut out = Vec::new();
        ciborium::into_writer(&obj, &mut out).unwrap();
        out
    }

    #[test]
    fn relying_party_from_the_public_url() {
        assert_eq!(
            rp(),
            RelyingParty {
                id: "id.example.com".into(),
                origin: "https://id.example.com".into()
            }
        );
        let local = RelyingParty::from_url("http://127.0.0.1:8080").unwrap();
        assert_eq!(local.id, "localhost");
        assert_eq!(local.origin, "http://localhost:8080");
        assert_eq!(RelyingParty::from_url("http://10.1.2.3:8080"), None);
    }

    #[test]
    fn client_data_type_origin_and_challenge() {
        let json = |typ: &str, origin: &str| {
            format!(r#"{{"type":"{typ}","challenge":"AQID","origin":"{origin}"}}"#)
        };
        let ok = ClientData::parse(
            json("webauthn.get", "https://id.example.com").as_bytes(),
            Ceremony::Get,
            &rp(),
        )
        .unwrap();
        assert_eq!(ok.challenge, vec![1, 2, 3]);
        assert!(matches!(
            ClientData::parse(
                json("webauthn.create", "https://id.example.com").as_bytes(),
                Ceremony::Get,
                &rp()
            ),
            Err(Refused::Malformed(_))
        ));
        assert!(matches!(
            ClientData::parse(
                json("webauthn.get", "https://evil.example.com").as_bytes(),
                Ceremony::Get,
                &rp()
            ),
            Err(Refused::Failed(_))
        ));
        assert!(ClientData::parse(b"{}", Ceremony::Get, &rp()).is_err());
    }

    #[test]
    fn registers_then_asserts_and_refuses_what_does_not_hold() {
        let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let id = b"credential-1";
        let auth = auth_data("id.example.com", 0x45, 0, Some((id, &cose_es256(&key))));
        let cred = registration(&rp(), id, &attestation(auth.clone())).unwrap();
        assert_eq!(cred.id, id);
        assert!(cred.user_verified);
        assert!(!cred.backup_eligible);
        assert!(matches!(
            registration(&rp(), b"other", &attestation(auth)),
            Err(Refused::Malformed(_))
        ));
        let foreign = auth_data("evil.example.com", 0x45, 0, Some((id, &cose_es256(&key))));
        assert!(matches!(
            registration(&rp(), id, &attestation(foreign)),
            Err(Refused::Failed(_))
        ));

        let client =
            br#"{"type":"webauthn.get","challenge":"AQID","origin":"https://id.example.com"}"#;
        let sign = |data: &[u8]| {
            let mut msg = data.to_vec();
            msg.extend_from_slice(&Sha256::digest(client));
            let sig: p256::ecdsa::Signature = key.sign(&msg);
            sig.to_der().as_bytes().to_vec()
        };
        let data = auth_data("id.example.com", 0x05, 3, None);
        let sig = sign(&data);
        let ok = assertion(&rp(), &cred.public_key, 2, client, &data, &sig, true).unwrap();
        assert_eq!(ok.sign_count, 3);
        // The counter must move forward.
        assert!(assertion(&rp(), &cred.public_key, 3, client, &data, &sig, true).is_err());
        // Another message, or no user verification when it is required.
        assert!(assertion(&rp(), &cred.public_key, 2, b"{}", &data, &sig, true).is_err());
        let present_only = auth_data("id.example.com", 0x01, 4, None);
        let sig = sign(&present_only);
        assert!(
            assertion(
                &rp(),
                &cred.public_key,
                2,
                client,
                &present_only,
                &sig,
                true
            )
            .is_err()
        );
        assert!(
            assertion(
                &rp(),
                &cred.public_key,
                2,
                client,
                &present_only,
                &sig,
                false
            )
            .is_ok()
        );
        // Backed up but not backup eligible: not a valid authenticator.
        let odd = auth_data("id.example.com", 0x15, 5, None);
        let sig = sign(&odd);
        assert_eq!(
            assertion(&rp(), &cred.public_key, 4, client, &odd, &sig, true),
            Err(Refused::Malformed(
                "the authenticator data says backed up but not backup eligible"
            ))
        );
    }

    #[test]
    fn ed25519_keys_and_unsupported_ones() {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
        let cose = Value::Map(vec![
            (1.into(), 1.into()),
            (3.into(), EDDSA.into()),
            ((-1).into(), 6.into()),
            (
                (-2).into(),
                Value::Bytes(sk.verifying_key().to_bytes().to_vec()),
            ),
        ]);
        let key = PublicKey::from_cose(&cose).unwrap();
        use ed25519_dalek::Signer;
        assert!(key.verifies(b"m", &sk.sign(b"m").to_bytes()));
        assert!(!key.verifies(b"n", &sk.sign(b"m").to_bytes()));
        let rs256 = Value::Map(vec![(1.into(), 3.into()), (3.into(), (-257).into())]);
        assert!(PublicKey::from_cose(&rs256).is_err());
    }
}
