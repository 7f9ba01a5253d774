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
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA: &str = "./roster-data";
const DEFAULT_BODY_LIMIT: u64 = 1024 * 1024;
const DEFAULT_TIMEOUT_SECS: u64 = 30;

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

        Ok(Self {
            listen,
            data_dir,
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Pretty),
            body_limit: body_limit as usize,
            request_timeout: Duration::from_secs(timeout),
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
