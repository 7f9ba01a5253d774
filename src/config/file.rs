//! The optional TOML settings file: read it, and check that every key in it
//! is a setting of the table, so that a typo never goes unnoticed.
//!
//! Values stay raw TOML here; they are checked with the other sources in
//! `values.rs`. Every key keeps its line, so that a message about a value
//! from the file can point at it.

use std::path::{Path, PathBuf};

use toml::Spanned;

use super::ConfigError;
use super::settings::{self, Kind};

/// The settings the file holds, by setting name.
#[derive(Debug, Default)]
pub(crate) struct FileSettings {
    path: PathBuf,
    text: String,
    entries: Vec<(&'static str, Spanned<toml::Value>)>,
}

impl FileSettings {
    /// Reads and parses the file; `sources` names `--config` in messages.
    pub fn read(path: &Path, sources: &str) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError(format!(
                "setting `config` ({sources}): cannot read {}: {e}",
                path.display()
            ))
        })?;
        let mut file = FileSettings {
            path: path.to_owned(),
            text,
            entries: Vec::new(),
        };
        let mut table: Vec<(Spanned<String>, Spanned<toml::Value>)> =
            toml::from_str::<std::collections::BTreeMap<_, _>>(&file.text)
                .map_err(|e| {
                    // toml's own message spans several lines and may not name
                    // the key: show the offending line instead, which does.
                    let at = e.span().map(|s| file.at(s.start)).unwrap_or_default();
                    file.error(&at, &e.message().replace('\n', " "))
                })?
                .into_iter()
                .collect();
        // In the file's order, so that the first bad line is the one reported.
        table.sort_by_key(|(key, _)| key.span().start);
        for (key, value) in table {
            match settings::setting(key.get_ref()) {
                Some(s) if !matches!(s.kind, Kind::ConfigFile) => {
                    file.entries.push((s.name, value))
                }
                _ => return Err(file.error_at(key.span().start, &unknown(key.get_ref()))),
            }
        }
        Ok(file)
    }

    /// The file's value of the setting, if it has one.
    pub fn get(&self, name: &str) -> Option<&Spanned<toml::Value>> {
        self.entries
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// A message about the file at byte `offset`, starting with where that
    /// is: "config file P, line N (`…`): message".
    pub fn error_at(&self, offset: usize, message: &str) -> ConfigError {
        self.error(&self.at(offset), message)
    }

    fn error(&self, at: &str, message: &str) -> ConfigError {
        ConfigError(format!(
            "config file {}{at}: {message}",
            self.path.display()
        ))
    }

    /// ", line N (`the line`)" for a byte offset into the file.
    fn at(&self, offset: usize) -> String {
        let line_no = self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1;
        let line = self.text.lines().nth(line_no - 1).unwrap_or("").trim();
        let line: String = redact_password(line).chars().take(80).collect();
        format!(", line {line_no} (`{line}`)")
    }
}

/// The line with the password of a URL's `user:password@` (an SMTP URL's)
/// replaced by `***`, so an error message never repeats it.
fn redact_password(line: &str) -> String {
    let Some(scheme_end) = line.find("://").map(|i| i + 3) else {
        return line.to_owned();
    };
    let rest = &line[scheme_end..];
    let authority_end = rest.find(['/', '"', '\'', ' ']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.find(':'), authority.rfind('@')) {
        (Some(colon), Some(at)) if colon < at => format!(
            "{}{}:***{}",
            &line[..scheme_end],
            &authority[..colon],
            &line[scheme_end + at..]
        ),
        _ => line.to_owned(),
    }
}

/// "unknown setting `lisen`; did you mean `listen`?"
fn unknown(key: &str) -> String {
    let closest = settings::SETTINGS
        .iter()
        .filter(|s| !matches!(s.kind, Kind::ConfigFile))
        .map(|s| (strsim::jaro_winkler(key, s.name), s.name))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match closest {
        Some((score, name)) if score > 0.85 => {
            format!("unknown setting `{key}`; did you mean `{name}`?")
        }
        _ => format!("unknown setting `{key}`"),
    }
}
