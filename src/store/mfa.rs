//! Second factors: each user's [`Factors`] (sealed like every record when
//! the store is encrypted), and the pending second steps of sign-ins, kept
//! under the SHA-256 of their `mfa_token` like mailed tokens.
//!
//! Passkeys are part of `Factors` for the service but live in a table of
//! their own, so that records written before passkeys existed read as they
//! are; an index by credential id finds the user of a passkey sign-in.
//! WebAuthn challenges are kept like `mfa_token`s, one use each.

use redb::{ReadOnlyTable, ReadableTable, Table};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{AuthMethod, Factors, Passkey, Timestamp, UserId};

use super::StoreError;
use super::auth::{decode, encode};
use super::sealed::Sealed;
use super::users::{ReadTx, Tx};

/// A sign-in waiting for its second factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    pub user_id: Uuid,
    /// How the first step was taken.
    pub first: AuthMethod,
    pub expires_at: Timestamp,
}

/// A WebAuthn challenge handed out, and what it may finish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ceremony {
    pub purpose: CeremonyPurpose,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CeremonyPurpose {
    /// A new passkey for this user.
    Register { user_id: Uuid },
    /// A sign-in with a passkey alone (the user is whoever it belongs to).
    SignIn,
    /// The second step of the sign-in whose `mfa_token` hashes to this.
    SecondFactor { user_id: Uuid, mfa_token: [u8; 32] },
}

pub(crate) struct MfaTables<F, C, P, I> {
    pub factors: Sealed<u128, F>,
    pub challenges: Sealed<&'static [u8], C>,
    pub passkeys: Sealed<u128, F>,
    pub passkey_ids: I,
    pub ceremonies: Sealed<&'static [u8], P>,
}

pub(crate) type WriteMfa<'t> = MfaTables<
    Table<'t, u128, &'static [u8]>,
    Table<'t, &'static [u8], &'static [u8]>,
    Table<'t, &'static [u8], &'static [u8]>,
    Table<'t, &'static [u8], u128>,
>;

pub(crate) type ReadMfa = MfaTables<
    ReadOnlyTable<u128, &'static [u8]>,
    ReadOnlyTable<&'static [u8], &'static [u8]>,
    ReadOnlyTable<&'static [u8], &'static [u8]>,
    ReadOnlyTable<&'static [u8], u128>,
>;

/// Opens the second-factor tables in a read or a write transaction.
macro_rules! open_mfa_tables {
    ($txn:expr, $sealer:expr) => {
        $crate::store::mfa::MfaTables {
            factors: $crate::store::sealed::Sealed::new(
                $txn.open_table($crate::store::MFA)?,
                "mfa",
                $sealer,
            ),
            challenges: $crate::store::sealed::Sealed::new(
                $txn.open_table($crate::store::MFA_CHALLENGES)?,
                "mfa_challenges",
                $sealer,
            ),
            passkeys: $crate::store::sealed::Sealed::new(
                $txn.open_table($crate::store::PASSKEYS)?,
                "passkeys",
                $sealer,
            ),
            passkey_ids: $txn.open_table($crate::store::PASSKEYS_BY_ID)?,
            ceremonies: $crate::store::sealed::Sealed::new(
                $txn.open_table($crate::store::WEBAUTHN_CHALLENGES)?,
                "webauthn_challenges",
                $sealer,
            ),
        }
    };
}
pub(crate) use open_mfa_tables;

/// Opens the tables in a write transaction (on first use: see `lazy`).
pub(super) fn open_write<'t>(
    txn: &'t redb::WriteTransaction,
    sealer: &super::sealed::SealerRef,
) -> Result<WriteMfa<'t>, StoreError> {
    Ok(open_mfa_tables!(txn, sealer))
}

impl<F, C, P, I> MfaTables<F, C, P, I>
where
    F: ReadableTable<u128, &'static [u8]>,
    C: ReadableTable<&'static [u8], &'static [u8]>,
    P: ReadableTable<&'static [u8], &'static [u8]>,
    I: ReadableTable<&'static [u8], u128>,
{
    fn factors(&self, user: UserId) -> Result<Factors, StoreError> {
        let mut f = match self.factors.get(user.as_u128())? {
            Some(v) => decode("second factors", v.value())?,
            None => Factors::default(),
        };
        f.passkeys = self.passkeys(user)?;
        Ok(f)
    }

    fn passkeys(&self, user: UserId) -> Result<Vec<Passkey>, StoreError> {
        match self.passkeys.get(user.as_u128())? {
            Some(v) => decode("passkeys", v.value()),
            None => Ok(Vec::new()),
        }
    }

    fn passkey_owner(&self, credential_id: &[u8]) -> Result<Option<UserId>, StoreError> {
        let key = credential_key(credential_id);
        Ok(self
            .passkey_ids
            .get(key.as_slice())?
            .map(|g| UserId(Uuid::from_u128(g.value()))))
    }

    fn challenge(&self, hash: &[u8]) -> Result<Option<Challenge>, StoreError> {
        match self.challenges.get(hash)? {
            Some(v) => decode("mfa challenge", v.value()).map(Some),
            None => Ok(None),
        }
    }
}

/// What a credential id is indexed under.
fn credential_key(id: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(id).into()
}

impl ReadTx {
    /// The user's second factors (none: the default).
    pub fn factors(&self, user: UserId) -> Result<Factors, StoreError> {
        self.mfa.factors(user)
    }

    /// The user a passkey belongs to.
    pub fn passkey_owner(&self, credential_id: &[u8]) -> Result<Option<UserId>, StoreError> {
        self.mfa.passkey_owner(credential_id)
    }

    /// A sign-in waiting for its second factor, by its token's hash.
    pub fn challenge(&self, hash: &[u8]) -> Result<Option<Challenge>, StoreError> {
        self.mfa.challenge(hash)
    }
}

impl Tx<'_> {
    pub fn factors(&mut self, user: UserId) -> Result<Factors, StoreError> {
        self.lazy.mfa.get()?.factors(user)
    }

    pub fn passkey_owner(&mut self, credential_id: &[u8]) -> Result<Option<UserId>, StoreError> {
        self.lazy.mfa.get()?.passkey_owner(credential_id)
    }

    /// Saves the user's factors (passkeys and their index too); with none
    /// left, forgets the records.
    pub fn put_factors(&mut self, user: UserId, f: &Factors) -> Result<(), StoreError> {
        let rest = Factors {
            passkeys: Vec::new(),
            ..f.clone()
        };
        let t = self.lazy.mfa.get()?;
        if rest == Factors::default() {
            t.factors.remove(user.as_u128())?;
        } else {
            t.factors.insert(user.as_u128(), encode(&rest).as_slice())?;
        }
        self.put_passkeys(user, &f.passkeys)
    }

    fn put_passkeys(&mut self, user: UserId, keys: &[Passkey]) -> Result<(), StoreError> {
        let t = self.lazy.mfa.get()?;
        let old = t.passkeys(user)?;
        if old == keys {
            return Ok(());
        }
        for gone in old.iter().filter(|o| !keys.iter().any(|k| k.id == o.id)) {
            t.passkey_ids.remove(credential_key(&gone.id).as_slice())?;
        }
        for new in keys.iter().filter(|k| !old.iter().any(|o| o.id == k.id)) {
            t.passkey_ids
                .insert(credential_key(&new.id).as_slice(), user.as_u128())?;
        }
        if keys.is_empty() {
            t.passkeys.remove(user.as_u128())?;
        } else {
            t.passkeys
                .insert(user.as_u128(), encode(&keys.to_vec()).as_slice())?;
        }
        Ok(())
    }

    /// Keeps a WebAuthn challenge (by its hash) until it is used or expires.
    pub fn put_ceremony(&mut self, hash: &[u8], c: &Ceremony) -> Result<(), StoreError> {
        self.lazy
            .mfa
            .get()?
            .ceremonies
            .insert(hash, encode(c).as_slice())?;
        Ok(())
    }

    /// Spends a WebAuthn challenge: whatever the answer, it is good once.
    pub fn take_ceremony(&mut self, hash: &[u8]) -> Result<Option<Ceremony>, StoreError> {
        let t = self.lazy.mfa.get()?;
        let c = match t.ceremonies.get(hash)? {
            Some(v) => Some(decode("webauthn challenge", v.value())?),
            None => None,
        };
        if c.is_some() {
            t.ceremonies.remove(hash)?;
        }
        Ok(c)
    }

    pub fn put_challenge(&mut self, hash: &[u8], c: &Challenge) -> Result<(), StoreError> {
        self.lazy
            .mfa
            .get()?
            .challenges
            .insert(hash, encode(c).as_slice())?;
        Ok(())
    }

    pub fn challenge(&mut self, hash: &[u8]) -> Result<Option<Challenge>, StoreError> {
        self.lazy.mfa.get()?.challenge(hash)
    }

    /// Spends a challenge: its token is good for one sign-in.
    pub fn remove_challenge(&mut self, hash: &[u8]) -> Result<(), StoreError> {
        self.lazy.mfa.get()?.challenges.remove(hash)?;
        Ok(())
    }

    /// Removes every challenge (of sign-ins and of WebAuthn ceremonies)
    /// expired at `now`, or that does not open; returns how many.
    pub fn purge_expired_challenges(&mut self, now: Timestamp) -> Result<usize, StoreError> {
        let t = self.lazy.mfa.get()?;
        let mut expired = Vec::new();
        for entry in t.challenges.raw.iter()? {
            let (k, v) = entry?;
            let at = t
                .challenges
                .open_stored(&k.value(), v.value())
                .and_then(|plain| decode::<Challenge>("mfa challenge", &plain))
                .map(|c| c.expires_at)
                .unwrap_or(now);
            if at <= now {
                expired.push(k.value().to_vec());
            }
        }
        for k in &expired {
            t.challenges.raw.remove(k.as_slice())?;
        }
        let mut ceremonies = Vec::new();
        for entry in t.ceremonies.raw.iter()? {
            let (k, v) = entry?;
            let at = t
                .ceremonies
                .open_stored(&k.value(), v.value())
                .and_then(|plain| decode::<Ceremony>("webauthn challenge", &plain))
                .map(|c| c.expires_at)
                .unwrap_or(now);
            if at <= now {
                ceremonies.push(k.value().to_vec());
            }
        }
        for k in &ceremonies {
            t.ceremonies.raw.remove(k.as_slice())?;
        }
        Ok(expired.len() + ceremonies.len())
    }

    /// Forgets the user's factors (the user is being deleted).
    pub(super) fn delete_factors(&mut self, user: UserId) -> Result<(), StoreError> {
        self.lazy.mfa.get()?.factors.remove(user.as_u128())?;
        self.put_passkeys(user, &[])
    }
}
