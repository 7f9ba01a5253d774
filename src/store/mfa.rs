//! Second factors: each user's [`Factors`] (sealed like every record when
//! the store is encrypted), and the pending second steps of sign-ins, kept
//! under the SHA-256 of their `mfa_token` like mailed tokens.

use redb::{ReadOnlyTable, ReadableTable, Table};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{AuthMethod, Factors, Timestamp, UserId};

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

pub(crate) struct MfaTables<F, C> {
    pub factors: Sealed<u128, F>,
    pub challenges: Sealed<&'static [u8], C>,
}

pub(crate) type WriteMfa<'t> =
    MfaTables<Table<'t, u128, &'static [u8]>, Table<'t, &'static [u8], &'static [u8]>>;

pub(crate) type ReadMfa =
    MfaTables<ReadOnlyTable<u128, &'static [u8]>, ReadOnlyTable<&'static [u8], &'static [u8]>>;

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
        }
    };
}
pub(crate) use open_mfa_tables;

impl<F, C> MfaTables<F, C>
where
    F: ReadableTable<u128, &'static [u8]>,
    C: ReadableTable<&'static [u8], &'static [u8]>,
{
    fn factors(&self, user: UserId) -> Result<Factors, StoreError> {
        match self.factors.get(user.as_u128())? {
            Some(v) => decode("second factors", v.value()),
            None => Ok(Factors::default()),
        }
    }

    fn challenge(&self, hash: &[u8]) -> Result<Option<Challenge>, StoreError> {
        match self.challenges.get(hash)? {
            Some(v) => decode("mfa challenge", v.value()).map(Some),
            None => Ok(None),
        }
    }
}

impl ReadTx {
    /// The user's second factors (none: the default).
    pub fn factors(&self, user: UserId) -> Result<Factors, StoreError> {
        self.mfa.factors(user)
    }

    /// A sign-in waiting for its second factor, by its token's hash.
    pub fn challenge(&self, hash: &[u8]) -> Result<Option<Challenge>, StoreError> {
        self.mfa.challenge(hash)
    }
}

impl Tx<'_> {
    pub fn factors(&self, user: UserId) -> Result<Factors, StoreError> {
        self.mfa.factors(user)
    }

    /// Saves the user's factors; with none left, forgets the record.
    pub fn put_factors(&mut self, user: UserId, f: &Factors) -> Result<(), StoreError> {
        if *f == Factors::default() {
            self.mfa.factors.remove(user.as_u128())?;
        } else {
            self.mfa
                .factors
                .insert(user.as_u128(), encode(f).as_slice())?;
        }
        Ok(())
    }

    pub fn put_challenge(&mut self, hash: &[u8], c: &Challenge) -> Result<(), StoreError> {
        self.mfa.challenges.insert(hash, encode(c).as_slice())?;
        Ok(())
    }

    pub fn challenge(&self, hash: &[u8]) -> Result<Option<Challenge>, StoreError> {
        self.mfa.challenge(hash)
    }

    /// Spends a challenge: its token is good for one sign-in.
    pub fn remove_challenge(&mut self, hash: &[u8]) -> Result<(), StoreError> {
        self.mfa.challenges.remove(hash)?;
        Ok(())
    }

    /// Removes every challenge expired at `now`, or that does not open;
    /// returns how many.
    pub fn purge_expired_challenges(&mut self, now: Timestamp) -> Result<usize, StoreError> {
        let mut expired = Vec::new();
        for entry in self.mfa.challenges.raw.iter()? {
            let (k, v) = entry?;
            let at = self
                .mfa
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
            self.mfa.challenges.raw.remove(k.as_slice())?;
        }
        Ok(expired.len())
    }

    /// Forgets the user's factors (the user is being deleted).
    pub(super) fn delete_factors(&mut self, user: UserId) -> Result<(), StoreError> {
        self.mfa.factors.remove(user.as_u128())?;
        Ok(())
    }
}
