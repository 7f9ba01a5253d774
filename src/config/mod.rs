//! Settings: command-line flags, `ROSTER_*` environment variables and an
//! optional TOML file, resolved once at start into a [`Config`].
//!
//! Each setting is declared once, in the table of `settings.rs`; the flags
//! (`args.rs`), the file's keys (`file.rs`) and the checks (`values.rs`)
//! all follow from it, and [`Config::resolve`] walks it. Precedence is
//! flag, then environment, then file, then the built-in default. Every bad
//! setting is reported as one sentence that names it; nothing here panics.
//!
//! This module depends on nothing else in the crate: the rest of the crate
//! reads a `Config`. The argon2 parameters ([`HashParams`]) are defined here
//! for that reason, and `auth::passwords` uses them from here.

mod args;
mod file;
mod settings;
mod values;

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use args::SettingArgs;
use file::FileSettings;
use settings::{Kind, SETTINGS, Setting};
use values::{Problem, Raw, Values};

/// A bad setting: the message is one sentence naming the setting.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// OWASP's minimum for argon2id: 19 MiB, 2 iterations, 1 lane. They are the
/// defaults and the lower bounds of the `argon2_*` settings.
pub const MIN_MEMORY_KIB: u32 = 19_456;
pub const MIN_ITERATIONS: u32 = 2;
pub const MIN_PARALLELISM: u32 = 1;

/// argon2id parameters for new password hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        Self {
            memory_kib: MIN_MEMORY_KIB,
            iterations: MIN_ITERATIONS,
            parallelism: MIN_PARALLELISM,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Which requests get a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessLog {
    pub mode: AccessLogMode,
    /// One successful request in this many is logged (errors always are).
    pub sample: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLogMode {
    On,
    Off,
    /// Answers with status 400 and above only.
    Errors,
}

/// Resolved settings. Built by [`Config::resolve`] in `main`, or directly by
/// tests and benchmarks (see [`Config::for_data_dir`]).
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub access_log: AccessLog,
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
    /// Requests per second per caller (an address without credentials, an
    /// admin, an API key); `None`: every request limit is off.
    pub rate_limit: Option<u32>,
    /// Requests per second per plain user (off when `rate_limit` is).
    pub user_rate_limit: Option<u32>,
    pub cors_origins: Vec<String>,
    /// Peers whose forwarding headers are believed (reverse proxies); from
    /// any other peer they are ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Serve HTTPS with this certificate chain and key (PEM files).
    pub tls: Option<TlsFiles>,
    pub mail: MailConfig,
    /// How long the change log keeps entries once nothing needs them.
    pub change_retention: Duration,
    /// How often housekeeping runs (saving API key use; every tenth run
    /// also sweeps expired sessions). Not a setting: tests shorten it.
    pub housekeeping_every: Duration,
    pub webhooks: WebhookConfig,
    pub graphql: GraphqlConfig,
    /// Where the data key is read from.
    pub encryption_key_file: Option<PathBuf>,
    /// The data key for encryption at rest (from `--encryption-key-file`
    /// or `ROSTER_ENCRYPTION_KEY`); `None`: nothing is encrypted.
    pub encryption_key: Option<crate::crypt::Key>,
}

/// What the GraphQL endpoint offers besides queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphqlConfig {
    /// Serve GraphiQL to browsers at `/api/v1/graphql`.
    pub playground: bool,
    /// Answer introspection queries (`__schema`, `__type`).
    pub introspection: bool,
    /// Longest a GraphQL request may run (a subscription: its setup).
    pub timeout: Duration,
}

/// Which webhook URLs may be called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WebhookConfig {
    /// Plain `http://` URLs (local development only).
    pub allow_insecure: bool,
    /// Hosts on loopback, private, link-local or metadata addresses.
    pub allow_private: bool,
}

/// Mail and the account flows that send it.
#[derive(Clone)]
pub struct MailConfig {
    /// `None`: mail is written to the log instead (not for production).
    pub smtp_url: Option<String>,
    /// From `ROSTER_SMTP_PASSWORD` (environment only, so it is not in `ps`).
    pub smtp_password: Option<String>,
    pub from: String,
    /// Base of links in mail; `None`: the server's own address.
    pub public_url: Option<String>,
    pub templates_dir: Option<PathBuf>,
    /// How long each kind of link lives.
    pub ttl: ByLink<Duration>,
    /// An app's own pages for the links, each with `{token}`; `None`:
    /// roster's `/account/…` pages.
    pub link_templates: ByLink<Option<String>>,
    pub allow_magic_link: bool,
    pub require_email_verification: bool,
}

/// One value for each kind of mailed link: email verification, password
/// reset, sign-in (magic) link, email change.
#[derive(Debug, Clone, Default)]
pub struct ByLink<T> {
    pub verify: T,
    pub reset: T,
    pub magic: T,
    pub email: T,
}

impl std::fmt::Debug for MailConfig {
    /// Everything but the SMTP credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let smtp = self.smtp_url.as_deref().map(|u| match url::Url::parse(u) {
            Ok(u) => format!(
                "{}://{}:{}",
                u.scheme(),
                u.host_str().unwrap_or(""),
                u.port().unwrap_or(0)
            ),
            Err(_) => "(unparsable)".to_owned(),
        });
        f.debug_struct("MailConfig")
            .field("smtp", &smtp)
            .field("from", &self.from)
            .field("public_url", &self.public_url)
            .field("templates_dir", &self.templates_dir)
            .field("link_templates", &self.link_templates)
            .field("allow_magic_link", &self.allow_magic_link)
            .field(
                "require_email_verification",
                &self.require_email_verification,
            )
            .finish_non_exhaustive()
    }
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
    pub argon2: HashParams,
    /// Hashing threads under `SCHED_IDLE` (see `auth::passwords`).
    pub argon2_idle_priority: bool,
    /// Per account, attempts per minute; `None` when off.
    pub login_rate_limit: Option<u32>,
    pub login_burst: u32,
    /// Users with any of these roles must enrol a second factor: until
    /// they do, their tokens are good for that and little else.
    pub require_mfa_for: Vec<crate::domain::Role>,
    /// From `ROSTER_ADMIN_EMAIL` / `ROSTER_ADMIN_PASSWORD` (environment only,
    /// never a flag, so the password does not show in `ps`).
    pub bootstrap_admin: Option<(String, String)>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Config::defaults().auth
    }
}

impl Config {
    /// Defaults with the given data dir and an ephemeral loopback port:
    /// what tests and benchmarks start from.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            ..Self::defaults()
        }
    }

    /// Every setting at its default; nothing read from the environment.
    fn defaults() -> Self {
        resolve_values(&SettingArgs::default())
            .and_then(|values| Self::from_values(values, None))
            // The table's defaults pass its own checks: the module's tests
            // resolve them.
            .expect("the settings table's defaults are valid")
    }

    /// Merges flags/environment (already merged by clap) over the TOML file
    /// over the defaults, and checks every value.
    pub fn resolve(args: &SettingArgs) -> Result<Self, ConfigError> {
        let values = resolve_values(args)?;
        let mut config = Self::from_values(values, bootstrap_admin()?)?;
        config.mail.smtp_password = std::env::var("ROSTER_SMTP_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty());
        // The key's text from the environment only (not in `ps`, not in a
        // TOML file next to the data).
        let key_text = std::env::var("ROSTER_ENCRYPTION_KEY")
            .ok()
            .filter(|k| !k.trim().is_empty());
        config.encryption_key =
            crate::crypt::Key::load(config.encryption_key_file.as_deref(), key_text.as_deref())
                .map_err(|e| ConfigError(e.to_string()))?;
        Ok(config)
    }

    /// Builds the config from the table's checked values, and checks the
    /// settings that only make sense together.
    fn from_values(
        mut v: Values,
        bootstrap_admin: Option<(String, String)>,
    ) -> Result<Self, ConfigError> {
        // Every number's range fits its field (u32, usize): see the table.
        let secs = |n: u64| Duration::from_secs(n);
        let auth = AuthConfig {
            access_token_ttl: secs(v.number("access_token_ttl")?),
            refresh_token_ttl: secs(v.number("refresh_token_ttl")?),
            issuer: v.text("issuer")?,
            audience: v.text("audience")?,
            allow_registration: v.boolean("allow_registration")?,
            argon2: HashParams {
                memory_kib: v.number("argon2_memory_kib")? as u32,
                iterations: v.number("argon2_iterations")? as u32,
                parallelism: v.number("argon2_parallelism")? as u32,
            },
            argon2_idle_priority: v.boolean("argon2_idle_priority")?,
            login_rate_limit: v.rate("login_rate_limit")?,
            login_burst: v.number("login_burst")? as u32,
            require_mfa_for: v
                .list("require_mfa_for")?
                .iter()
                .filter_map(|r| crate::domain::Role::parse(r))
                .collect(),
            bootstrap_admin,
        };
        Ok(Self {
            listen: v.address("listen")?,
            data_dir: v.required_path("data")?,
            log_format: match v.choice("log_format")? {
                "json" => LogFormat::Json,
                _ => LogFormat::Pretty,
            },
            access_log: AccessLog {
                mode: match v.choice("access_log")? {
                    "off" => AccessLogMode::Off,
                    "errors" => AccessLogMode::Errors,
                    _ => AccessLogMode::On,
                },
                sample: v.number("access_log_sample")? as u32,
            },
            body_limit: v.number("body_limit")? as usize,
            request_timeout: secs(v.number("request_timeout")?),
            header_read_timeout: secs(v.number("header_read_timeout")?),
            max_concurrent_requests: v.number("max_concurrent_requests")? as usize,
            auth,
            rate_limit: v.rate("rate_limit")?,
            user_rate_limit: v.rate("user_rate_limit")?,
            cors_origins: v.list("cors_origins")?,
            trusted_proxies: v
                .list("trusted_proxies")?
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect(),
            tls: tls_files(v.path("tls_cert")?, v.path("tls_key")?)?,
            mail: MailConfig {
                smtp_url: v.url("smtp_url")?,
                smtp_password: None,
                from: v.text("mail_from")?,
                public_url: v.url("public_url")?,
                templates_dir: v.path("mail_templates")?,
                ttl: ByLink {
                    verify: secs(v.number("verify_email_ttl")?),
                    reset: secs(v.number("password_reset_ttl")?),
                    magic: secs(v.number("magic_link_ttl")?),
                    email: secs(v.number("email_change_ttl")?),
                },
                link_templates: ByLink {
                    verify: v.url("link_template_verify")?,
                    reset: v.url("link_template_reset")?,
                    magic: v.url("link_template_magic")?,
                    email: v.url("link_template_email")?,
                },
                allow_magic_link: v.boolean("allow_magic_link")?,
                require_email_verification: v.boolean("require_email_verification")?,
            },
            change_retention: secs(v.number("change_retention")?),
            housekeeping_every: Duration::from_secs(60),
            graphql: GraphqlConfig {
                playground: v.boolean("graphql_playground")?,
                introspection: v.boolean("graphql_introspection")?,
                timeout: secs(v.number("graphql_timeout")?),
            },
            webhooks: WebhookConfig {
                allow_insecure: v.boolean("webhook_allow_insecure")?,
                allow_private: v.boolean("webhook_allow_private")?,
            },
            encryption_key_file: v.path("encryption_key_file")?,
            encryption_key: None,
        })
    }
}

/// Each setting's value: its flag or environment variable, else its key in
/// the file named by `--config`, else its default, checked by its kind.
fn resolve_values(args: &SettingArgs) -> Result<Values, ConfigError> {
    let mut file = None;
    for s in SETTINGS
        .iter()
        .filter(|s| matches!(s.kind, Kind::ConfigFile))
    {
        if let Some(path) = args.get(s.name) {
            file = Some(FileSettings::read(Path::new(path), &s.sources())?);
        }
    }
    let mut values = Values::default();
    for s in SETTINGS {
        let from_file = file.as_ref().and_then(|f| Some((f, f.get(s.name)?)));
        let value = if let Some(text) = args.get(s.name) {
            values::parse(s, Raw::Text(text)).map_err(|p| s.error(p))?
        } else if let Some((file, value)) = from_file {
            values::parse(s, Raw::Toml(value.get_ref()))
                .map_err(|p| file.error_at(value.span().start, &s.error(p).0))?
        } else if let Some(default) = s.kind.default_text() {
            values::parse(s, Raw::Text(OsStr::new(&default))).map_err(|p| s.error(p))?
        } else {
            values::unset(&s.kind)
        };
        values.insert(s.name, value);
    }
    Ok(values)
}

impl Setting {
    /// "setting `name` (--flag / ROSTER_ENV): what is wrong".
    fn error(&self, problem: Problem) -> ConfigError {
        ConfigError(format!(
            "setting `{}` ({}){}",
            self.name,
            self.sources(),
            problem.0
        ))
    }
}

/// HTTPS needs both files; one without the other is a mistake.
fn tls_files(cert: Option<PathBuf>, key: Option<PathBuf>) -> Result<Option<TlsFiles>, ConfigError> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles { cert, key })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(one_without_other("tls_cert", "tls_key")),
        (None, Some(_)) => Err(one_without_other("tls_key", "tls_cert")),
    }
}

/// "setting `a` (--a / ROSTER_A) is set but `b` is not".
fn one_without_other(given: &str, missing: &str) -> ConfigError {
    let sources = settings::setting(given)
        .map(Setting::sources)
        .unwrap_or_default();
    ConfigError(format!(
        "setting `{given}` ({sources}) is set but `{missing}` is not"
    ))
}

/// The first admin, from the environment only: not a flag, so that the
/// password does not show in `ps`, and not in the file, so that it is not
/// stored there.
fn bootstrap_admin() -> Result<Option<(String, String)>, ConfigError> {
    match (
        std::env::var("ROSTER_ADMIN_EMAIL"),
        std::env::var("ROSTER_ADMIN_PASSWORD"),
    ) {
        (Ok(e), Ok(p)) if !e.is_empty() => Ok(Some((e, p))),
        (Ok(e), Err(_)) if !e.is_empty() => Err(ConfigError(
            "setting `ROSTER_ADMIN_EMAIL` is set but `ROSTER_ADMIN_PASSWORD` is not".into(),
        )),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests;
