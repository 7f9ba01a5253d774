//! The outbox (jobs to run after their commit) and one-time tokens. Both
//! are written by the use case's own transaction, so a mail exists if and
//! only if the token it carries does, and neither outlives a rolled-back
//! change.

use redb::{ReadOnlyTable, ReadableTable, Table};
use uuid::Uuid;

use crate::domain::{Job, OneTimeToken, Timestamp};

use super::StoreError;
use super::auth::{decode, encode};
use super::sealed::Sealed;
use super::users::{ReadTx, Tx};

pub(crate) struct OutboxTables<J, T> {
    pub jobs: Sealed<u128, J>,
    pub tokens: Sealed<&'static [u8], T>,
}

pub(crate) type WriteOutbox<'t> =
    OutboxTables<Table<'t, u128, &'static [u8]>, Table<'t, &'static [u8], &'static [u8]>>;

pub(crate) type ReadOutbox =
    OutboxTables<ReadOnlyTable<u128, &'static [u8]>, ReadOnlyTable<&'static [u8], &'static [u8]>>;

/// Opens the outbox tables in a read or a write transaction.
macro_rules! open_outbox_tables {
    ($txn:expr, $sealer:expr) => {
        $crate::store::outbox::OutboxTables {
            jobs: $crate::store::sealed::Sealed::new(
                $txn.open_table($crate::store::JOBS)?,
                "jobs",
                $sealer,
            ),
            tokens: $crate::store::sealed::Sealed::new(
                $txn.open_table($crate::store::ONE_TIME_TOKENS)?,
                "one_time_tokens",
                $sealer,
            ),
        }
    };
}
pub(crate) use open_outbox_tables;

/// Opens the tables in a write transaction (on first use: see `lazy`).
pub(super) fn open_write<'t>(
    txn: &'t redb::WriteTransaction,
    sealer: &super::sealed::SealerRef,
) -> Result<WriteOutbox<'t>, StoreError> {
    Ok(open_outbox_tables!(txn, sealer))
}

impl<J, T> OutboxTables<J, T>
where
    J: ReadableTable<u128, &'static [u8]>,
    T: ReadableTable<&'static [u8], &'static [u8]>,
{
    fn job(&self, id: Uuid) -> Result<Option<Job>, StoreError> {
        match self.jobs.get(id.as_u128())? {
            Some(v) => decode("job", v.value()).map(Some),
            None => Ok(None),
        }
    }
}

impl ReadTx {
    /// Up to `limit` jobs due at `now`, oldest first, looking at no more
    /// than `budget` jobs (a long backlog of jobs in backoff is not read
    /// whole on every pass).
    pub fn due_jobs(
        &self,
        now: Timestamp,
        limit: usize,
        budget: usize,
    ) -> Result<Vec<Job>, StoreError> {
        let mut out = Vec::new();
        for entry in self.outbox.jobs.iter()?.take(budget) {
            let (_, v) = entry?;
            let job: Job = decode("job", v.value())?;
            if job.not_before <= now {
                out.push(job);
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The earliest `not_before` of the jobs waiting, if any.
    pub fn next_job_at(&self, budget: usize) -> Result<Option<Timestamp>, StoreError> {
        let mut next: Option<Timestamp> = None;
        for entry in self.outbox.jobs.iter()?.take(budget) {
            let (_, v) = entry?;
            let job: Job = decode("job", v.value())?;
            next = Some(next.map_or(job.not_before, |n| n.min(job.not_before)));
        }
        Ok(next)
    }

    /// A token's record, without spending it.
    pub fn one_time_token(&self, hash: &[u8]) -> Result<Option<OneTimeToken>, StoreError> {
        match self.outbox.tokens.get(hash)? {
            Some(v) => decode("one-time token", v.value()).map(Some),
            None => Ok(None),
        }
    }

    pub fn count_jobs(&self) -> Result<u64, StoreError> {
        self.outbox.jobs.len()
    }

    pub fn job(&self, id: Uuid) -> Result<Option<Job>, StoreError> {
        self.outbox.job(id)
    }
}

impl Tx<'_> {
    /// Queues a job; it runs after this transaction commits.
    pub fn enqueue(&mut self, job: &Job) -> Result<(), StoreError> {
        self.lazy
            .outbox
            .get()?
            .jobs
            .insert(job.id.as_u128(), encode(job).as_slice())?;
        Ok(())
    }

    pub fn job(&mut self, id: Uuid) -> Result<Option<Job>, StoreError> {
        self.lazy.outbox.get()?.job(id)
    }

    /// Replaces a job (its next attempt); false if it is gone.
    pub fn update_job(&mut self, job: &Job) -> Result<bool, StoreError> {
        let t = self.lazy.outbox.get()?;
        if t.job(job.id)?.is_none() {
            return Ok(false);
        }
        t.jobs.insert(job.id.as_u128(), encode(job).as_slice())?;
        Ok(true)
    }

    /// Removes a job (done, or given up); false if it was gone.
    pub fn delete_job(&mut self, id: Uuid) -> Result<bool, StoreError> {
        Ok(self.lazy.outbox.get()?.jobs.remove(id.as_u128())?.is_some())
    }

    /// Stores a token under the hash of its secret.
    pub fn put_token(&mut self, hash: &[u8], token: &OneTimeToken) -> Result<(), StoreError> {
        self.lazy
            .outbox
            .get()?
            .tokens
            .insert(hash, encode(token).as_slice())?;
        Ok(())
    }

    /// Takes a token out (single use): whatever the caller then decides, the
    /// token is spent if this transaction commits.
    pub fn take_token(&mut self, hash: &[u8]) -> Result<Option<OneTimeToken>, StoreError> {
        let Some(v) = self.lazy.outbox.get()?.tokens.remove(hash)? else {
            return Ok(None);
        };
        decode("one-time token", &v).map(Some)
    }

    /// Removes every token expired at `now`; returns how many.
    pub fn purge_expired_tokens(&mut self, now: Timestamp) -> Result<usize, StoreError> {
        let t = self.lazy.outbox.get()?;
        let mut expired = Vec::new();
        // Raw entries, opened one by one: a token that does not open or
        // decode counts as expired rather than stopping every sweep.
        for entry in t.tokens.raw.iter()? {
            let (k, v) = entry?;
            let expired_at = t
                .tokens
                .open_stored(&k.value(), v.value())
                .and_then(|plain| decode::<OneTimeToken>("one-time token", &plain))
                .map(|t| t.expires_at)
                .unwrap_or(now);
            if expired_at <= now {
                expired.push(k.value().to_vec());
            }
        }
        for k in &expired {
            t.tokens.raw.remove(k.as_slice())?;
        }
        Ok(expired.len())
    }
}
