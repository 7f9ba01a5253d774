//! Turning one setting's raw value into a typed, checked one.
//!
//! A raw value is text (a flag, an environment variable or the table's
//! default, all checked the same way) or a TOML value from the file. The
//! checks depend only on the setting's [`Kind`]; a failure is a
//! [`Problem`], the end of a sentence that the caller starts by naming
//! the setting and, for the file, the line.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::ConfigError;
use super::settings::{Kind, Setting};

/// The typed getters of [`Values`]: each takes one setting's resolved value
/// out by name, checking it is of the kind the table says.
macro_rules! getters {
    ($($getter:ident -> $t:ty = $variant:ident,)*) => {$(
        pub fn $getter(&mut self, name: &str) -> Result<$t, ConfigError> {
            self.take(name, |v| match v {
                Value::$variant(x) => Some(x),
                _ => None,
            })
        }
    )*};
}

/// A value before it is checked.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Raw<'a> {
    /// From a flag, the environment or the default.
    Text(&'a OsStr),
    /// From the TOML file.
    Toml(&'a toml::Value),
}

/// A checked value, typed by its setting's kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Number(u64),
    /// `None` when off.
    Rate(Option<u32>),
    Bool(bool),
    Text(String),
    Address(SocketAddr),
    Path(Option<PathBuf>),
    List(Vec<String>),
    /// `None` when unset.
    Url(Option<String>),
    Choice(&'static str),
}

/// What is wrong with a value, worded to follow "setting `name` (sources)":
/// it starts with `": "` or `" must"`.
#[derive(Debug)]
pub(crate) struct Problem(pub String);

impl Problem {
    fn not(shown: &str, what: &str) -> Self {
        Problem(format!(": {shown} is not {what}"))
    }
}

impl Raw<'_> {
    /// The value as a message quotes it: text as a Rust string literal, a
    /// TOML value as TOML.
    fn shown(&self) -> String {
        match self {
            Raw::Text(t) => format!("{:?}", t.to_string_lossy()),
            Raw::Toml(v) => v.to_string(),
        }
    }

    /// The value as text, for settings whose TOML form is a string.
    fn text(&self) -> Result<&str, Problem> {
        match self {
            Raw::Text(t) => t
                .to_str()
                .ok_or_else(|| Problem::not(&self.shown(), "valid UTF-8")),
            Raw::Toml(toml::Value::String(s)) => Ok(s),
            Raw::Toml(_) => Err(Problem::not(&self.shown(), "a string")),
        }
    }
}

/// Checks `raw` against the setting's kind.
pub(crate) fn parse(setting: &Setting, raw: Raw<'_>) -> Result<Value, Problem> {
    match &setting.kind {
        Kind::Number { min, max, .. } => number(raw, *min, *max).map(Value::Number),
        Kind::Rate { .. } => rate(raw).map(Value::Rate),
        Kind::Bool { .. } => boolean(raw).map(Value::Bool),
        Kind::Text { .. } => {
            let text = raw.text()?;
            if text.trim().is_empty() || text.len() > 256 {
                return Err(Problem(" must be 1 to 256 characters".into()));
            }
            Ok(Value::Text(text.to_owned()))
        }
        Kind::Address { default } => raw
            .text()?
            .parse::<SocketAddr>()
            .map(Value::Address)
            .map_err(|_| Problem::not(&raw.shown(), &format!("an address such as {default}"))),
        Kind::Path { .. } | Kind::ConfigFile => path(raw).map(|p| Value::Path(Some(p))),
        Kind::Origins => origins(raw).map(Value::List),
        Kind::Networks => networks(raw).map(Value::List),
        Kind::Roles => roles(raw).map(Value::List),
        Kind::Url { schemes, template } => {
            url(raw, schemes, *template).map(|u| Value::Url(Some(u)))
        }
        Kind::Choice { choices, .. } => {
            let text = raw.text()?;
            match choices.iter().find(|c| **c == text) {
                Some(choice) => Ok(Value::Choice(choice)),
                None => Err(Problem::not(
                    &raw.shown(),
                    &format!("one of {}", choices.join(", ")),
                )),
            }
        }
    }
}

/// The value of a setting that is neither given nor has a default.
pub(crate) fn unset(kind: &Kind) -> Value {
    match kind {
        Kind::Origins | Kind::Networks | Kind::Roles => Value::List(Vec::new()),
        Kind::Url { .. } => Value::Url(None),
        _ => Value::Path(None),
    }
}

fn number(raw: Raw<'_>, min: u64, max: u64) -> Result<u64, Problem> {
    let out_of_range = |value: &dyn std::fmt::Display| {
        Problem(format!(" must be between {min} and {max}, not {value}"))
    };
    let value = match raw {
        Raw::Toml(toml::Value::Integer(n)) => u64::try_from(*n).map_err(|_| out_of_range(n))?,
        Raw::Toml(_) => return Err(Problem::not(&raw.shown(), "a whole number")),
        Raw::Text(_) => raw
            .text()?
            .trim()
            .parse::<u64>()
            .map_err(|_| Problem::not(&raw.shown(), "a whole number"))?,
    };
    if !(min..=max).contains(&value) {
        return Err(out_of_range(&value));
    }
    Ok(value)
}

fn rate(raw: Raw<'_>) -> Result<Option<u32>, Problem> {
    let text = match raw {
        Raw::Toml(toml::Value::Integer(n)) => n.to_string(),
        Raw::Toml(toml::Value::String(s)) => s.clone(),
        Raw::Toml(other) => other.to_string(),
        Raw::Text(_) => raw.text()?.trim().to_owned(),
    };
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    match text.parse::<u32>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(Problem::not(
            &format!("{text:?}"),
            "a positive whole number or \"off\"",
        )),
    }
}

fn boolean(raw: Raw<'_>) -> Result<bool, Problem> {
    let parsed = match raw {
        Raw::Toml(toml::Value::Boolean(b)) => Some(*b),
        Raw::Toml(_) => None,
        Raw::Text(_) => match raw.text()?.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(true),
            "false" | "0" | "no" | "off" => Some(false),
            _ => None,
        },
    };
    parsed.ok_or_else(|| Problem::not(&raw.shown(), "true or false"))
}

fn path(raw: Raw<'_>) -> Result<PathBuf, Problem> {
    let path = match raw {
        // Paths need not be UTF-8 on the command line.
        Raw::Text(t) => PathBuf::from(t),
        Raw::Toml(_) => PathBuf::from(raw.text()?),
    };
    if path.as_os_str().is_empty() {
        return Err(Problem(" must not be empty".into()));
    }
    Ok(path)
}

/// An absolute URL. The value is never quoted back: an SMTP URL may hold a
/// password.
fn url(raw: Raw<'_>, schemes: &[&str], template: bool) -> Result<String, Problem> {
    let text = raw.text()?.trim();
    let must_be = || {
        let schemes: Vec<String> = schemes.iter().map(|s| format!("{s}://")).collect();
        Problem(format!(
            " must be a URL starting with {}",
            schemes.join(" or ")
        ))
    };
    let parsed = url::Url::parse(&text.replace("{token}", "token")).map_err(|_| must_be())?;
    if !schemes.contains(&parsed.scheme()) || parsed.host_str().is_none_or(str::is_empty) {
        return Err(must_be());
    }
    if template && !text.contains("{token}") {
        return Err(Problem(
            " must contain {token}, where the link's token goes".into(),
        ));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

/// A list: comma-separated text, or a TOML array of strings.
fn list(raw: Raw<'_>, what: &str) -> Result<Vec<String>, Problem> {
    Ok(match raw {
        Raw::Text(_) => raw
            .text()?
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        Raw::Toml(toml::Value::Array(items)) => items
            .iter()
            .map(|item| Raw::Toml(item).text().map(str::to_owned))
            .collect::<Result<_, _>>()?,
        Raw::Toml(_) => return Err(Problem::not(&raw.shown(), &format!("an array of {what}"))),
    })
}

/// Networks such as `10.0.0.0/8` or single addresses such as `127.0.0.1`
/// (taken as `/32` or `/128`), normalised to CIDR form.
fn networks(raw: Raw<'_>) -> Result<Vec<String>, Problem> {
    list(raw, "networks")?
        .iter()
        .map(|n| {
            n.parse::<ipnet::IpNet>()
                .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map(|net| net.trunc().to_string())
                .map_err(|_| {
                    Problem::not(
                        &format!("{n:?}"),
                        "a network such as 10.0.0.0/8 or an address",
                    )
                })
        })
        .collect()
}

fn roles(raw: Raw<'_>) -> Result<Vec<String>, Problem> {
    let mut list = list(raw, "roles")?;
    for role in &list {
        if crate::domain::Role::parse(role).is_none() {
            let known: Vec<&str> = crate::domain::Role::ALL
                .iter()
                .map(|r| r.as_str())
                .collect();
            return Err(Problem::not(
                &format!("{role:?}"),
                &format!("a role ({})", known.join(", ")),
            ));
        }
    }
    list.sort();
    list.dedup();
    Ok(list)
}

fn origins(raw: Raw<'_>) -> Result<Vec<String>, Problem> {
    let list = list(raw, "origins")?;
    for origin in &list {
        let scheme = origin.starts_with("http://") || origin.starts_with("https://");
        if !scheme || origin.ends_with('/') {
            return Err(Problem::not(
                &format!("{origin:?}"),
                "an origin such as https://app.example.com",
            ));
        }
    }
    Ok(list)
}

/// Every setting's checked value, by name; `Config::resolve` takes them out
/// one by one, typed.
#[derive(Debug, Default)]
pub(crate) struct Values(BTreeMap<&'static str, Value>);

impl Values {
    pub fn insert(&mut self, name: &'static str, value: Value) {
        self.0.insert(name, value);
    }

    /// Takes the value of setting `name`, which must be of the kind that
    /// `pick` accepts. Otherwise the table and `Config::resolve` disagree,
    /// which the module's tests catch: every resolve takes every value.
    fn take<T>(
        &mut self,
        name: &str,
        pick: impl FnOnce(Value) -> Option<T>,
    ) -> Result<T, ConfigError> {
        self.0.remove(name).and_then(pick).ok_or_else(|| {
            ConfigError(format!(
                "setting `{name}` is missing from the table or of another kind (a bug in roster)"
            ))
        })
    }

    getters! {
        number -> u64 = Number,
        rate -> Option<u32> = Rate,
        boolean -> bool = Bool,
        text -> String = Text,
        address -> SocketAddr = Address,
        path -> Option<PathBuf> = Path,
        list -> Vec<String> = List,
        url -> Option<String> = Url,
    }

    /// A path that has a default, so it is always set.
    pub fn required_path(&mut self, name: &str) -> Result<PathBuf, ConfigError> {
        self.take(name, |v| match v {
            Value::Path(p) => p,
            _ => None,
        })
    }

    pub fn choice(&mut self, name: &str) -> Result<&'static str, ConfigError> {
        self.take(name, |v| match v {
            Value::Choice(c) => Some(c),
            _ => None,
        })
    }
}
