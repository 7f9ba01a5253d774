//! Settings: command-line flags, `ROSTER_*` environment variables and an
//! optional TOML file, resolved once at start into a [`Config`].
//!
//! Precedence is flag, then environment, then file, then the built-in default.
//! Every bad setting is reported as one sentence that names it; nothing here
//! panics. This module depends on nothing else in the crate.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

/// The command line, as clap sees it. Flags that are settings are global so
/// that `roster --data D serve` and `roster serve --data D` both work.
#[derive(Debug, Parser)]
#[command(
    name = "roster",
    version,
    about = "Users for your application: store, search, REST API and admin console in one binary."
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default when no command is given).
    Serve,
    /// Administer an offline data dir.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Rebuild the search index from the store (offline).
    Reindex,
    /// Manage the token signing keys of an offline data dir.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Add users from an NDJSON or CSV file (offline); bad lines are
    /// reported by number and skipped.
    Import {
        /// The file to read (`-` for standard input).
        file: PathBuf,
        /// The file's format [default: from its extension, else ndjson].
        #[arg(long, value_enum)]
        format: Option<TransferFormat>,
    },
    /// Write every user as NDJSON or CSV (offline).
    Export {
        #[arg(long, value_enum, default_value = "ndjson")]
        format: TransferFormat,
        /// Write here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Include password hashes (PHC strings), for a migration to another
        /// roster. Without it, no secret is ever written.
        #[arg(long)]
        include_secrets: bool,
    },
    /// Write a consistent snapshot of the whole store to one file (offline;
    /// a running server offers `GET /api/v1/admin/backup`).
    Backup {
        /// The backup file to write (`-` for standard output).
        out: PathBuf,
    },
    /// Restore a backup into the data dir (offline) and rebuild the index.
    Restore {
        /// The backup file to read.
        input: PathBuf,
        /// Replace a data dir that already holds data.
        #[arg(long)]
        force: bool,
    },
}

/// File formats of `import` and `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransferFormat {
    Ndjson,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin account (works while the server is stopped).
    Create {
        #[arg(long)]
        email: String,
        /// Read the password from standard input (one line). Without it, a
        /// random password is generated and printed once.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key; older keys keep verifying until their tokens expire.
    Rotate,
}

/// Settings given on the command line or in the environment. Every field is
/// optional here so that the TOML file and the defaults can fill the gaps.
#[derive(Debug, Args, Default)]
pub struct SettingArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "ROSTER_LISTEN", global = true, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Data directory holding roster.redb and index/ [default: ./roster-data].
    #[arg(long, env = "ROSTER_DATA", global = true, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Optional TOML file with settings (flags and environment override it).
    #[arg(long, env = "ROSTER_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log output format [default: pretty].
    #[arg(long, env = "ROSTER_LOG_FORMAT", global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Largest accepted request body, in bytes [default: 1048576].
    #[arg(long, env = "ROSTER_BODY_LIMIT", global = true, value_name = "BYTES")]
    pub body_limit: Option<String>,
    /// Longest time a request may take, in seconds [default: 30].
    #[arg(
        long,
        env = "ROSTER_REQUEST_TIMEOUT",
        global = true,
        value_name = "SECONDS"
    )]
    pub request_timeout: Option<String>,
    /// Longest a client may take to send a request's headers, in seconds;
    /// also how long an idle keep-alive connection stays open [default: 20].
    #[arg(
        long,
        env = "ROSTER_HEADER_READ_TIMEOUT",
        global = true,
        value_name = "SECONDS"
    )]
    pub header_read_timeout: Option<String>,
    /// Requests handled at once; more are answered 503 at once [default: 1024].
    #[arg(
        long,
        env = "ROSTER_MAX_CONCURRENT_REQUESTS",
        global = true,
        value_name = "N"
    )]
    pub max_concurrent_requests: Option<String>,
    /// Lifetime of access tokens, in seconds [default: 900].
    #[arg(
        long,
        env = "ROSTER_ACCESS_TOKEN_TTL",
        global = true,
        value_name = "SECONDS"
    )]
    pub access_token_ttl: Option<String>,
    /// Lifetime of a login session (its refresh tokens), in seconds [default: 2592000].
    #[arg(
        long,
        env = "ROSTER_REFRESH_TOKEN_TTL",
        global = true,
        value_name = "SECONDS"
    )]
    pub refresh_token_ttl: Option<String>,
    /// `iss` of issued tokens [default: roster].
    #[arg(long, env = "ROSTER_ISSUER", global = true)]
    pub issuer: Option<String>,
    /// `aud` of issued tokens [default: roster].
    #[arg(long, env = "ROSTER_AUDIENCE", global = true)]
    pub audience: Option<String>,
    /// Allow self sign-up at /api/v1/auth/register [default: false].
    #[arg(
        long,
        env = "ROSTER_ALLOW_REGISTRATION",
        global = true,
        value_name = "BOOL"
    )]
    pub allow_registration: Option<String>,
    /// argon2id memory in KiB [default and minimum: 19456].
    #[arg(
        long,
        env = "ROSTER_ARGON2_MEMORY_KIB",
        global = true,
        value_name = "KIB"
    )]
    pub argon2_memory_kib: Option<String>,
    /// argon2id iterations [default and minimum: 2].
    #[arg(
        long,
        env = "ROSTER_ARGON2_ITERATIONS",
        global = true,
        value_name = "N"
    )]
    pub argon2_iterations: Option<String>,
    /// argon2id lanes [default and minimum: 1].
    #[arg(
        long,
        env = "ROSTER_ARGON2_PARALLELISM",
        global = true,
        value_name = "N"
    )]
    pub argon2_parallelism: Option<String>,
    /// Login, refresh and register attempts per minute per account, or `off` [default: 10].
    #[arg(
        long,
        env = "ROSTER_LOGIN_RATE_LIMIT",
        global = true,
        value_name = "PER_MINUTE|off"
    )]
    pub login_rate_limit: Option<String>,
    /// Burst allowed above the login rate [default: 5].
    #[arg(long, env = "ROSTER_LOGIN_BURST", global = true, value_name = "N")]
    pub login_burst: Option<String>,
    /// API requests per second per client IP, or `off` [default: 1000].
    #[arg(
        long,
        env = "ROSTER_RATE_LIMIT",
        global = true,
        value_name = "PER_SECOND|off"
    )]
    pub rate_limit: Option<String>,
    /// Origins allowed by CORS, comma-separated [default: none, CORS off].
    #[arg(
        long,
        env = "ROSTER_CORS_ORIGINS",
        global = true,
        value_name = "ORIGINS"
    )]
    pub cors_origins: Option<String>,
    /// PEM certificate chain: serve HTTPS (with --tls-key) [default: plain HTTP].
    #[arg(long, env = "ROSTER_TLS_CERT", global = true, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "ROSTER_TLS_KEY", global = true, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The TOML file. Unknown keys are an error, so a typo never goes unnoticed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data: Option<PathBuf>,
    log_format: Option<LogFormat>,
    body_limit: Option<u64>,
    request_timeout: Option<u64>,
    header_read_timeout: Option<u64>,
    max_concurrent_requests: Option<u64>,
    access_token_ttl: Option<u64>,
    refresh_token_ttl: Option<u64>,
    issuer: Option<String>,
    audience: Option<String>,
    allow_registration: Option<bool>,
    argon2_memory_kib: Option<u64>,
    argon2_iterations: Option<u64>,
    argon2_parallelism: Option<u64>,
    login_rate_limit: Option<toml::Value>,
    login_burst: Option<u64>,
    rate_limit: Option<toml::Value>,
    cors_origins: Option<Vec<String>>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
}

/// A bad setting: the message is one sentence naming the setting.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// Resolved settings. Built by [`Config::resolve`] in `main`, or directly by
/// tests and benchmarks (see [`Config::for_data_dir`]).
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub body_limit: usize,
    pub request_timeout: Duration,
    /// A connection that has not sent a whole request head this long after
    /// the server became ready for one (at connect, or after the previous
    /// answer) is closed: slowloris clients and idle keep-alives alike.
    pub header_read_timeout: Duration,
    /// Requests in progress at once; above it the API answers 503 at once
    /// (health checks excepted) rather than queueing without bound.
    pub max_concurrent_requests: usize,
    pub auth: AuthConfig,
    /// Per client IP, requests per second; `None` when off.
    pub rate_limit: Option<u32>,
    pub cors_origins: Vec<String>,
    /// Serve HTTPS with this certificate chain and key (PEM files).
    pub tls: Option<TlsFiles>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Authentication settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub issuer: String,
    pub audience: String,
    pub allow_registration: bool,
    pub argon2: crate::auth::passwords::HashParams,
    /// Per account, attempts per minute; `None` when off.
    pub login_rate_limit: Option<u32>,
    pub login_burst: u32,
    /// From `ROSTER_ADMIN_EMAIL` / `ROSTER_ADMIN_PASSWORD` (environment only,
    /// never a flag, so the password does not show in `ps`).
    pub bootstrap_admin: Option<(String, String)>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_token_ttl: Duration::from_secs(900),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            issuer: "roster".into(),
            audience: "roster".into(),
            allow_registration: false,
            argon2: Default::default(),
            login_rate_limit: Some(10),
            login_burst: 5,
            bootstrap_admin: None,
        }
    }
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA: &str = "./roster-data";
const DEFAULT_BODY_LIMIT: u64 = 1024 * 1024;
const DEFAULT_TIMEOUT_SECS: u64 = 30;
const DEFAULT_RATE_LIMIT: u32 = 1000;
const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 20;
const DEFAULT_MAX_CONCURRENT_REQUESTS: u64 = 1024;

impl Config {
    /// Defaults with the given data dir and an ephemeral loopback port:
    /// what tests and benchmarks start from.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            log_format: LogFormat::Pretty,
            body_limit: DEFAULT_BODY_LIMIT as usize,
            request_timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            header_read_timeout: Duration::from_secs(DEFAULT_HEADER_READ_TIMEOUT_SECS),
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS as usize,
            auth: AuthConfig::default(),
            rate_limit: Some(DEFAULT_RATE_LIMIT),
            cors_origins: Vec::new(),
            tls: None,
        }
    }

    /// Merges flags/environment (already merged by clap) over the TOML file
    /// over the defaults, and checks every value.
    pub fn resolve(args: &SettingArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };

        let listen_text = args
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text.parse::<SocketAddr>().map_err(|_| {
            ConfigError(format!(
                "setting `listen` (--listen / ROSTER_LISTEN): {listen_text:?} is not an address such as 127.0.0.1:8080"
            ))
        })?;

        let data_dir = args
            .data
            .clone()
            .or(file.data)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));
        if data_dir.as_os_str().is_empty() {
            return Err(ConfigError(
                "setting `data` (--data / ROSTER_DATA) must not be empty".into(),
            ));
        }

        let body_limit = number_setting(
            "body_limit",
            "--body-limit / ROSTER_BODY_LIMIT",
            args.body_limit.as_deref(),
            file.body_limit,
            DEFAULT_BODY_LIMIT,
            1024..=256 * 1024 * 1024,
        )?;
        let timeout = number_setting(
            "request_timeout",
            "--request-timeout / ROSTER_REQUEST_TIMEOUT",
            args.request_timeout.as_deref(),
            file.request_timeout,
            DEFAULT_TIMEOUT_SECS,
            1..=3600,
        )?;
        let header_read_timeout = number_setting(
            "header_read_timeout",
            "--header-read-timeout / ROSTER_HEADER_READ_TIMEOUT",
            args.header_read_timeout.as_deref(),
            file.header_read_timeout,
            DEFAULT_HEADER_READ_TIMEOUT_SECS,
            1..=3600,
        )?;
        let max_concurrent_requests = number_setting(
            "max_concurrent_requests",
            "--max-concurrent-requests / ROSTER_MAX_CONCURRENT_REQUESTS",
            args.max_concurrent_requests.as_deref(),
            file.max_concurrent_requests,
            DEFAULT_MAX_CONCURRENT_REQUESTS,
            1..=1_000_000,
        )?;

        let d = AuthConfig::default();
        let num = |name: &str,
                   flag: &str,
                   arg: &Option<String>,
                   file: Option<u64>,
                   default: u64,
                   range| {
            number_setting(name, flag, arg.as_deref(), file, default, range)
        };
        let access = num(
            "access_token_ttl",
            "--access-token-ttl / ROSTER_ACCESS_TOKEN_TTL",
            &args.access_token_ttl,
            file.access_token_ttl,
            900,
            10..=24 * 3600,
        )?;
        let refresh = num(
            "refresh_token_ttl",
            "--refresh-token-ttl / ROSTER_REFRESH_TOKEN_TTL",
            &args.refresh_token_ttl,
            file.refresh_token_ttl,
            d.refresh_token_ttl.as_secs(),
            60..=365 * 24 * 3600,
        )?;
        let memory = num(
            "argon2_memory_kib",
            "--argon2-memory-kib / ROSTER_ARGON2_MEMORY_KIB",
            &args.argon2_memory_kib,
            file.argon2_memory_kib,
            19_456,
            19_456..=4 * 1024 * 1024,
        )?;
        let iterations = num(
            "argon2_iterations",
            "--argon2-iterations / ROSTER_ARGON2_ITERATIONS",
            &args.argon2_iterations,
            file.argon2_iterations,
            2,
            2..=100,
        )?;
        let parallelism = num(
            "argon2_parallelism",
            "--argon2-parallelism / ROSTER_ARGON2_PARALLELISM",
            &args.argon2_parallelism,
            file.argon2_parallelism,
            1,
            1..=64,
        )?;
        let login_burst = num(
            "login_burst",
            "--login-burst / ROSTER_LOGIN_BURST",
            &args.login_burst,
            file.login_burst,
            5,
            1..=10_000,
        )?;
        let login_rate_limit = rate_setting(
            "login_rate_limit",
            "--login-rate-limit / ROSTER_LOGIN_RATE_LIMIT",
            args.login_rate_limit.as_deref(),
            file.login_rate_limit,
            10,
        )?;
        let rate_limit = rate_setting(
            "rate_limit",
            "--rate-limit / ROSTER_RATE_LIMIT",
            args.rate_limit.as_deref(),
            file.rate_limit,
            DEFAULT_RATE_LIMIT,
        )?;
        let allow_registration = match args.allow_registration.as_deref() {
            Some(v) => parse_bool(v).ok_or_else(|| ConfigError(format!(
                "setting `allow_registration` (--allow-registration / ROSTER_ALLOW_REGISTRATION): {v:?} is not true or false"
            )))?,
            None => file.allow_registration.unwrap_or(false),
        };
        let text = |name: &str,
                    arg: &Option<String>,
                    file: Option<String>|
         -> Result<String, ConfigError> {
            let v = arg.clone().or(file).unwrap_or_else(|| "roster".into());
            if v.trim().is_empty() || v.len() > 256 {
                return Err(ConfigError(format!(
                    "setting `{name}` must be 1 to 256 characters"
                )));
            }
            Ok(v)
        };
        let cors_origins = match &args.cors_origins {
            Some(list) => list
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            None => file.cors_origins.unwrap_or_default(),
        };
        for origin in &cors_origins {
            if !(origin.starts_with("http://") || origin.starts_with("https://"))
                || origin.ends_with('/')
            {
                return Err(ConfigError(format!(
                    "setting `cors_origins`: {origin:?} is not an origin such as https://app.example.com"
                )));
            }
        }
        let tls = match (
            args.tls_cert.clone().or(file.tls_cert),
            args.tls_key.clone().or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError(
                    "setting `tls_cert` (--tls-cert / ROSTER_TLS_CERT) is set but `tls_key` is not"
                        .into(),
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError(
                    "setting `tls_key` (--tls-key / ROSTER_TLS_KEY) is set but `tls_cert` is not"
                        .into(),
                ));
            }
        };
        let bootstrap_admin = match (
            std::env::var("ROSTER_ADMIN_EMAIL"),
            std::env::var("ROSTER_ADMIN_PASSWORD"),
        ) {
            (Ok(e), Ok(p)) if !e.is_empty() => Some((e, p)),
            (Ok(e), Err(_)) if !e.is_empty() => {
                return Err(ConfigError(
                    "setting `ROSTER_ADMIN_EMAIL` is set but `ROSTER_ADMIN_PASSWORD` is not".into(),
                ));
            }
            _ => None,
        };
        let auth = AuthConfig {
            access_token_ttl: Duration::from_secs(access),
            refresh_token_ttl: Duration::from_secs(refresh),
            issuer: text("issuer", &args.issuer, file.issuer)?,
            audience: text("audience", &args.audience, file.audience)?,
            allow_registration,
            argon2: crate::auth::passwords::HashParams {
                memory_kib: memory as u32,
                iterations: iterations as u32,
                parallelism: parallelism as u32,
            },
            login_rate_limit,
            login_burst: login_burst as u32,
            bootstrap_admin,
        };

        Ok(Self {
            auth,
            rate_limit,
            cors_origins,
            tls,
            listen,
            data_dir,
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Pretty),
            body_limit: body_limit as usize,
            request_timeout: Duration::from_secs(timeout),
            header_read_timeout: Duration::from_secs(header_read_timeout),
            max_concurrent_requests: max_concurrent_requests as usize,
        })
    }
}

fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError(format!(
            "setting `config` (--config / ROSTER_CONFIG): cannot read {}: {e}",
            path.display()
        ))
    })?;
    toml::from_str(&text).map_err(|e| {
        // toml's own message spans several lines and may not name the key:
        // show the offending line instead, which does.
        let msg = e.message().replace('\n', " ");
        let at = e
            .span()
            .map(|s| {
                let line_no = text[..s.start].matches('\n').count() + 1;
                let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
                let line: String = line.chars().take(80).collect();
                format!(", line {line_no} (`{line}`)")
            })
            .unwrap_or_default();
        ConfigError(format!("config file {}{at}: {msg}", path.display()))
    })
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A rate: a positive whole number, or `off`.
fn rate_setting(
    name: &str,
    sources: &str,
    arg: Option<&str>,
    file: Option<toml::Value>,
    default: u32,
) -> Result<Option<u32>, ConfigError> {
    let text = match (arg, file) {
        (Some(a), _) => a.trim().to_owned(),
        (None, Some(toml::Value::Integer(n))) => n.to_string(),
        (None, Some(toml::Value::String(s))) => s,
        (None, Some(other)) => other.to_string(),
        (None, None) => return Ok(Some(default)),
    };
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    match text.parse::<u32>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(ConfigError(format!(
            "setting `{name}` ({sources}): {text:?} is not a positive whole number or \"off\""
        ))),
    }
}

fn number_setting(
    name: &str,
    sources: &str,
    arg: Option<&str>,
    file: Option<u64>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let value = match arg {
        Some(text) => text.trim().parse::<u64>().map_err(|_| {
            ConfigError(format!(
                "setting `{name}` ({sources}): {text:?} is not a whole number"
            ))
        })?,
        None => file.unwrap_or(default),
    };
    if !range.contains(&value) {
        return Err(ConfigError(format!(
            "setting `{name}` ({sources}) must be between {} and {}, not {value}",
            range.start(),
            range.end()
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roster.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nbody_limit = 4096\n").unwrap();
        let args = SettingArgs {
            config: Some(file),
            body_limit: Some("8192".into()),
            ..Default::default()
        };
        let cfg = Config::resolve(&args).unwrap();
        assert_eq!(cfg.listen.port(), 9000);
        assert_eq!(cfg.body_limit, 8192);
        assert_eq!(cfg.data_dir, PathBuf::from(DEFAULT_DATA));
    }

    #[test]
    fn bad_values_name_the_setting() {
        let args = SettingArgs {
            listen: Some("nowhere".into()),
            ..Default::default()
        };
        let err = Config::resolve(&args).unwrap_err().to_string();
        assert!(err.contains("`listen`"), "{err}");

        let args = SettingArgs {
            request_timeout: Some("0".into()),
            ..Default::default()
        };
        let err = Config::resolve(&args).unwrap_err().to_string();
        assert!(err.contains("`request_timeout`"), "{err}");
    }

    #[test]
    fn the_shipped_example_file_is_valid() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roster.toml");
        let example = include_str!("../packaging/roster.toml");
        // Commented out it is the defaults; uncommented it must parse to them too.
        let uncommented: String = example
            .lines()
            .filter_map(|l| {
                l.strip_prefix("# ")
                    .filter(|l| l.contains(" = ") && !l.contains("ROSTER_"))
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&file, uncommented).unwrap();
        let args = SettingArgs {
            config: Some(file),
            ..Default::default()
        };
        let cfg = Config::resolve(&args).unwrap();
        assert_eq!(cfg.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(cfg.auth.login_rate_limit, Some(10));
        assert_eq!(cfg.cors_origins, ["https://app.example.com"]);
    }

    #[test]
    fn unknown_file_keys_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roster.toml");
        std::fs::write(&file, "lisen = \"127.0.0.1:9000\"\n").unwrap();
        let args = SettingArgs {
            config: Some(file),
            ..Default::default()
        };
        let err = Config::resolve(&args).unwrap_err().to_string();
        assert!(err.contains("lisen"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }
}
