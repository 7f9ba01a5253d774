//! Export: every user of one read snapshot, written as NDJSON (the API's
//! user representation, one object per line) or CSV (the columns of
//! [`CSV_COLUMNS`]), in id order. Password hashes are written only when the
//! caller asks for them (the offline command's `--include-secrets`).

use std::io::Write;

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::auth::policy::{Action, Caller};
use crate::domain::User;
use crate::error::Error;
use crate::store::{Store, StoreError};

use super::super::allow;
use super::{CSV_COLUMNS, Format};

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

fn io(e: std::io::Error) -> StoreError {
    StoreError::Job(format!("export stream: {e}"))
}

fn csv_err(e: csv::Error) -> StoreError {
    StoreError::Job(format!("export stream: {e}"))
}

/// Where the records go: a JSON line each, or a CSV row each after the
/// header.
enum Sink<W: Write> {
    Json(W),
    Csv(Box<csv::Writer<W>>),
}

impl<W: Write> Sink<W> {
    /// Starts the output (a CSV export begins with its header).
    fn new(format: Format, include_secrets: bool, out: W) -> Result<Self, StoreError> {
        Ok(match format {
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
        })
    }

    fn write(&mut self, rec: &ExportRecord, include_secrets: bool) -> Result<(), StoreError> {
        match self {
            Sink::Json(out) => {
                serde_json::to_writer(&mut *out, rec)
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
        Ok(())
    }

    fn flush(self) -> Result<(), StoreError> {
        match self {
            Sink::Json(mut out) => out.flush().map_err(io),
            Sink::Csv(mut w) => w.flush().map_err(io),
        }
    }
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
    let mut sink = Sink::new(format, include_secrets, out)?;
    let mut n = 0u64;
    store.read(|r| {
        r.for_each_user(|u| {
            let hash = if include_secrets {
                r.password_hash(u.id)?
            } else {
                None
            };
            sink.write(&export_record(&u, hash.as_deref()), include_secrets)?;
            n += 1;
            Ok(())
        })
    })?;
    sink.flush()?;
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
