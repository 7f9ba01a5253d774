//! The ID-token signing keys: the RSA key (made when the first client is
//! registered, kept sealed in the store's metadata) and, for clients that
//! ask for EdDSA, the access tokens' Ed25519 keys.

use std::sync::{Arc, RwLock};

use crate::auth::rsa_key::{RsaSigner, StoredRsaKey};
use crate::auth::tokens::Jwk;
use crate::error::Error;
use crate::store::{Store, StoreError};

const RSA_KEY: &str = "oidc_rsa_key";

pub(super) struct IdTokenKeys {
    rsa: RwLock<Option<Arc<RsaSigner>>>,
}

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::from(StoreError::Corrupt(format!("ID-token key: {e}")))
}

fn signer(bytes: &[u8]) -> Result<RsaSigner, Error> {
    let stored: StoredRsaKey = postcard::from_bytes(bytes).map_err(corrupt)?;
    RsaSigner::new(&stored).map_err(corrupt)
}

impl IdTokenKeys {
    pub fn load(store: &Store) -> Result<Self, Error> {
        let rsa = match store.read(|r| r.meta(RSA_KEY))? {
            Some(bytes) => Some(Arc::new(signer(&bytes)?)),
            None => None,
        };
        Ok(Self {
            rsa: RwLock::new(rsa),
        })
    }

    pub fn rsa(&self) -> Option<Arc<RsaSigner>> {
        self.rsa.read().expect("not poisoned").clone()
    }

    pub fn jwk(&self) -> Option<Jwk> {
        self.rsa().map(|s| s.jwk().clone())
    }

    /// Makes the RSA key if there is none yet.
    pub async fn ensure(&self, store: &Store) -> Result<(), Error> {
        if self.rsa().is_some() {
            return Ok(());
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let made = tokio::task::spawn_blocking(move || StoredRsaKey::generate(now))
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("key generation task: {e}")))?
            .map_err(|e| Error::Internal(anyhow::anyhow!(e)))?;
        let bytes = postcard::to_stdvec(&made).expect("a key serialises");
        let kept = store
            .write(move |tx| {
                // Another request may have made one meanwhile: keep that.
                if let Some(existing) = tx.meta(RSA_KEY)? {
                    return Ok::<_, Error>(existing);
                }
                tx.set_meta(RSA_KEY, &bytes)?;
                Ok(bytes.clone())
            })
            .await?;
        let s = Arc::new(signer(&kept)?);
        *self.rsa.write().expect("not poisoned") = Some(s);
        Ok(())
    }
}
