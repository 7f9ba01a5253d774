//! Bulk import and export of users, offline (`roster import` / `export`)
//! and online (`POST /api/v1/users/import`, `GET /api/v1/users/export`).
//!
//! The record format is the API's user representation, one JSON object per
//! line (NDJSON) or one CSV row, plus what a migration needs: `id`,
//! `created_at`, `updated_at`, `version` are kept when given; a record may
//! carry a `password` (hashed on import) or an existing `password_hash`
//! (argon2 PHC string, or bcrypt — re-hashed to argon2id at the first login).
//! Export never writes a secret unless asked to.
//!
//! Import streams: the edge reads each line or row into a
//! [`domain::ImportRecord`](crate::domain::ImportRecord); records are
//! validated one by one (a bad one is reported by its line number and
//! skipped), gathered into large batches, and each batch is one transaction
//! — while it commits, the next batch is parsed. A record whose email,
//! username or id is taken (in the store or earlier in the same file) is a
//! bad line too.
//!
//! `import` holds the pipeline, `record` the validation of one record,
//! `csv_rows` the CSV columns and rows, `export` the writer of both formats.

mod csv_rows;
mod export;
mod import;
mod record;

use std::io::Write;

use serde::Serialize;

use crate::auth::policy::{Action, Caller};
use crate::error::Error;
use crate::store::Store;

use super::allow;

pub use csv_rows::{CSV_COLUMNS, check_csv_header, csv_record};
pub use export::export;
pub use import::Importer;

/// Records per transaction.
pub const BATCH: usize = 10_000;
/// Longest accepted line (NDJSON) or row (CSV).
pub const MAX_LINE: usize = 1024 * 1024;
/// Line errors kept in a report; the rest are only counted.
pub const ERRORS_KEPT: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineError {
    pub line: u64,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub imported: u64,
    pub failed: u64,
    /// The first [`ERRORS_KEPT`] bad lines, in line order.
    pub errors: Vec<LineError>,
    /// Bad lines beyond those.
    pub errors_not_shown: u64,
}

impl ImportReport {
    fn fail(&mut self, line: u64, message: impl Into<String>) {
        self.failed += 1;
        if self.errors.len() < ERRORS_KEPT {
            self.errors.push(LineError {
                line,
                message: message.into(),
            });
        } else {
            self.errors_not_shown += 1;
        }
    }
}

/// The file formats of import and export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Csv,
}

/// Backups are taken by admins only (they hold every secret).
pub fn backup(store: &Store, caller: &Caller, out: impl Write) -> Result<u64, Error> {
    allow(caller, Action::Transfer)?;
    Ok(store.backup(out)?.bytes)
}
