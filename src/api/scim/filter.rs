//! SCIM filters (RFC 7644 §3.4.2.2): parsed into a [`Filter`], evaluated
//! on a resource's SCIM JSON. Attribute names are case-insensitive; string
//! comparisons too, except for the attributes SCIM makes case-exact (`id`,
//! `externalId`, `meta.version`). Timestamps compare as times.
//!
//! [`Filter::lookups`] tells whether a filter can only match resources
//! found by an exact lookup (`id`, `userName`, an email, `externalId`,
//! `displayName` with `eq`), so that a list need not scan.

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Longest filter accepted, in bytes.
pub const FILTER_MAX: usize = 4096;
/// Deepest nesting of parentheses and `not`.
const DEPTH_MAX: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// An attribute path: an optional schema URN, a name, a sub-attribute.
/// Names are kept lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare(AttrPath, Op, Value),
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`, optionally followed by `.sub` and a comparison
    /// (`emails[type eq "work"].value eq "x"` is parsed as the value path
    /// with `then`).
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
        then: Option<Box<Filter>>,
    },
}

/// An exact lookup a filter reduces to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Id(String),
    UserName(String),
    Email(String),
    ExternalId(String),
    DisplayName(String),
}

/// Parses a filter; the error says what is wrong, for `invalidFilter`.
pub fn parse(input: &str) -> Result<Filter, String> {
    if input.len() > FILTER_MAX {
        return Err(format!("the filter is longer than {FILTER_MAX} bytes"));
    }
    let tokens = lex(input)?;
    let mut p = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    let f = p.or()?;
    match p.peek() {
        None => Ok(f),
        Some(t) => Err(format!("unexpected {t:?} after a complete filter")),
    }
}

/// Parses an attribute path on its own (PATCH paths use this).
pub fn parse_path(input: &str) -> Result<AttrPath, String> {
    attr_path(input)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
}

fn lex(input: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                out.push(Token::Open);
                chars.next();
            }
            ')' => {
                out.push(Token::Close);
                chars.next();
            }
            '[' => {
                out.push(Token::OpenBracket);
                chars.next();
            }
            ']' => {
                out.push(Token::CloseBracket);
                chars.next();
            }
            '"' => {
                // A JSON string: find its end, then let serde unescape it.
                chars.next();
                let mut end = None;
                let mut escaped = false;
                for (j, d) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if d == '\\' {
                        escaped = true;
                    } else if d == '"' {
                        end = Some(j);
                        break;
                    }
                }
                let end = end.ok_or("a string is not closed")?;
                let s: String = serde_json::from_str(&input[i..=end])
                    .map_err(|_| "a string has a bad escape".to_owned())?;
                out.push(Token::Str(s));
            }
            _ => {
                let start = i;
                let mut end = input.len();
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_whitespace() || matches!(d, '(' | ')' | '[' | ']' | '"') {
                        end = j;
                        break;
                    }
                    chars.next();
                }
                out.push(Token::Word(input[start..end].to_owned()));
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > DEPTH_MAX {
            return Err(format!("the filter nests deeper than {DEPTH_MAX}"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.next();
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.next();
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        if self.keyword("not") {
            self.next();
            self.deeper()?;
            if self.next() != Some(Token::Open) {
                return Err("`not` must be followed by `(`".into());
            }
            let inner = self.or()?;
            if self.next() != Some(Token::Close) {
                return Err("a `(` is not closed".into());
            }
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Token::Open) {
            self.next();
            self.deeper()?;
            let inner = self.or()?;
            if self.next() != Some(Token::Close) {
                return Err("a `(` is not closed".into());
            }
            self.depth -= 1;
            return Ok(inner);
        }
        self.attr_expression()
    }

    fn attr_expression(&mut self) -> Result<Filter, String> {
        let word = match self.next() {
            Some(Token::Word(w)) => w,
            Some(t) => return Err(format!("expected an attribute, found {t:?}")),
            None => return Err("the filter ends where an attribute was expected".into()),
        };
        if self.peek() == Some(&Token::OpenBracket) {
            self.next();
            self.deeper()?;
            let path = attr_path(&word)?;
            let inner = self.or()?;
            if self.next() != Some(Token::CloseBracket) {
                return Err("a `[` is not closed".into());
            }
            self.depth -= 1;
            // `emails[type eq "work"].value eq "x"`: the sub-attribute is
            // lexed as a word starting with '.'.
            let then = match self.peek() {
                Some(Token::Word(w)) if w.starts_with('.') => {
                    let sub = w[1..].to_owned();
                    self.next();
                    let sub_path = AttrPath {
                        urn: None,
                        name: sub.to_lowercase(),
                        sub: None,
                    };
                    Some(Box::new(self.comparison(sub_path)?))
                }
                _ => None,
            };
            return Ok(Filter::ValuePath {
                path,
                filter: Box::new(inner),
                then,
            });
        }
        let path = attr_path(&word)?;
        self.comparison(path)
    }

    fn comparison(&mut self, path: AttrPath) -> Result<Filter, String> {
        let op = match self.next() {
            Some(Token::Word(w)) => w.to_lowercase(),
            _ => return Err("expected an operator after the attribute".into()),
        };
        let op = match op.as_str() {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            other => return Err(format!("unknown operator {other:?}")),
        };
        let value = match self.next() {
            Some(Token::Str(s)) => Value::String(s),
            Some(Token::Word(w)) => match w.to_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => serde_json::from_str::<serde_json::Number>(&w)
                    .map(Value::Number)
                    .map_err(|_| format!("{w:?} is not a value (strings are quoted)"))?,
            },
            _ => return Err("expected a value after the operator".into()),
        };
        Ok(Filter::Compare(path, op, value))
    }
}

/// `urn:…:User:name.givenName` → (urn, name, sub).
fn attr_path(word: &str) -> Result<AttrPath, String> {
    let bad = || format!("{word:?} is not an attribute path");
    let (urn, rest) = if word.to_lowercase().starts_with("urn:") {
        let cut = word.rfind(':').ok_or_else(bad)?;
        (Some(word[..cut].to_lowercase()), &word[cut + 1..])
    } else {
        (None, word)
    };
    let (name, sub) = match rest.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    let valid = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
    };
    if !valid(name) || sub.is_some_and(|s| !valid(s)) {
        return Err(bad());
    }
    Ok(AttrPath {
        urn,
        name: name.to_lowercase(),
        sub: sub.map(str::to_lowercase),
    })
}

impl AttrPath {
    /// The values this path names in `resource` (several for a
    /// multi-valued attribute), with whether they compare case-exactly.
    fn values<'a>(&self, resource: &'a Value) -> (Vec<&'a Value>, bool) {
        let base = match &self.urn {
            Some(urn) => match find_key(resource, urn) {
                // The URN of the resource's core schema names its own
                // attributes; an extension's, its object.
                Some(ext) if ext.is_object() => ext,
                _ => resource,
            },
            None => resource,
        };
        let mut out = Vec::new();
        if let Some(v) = find_key(base, &self.name) {
            collect(v, self.sub.as_deref(), &mut out);
        }
        let exact = self.sub.is_none() && matches!(self.name.as_str(), "id" | "externalid")
            || (self.name == "meta" && self.sub.as_deref() == Some("version"));
        (out, exact)
    }
}

fn collect<'a>(v: &'a Value, sub: Option<&str>, out: &mut Vec<&'a Value>) {
    match (v, sub) {
        (Value::Array(items), _) => items.iter().for_each(|i| collect(i, sub, out)),
        (Value::Object(_), Some(s)) => {
            if let Some(x) = find_key(v, s) {
                collect(x, None, out);
            }
        }
        // A multi-valued attribute of simple values, or of objects with a
        // `value`: `emails eq "x"` compares the values.
        (Value::Object(_), None) => match find_key(v, "value") {
            Some(x) if !x.is_object() => out.push(x),
            _ => out.push(v),
        },
        (Value::Null, _) => {}
        (_, None) => out.push(v),
        (_, Some(_)) => {}
    }
}

/// The member of object `v` named `name`, without regard to case.
pub fn find_key<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, x)| x)
}

impl Filter {
    /// Whether the filter reads attribute `name` (lower case).
    pub fn mentions(&self, name: &str) -> bool {
        match self {
            Filter::Compare(p, _, _) | Filter::Present(p) => p.name == name,
            Filter::And(a, b) | Filter::Or(a, b) => a.mentions(name) || b.mentions(name),
            Filter::Not(a) => a.mentions(name),
            Filter::ValuePath { path, .. } => path.name == name,
        }
    }

    /// Whether `resource` (SCIM JSON) matches.
    pub fn matches(&self, resource: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(resource) && b.matches(resource),
            Filter::Or(a, b) => a.matches(resource) || b.matches(resource),
            Filter::Not(a) => !a.matches(resource),
            Filter::Present(path) => {
                let (values, _) = path.values(resource);
                values.iter().any(|v| match v {
                    Value::String(s) => !s.is_empty(),
                    Value::Array(a) => !a.is_empty(),
                    Value::Object(o) => !o.is_empty(),
                    Value::Null => false,
                    _ => true,
                })
            }
            Filter::Compare(path, op, value) => {
                let (values, exact) = path.values(resource);
                if *op == Op::Ne {
                    return !values.iter().any(|v| compare(v, Op::Eq, value, exact));
                }
                values.iter().any(|v| compare(v, *op, value, exact))
            }
            Filter::ValuePath { path, filter, then } => {
                let Some(attr) = path.values_raw(resource) else {
                    return false;
                };
                let items: Vec<&Value> = match attr {
                    Value::Array(a) => a.iter().collect(),
                    other => vec![other],
                };
                items
                    .into_iter()
                    .filter(|item| filter.matches(item))
                    .any(|item| then.as_ref().is_none_or(|t| t.matches(item)))
            }
        }
    }

    /// Exact lookups such that every match of this filter is among their
    /// results; `None` when some match could be elsewhere (a scan).
    pub fn lookups(&self) -> Option<Vec<Lookup>> {
        match self {
            Filter::Compare(path, Op::Eq, Value::String(s)) => {
                let lookup = match (path.name.as_str(), path.sub.as_deref()) {
                    ("id", None) => Lookup::Id(s.clone()),
                    ("username", None) => Lookup::UserName(s.clone()),
                    ("emails", None | Some("value")) => Lookup::Email(s.clone()),
                    ("externalid", None) => Lookup::ExternalId(s.clone()),
                    ("displayname", None) => Lookup::DisplayName(s.clone()),
                    _ => return None,
                };
                Some(vec![lookup])
            }
            Filter::ValuePath {
                path,
                then: Some(then),
                ..
            } if path.name == "emails" => match then.as_ref() {
                Filter::Compare(p, Op::Eq, Value::String(s)) if p.name == "value" => {
                    Some(vec![Lookup::Email(s.clone())])
                }
                _ => None,
            },
            Filter::And(a, b) => a.lookups().or_else(|| b.lookups()),
            Filter::Or(a, b) => {
                let mut l = a.lookups()?;
                l.extend(b.lookups()?);
                Some(l)
            }
            _ => None,
        }
    }
}

impl AttrPath {
    fn values_raw<'a>(&self, resource: &'a Value) -> Option<&'a Value> {
        let base = match &self.urn {
            Some(urn) => find_key(resource, urn)
                .filter(|v| v.is_object())
                .unwrap_or(resource),
            None => resource,
        };
        find_key(base, &self.name)
    }
}

fn compare(have: &Value, op: Op, want: &Value, exact: bool) -> bool {
    use std::cmp::Ordering;
    let order: Option<Ordering> = match (have, want) {
        (Value::String(a), Value::String(b)) => {
            if let (Ok(x), Ok(y)) = (
                OffsetDateTime::parse(a, &Rfc3339),
                OffsetDateTime::parse(b, &Rfc3339),
            ) {
                Some(x.cmp(&y))
            } else {
                let (a, b) = if exact {
                    (a.clone(), b.clone())
                } else {
                    (a.to_lowercase(), b.to_lowercase())
                };
                return match op {
                    Op::Eq => a == b,
                    Op::Ne => a != b,
                    Op::Co => a.contains(&b),
                    Op::Sw => a.starts_with(&b),
                    Op::Ew => a.ends_with(&b),
                    Op::Gt => a > b,
                    Op::Ge => a >= b,
                    Op::Lt => a < b,
                    Op::Le => a <= b,
                };
            }
        }
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(x, y)| x.partial_cmp(&y)),
        (Value::Bool(a), Value::Bool(b)) => match op {
            Op::Eq => return a == b,
            Op::Ne => return a != b,
            _ => return false,
        },
        // Booleans some clients send as strings.
        (Value::Bool(a), Value::String(b)) | (Value::String(b), Value::Bool(a)) => {
            return match (op, b.to_lowercase().as_str()) {
                (Op::Eq, "true") => *a,
                (Op::Eq, "false") => !*a,
                _ => false,
            };
        }
        (_, Value::Null) => return op == Op::Ne,
        _ => None,
    };
    let Some(o) = order else { return false };
    match op {
        Op::Eq => o == Ordering::Equal,
        Op::Ne => o != Ordering::Equal,
        Op::Gt => o == Ordering::Greater,
        Op::Ge => o != Ordering::Less,
        Op::Lt => o == Ordering::Less,
        Op::Le => o != Ordering::Greater,
        Op::Co | Op::Sw | Op::Ew => false,
    }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
