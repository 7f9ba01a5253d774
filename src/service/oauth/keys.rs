//! The ID-token signing keys: an RSA key (RS256) and a P-256 key (ES256),
//! made when the first client is registered and kept sealed in the store's
//! metadata; for clients that ask for EdDSA, the access tokens' Ed25519
//! keys sign.

use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::auth::ec_key::{EcSigner, StoredEcKey};
use crate::auth::rsa_key::{RsaSigner, StoredRsaKey};
use crate::auth::tokens::Jwk;
use crate::error::Error;
use crate::store::{Store, StoreError};

const ID_TOKEN_KEYS: &str = "oidc_id_token_keys";

#[derive(Serialize, Deserialize)]
struct Stored {
    rsa: StoredRsaKey,
    ec: StoredEcKey,
}

/// The loaded keys.
pub(super) struct Signers {
    pub rsa: RsaSigner,
    pub ec: EcSigner,
}

pub(super) struct IdTokenKeys {
    loaded: RwLock<Option<Arc<Signers>>>,
}

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::from(StoreError::Corrupt(format!("ID-token keys: {e}")))
}

fn signers(bytes: &[u8]) -> Result<Signers, Error> {
    let stored: Stored = postcard::from_bytes(bytes).map_err(corrupt)?;
    Ok(Signers {
        rsa: RsaSigner::new(&stored.rsa).map_err(corrupt)?,
        ec: EcSigner::new(&stored.ec).map_err(corrupt)?,
    })
}

impl IdTokenKeys {
    pub fn load(store: &Store) -> Result<Self, Error> {
        let loaded = match store.read(|r| r.meta(ID_TOKEN_KEYS))? {
            Some(bytes) => Some(Arc::new(signers(&bytes)?)),
            None => None,
        };
        Ok(Self {
            loaded: RwLock::new(loaded),
        })
    }

    pub fn get(&self) -> Option<Arc<Signers>> {
        self.loaded.read().expect("not poisoned").clone()
    }

    pub fn jwks(&self) -> Vec<Jwk> {
        self.get()
            .map(|s| vec![s.rsa.jwk().clone(), s.ec.jwk().clone()])
            .unwrap_or_default()
    }

    /// Makes the keys if there are none yet.
    pub async fn ensure(&self, store: &Store) -> Result<(), Error> {
        if self.get().is_some() {
            return Ok(());
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let made = tokio::task::spawn_blocking(move || {
            Ok::<_, crate::auth::tokens::TokenError>(Stored {
                rsa: StoredRsaKey::generate(now)?,
                ec: StoredEcKey::generate(now)?,
            })
        })
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("key generation task: {e}")))?
        .map_err(|e| Error::Internal(anyhow::anyhow!(e)))?;
        let bytes = postcard::to_stdvec(&made).expect("keys serialise");
        let kept = store
            .write(move |tx| {
                // Another request may have made them meanwhile: keep those.
                if let Some(existing) = tx.meta(ID_TOKEN_KEYS)? {
                    return Ok::<_, Error>(existing);
                }
                tx.set_meta(ID_TOKEN_KEYS, &bytes)?;
                Ok(bytes.clone())
            })
            .await?;
        let s = Arc::new(signers(&kept)?);
        *self.loaded.write().expect("not poisoned") = Some(s);
        Ok(())
    }
}
