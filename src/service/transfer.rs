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
//! Import streams: records are validated one by one (a bad one is reported
//! by its line number and skipped), gathered into large batches, and each
//! batch is one transaction — while it commits, the next batch is parsed.
//! A record whose email, username or id is taken (in the store or earlier
//! in the same file) is a bad line too.

use std::io::Write;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::task::{JoinHandle, JoinSet};

use crate::auth::passwords::{Hasher, check_imported_hash};
use crate::auth::policy::{Action, Caller};
use crate::domain::{Password, Timestamp, User, UserDraft, UserId};
use crate::error::Error;
use crate::store::{Store, StoreError};

use super::hash_error;
use super::{Audit, allow, now};

/// Records per transaction.
pub const BATCH: usize = 10_000;
/// Longest accepted line (NDJSON) or row (CSV).
pub const MAX_LINE: usize = 1024 * 1024;
/// Line errors kept in a report; the rest are only counted.
pub const ERRORS_KEPT: usize = 1_000;

/// The columns of a CSV export, in order (`password_hash` last, if asked for).
pub const CSV_COLUMNS: [&str; 11] = [
    "id",
    "email",
    "username",
    "name",
    "roles",
    "status",
    "email_verified",
    "attributes",
    "created_at",
    "updated_at",
    "version",
];

/// Columns an imported CSV may have besides [`CSV_COLUMNS`].
const CSV_SECRET_COLUMNS: [&str; 2] = ["password", "password_hash"];

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

#[derive(Debug)]
enum Secret {
    None,
    Hash(String),
    Plain(Password),
}

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
/// A batch being committed: how many records, and the write's outcome.
/// Called with the report so far after each committed batch.
type CommitHook = Box<dyn FnMut(&ImportReport) + Send>;
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

    /// One NDJSON line. Blank lines are skipped.
    pub async fn push_json_line(&mut self, line: u64, text: &str) -> Result<(), Error> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(obj)) => self.push(line, obj).await,
            Ok(_) => {
                self.bad_line(line, "is not a JSON object");
                Ok(())
            }
            Err(e) => {
                self.bad_line(line, format!("is not valid JSON ({e})"));
                Ok(())
            }
        }
    }

    /// One record as a JSON object.
    pub async fn push(&mut self, line: u64, obj: Map<String, Value>) -> Result<(), Error> {
        match parse_record(obj) {
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

/// Validates one record; the message names every bad field.
fn parse_record(mut obj: Map<String, Value>) -> Result<(User, Secret), String> {
    let mut errors: Vec<String> = Vec::new();
    let mut take = |key: &str| obj.remove(key).filter(|v| !v.is_null());
    let id = match take("id") {
        None => Some(UserId::new()),
        Some(Value::String(s)) => UserId::parse(&s).or_else(|| {
            errors.push("id: is not a UUID".into());
            None
        }),
        Some(_) => {
            errors.push("id: must be a string".into());
            None
        }
    };
    let mut time_field = |key: &str, v: Option<Value>| match v {
        None => None,
        Some(Value::String(s)) => match OffsetDateTime::parse(&s, &Rfc3339) {
            Ok(t) => Some(t.to_offset(time::UtcOffset::UTC)),
            Err(_) => {
                errors.push(format!("{key}: is not an RFC 3339 time"));
                None
            }
        },
        Some(_) => {
            errors.push(format!("{key}: must be an RFC 3339 time string"));
            None
        }
    };
    let created_at = time_field("created_at", take("created_at"));
    let updated_at = time_field("updated_at", take("updated_at"));
    let version = match take("version") {
        None => Some(1),
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => Some(n),
            _ => {
                errors.push("version: must be a whole number of at least 1".into());
                None
            }
        },
    };
    let secret = match (take("password"), take("password_hash")) {
        (Some(_), Some(_)) => {
            errors.push("password: give a password or a password_hash, not both".into());
            Secret::None
        }
        (Some(Value::String(p)), None) => match Password::parse(&p) {
            Ok(p) => Secret::Plain(p),
            Err(m) => {
                errors.push(format!("password: {m}"));
                Secret::None
            }
        },
        (Some(_), None) => {
            errors.push("password: must be a string".into());
            Secret::None
        }
        (None, Some(Value::String(h))) => match check_imported_hash(&h) {
            Ok(()) => Secret::Hash(h),
            Err(m) => {
                errors.push(format!("password_hash: {m}"));
                Secret::None
            }
        },
        (None, Some(_)) => {
            errors.push("password_hash: must be a string".into());
            Secret::None
        }
        (None, None) => Secret::None,
    };
    let draft = UserDraft::from_json(obj).map_err(|errs| {
        for e in errs {
            errors.push(format!("{}: {}", e.field, e.message));
        }
    });
    match (draft, id, version) {
        (Ok(draft), Some(id), Some(version)) if errors.is_empty() => {
            let created = created_at.map_or_else(now, Timestamp::truncate);
            let mut user = User::from_draft(id, draft, created);
            user.updated_at = updated_at.map_or(created, Timestamp::truncate);
            user.version = version;
            Ok((user, secret))
        }
        _ => Err(errors.join("; ")),
    }
}

/// A CSV row as a record: empty cells are absent; `roles` are separated by
/// `;` (or `,`), `attributes` is JSON text, `email_verified` true/false.
pub fn csv_record(
    headers: &[String],
    row: &csv::StringRecord,
) -> Result<Map<String, Value>, String> {
    let mut obj = Map::new();
    for (h, cell) in headers.iter().zip(row.iter()) {
        if cell.is_empty() {
            continue;
        }
        let value = match h.as_str() {
            "roles" => Value::Array(
                cell.split([';', ','])
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(Value::from)
                    .collect(),
            ),
            "email_verified" => match cell.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Value::Bool(true),
                "false" | "0" | "no" => Value::Bool(false),
                _ => return Err("email_verified: must be true or false".into()),
            },
            "attributes" => {
                serde_json::from_str(cell).map_err(|_| "attributes: is not JSON text".to_owned())?
            }
            "version" => cell
                .trim()
                .parse::<u64>()
                .map(Value::from)
                .map_err(|_| "version: must be a whole number".to_owned())?,
            _ => Value::from(cell),
        };
        obj.insert(h.clone(), value);
    }
    if row.len() != headers.len() {
        return Err(format!(
            "has {} cells where the header has {}",
            row.len(),
            headers.len()
        ));
    }
    Ok(obj)
}

/// Checks a CSV header: known columns, each once, `email` among them.
pub fn check_csv_header(headers: &[String]) -> Result<(), String> {
    for (i, h) in headers.iter().enumerate() {
        if !CSV_COLUMNS.contains(&h.as_str()) && !CSV_SECRET_COLUMNS.contains(&h.as_str()) {
            return Err(format!(
                "unknown column {h:?} (known: {}, password, password_hash)",
                CSV_COLUMNS.join(", ")
            ));
        }
        if headers[..i].contains(h) {
            return Err(format!("column {h:?} appears twice"));
        }
    }
    if !headers.iter().any(|h| h == "email") {
        return Err("the header has no email column".into());
    }
    Ok(())
}

/// The file formats of import and export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Csv,
}

/// One user as an export writes it: the API representation, in its order.
#[derive(Serialize)]
struct ExportRecord<'a> {
    id: String,
    email: &'a str,
    username: Option<&'a str>,
    name: Option<&'a str>,
    roles: Vec<&'static str>,
    status: &'static str,
    email_verified: bool,
    attributes: &'a Map<String, Value>,
    created_at: String,
    updated_at: String,
    version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_hash: Option<&'a str>,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Writes every user of one snapshot to `out`; returns how many. Blocking:
/// run it on a blocking thread. Password hashes only with `include_secrets`.
pub fn export(
    store: &Store,
    caller: &Caller,
    format: Format,
    include_secrets: bool,
    out: impl Write,
) -> Result<u64, Error> {
    allow(caller, Action::Transfer)?;
    let out = std::io::BufWriter::with_capacity(256 * 1024, out);
    let io = |e: std::io::Error| StoreError::Job(format!("export stream: {e}"));
    let csv_err = |e: csv::Error| StoreError::Job(format!("export stream: {e}"));
    enum Sink<W: Write> {
        Json(W),
        Csv(Box<csv::Writer<W>>),
    }
    let mut sink = match format {
        Format::Ndjson => Sink::Json(out),
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            let mut header: Vec<&str> = CSV_COLUMNS.to_vec();
            if include_secrets {
                header.push("password_hash");
            }
            w.write_record(&header).map_err(csv_err)?;
            Sink::Csv(Box::new(w))
        }
    };
    let mut n = 0u64;
    store.read(|r| {
        r.for_each_user(|u| {
            let hash = if include_secrets {
                r.password_hash(u.id)?
            } else {
                None
            };
            let rec = export_record(&u, hash.as_deref());
            match &mut sink {
                Sink::Json(out) => {
                    serde_json::to_writer(&mut *out, &rec)
                        .map_err(|e| StoreError::Job(e.to_string()))?;
                    out.write_all(b"\n").map_err(io)?;
                }
                Sink::Csv(w) => {
                    let attributes = serde_json::to_string(rec.attributes).unwrap_or_default();
                    let version = rec.version.to_string();
                    let roles = rec.roles.join(";");
                    let mut row: Vec<&str> = vec![
                        &rec.id,
                        rec.email,
                        rec.username.unwrap_or(""),
                        rec.name.unwrap_or(""),
                        &roles,
                        rec.status,
                        if rec.email_verified { "true" } else { "false" },
                        &attributes,
                        &rec.created_at,
                        &rec.updated_at,
                        &version,
                    ];
                    if include_secrets {
                        row.push(rec.password_hash.unwrap_or(""));
                    }
                    w.write_record(&row).map_err(csv_err)?;
                }
            }
            n += 1;
            Ok(())
        })
    })?;
    match sink {
        Sink::Json(mut out) => out.flush().map_err(io)?,
        Sink::Csv(mut w) => w.flush().map_err(io)?,
    }
    Ok(n)
}

fn export_record<'a>(u: &'a User, hash: Option<&'a str>) -> ExportRecord<'a> {
    ExportRecord {
        id: u.id.to_string(),
        email: u.email.as_str(),
        username: u.username.as_ref().map(|n| n.as_str()),
        name: u.name.as_ref().map(|n| n.as_str()),
        roles: u.roles.iter().map(|r| r.as_str()).collect(),
        status: u.status.as_str(),
        email_verified: u.email_verified,
        attributes: u.attributes.as_map(),
        created_at: rfc3339(u.created_at),
        updated_at: rfc3339(u.updated_at),
        version: u.version,
        password_hash: hash,
    }
}

/// Backups are taken by admins only (they hold every secret).
pub fn backup(store: &Store, caller: &Caller, out: impl Write) -> Result<u64, Error> {
    allow(caller, Action::Transfer)?;
    Ok(store.backup(out)?.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn records_keep_ids_times_and_versions_and_name_every_bad_field() {
        let (u, secret) = parse_record(obj(serde_json::json!({
            "id": "01929d6e-0000-7000-8000-000000000001",
            "email": "Ada@Example.com",
            "created_at": "2024-01-02T03:04:05.123456789Z",
            "version": 7,
            "password_hash": "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        })))
        .unwrap();
        assert_eq!(u.id.to_string(), "01929d6e-0000-7000-8000-000000000001");
        assert_eq!(u.version, 7);
        assert_eq!(u.created_at.nanosecond(), 123_456_000);
        assert_eq!(u.updated_at, u.created_at);
        assert!(matches!(secret, Secret::Hash(_)));

        let err = parse_record(obj(serde_json::json!({
            "id": "nope", "email": "x", "version": 0, "password": "short", "extra": 1,
        })))
        .unwrap_err();
        for field in ["id:", "email:", "version:", "password:", "extra:"] {
            assert!(err.contains(field), "{field} in {err}");
        }
        let err = parse_record(obj(serde_json::json!({
            "email": "a@example.com", "password_hash": "$md5$abc",
        })))
        .unwrap_err();
        assert!(err.starts_with("password_hash:"), "{err}");
    }

    #[test]
    fn csv_rows_become_records() {
        let headers: Vec<String> = ["email", "roles", "email_verified", "attributes", "name"]
            .map(String::from)
            .to_vec();
        check_csv_header(&headers).unwrap();
        let row =
            csv::StringRecord::from(vec!["a@example.com", "admin;user", "true", "{\"t\":1}", ""]);
        let rec = csv_record(&headers, &row).unwrap();
        assert_eq!(
            Value::Object(rec),
            serde_json::json!({"email": "a@example.com", "roles": ["admin", "user"], "email_verified": true, "attributes": {"t": 1}})
        );
        assert!(check_csv_header(&["name".into()]).is_err());
        assert!(check_csv_header(&["email".into(), "nope".into()]).is_err());
        assert!(check_csv_header(&["email".into(), "email".into()]).is_err());
    }
}
