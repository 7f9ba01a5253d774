//! OAuth clients, authorization codes, the grants codes turn into, and
//! users' consents. These tables are opened only by the transactions that
//! use them (a user read or write does not pay for them).

use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, Table};
use uuid::Uuid;

use crate::domain::{AuthCode, OAuthClient, OAuthGrant, OidcScope, Timestamp};

use super::StoreError;
use super::auth::{decode, encode};
use super::sealed::{Sealed, SealerRef};
use super::tables::{OAUTH_CLIENTS, OAUTH_CODES, OAUTH_CONSENTS, OAUTH_GRANTS};
use super::users::Tx;

pub struct OAuthTables<C, H, P> {
    clients: Sealed<u128, C>,
    codes: Sealed<&'static [u8], H>,
    grants: Sealed<u128, C>,
    consents: Sealed<(u128, u128), P>,
}

pub type WriteOAuth<'t> = OAuthTables<
    Table<'t, u128, &'static [u8]>,
    Table<'t, &'static [u8], &'static [u8]>,
    Table<'t, (u128, u128), &'static [u8]>,
>;

/// The OAuth tables of one read transaction.
pub type ReadOAuth = OAuthTables<
    ReadOnlyTable<u128, &'static [u8]>,
    ReadOnlyTable<&'static [u8], &'static [u8]>,
    ReadOnlyTable<(u128, u128), &'static [u8]>,
>;

macro_rules! open_oauth {
    ($txn:expr, $sealer:expr) => {
        OAuthTables {
            clients: Sealed::new($txn.open_table(OAUTH_CLIENTS)?, "oauth_clients", $sealer),
            codes: Sealed::new($txn.open_table(OAUTH_CODES)?, "oauth_codes", $sealer),
            grants: Sealed::new($txn.open_table(OAUTH_GRANTS)?, "oauth_grants", $sealer),
            consents: Sealed::new($txn.open_table(OAUTH_CONSENTS)?, "oauth_consents", $sealer),
        }
    };
}

pub(super) fn open_read(
    txn: &ReadTransaction,
    sealer: &SealerRef,
) -> Result<ReadOAuth, StoreError> {
    Ok(open_oauth!(txn, sealer))
}

pub(super) fn open_write<'t>(
    txn: &'t redb::WriteTransaction,
    sealer: &SealerRef,
) -> Result<WriteOAuth<'t>, StoreError> {
    Ok(open_oauth!(txn, sealer))
}

impl<C, H, P> OAuthTables<C, H, P>
where
    C: ReadableTable<u128, &'static [u8]>,
    H: ReadableTable<&'static [u8], &'static [u8]>,
    P: ReadableTable<(u128, u128), &'static [u8]>,
{
    pub fn client(&self, id: Uuid) -> Result<Option<OAuthClient>, StoreError> {
        match self.clients.get(id.as_u128())? {
            Some(v) => decode("oauth client", v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Every client, oldest first (ids are UUIDv7).
    pub fn clients(&self) -> Result<Vec<OAuthClient>, StoreError> {
        let mut out = Vec::new();
        for entry in self.clients.iter()? {
            out.push(decode("oauth client", entry?.1.value())?);
        }
        Ok(out)
    }

    pub fn code(&self, hash: &[u8; 32]) -> Result<Option<AuthCode>, StoreError> {
        match self.codes.get(hash.as_slice())? {
            Some(v) => decode("authorization code", v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// The grant behind a session, if a client holds that session.
    pub fn grant(&self, session: Uuid) -> Result<Option<OAuthGrant>, StoreError> {
        match self.grants.get(session.as_u128())? {
            Some(v) => decode("oauth grant", v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// The sessions clients hold (with their grants).
    pub fn grants(&self) -> Result<Vec<(Uuid, OAuthGrant)>, StoreError> {
        let mut out = Vec::new();
        for entry in self.grants.iter()? {
            let (k, v) = entry?;
            out.push((
                Uuid::from_u128(k.value()),
                decode("oauth grant", v.value())?,
            ));
        }
        Ok(out)
    }

    /// The scopes `user` consented to share with `client`.
    pub fn consent(&self, user: Uuid, client: Uuid) -> Result<Vec<OidcScope>, StoreError> {
        match self.consents.get((user.as_u128(), client.as_u128()))? {
            Some(v) => decode("oauth consent", v.value()),
            None => Ok(Vec::new()),
        }
    }
}

impl WriteOAuth<'_> {
    pub fn put_client(&mut self, c: &OAuthClient) -> Result<(), StoreError> {
        self.clients.insert(c.id.as_u128(), encode(c).as_slice())
    }

    /// Removes a client with its consents and codes; false if it was gone.
    /// (Its grants' sessions are the caller's to revoke.)
    pub fn delete_client(&mut self, id: Uuid) -> Result<bool, StoreError> {
        let c = id.as_u128();
        self.consents.raw.retain(|(_, client), _| client != c)?;
        let mut codes = Vec::new();
        for entry in self.codes.iter()? {
            let (k, v) = entry?;
            let code: AuthCode = decode("authorization code", v.value())?;
            if code.client == id {
                codes.push(k.value().to_vec());
            }
        }
        for k in codes {
            self.codes.remove(k.as_slice())?;
        }
        Ok(self.clients.remove(c)?.is_some())
    }

    pub fn put_code(&mut self, hash: &[u8; 32], code: &AuthCode) -> Result<(), StoreError> {
        self.codes.insert(hash.as_slice(), encode(code).as_slice())
    }

    pub fn put_grant(&mut self, session: Uuid, g: &OAuthGrant) -> Result<(), StoreError> {
        self.grants.insert(session.as_u128(), encode(g).as_slice())
    }

    pub fn remove_grant(&mut self, session: Uuid) -> Result<(), StoreError> {
        self.grants.remove(session.as_u128())?;
        Ok(())
    }

    pub fn set_consent(
        &mut self,
        user: Uuid,
        client: Uuid,
        scopes: &[OidcScope],
    ) -> Result<(), StoreError> {
        self.consents.insert(
            (user.as_u128(), client.as_u128()),
            encode(&scopes.to_vec()).as_slice(),
        )
    }

    pub fn remove_consent(&mut self, user: Uuid, client: Uuid) -> Result<bool, StoreError> {
        Ok(self
            .consents
            .remove((user.as_u128(), client.as_u128()))?
            .is_some())
    }

    /// Drops codes past their expiry (and spent ones once expired);
    /// returns how many went.
    pub fn prune_codes(&mut self, now: Timestamp) -> Result<usize, StoreError> {
        let mut gone = Vec::new();
        for entry in self.codes.iter()? {
            let (k, v) = entry?;
            let code: AuthCode = decode("authorization code", v.value())?;
            if code.expires_at <= now {
                gone.push(k.value().to_vec());
            }
        }
        for k in &gone {
            self.codes.remove(k.as_slice())?;
        }
        Ok(gone.len())
    }
}

impl<'t> Tx<'t> {
    /// The OAuth tables, opened on first use in this transaction.
    pub fn oauth(&mut self) -> Result<&mut WriteOAuth<'t>, StoreError> {
        self.lazy.oauth.get()
    }
}
