//! API keys (secret shown once, stored hashed) and the token signing keys.

use super::*;

impl Auth {
    pub async fn create_api_key(
        &self,
        caller: &Caller,
        new: NewApiKey,
    ) -> Result<KeyCreated, Error> {
        allow(caller, Action::ManageApiKeys)?;
        let NewApiKey {
            name,
            scopes,
            expires_at,
            rate_limit,
        } = new;
        let secret = secrets::new_api_key();
        let at = now();
        let key = ApiKey {
            id: Uuid::now_v7(),
            name,
            scopes,
            prefix: secret.chars().take(API_KEY_PREFIX.len() + 6).collect(),
            created_at: Timestamp::from_datetime(at),
            expires_at,
            created_by: Some(caller.actor()),
            rate_limit,
            last_used_at: None,
        };
        let hash = secrets::sha256(&secret);
        let audit = Audit::by(caller, "api_key.create").target(key.id);
        let k = key.clone();
        self.0
            .store
            .write(move |tx| {
                tx.insert_api_key(&k, &hash)?;
                audit.write(tx, at)
            })
            .await?;
        Ok(KeyCreated { key, secret })
    }

    pub fn api_keys(&self, caller: &Caller) -> Result<Vec<ApiKey>, Error> {
        allow(caller, Action::ManageApiKeys)?;
        let mut keys = self.0.store.read(|r| r.api_keys())?;
        keys.sort_by_key(|k| std::cmp::Reverse(k.created_at));
        Ok(keys)
    }

    pub async fn revoke_api_key(&self, caller: &Caller, id: Uuid) -> Result<(), Error> {
        allow(caller, Action::ManageApiKeys)?;
        let audit = Audit::by(caller, "api_key.revoke").target(id);
        let at = now();
        self.0
            .store
            .write(move |tx| {
                if !tx.delete_api_key(id)? {
                    return Err(Error::NotFound);
                }
                audit.write(tx, at)
            })
            .await
    }
}

pub(super) async fn load_or_create_keys(store: &Store) -> Result<Vec<StoredKey>, Error> {
    if let Some(bytes) = store.read(|r| r.meta(SIGNING_KEYS))? {
        return postcard::from_bytes(&bytes)
            .map_err(|e| Error::from(StoreError::Corrupt(format!("signing keys: {e}"))));
    }
    store
        .write(|tx| {
            // Another start may have made them meanwhile: keep those.
            if let Some(bytes) = tx.meta(SIGNING_KEYS)? {
                return postcard::from_bytes(&bytes)
                    .map_err(|e| Error::from(StoreError::Corrupt(format!("signing keys: {e}"))));
            }
            let keys = vec![StoredKey::generate(
                OffsetDateTime::now_utc().unix_timestamp(),
            )];
            let bytes = postcard::to_stdvec(&keys).expect("keys serialise");
            tx.set_meta(SIGNING_KEYS, &bytes)?;
            Ok(keys)
        })
        .await
}

/// Adds a new signing key (offline: `roster keys rotate`). Keys older than
/// the three newest are dropped; tokens they signed have long expired.
pub async fn rotate_keys(store: &Store) -> Result<String, Error> {
    store
        .write(|tx| {
            let mut keys: Vec<StoredKey> = match tx.meta(SIGNING_KEYS)? {
                Some(b) => postcard::from_bytes(&b)
                    .map_err(|e| Error::from(StoreError::Corrupt(e.to_string())))?,
                None => Vec::new(),
            };
            let k = StoredKey::generate(OffsetDateTime::now_utc().unix_timestamp());
            let kid = k.kid.clone();
            keys.push(k);
            if keys.len() > 3 {
                keys.drain(..keys.len() - 3);
            }
            tx.set_meta(
                SIGNING_KEYS,
                &postcard::to_stdvec(&keys).expect("keys serialise"),
            )?;
            Ok(kid)
        })
        .await
}
