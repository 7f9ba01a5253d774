//! A software passkey authenticator, and the browser around it, for tests
//! and benchmarks: what the WebAuthn specification says an authenticator
//! (P-256 key, counter, attestation `none`) and a browser (client data,
//! `toJSON()`) do, built from RustCrypto's P-256 and the CBOR crate. The
//! browser suite uses Chromium's virtual authenticator instead.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ciborium::Value as Cbor;
use p256::ecdsa::{Signature, SigningKey, signature::Signer};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A passkey authenticator with one credential, and the browser around it.
pub struct Authenticator {
    key: SigningKey,
    pub id: Vec<u8>,
    pub count: u32,
    pub origin: String,
    pub user_handle: Vec<u8>,
}

impl Authenticator {
    /// For pages at `base` (`http://127.0.0.1:port`), as a browser on this
    /// machine names it: the relying party id must be a domain.
    pub fn new(base: &str, seed: u8) -> Self {
        Self {
            key: SigningKey::from_slice(&[seed; 32]).unwrap(),
            id: vec![seed; 16],
            count: 0,
            origin: base.replace("127.0.0.1", "localhost"),
            user_handle: Vec::new(),
        }
    }

    fn client_data(&self, typ: &str, challenge: &str) -> Vec<u8> {
        json!({"type": typ, "challenge": challenge, "origin": self.origin, "crossOrigin": false})
            .to_string()
            .into_bytes()
    }

    /// `navigator.credentials.create(options)` then `toJSON()`.
    pub fn create(&mut self, options: &Value) -> Value {
        let o = &options["publicKey"];
        self.user_handle = B64.decode(o["user"]["id"].as_str().unwrap()).unwrap();
        let client = self.client_data("webauthn.create", o["challenge"].as_str().unwrap());
        let point = self.key.verifying_key().to_encoded_point(false);
        let cose = Cbor::Map(vec![
            (1.into(), 2.into()),
            (3.into(), (-7).into()),
            ((-1).into(), 1.into()),
            ((-2).into(), Cbor::Bytes(point.x().unwrap().to_vec())),
            ((-3).into(), Cbor::Bytes(point.y().unwrap().to_vec())),
        ]);
        let mut auth = Sha256::digest(o["rp"]["id"].as_str().unwrap()).to_vec();
        auth.push(0x45); // user present, verified, credential attached
        auth.extend_from_slice(&0u32.to_be_bytes());
        auth.extend_from_slice(&[0; 16]);
        auth.extend_from_slice(&(self.id.len() as u16).to_be_bytes());
        auth.extend_from_slice(&self.id);
        ciborium::into_writer(&cose, &mut auth).unwrap();
        let obj = Cbor::Map(vec![
            ("fmt".into(), "none".into()),
            ("attStmt".into(), Cbor::Map(vec![])),
            ("authData".into(), Cbor::Bytes(auth)),
        ]);
        let mut att = Vec::new();
        ciborium::into_writer(&obj, &mut att).unwrap();
        json!({
            "id": B64.encode(&self.id), "rawId": B64.encode(&self.id), "type": "public-key",
            "response": {"clientDataJSON": B64.encode(client), "attestationObject": B64.encode(att), "transports": ["internal"]},
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
        })
    }

    /// `navigator.credentials.get(options)` then `toJSON()`, the user
    /// verified (flags 0x05) or only present (0x01).
    pub fn get_with(&mut self, options: &Value, flags: u8) -> Value {
        let o = &options["publicKey"];
        self.count += 1;
        let client = self.client_data("webauthn.get", o["challenge"].as_str().unwrap());
        let mut auth = Sha256::digest(o["rpId"].as_str().unwrap()).to_vec();
        auth.push(flags);
        auth.extend_from_slice(&self.count.to_be_bytes());
        let mut msg = auth.clone();
        msg.extend_from_slice(&Sha256::digest(&client));
        let sig: Signature = self.key.sign(&msg);
        json!({
            "id": B64.encode(&self.id), "rawId": B64.encode(&self.id), "type": "public-key",
            "response": {
                "clientDataJSON": B64.encode(client), "authenticatorData": B64.encode(auth),
                "signature": B64.encode(sig.to_der().as_bytes()), "userHandle": B64.encode(&self.user_handle),
            },
            "clientExtensionResults": {},
        })
    }

    pub fn get(&mut self, options: &Value) -> Value {
        self.get_with(options, 0x05)
    }
}
