//! Extractors whose rejections are problems: JSON object bodies and the
//! DTOs read from them, query strings with known keys only, and the
//! `If-Match` header; and the checks the small bodies share.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Map, Value};
use std::ops::RangeInclusive;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::domain::{Field, FieldError, Role, Status, Timestamp};
use crate::error::Error;
use crate::service::Precondition;

use super::problem::{Kind, Problem};

/// A request body that is a JSON object. Malformed JSON (or not UTF-8) is
/// 400; valid JSON that is not an object is 422; a body over the limit is 413;
/// a content type other than JSON is 415.
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(Problem::new(
                Kind::UnsupportedMediaType,
                "Send the body as JSON with `Content-Type: application/json`.",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(
                    Kind::PayloadTooLarge,
                    "The request body is over the size limit.",
                )
            } else {
                Problem::new(Kind::BadRequest, "The request body could not be read.")
            }
        })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(JsonObject(map)),
            Ok(_) => Err(Problem::new(
                Kind::Validation,
                "The request body must be a JSON object.",
            )),
            Err(e) => Err(Problem::new(
                Kind::MalformedJson,
                format!("The request body is not valid JSON: {e}."),
            )),
        }
    }
}

/// A request body read into the DTO `T`: a JSON object (with
/// [`JsonObject`]'s answers to anything else), each of whose fields `T`
/// reads on its own (see [`crate::domain::Field`]), so reading it does not
/// fail; checking its values is `T`'s conversion into a domain command.
///
/// The DTOs take every other key into a flattened map, so that their
/// conversion names each unknown key in a 422 (serde's
/// `deny_unknown_fields` would refuse the body at the first); their schemas
/// still say `additionalProperties: false` (see `openapi::Routes::openapi`).
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonObject(map) = JsonObject::from_request(req, state).await?;
        serde_json::from_value(Value::Object(map))
            .map(Body)
            .map_err(|e| {
                Problem::new(
                    Kind::Validation,
                    format!("The request body is not valid: {e}."),
                )
            })
    }
}

/// `application/json`, `application/merge-patch+json` or any other `+json`.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The query string as (key, value) pairs, percent-decoded, in order.
/// A key or value whose decoded bytes are not UTF-8 is 400, rather than
/// quietly becoming U+FFFD and matching something else.
pub struct QueryPairs(pub Vec<(String, String)>);

const MAX_QUERY_PAIRS: usize = 64;

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let mut pairs = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            if pairs.len() == MAX_QUERY_PAIRS {
                return Err(Problem::new(Kind::BadRequest, "Too many query parameters."));
            }
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let not_utf8 = || {
                Problem::new(
                    Kind::BadRequest,
                    "The query string is not UTF-8 once percent-decoded.",
                )
            };
            pairs.push((
                form_decode(k).ok_or_else(not_utf8)?,
                form_decode(v).ok_or_else(not_utf8)?,
            ));
        }
        Ok(QueryPairs(pairs))
    }
}

/// `application/x-www-form-urlencoded` decoding as `form_urlencoded` does
/// it (`+` is a space; a `%` not followed by two hex digits stays as is),
/// but `None` when the bytes are not UTF-8.
fn form_decode(s: &str) -> Option<String> {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex(*hi).zip(hex(*lo)),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some((hi, lo)), _) => {
                // Two hex digits make at most 0xFF.
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

impl QueryPairs {
    /// Fails with 400 naming the first key not in `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), Problem> {
        match self.0.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            Some((k, _)) => Err(Problem::new(
                Kind::BadRequest,
                format!(
                    "Unknown query parameter {k:?}; known: {}.",
                    known.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    /// The single value of `key`; 400 if it is given more than once.
    pub fn one<'a>(&'a self, key: &'a str) -> Result<Option<&'a str>, Problem> {
        let mut values = self.all(key);
        let first = values.next();
        if values.next().is_some() {
            return Err(Problem::new(
                Kind::BadRequest,
                format!("Query parameter {key:?} may be given only once."),
            ));
        }
        Ok(first)
    }

    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The single value of `key` read by `parse`; 400 saying what it
    /// `must_be` if `parse` refuses it.
    pub fn parsed<T>(
        &self,
        key: &str,
        parse: impl FnOnce(&str) -> Option<T>,
        must_be: &str,
    ) -> Result<Option<T>, Problem> {
        self.one(key)?
            .map(|v| parse(v).ok_or_else(|| bad(format!("{key} must be {must_be}, not {v:?}"))))
            .transpose()
    }

    /// A whole number in `range`, `default` when absent.
    pub fn number(
        &self,
        key: &str,
        default: usize,
        range: RangeInclusive<usize>,
    ) -> Result<usize, Problem> {
        let must_be = format!("a whole number from {} to {}", range.start(), range.end());
        let parse = |v: &str| v.parse().ok().filter(|n| range.contains(n));
        Ok(self.parsed(key, parse, &must_be)?.unwrap_or(default))
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>, Problem> {
        self.parsed(key, |v| v.parse().ok(), "true or false")
    }

    /// An RFC 3339 time.
    pub fn time(&self, key: &str) -> Result<Option<Timestamp>, Problem> {
        let parse = |v: &str| OffsetDateTime::parse(v, &Rfc3339).ok();
        let must_be = "an RFC 3339 time such as 2026-01-31T12:00:00Z";
        Ok(self
            .parsed(key, parse, must_be)?
            .map(Timestamp::from_datetime))
    }

    pub fn status(&self) -> Result<Option<Status>, Problem> {
        self.parsed("status", Status::parse, "active or disabled")
    }

    /// Every `role` given (the key may repeat).
    pub fn roles(&self) -> Result<Vec<Role>, Problem> {
        self.all("role")
            .map(|v| Role::parse(v).ok_or_else(|| bad(format!("role {v:?} is not a known role"))))
            .collect()
    }
}

fn bad(detail: String) -> Problem {
    Problem::new(Kind::BadRequest, detail)
}

/// Reads `If-Match`: absent, `*`, or one strong entity tag such as `"3"`.
/// A tag that is not one of ours (weak, or not a version) can never match.
pub fn if_match(headers: &HeaderMap) -> Result<Precondition, Problem> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(Precondition::None);
    };
    let text = value
        .to_str()
        .map_err(|_| Problem::new(Kind::BadRequest, "If-Match is not readable text."))?
        .trim();
    if text == "*" {
        return Ok(Precondition::Exists);
    }
    if text.contains(',') {
        return Err(Problem::new(
            Kind::BadRequest,
            "If-Match takes one entity tag, such as \"3\".",
        ));
    }
    Ok(parse_etag(text).map_or(Precondition::Never, Precondition::Version))
}

/// The version in a strong entity tag `"N"`.
pub fn parse_etag(text: &str) -> Option<u64> {
    text.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
}

pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// A required string of 1 to `max` characters: the small bodies of signing
/// in are checked one field at a time, in order.
pub fn required_text(
    field: Field<String>,
    name: &'static str,
    max: usize,
) -> Result<String, Error> {
    field
        .parse(
            || Err("is required".to_owned()),
            |s| match !s.is_empty() && s.chars().count() <= max {
                true => Ok(s),
                false => Err(format!("must be 1 to {max} characters")),
            },
            "must be a string",
        )
        .map_err(|m| Error::Validation(vec![FieldError::new(name, m)]))
}

/// The first key of a small body that is none of its fields, as an error.
pub fn no_other_fields(other: &Map<String, Value>) -> Result<(), Error> {
    match other.keys().next() {
        Some(k) => Err(Error::Validation(vec![FieldError::new(
            k.as_str(),
            "is not a known field",
        )])),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::form_decode;

    #[test]
    fn form_decoding_matches_form_urlencoded_on_utf8_and_refuses_the_rest() {
        for s in ["a+b", "%41%c3%A9", "100%", "%zz", "%4", "caf%C3%A9", ""] {
            let expected: String = form_urlencoded::parse(format!("k={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            assert_eq!(form_decode(s).as_deref(), Some(expected.as_str()), "{s}");
        }
        assert_eq!(form_decode("%FF"), None);
        assert_eq!(form_decode("a%C3"), None);
    }
}
