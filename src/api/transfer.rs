//! Bulk routes for admins: `POST /api/v1/users/import` (NDJSON, streamed,
//! line-level report), `GET /api/v1/users/export` and
//! `GET /api/v1/admin/backup` (both streamed from one read transaction).

use std::io::Write;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use tokio::sync::mpsc;

use super::state::AppState;
use crate::auth::policy::Caller;
use crate::domain::ImportRecord;
use crate::error::Error;
use crate::service::{Format, MAX_LINE};

use super::extract::QueryPairs;
use super::openapi as doc;
use super::problem::{Kind, Problem};

/// Media types accepted for an NDJSON import body.
const NDJSON_TYPES: [&str; 3] = [
    "application/x-ndjson",
    "application/jsonl",
    "application/ndjson",
];

/// The outcome of an import.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ImportReportBody {
    /// Users written.
    imported: u64,
    /// Lines not imported.
    failed: u64,
    /// The first 1 000 bad lines, by line number.
    errors: Vec<LineErrorBody>,
    /// Bad lines beyond those.
    errors_not_shown: u64,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct LineErrorBody {
    line: u64,
    message: String,
}

impl From<crate::service::ImportReport> for ImportReportBody {
    fn from(r: crate::service::ImportReport) -> Self {
        Self {
            imported: r.imported,
            failed: r.failed,
            errors: r
                .errors
                .into_iter()
                .map(|e| LineErrorBody {
                    line: e.line,
                    message: e.message,
                })
                .collect(),
            errors_not_shown: r.errors_not_shown,
        }
    }
}

/// `POST /api/v1/users/import`: one user per line. Good lines are imported
/// in batches as they arrive (the import is not all-or-nothing); bad ones
/// are reported by line number. 200 with `{imported, failed, errors, …}`.
#[utoipa::path(
    post, path = "/api/v1/users/import", operation_id = "importUsers", tag = "users",
    summary = "Import users from NDJSON (admins)",
    description = "One user per line, as the user representation plus optional `id`, `created_at`, \
        `updated_at`, `version`, and `password` or `password_hash` (argon2 PHC or bcrypt). Good lines are \
        written in batches as they arrive (not all-or-nothing); bad lines are reported by number.",
    request_body(content = String, content_type = "application/x-ndjson",
        description = "One JSON object per line (lines of at most 1 MiB)."),
    responses((status = 200, description = "What was imported and which lines were not.", body = ImportReportBody), (status = 400, response = doc::BadRequest), doc::Authorized, (status = 415, response = doc::UnsupportedMediaType), (status = 503, response = doc::Unavailable)),
)]
pub async fn import(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let mut importer = st.users().importer(&caller)?;
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if !media.as_deref().is_some_and(|m| NDJSON_TYPES.contains(&m)) {
        return Err(Problem::new(
            Kind::UnsupportedMediaType,
            "Send the users as NDJSON (Content-Type: application/x-ndjson), one JSON object per line.",
        ));
    }
    let mut body = body;
    let mut buf: Vec<u8> = Vec::new();
    let mut line = 0u64;
    // While a line over the limit is being skipped.
    let mut skipping = false;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| {
            Problem::new(
                Kind::BadRequest,
                "The request body could not be read to its end.",
            )
        })?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        let mut rest: &[u8] = &chunk;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            line += 1;
            if skipping {
                skipping = false;
                importer.bad_line(line, format!("is longer than {MAX_LINE} bytes"));
            } else {
                buf.extend_from_slice(&rest[..nl]);
                push_line(&mut importer, line, &buf).await?;
            }
            buf.clear();
            rest = &rest[nl + 1..];
        }
        if !skipping {
            buf.extend_from_slice(rest);
            if buf.len() > MAX_LINE {
                skipping = true;
                buf = Vec::new();
            }
        }
    }
    if skipping {
        importer.bad_line(line + 1, format!("is longer than {MAX_LINE} bytes"));
    } else if !buf.is_empty() {
        push_line(&mut importer, line + 1, &buf).await?;
    }
    let report = importer.finish().await?;
    Ok(Json(ImportReportBody::from(report)).into_response())
}

/// One line of the body, read into a record here at the edge; a line that
/// is not one (not UTF-8, not a JSON object) goes to the report as is.
async fn push_line(
    importer: &mut crate::service::Importer,
    line: u64,
    bytes: &[u8],
) -> Result<(), Error> {
    let record = std::str::from_utf8(bytes)
        .map_err(|_| "is not valid UTF-8".to_owned())
        .and_then(ImportRecord::from_json_line);
    match record {
        Ok(Some(record)) => importer.push(line, record).await,
        Ok(None) => Ok(()),
        Err(message) => {
            importer.bad_line(line, message);
            Ok(())
        }
    }
}

/// `GET /api/v1/users/export?format=ndjson|csv`: every user, no secrets.
#[utoipa::path(
    get, path = "/api/v1/users/export", operation_id = "exportUsers", tag = "users",
    summary = "Export every user (admins)",
    description = "Streamed from one consistent snapshot, in id order; never includes secrets.",
    params(("format" = Option<String>, Query, description = "`ndjson` (default) or `csv`.")),
    responses((status = 200, description = "Every user.", content( (String = "application/x-ndjson"), (String = "text/csv"), ), headers(("Content-Disposition" = String, description = "`attachment; filename=…`"))), (status = 400, response = doc::BadRequest), doc::Authorized),
)]
pub async fn export(
    State(st): State<AppState>,
    caller: Caller,
    query: QueryPairs,
) -> Result<Response, Problem> {
    query.only(&["format"])?;
    let (format, media, name) = match query.one("format")? {
        None | Some("ndjson") => (Format::Ndjson, "application/x-ndjson", "users.ndjson"),
        Some("csv") => (Format::Csv, "text/csv; charset=utf-8", "users.csv"),
        Some(_) => {
            return Err(Problem::new(
                Kind::BadRequest,
                "format must be ndjson or csv",
            ));
        }
    };
    // Authorization is checked before the first byte is sent.
    crate::service::Importer::check_transfer(&caller)?;
    let users = st.users().clone();
    let body = stream_blocking(move |w| users.export(&caller, format, w).map(|_| ()));
    Ok(download(body, media, name))
}

/// `GET /api/v1/admin/backup`: a consistent snapshot of the whole store
/// (the format `roster restore` reads), streamed.
#[utoipa::path(
    get, path = "/api/v1/admin/backup", operation_id = "backup", tag = "admin",
    summary = "Back up the whole store (admins)",
    description = "A consistent snapshot (one read transaction) of every table, streamed while the server \
        keeps serving; `roster restore FILE` reads it. It holds every secret: keep it safe.",
    responses((status = 200, description = "The backup file.", content_type = "application/octet-stream", body = Vec<u8>, headers(("Content-Disposition" = String, description = "`attachment; filename=…`"))), doc::Authorized),
)]
pub async fn backup(State(st): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    crate::service::Importer::check_transfer(&caller)?;
    let users = st.users().clone();
    let body = stream_blocking(move |w| users.backup(&caller, w).map(|_| ()));
    let at = time::OffsetDateTime::now_utc();
    let name = format!(
        "roster-{:04}{:02}{:02}-{:02}{:02}{:02}.backup",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    Ok(download(body, "application/octet-stream", &name))
}

fn download(body: Body, media: &'static str, name: &str) -> Response {
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// Runs `write` on a blocking thread and streams what it writes. If the
/// client goes away, the next write fails and the work stops; if the work
/// fails, the body ends with an error (the client sees a cut response).
fn stream_blocking(
    write: impl FnOnce(&mut ChannelWriter) -> Result<(), Error> + Send + 'static,
) -> Body {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        let result =
            write(&mut w).and_then(|()| w.flush().map_err(|e| Error::Internal(anyhow::anyhow!(e))));
        if let Err(e) = result {
            tracing::warn!(error = %e, "streamed download stopped");
            let _ =
                w.tx.blocking_send(Err(std::io::Error::other("the download stopped early")));
        }
    });
    // Fused: a layer (compression) may poll again after the end.
    let stream =
        futures_util::StreamExt::fuse(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }));
    Body::from_stream(stream)
}

const CHUNK: usize = 64 * 1024;

struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}
