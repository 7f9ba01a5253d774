//! The import pipeline: records in, batches out. Each record is validated
//! as it arrives; good ones gather into a batch of [`BATCH`], whose plain
//! passwords are hashed on the bounded pool before the batch is written in
//! one transaction. One batch commits while the next is gathered.

use std::sync::Arc;

use tokio::task::{JoinHandle, JoinSet};

use crate::auth::passwords::Hasher;
use crate::auth::policy::{Action, Caller};
use crate::domain::{ImportRecord, User};
use crate::error::Error;
use crate::store::{Store, StoreError};

use super::super::{Audit, allow, hash_error, now};
use super::record::{Secret, parse_record};
use super::{BATCH, ImportReport, LineError};

struct Record {
    line: u64,
    user: User,
    secret: Secret,
}

struct Ready {
    line: u64,
    user: User,
    hash: Option<String>,
}

type Rejected = Vec<LineError>;
/// Called with the report so far after each committed batch.
type CommitHook = Box<dyn FnMut(&ImportReport) + Send>;
/// A batch being committed: how many records, and the write's outcome.
type InFlight = (u64, JoinHandle<Result<Rejected, Error>>);

/// Takes records one by one and writes them in batches.
pub struct Importer {
    store: Store,
    hasher: Hasher,
    caller: Caller,
    batch: Vec<Record>,
    /// The batch being committed while the next one is parsed.
    writing: Option<InFlight>,
    report: ImportReport,
    /// Called with the report so far after each committed batch.
    on_commit: Option<CommitHook>,
}

impl Importer {
    pub fn new(store: Store, hasher: Hasher, caller: Caller) -> Result<Self, Error> {
        allow(&caller, Action::Transfer)?;
        Ok(Self {
            store,
            hasher,
            caller,
            batch: Vec::with_capacity(BATCH),
            writing: None,
            report: ImportReport::default(),
            on_commit: None,
        })
    }

    /// Whether the caller may import, export or back up (admins only).
    pub fn check_transfer(caller: &Caller) -> Result<(), Error> {
        allow(caller, Action::Transfer)
    }

    pub fn on_commit(&mut self, f: impl FnMut(&ImportReport) + Send + 'static) {
        self.on_commit = Some(Box::new(f));
    }

    /// Lines seen so far (imported, failed, or waiting in the batch).
    pub fn seen(&self) -> u64 {
        self.report.imported
            + self.report.failed
            + self.batch.len() as u64
            + self.writing.as_ref().map_or(0, |(n, _)| *n)
    }

    /// Reports a line that could not be read as a record at all.
    pub fn bad_line(&mut self, line: u64, message: impl Into<String>) {
        self.report.fail(line, message);
    }

    /// One record, as the edge read it from its line. An invalid one is
    /// reported under `line` and skipped.
    pub async fn push(&mut self, line: u64, record: ImportRecord) -> Result<(), Error> {
        match parse_record(record) {
            Ok((user, secret)) => self.batch.push(Record { line, user, secret }),
            Err(message) => self.report.fail(line, message),
        }
        if self.batch.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes what is left and returns the report. One audit entry records
    /// the import.
    pub async fn finish(mut self) -> Result<ImportReport, Error> {
        self.flush().await?;
        self.settle().await?;
        self.report.errors.sort_by_key(|e| e.line);
        let audit = Audit::by(&self.caller, "user.import").detail(format!(
            "{} imported, {} bad lines",
            self.report.imported, self.report.failed
        ));
        let at = now();
        self.store.write(move |tx| audit.write(tx, at)).await?;
        Ok(self.report)
    }

    async fn flush(&mut self) -> Result<(), Error> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let records = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        let ready = self.hash_passwords(records).await?;
        // One batch in flight: wait for the previous one before sending this.
        self.settle().await?;
        let count = ready.len() as u64;
        let ready = Arc::new(ready);
        let store = self.store.clone();
        let handle = tokio::spawn(async move {
            store
                .write(move |tx| {
                    let mut rejected = Vec::new();
                    for r in ready.iter() {
                        match tx.insert_user(&r.user) {
                            Ok(()) => {
                                if let Some(h) = &r.hash {
                                    tx.set_password_hash(r.user.id, h)?;
                                }
                            }
                            Err(StoreError::Conflict { field }) => rejected.push(LineError {
                                line: r.line,
                                message: format!("{field}: is already taken"),
                            }),
                            Err(e) => return Err(Error::from(e)),
                        }
                    }
                    Ok(rejected)
                })
                .await
        });
        self.writing = Some((count, handle));
        Ok(())
    }

    /// Waits for the batch in flight and counts its outcome.
    async fn settle(&mut self) -> Result<(), Error> {
        let Some((count, handle)) = self.writing.take() else {
            return Ok(());
        };
        let rejected = handle
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("import write task failed: {e}")))??;
        self.report.imported += count - rejected.len() as u64;
        for r in rejected {
            self.report.fail(r.line, r.message);
        }
        if let Some(f) = self.on_commit.as_mut() {
            f(&self.report);
        }
        Ok(())
    }

    /// Plain passwords are hashed (argon2id, on the bounded pool, several at
    /// once); given hashes were checked when the record was parsed.
    async fn hash_passwords(&mut self, records: Vec<Record>) -> Result<Vec<Ready>, Error> {
        let mut ready = Vec::with_capacity(records.len());
        let mut hashing = JoinSet::new();
        for (i, r) in records.into_iter().enumerate() {
            let hash = match r.secret {
                Secret::None => None,
                Secret::Hash(h) => Some(h),
                Secret::Plain(p) => {
                    let hasher = self.hasher.clone();
                    hashing.spawn(async move { (i, hasher.hash(p.expose()).await) });
                    None
                }
            };
            ready.push(Some(Ready {
                line: r.line,
                user: r.user,
                hash,
            }));
        }
        while let Some(done) = hashing.join_next().await {
            let (i, hashed) =
                done.map_err(|e| Error::Internal(anyhow::anyhow!("hash task failed: {e}")))?;
            let phc = hashed.map_err(hash_error)?;
            if let Some(r) = ready[i].as_mut() {
                r.hash = Some(phc);
            }
        }
        Ok(ready.into_iter().flatten().collect())
    }
}
