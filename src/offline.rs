//! Commands that work on a data dir no server holds: `roster admin create`,
//! `keys rotate`, `reindex`, `import`, `export`, `backup`, `restore`.
//! Opening the store takes the lock on its file, so a data dir in use is
//! refused at once with a clear message.

use std::io::{BufRead, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::auth::passwords::Hasher;
use crate::auth::policy::Caller;
use crate::cli::TransferFormat;
use crate::config::Config;
use crate::domain::{ImportRecord, Signup};
use crate::service::mail::Mail;
use crate::service::{
    Auth, Format, ImportReport, Importer, MAX_LINE, Search, check_csv_header, csv_record,
    rotate_keys as rotate,
};
use crate::store::Store;

pub async fn create_admin(
    config: &Config,
    email: &str,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let (password, generated) = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        (line.trim_end_matches(['\r', '\n']).to_owned(), false)
    } else {
        (crate::auth::secrets::random_token(), true)
    };
    let store = Store::open_with(&config.data_dir, config.encryption_key.clone())?;
    let result = async {
        let hasher = Hasher::new(config.auth.argon2, 1, 1, false)?;
        let mail = Mail::new(&config.mail, &config.auth.issuer).map_err(anyhow::Error::msg)?;
        let auth = Auth::init(store.clone(), config.auth.clone(), hasher, mail).await?;
        let signup = Signup::of_email(email, &password).map_err(crate::error::Error::Validation);
        let created = match signup {
            Ok(signup) => auth.create_admin(signup, &Caller::system(), None).await,
            Err(e) => Err(e),
        };
        created.map_err(|e| match e {
            crate::error::Error::Validation(errs) => anyhow::anyhow!(
                "{}",
                errs.iter()
                    .map(|e| format!("{} {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            crate::error::Error::Conflict { field: "admin" } => {
                anyhow::anyhow!(
                    "an admin already exists; reset its password through the API instead"
                )
            }
            other => anyhow::anyhow!(other),
        })
    }
    .await;
    store.close().await;
    let user = result?;
    println!("created admin {} ({})", user.email.as_str(), user.id);
    if generated {
        println!("password (shown once): {password}");
    }
    Ok(())
}

/// `roster keys generate-encryption-key`: a new random data key, as base64.
pub fn generate_encryption_key(out: Option<&Path>) -> anyhow::Result<()> {
    let key = crate::crypt::Key::generate();
    match out {
        None => println!("{}", key.to_base64()),
        Some(p) if p == Path::new("-") => println!("{}", key.to_base64()),
        Some(p) => {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(p).with_context(|| {
                format!(
                    "cannot create {} (an existing key file is never replaced)",
                    p.display()
                )
            })?;
            std::io::Write::write_all(&mut f, format!("{}\n", key.to_base64()).as_bytes())
                .and_then(|()| f.sync_all())
                .with_context(|| format!("cannot write {}", p.display()))?;
            eprintln!(
                "wrote a new encryption key (id {}) to {}",
                key.id_hex(),
                p.display()
            );
        }
    }
    Ok(())
}

/// `roster keys rotate-encryption-key`: the search index, then the store,
/// from the configured key (or none) to `new_key_file`'s (or none).
pub fn rotate_encryption_key(config: &Config, new_key_file: Option<&Path>) -> anyhow::Result<()> {
    let new = new_key_file.map(crate::crypt::Key::read_file).transpose()?;
    let old = config.encryption_key.clone();
    if let (Some(o), Some(n)) = (&old, &new)
        && o.id() == n.id()
    {
        anyhow::bail!("the new key is the current key");
    }
    let started = Instant::now();
    let index = config.data_dir.join("index");
    // The index first, once the store is locked and known to be under the
    // current key: its files name the key that sealed each, so it is
    // re-sealed file by file and stays readable under both keys; the
    // store's switch (one rename) comes last.
    let mut index_files = 0;
    let sealer = new.as_ref().map(|n| match &old {
        Some(o) => crate::crypt::Sealer::rotating(n.clone(), o.clone()),
        None => crate::crypt::Sealer::new(n.clone()),
    });
    let reseal = || -> Result<(), String> {
        let Some(sealer) = &sealer else {
            return Ok(());
        };
        match crate::service::reseal_index(&index, sealer) {
            Ok(n) => index_files += n,
            Err(e) => {
                // Derived data: the next start rebuilds it from the store.
                eprintln!(
                    "the search index could not be re-sealed ({e}); removing it, the next start rebuilds it"
                );
                std::fs::remove_dir_all(&index)
                    .map_err(|e| format!("cannot remove {}: {e}", index.display()))?;
            }
        }
        Ok(())
    };
    let report = crate::store::rotate(&config.data_dir, old, new.clone(), reseal)?;
    if new.is_none() && !report.already && index.exists() {
        // A plaintext index would be rebuilt from the store anyway; drop
        // the sealed one so the next start does it at once.
        std::fs::remove_dir_all(&index)
            .with_context(|| format!("cannot remove {}", index.display()))?;
    }
    let to = new.as_ref().map_or_else(
        || "no key (decrypted)".to_owned(),
        |k| format!("key {}", k.id_hex()),
    );
    if report.already {
        println!("the store is already under {to}");
    } else {
        println!(
            "re-sealed {} store entries and {index_files} index files under {to} in {:.1} s{}",
            report.entries,
            started.elapsed().as_secs_f64(),
            if report.resumed { " (resumed)" } else { "" }
        );
    }
    Ok(())
}

pub async fn rotate_keys(config: &Config) -> anyhow::Result<()> {
    let store = Store::open_with(&config.data_dir, config.encryption_key.clone())?;
    let kid = rotate(&store).await;
    store.close().await;
    println!("new signing key {}", kid?);
    Ok(())
}

pub async fn reindex(config: &Config) -> anyhow::Result<()> {
    let store = Store::open_with(&config.data_dir, config.encryption_key.clone())?;
    let dir = config.data_dir.join("index");
    let started = std::time::Instant::now();
    let s = store.clone();
    let result =
        tokio::task::spawn_blocking(move || crate::service::rebuild_offline(&s, &dir)).await?;
    store.close().await;
    let n = result.map_err(|e| anyhow::anyhow!(e))?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "indexed {n} users in {secs:.2} s ({:.0} users/s)",
        n as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// `roster import FILE`: streams the file into the store in large batches
/// while the search index follows, so that the server starts ready. Bad
/// lines are reported by number and skipped; any bad line makes the command
/// fail at the end, after the good ones are in.
pub async fn import(
    config: &Config,
    file: &Path,
    format: Option<TransferFormat>,
) -> anyhow::Result<()> {
    let format = format.unwrap_or_else(|| match file.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("csv") => TransferFormat::Csv,
        _ => TransferFormat::Ndjson,
    });
    let (reader, size): (Box<dyn std::io::Read + Send>, Option<u64>) = if file == Path::new("-") {
        (Box::new(std::io::stdin()), None)
    } else {
        let f =
            std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
        let size = f.metadata().ok().map(|m| m.len());
        (Box::new(f), size)
    };
    let store = Store::open_with(&config.data_dir, config.encryption_key.clone())?;
    let result = run_import(config, &store, reader, size, format).await;
    store.close().await;
    let report = result?;
    for e in &report.errors {
        eprintln!("line {}: {}", e.line, e.message);
    }
    if report.errors_not_shown > 0 {
        eprintln!("… and {} more bad lines", report.errors_not_shown);
    }
    println!(
        "imported {} users; {} bad lines",
        report.imported, report.failed
    );
    if report.failed > 0 {
        anyhow::bail!("{} lines were not imported (see above)", report.failed);
    }
    Ok(())
}

async fn run_import(
    config: &Config,
    store: &Store,
    reader: Box<dyn std::io::Read + Send>,
    size: Option<u64>,
    format: TransferFormat,
) -> anyhow::Result<ImportReport> {
    let started = Instant::now();
    // The indexer follows the change log while the import writes.
    let search = Search::start(store.clone(), &config.data_dir.join("index"))?;
    search.bulk_load();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let hasher = Hasher::new(config.auth.argon2, workers, usize::MAX / 2, false)?;
    let mut importer = Importer::new(store.clone(), hasher, Caller::system())?;
    let progress = Progress::new(size);
    let bytes = Arc::new(AtomicU64::new(0));
    {
        let progress = progress.clone();
        let bytes = bytes.clone();
        importer.on_commit(move |r| {
            progress.update(bytes.load(Ordering::Relaxed), r.imported, r.failed);
        });
    }
    // Reading and parsing is blocking work: lines come through a channel.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Input>(4096);
    let counter = bytes.clone();
    let reading = tokio::task::spawn_blocking(move || read_input(reader, format, &counter, &tx));
    while let Some(input) = rx.recv().await {
        match input {
            Input::Record(line, record) => importer.push(line, record).await?,
            Input::Bad(line, msg) => importer.bad_line(line, msg),
        }
    }
    reading.await??;
    let report = importer.finish().await?;
    // The server must start with an index that is caught up.
    while !search.wait_caught_up(Duration::from_secs(5)).await {
        progress.message("indexing…");
    }
    progress.message("merging the index…");
    search.optimize().await?;
    search.close().await;
    progress.finish(
        bytes.load(Ordering::Relaxed),
        report.imported,
        report.failed,
        started.elapsed(),
    );
    Ok(report)
}

/// What the reading thread hands the importer: a record read from its line
/// (or row), or the reason the line is not one.
// Nearly every input is a record, so boxing it would add an allocation per
// line and save no memory.
#[expect(clippy::large_enum_variant)]
enum Input {
    Record(u64, ImportRecord),
    Bad(u64, String),
}

/// Hands one input to the importer; fails once the import has stopped.
type Deliver<'a> = dyn Fn(Input) -> anyhow::Result<()> + 'a;

/// Reads lines (NDJSON) or rows (CSV) into records and hands them on; a
/// line longer than [`MAX_LINE`] is reported and skipped without being held
/// in memory.
fn read_input(
    reader: Box<dyn std::io::Read + Send>,
    format: TransferFormat,
    bytes: &AtomicU64,
    tx: &tokio::sync::mpsc::Sender<Input>,
) -> anyhow::Result<()> {
    let counting = Counting {
        inner: reader,
        bytes,
    };
    let send = |i: Input| {
        tx.blocking_send(i)
            .map_err(|_| anyhow::anyhow!("import stopped"))
    };
    match format {
        TransferFormat::Ndjson => read_ndjson(counting, &send),
        TransferFormat::Csv => read_csv(counting, &send),
    }
}

fn read_ndjson(input: impl std::io::Read, send: &Deliver) -> anyhow::Result<()> {
    let mut r = std::io::BufReader::with_capacity(256 * 1024, input);
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        line += 1;
        let n = (&mut r)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .context("cannot read the input")?;
        if n == 0 {
            break;
        }
        if buf.len() > MAX_LINE && buf.last() != Some(&b'\n') {
            skip_line(&mut r)?;
            send(Input::Bad(line, format!("is longer than {MAX_LINE} bytes")))?;
            continue;
        }
        let record = String::from_utf8(std::mem::take(&mut buf))
            .map_err(|_| "is not valid UTF-8".to_owned())
            .and_then(|text| ImportRecord::from_json_line(&text));
        match record {
            Ok(Some(record)) => send(Input::Record(line, record))?,
            Ok(None) => {}
            Err(message) => send(Input::Bad(line, message))?,
        }
    }
    Ok(())
}

/// Skips the rest of the current line, reading it in small pieces.
fn skip_line(r: &mut impl BufRead) -> anyhow::Result<()> {
    let mut rest = Vec::new();
    loop {
        rest.clear();
        let m = r
            .take(64 * 1024)
            .read_until(b'\n', &mut rest)
            .context("cannot read the input")?;
        if m == 0 || rest.last() == Some(&b'\n') {
            return Ok(());
        }
    }
}

fn read_csv(input: impl std::io::Read, send: &Deliver) -> anyhow::Result<()> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .buffer_capacity(256 * 1024)
        .from_reader(input);
    let headers: Vec<String> = r
        .headers()
        .context("cannot read the CSV header")?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    check_csv_header(&headers).map_err(|m| anyhow::anyhow!("CSV header: {m}"))?;
    let mut row = csv::StringRecord::new();
    loop {
        match r.read_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {
                let line = row.position().map_or(0, |p| p.line());
                if row.as_slice().len() > MAX_LINE {
                    send(Input::Bad(line, format!("is longer than {MAX_LINE} bytes")))?;
                    continue;
                }
                match csv_record(&headers, &row) {
                    Ok(record) => send(Input::Record(line, record))?,
                    Err(m) => send(Input::Bad(line, m))?,
                }
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                match e.kind() {
                    csv::ErrorKind::Io(_) => {
                        return Err(anyhow::anyhow!("cannot read the input: {e}"));
                    }
                    _ => send(Input::Bad(line, format!("is not valid CSV ({e})")))?,
                }
            }
        }
    }
    Ok(())
}

struct Counting<'a, R> {
    inner: R,
    bytes: &'a AtomicU64,
}

impl<R: std::io::Read> std::io::Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A progress bar with rate and ETA on a terminal; plain lines at most every
/// two seconds otherwise (logs, pipes, CI).
#[derive(Clone)]
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last_line: Arc<std::sync::Mutex<Instant>>,
    started: Instant,
}

impl Progress {
    fn new(size: Option<u64>) -> Self {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match size {
                Some(n) => indicatif::ProgressBar::new(n),
                None => indicatif::ProgressBar::new_spinner(),
            };
            let style = indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} · {msg} · ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Self {
            bar,
            last_line: Arc::new(std::sync::Mutex::new(Instant::now())),
            started: Instant::now(),
        }
    }

    fn update(&self, bytes: u64, imported: u64, failed: u64) {
        let rate = imported as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        match &self.bar {
            Some(bar) => {
                bar.set_position(bytes);
                bar.set_message(format!("{imported} users ({rate:.0}/s), {failed} bad"));
            }
            None => {
                let mut last = self.last_line.lock().unwrap_or_else(|p| p.into_inner());
                if last.elapsed() >= Duration::from_secs(2) {
                    *last = Instant::now();
                    eprintln!("imported {imported} users ({rate:.0}/s), {failed} bad lines so far");
                }
            }
        }
    }

    fn message(&self, msg: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(msg.to_owned()),
            None => eprintln!("{msg}"),
        }
    }

    fn finish(&self, bytes: u64, imported: u64, failed: u64, took: Duration) {
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
            bar.finish_and_clear();
        }
        let rate = imported as f64 / took.as_secs_f64().max(1e-9);
        eprintln!(
            "done in {:.1} s: {imported} users imported ({rate:.0}/s incl. indexing), {failed} bad lines",
            took.as_secs_f64()
        );
    }
}

/// `roster export`: every user of one snapshot, as NDJSON or CSV.
pub async fn export(
    config: &Config,
    format: TransferFormat,
    out: Option<&Path>,
    (include_secrets, plaintext): (bool, bool),
) -> anyhow::Result<()> {
    if config.encryption_key.is_some() && !plaintext {
        anyhow::bail!(
            "the store is encrypted and an export is written in the clear: add --plaintext to \
             export anyway (a backup, `roster backup`, stays encrypted)"
        );
    }
    let store = Store::open_with(&config.data_dir, config.encryption_key.clone())?;
    let s = store.clone();
    let out = out.map(Path::to_owned);
    let result = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
        let sink: Box<dyn std::io::Write> = match &out {
            Some(p) => Box::new(
                std::fs::File::create(p)
                    .with_context(|| format!("cannot create {}", p.display()))?,
            ),
            None => Box::new(std::io::stdout().lock()),
        };
        let format = match format {
            TransferFormat::Ndjson => Format::Ndjson,
            TransferFormat::Csv => Format::Csv,
        };
        Ok(crate::service::export(
            &s,
            &Caller::system(),
            format,
            include_secrets,
            sink,
        )?)
    })
    .await?;
    store.close().await;
    let n = result?;
    eprintln!("exported {n} users");
    Ok(())
}

/// `roster backup OUT`: a consistent snapshot of the store in one file.
pub async fn backup(config: &Config, out: &Path) -> anyhow::Result<()> {
    let store = Store::open_with(&config.data_dir, config.encryption_key.clone())?;
    let s = store.clone();
    let out = out.to_owned();
    let result = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
        if out == Path::new("-") {
            return Ok(crate::service::backup(
                &s,
                &Caller::system(),
                std::io::stdout().lock(),
            )?);
        }
        // Written next to its destination and renamed, so a failed backup
        // never leaves a file that looks complete.
        let partial = out.with_extension("partial");
        let file = std::fs::File::create(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let bytes = crate::service::backup(&s, &Caller::system(), &file).and_then(|n| {
            file.sync_all()
                .map(|_| n)
                .map_err(|e| crate::error::Error::Internal(anyhow::anyhow!(e)))
        });
        match bytes {
            Ok(n) => {
                std::fs::rename(&partial, &out)
                    .with_context(|| format!("cannot create {}", out.display()))?;
                Ok(n)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(e.into())
            }
        }
    })
    .await?;
    store.close().await;
    eprintln!("backup written ({} bytes)", result?);
    Ok(())
}

/// `roster restore IN [--force]`: checks the whole backup, puts it in place
/// and rebuilds the search index from it.
pub async fn restore(config: &Config, input: &Path, force: bool) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    let dir = config.data_dir.clone();
    let key = config.encryption_key.clone();
    let summary =
        tokio::task::spawn_blocking(move || crate::store::restore(&dir, file, force, key))
            .await??;
    eprintln!(
        "restored {} entries; rebuilding the search index",
        summary.entries
    );
    reindex(config).await
}
