//! Encryption at rest: the data key, sealing records and files with it, and
//! the keyed hashes that replace unique-index keys.
//!
//! What it protects: a stolen disk, volume snapshot or backup file. What it
//! does not: a root user on the running host, who can read the key file or
//! the process memory.
//!
//! # Sealed format
//!
//! `0xA7 | 1 (format) | key id (4) | salt (24) | commitment (32) | ciphertext + tag (16)`
//!
//! Each sealing draws a random 24-byte salt and derives from the data key
//! and that salt (HMAC-SHA256 under two labels) a one-use AES-256-GCM key
//! and a 32-byte commitment to the data key. A one-use key seals one value
//! only (192 random bits), so GCM's nonce can be fixed. Opening recomputes
//! the commitment and compares it (in constant time) before decrypting, so
//! a ciphertext opens under one key only (GCM alone is not key-committing).
//! The header and the caller's associated data — for a record, its table and
//! key — are authenticated, so a record copied under another key or into
//! another table does not open.
//!
//! A key id (the first 4 bytes of an HMAC of the key with a fixed label)
//! tells which key sealed a value, so that a rotation can read old and new
//! values side by side and a wrong key is named as such, not as damage.
//!
//! This module depends on nothing else in the crate.

use std::fmt;
use std::path::Path;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

const MAGIC: u8 = 0xA7;
const FORMAT: u8 = 1;
const ID_LEN: usize = 4;
const NONCE_LEN: usize = 24;
const COMMIT_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// Bytes a sealed value has beyond its plaintext.
pub const OVERHEAD: usize = 2 + ID_LEN + NONCE_LEN + COMMIT_LEN + TAG_LEN;
const HEADER: usize = 2 + ID_LEN;

/// A 32-byte data key. Never printed; wiped from memory when dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key([u8; 32]);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.id_hex())
    }
}

/// Reading a key failed; the message is meant for the operator and never
/// holds key material.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

impl Key {
    /// A new random key.
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        Self(k)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key as written to a key file: base64 of its 32 bytes.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// A key from base64 text (standard or URL-safe alphabet, padding
    /// optional, surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let t = text.trim().trim_end_matches('=');
        let mut raw = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(t)
            .or_else(|_| URL_SAFE_NO_PAD.decode(t))
            .map_err(|_| KeyError("the encryption key is not base64".into()))?;
        let key = <[u8; 32]>::try_from(raw.as_slice()).map(Self).map_err(|_| {
            KeyError(format!(
                "the encryption key must be 32 bytes, not {}",
                raw.len()
            ))
        });
        raw.zeroize();
        key
    }

    /// A key file holds either the 32 raw bytes or their base64.
    pub fn read_file(path: &Path) -> Result<Self, KeyError> {
        let mut raw = std::fs::read(path).map_err(|e| {
            KeyError(format!(
                "cannot read the encryption key file {}: {e}",
                path.display()
            ))
        })?;
        // Base64 of 32 bytes is 43 or 44 characters: a 32-byte file is raw.
        let key = match <[u8; 32]>::try_from(raw.as_slice()) {
            Ok(bytes) => Ok(Self(bytes)),
            Err(_) => match std::str::from_utf8(&raw) {
                Ok(text) => Self::from_base64(text),
                Err(_) => Err(KeyError(format!(
                    "the encryption key file must hold 32 bytes, or their base64 (it holds {} bytes)",
                    raw.len()
                ))),
            },
        };
        raw.zeroize();
        key.map_err(|e| KeyError(format!("{} ({})", e.0, path.display())))
    }

    /// The key from a file or from base64 text (`ROSTER_ENCRYPTION_KEY`);
    /// `None` when neither is given.
    pub fn load(file: Option<&Path>, base64: Option<&str>) -> Result<Option<Self>, KeyError> {
        match (file, base64) {
            (Some(_), Some(_)) => Err(KeyError(
                "give the encryption key once: a key file or ROSTER_ENCRYPTION_KEY, not both"
                    .into(),
            )),
            (Some(f), None) => Self::read_file(f).map(Some),
            (None, Some(b)) => Self::from_base64(b).map(Some),
            (None, None) => Ok(None),
        }
    }

    fn mac(&self, label: &[u8]) -> [u8; 32] {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("any key length");
        m.update(label);
        m.finalize().into_bytes().into()
    }

    /// Which key this is, without revealing it.
    pub fn id(&self) -> [u8; ID_LEN] {
        let full = self.mac(b"roster key id v1");
        [full[0], full[1], full[2], full[3]]
    }

    pub fn id_hex(&self) -> String {
        self.id().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Opening a sealed value failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the value is not sealed")]
    NotSealed,
    #[error("sealed with another key (id {0})")]
    OtherKey(String),
    #[error("the sealed value does not verify (damaged, or moved from elsewhere)")]
    Forged,
}

/// Seals and opens with the current key, and opens with the previous one
/// too while a rotation runs.
pub struct Sealer {
    current: Keyed,
    previous: Option<Keyed>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealer({})", self.current.key.id_hex())
    }
}

struct Keyed {
    key: Key,
    id: [u8; ID_LEN],
    /// HMAC-SHA256 keyed with the data key, set up once (each derivation
    /// clones it rather than hashing the key again).
    mac: Hmac<Sha256>,
    /// The keyed hash of index keys, set up once.
    index: Hmac<Sha256>,
}

impl Keyed {
    fn new(key: Key) -> Self {
        let mut index_key = key.mac(b"roster index hash v1");
        let index = <Hmac<Sha256> as Mac>::new_from_slice(&index_key).expect("any length");
        index_key.zeroize();
        Self {
            id: key.id(),
            mac: <Hmac<Sha256> as Mac>::new_from_slice(&key.0).expect("any length"),
            index,
            key,
        }
    }

    fn derive_one(&self, label: &[u8], salt: &[u8]) -> [u8; 32] {
        let mut m = self.mac.clone();
        m.update(label);
        m.update(salt);
        m.finalize().into_bytes().into()
    }

    /// The one-use cipher key and the commitment for `salt`.
    fn derive(&self, salt: &[u8]) -> ([u8; 32], [u8; 32]) {
        (
            self.derive_one(b"roster seal key v1", salt),
            self.derive_one(b"roster seal commitment v1", salt),
        )
    }
}

/// GCM's nonce: fixed, as every cipher key seals one value only.
fn fixed_nonce() -> Nonce<aes_gcm::aead::consts::U12> {
    Nonce::from([0u8; 12])
}

/// The associated data: the header, then each part with its length.
fn aad(header: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(header.len() + parts.iter().map(|p| p.len() + 4).sum::<usize>());
    out.extend_from_slice(header);
    for p in parts {
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

impl Sealer {
    pub fn new(key: Key) -> Self {
        Self {
            current: Keyed::new(key),
            previous: None,
        }
    }

    /// Seals with `new`, opens with `new` or `old` (a rotation).
    pub fn rotating(new: Key, old: Key) -> Self {
        Self {
            current: Keyed::new(new),
            previous: Some(Keyed::new(old)),
        }
    }

    pub fn key_id(&self) -> [u8; ID_LEN] {
        self.current.id
    }

    pub fn key_id_hex(&self) -> String {
        self.current.key.id_hex()
    }

    /// `plain` sealed with the current key, bound to `context`.
    pub fn seal(&self, context: &[&[u8]], plain: &[u8]) -> Vec<u8> {
        let k = &self.current;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let (mut cipher_key, commit) = k.derive(&nonce);
        let mut out = Vec::with_capacity(plain.len() + OVERHEAD);
        out.push(MAGIC);
        out.push(FORMAT);
        out.extend_from_slice(&k.id);
        let aad = aad(&out, context);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&commit);
        let ct = Aes256Gcm::new((&cipher_key).into())
            .encrypt(
                &fixed_nonce(),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .expect("AES-256-GCM seals any length we use");
        cipher_key.zeroize();
        out.extend_from_slice(&ct);
        out
    }

    /// The key id a sealed value names, if it looks sealed at all.
    pub fn sealed_by(bytes: &[u8]) -> Option<[u8; ID_LEN]> {
        if bytes.len() < OVERHEAD || bytes[0] != MAGIC || bytes[1] != FORMAT {
            return None;
        }
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&bytes[2..HEADER]);
        Some(id)
    }

    /// Whether `bytes` were sealed with the current key.
    pub fn is_current(&self, bytes: &[u8]) -> bool {
        Self::sealed_by(bytes) == Some(self.current.id)
    }

    /// Opens a value sealed with the current (or, rotating, the previous)
    /// key and bound to the same `context`.
    pub fn open(&self, context: &[&[u8]], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        let id = Self::sealed_by(sealed).ok_or(OpenError::NotSealed)?;
        let k = if id == self.current.id {
            &self.current
        } else {
            match &self.previous {
                Some(p) if p.id == id => p,
                _ => {
                    return Err(OpenError::OtherKey(
                        id.iter().map(|b| format!("{b:02x}")).collect(),
                    ));
                }
            }
        };
        let nonce: [u8; NONCE_LEN] = sealed[HEADER..HEADER + NONCE_LEN]
            .try_into()
            .expect("the length was checked");
        let stored_commit = &sealed[HEADER + NONCE_LEN..HEADER + NONCE_LEN + COMMIT_LEN];
        let (mut cipher_key, commit) = k.derive(&nonce);
        if !bool::from(commit.ct_eq(stored_commit)) {
            cipher_key.zeroize();
            return Err(OpenError::Forged);
        }
        let aad = aad(&sealed[..HEADER], context);
        let plain = Aes256Gcm::new((&cipher_key).into())
            .decrypt(
                &fixed_nonce(),
                Payload {
                    msg: &sealed[HEADER + NONCE_LEN + COMMIT_LEN..],
                    aad: &aad,
                },
            )
            .map_err(|_| OpenError::Forged);
        cipher_key.zeroize();
        plain
    }

    /// The keyed hash standing for `value` as a unique-index key: lookups
    /// work without the plaintext on disk. 128 bits, base64url (22 chars).
    pub fn index_key(&self, value: &str) -> String {
        let mut m = self.current.index.clone();
        m.update(value.as_bytes());
        URL_SAFE_NO_PAD.encode(&m.finalize().into_bytes()[..16])
    }

    /// `plain` sealed as text (base64), for tables whose values are strings.
    pub fn seal_text(&self, context: &[&[u8]], plain: &str) -> String {
        STANDARD.encode(self.seal(context, plain.as_bytes()))
    }

    pub fn open_text(&self, context: &[&[u8]], sealed: &str) -> Result<String, OpenError> {
        let raw = STANDARD.decode(sealed).map_err(|_| OpenError::NotSealed)?;
        String::from_utf8(self.open(context, &raw)?).map_err(|_| OpenError::Forged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_with_its_key_and_context_only() {
        let s = Sealer::new(Key::generate());
        let sealed = s.seal(&[b"users", b"1"], b"ada@example.com");
        assert_eq!(sealed.len(), 15 + OVERHEAD);
        assert!(!sealed.windows(3).any(|w| w == b"ada"));
        assert_eq!(
            s.open(&[b"users", b"1"], &sealed).unwrap(),
            b"ada@example.com"
        );
        // Another record's key, another table, or the parts split otherwise.
        assert_eq!(s.open(&[b"users", b"2"], &sealed), Err(OpenError::Forged));
        assert_eq!(s.open(&[b"audit", b"1"], &sealed), Err(OpenError::Forged));
        assert_eq!(s.open(&[b"users1"], &sealed), Err(OpenError::Forged));
        let other = Sealer::new(Key::generate());
        assert!(matches!(
            other.open(&[b"users", b"1"], &sealed),
            Err(OpenError::OtherKey(_))
        ));
        // Any flipped bit is refused.
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x10;
            assert!(s.open(&[b"users", b"1"], &bad).is_err(), "bit in byte {i}");
        }
        assert_eq!(
            s.open(&[b"users", b"1"], b"plain"),
            Err(OpenError::NotSealed)
        );
    }

    #[test]
    fn each_sealing_differs_and_a_rotation_opens_both_keys() {
        let old = Key::generate();
        let new = Key::generate();
        let a = Sealer::new(old.clone());
        let x = a.seal(&[b"t"], b"same");
        assert_ne!(x, a.seal(&[b"t"], b"same"));
        let r = Sealer::rotating(new.clone(), old);
        assert_eq!(r.open(&[b"t"], &x).unwrap(), b"same");
        assert!(!r.is_current(&x));
        let y = r.seal(&[b"t"], b"same");
        assert!(r.is_current(&y));
        assert_eq!(Sealer::new(new).open(&[b"t"], &y).unwrap(), b"same");
    }

    #[test]
    fn index_keys_are_keyed_and_stable() {
        let k = Key::generate();
        let a = Sealer::new(k.clone());
        assert_eq!(a.index_key("ada"), Sealer::new(k).index_key("ada"));
        assert_ne!(a.index_key("ada"), a.index_key("bob"));
        assert_ne!(
            a.index_key("ada"),
            Sealer::new(Key::generate()).index_key("ada")
        );
        assert_eq!(a.index_key("ada").len(), 22);
    }

    #[test]
    fn keys_load_from_base64_or_raw_files_and_never_print() {
        let k = Key::generate();
        let back = Key::from_base64(&format!("  {}\n", k.to_base64())).unwrap();
        assert_eq!(back.id(), k.id());
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw");
        std::fs::write(&raw, k.0).unwrap();
        let text = dir.path().join("text");
        std::fs::write(&text, k.to_base64()).unwrap();
        assert_eq!(Key::read_file(&raw).unwrap().id(), k.id());
        assert_eq!(Key::read_file(&text).unwrap().id(), k.id());
        let short = dir.path().join("short");
        std::fs::write(&short, "c2hvcnQ=").unwrap();
        let e = Key::read_file(&short).unwrap_err().to_string();
        assert!(e.contains("32 bytes, not 5"), "{e}");
        assert!(Key::load(Some(&raw), Some("x")).is_err());
        assert!(Key::load(None, None).unwrap().is_none());
        assert!(!format!("{k:?}").contains(&k.to_base64()));
    }
}
