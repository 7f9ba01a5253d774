//! Webhook endpoints and their deliveries. An endpoint follows the change
//! log with its own cursor (`delivered_through`): the log itself is the
//! durable queue, so a delivery needs no row until it is attempted, and
//! order per endpoint comes from reading the log in order.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{EventType, Field, FieldError, Timestamp};

/// Longest endpoint URL accepted.
pub const MAX_URL: usize = 2048;
/// Longest description accepted, in characters.
pub const MAX_DESCRIPTION: usize = 500;
/// Most webhook endpoints a store holds: each one is a task and a cursor
/// that holds back the change log's pruning.
pub const MAX_WEBHOOKS: usize = 100;

/// A key deliveries are signed with. After a rotation the old key signs
/// too (a second signature) until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKey {
    pub key: Vec<u8>,
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub description: Option<String>,
    /// Empty: every type.
    pub event_types: Vec<EventType>,
    pub enabled: bool,
    /// Why it is disabled, when roster disabled it (`failing`).
    pub disabled_reason: Option<String>,
    /// Since when the oldest undelivered event keeps failing.
    pub failing_since: Option<Timestamp>,
    /// The last event delivered (or passed over by the filter).
    pub delivered_through: u64,
    /// The current key first, then keys still valid after a rotation.
    pub keys: Vec<SigningKey>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Webhook {
    pub fn wants(&self, t: EventType) -> bool {
        super::event::type_wanted(&self.event_types, t)
    }

    /// The keys that sign at `now`: the current one and unexpired old ones.
    pub fn signing_keys(&self, now: Timestamp) -> impl Iterator<Item = &[u8]> {
        self.keys
            .iter()
            .filter(move |k| k.expires_at.is_none_or(|t| t > now))
            .map(|k| k.key.as_slice())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Attempted, not yet accepted; tried again after a backoff.
    Pending,
    Delivered,
    /// Not delivered when its endpoint was disabled.
    Failed,
}

/// One event's delivery to one endpoint: written at its first attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub event_id: u64,
    pub event_type: EventType,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_attempt_at: Option<Timestamp>,
    pub last_status_code: Option<u16>,
    /// Why the last attempt failed (no secrets: a status or an I/O error).
    pub last_error: Option<String>,
    pub next_attempt_at: Option<Timestamp>,
}

/// A new endpoint, as validated from a request (URL syntax only: whether
/// its host may be called is the service's policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhook {
    pub url: url::Url,
    pub description: Option<String>,
    pub event_types: Vec<EventType>,
    pub enabled: bool,
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookPatch {
    pub url: Option<url::Url>,
    pub description: Option<Option<String>>,
    pub event_types: Option<Vec<EventType>>,
    pub enabled: Option<bool>,
}

impl NewWebhook {
    /// Like a patch, but the URL is required.
    pub fn parse(
        url: Field<String>,
        description: Field<String>,
        event_types: Field<Vec<serde_json::Value>>,
        enabled: Field<bool>,
    ) -> Result<Self, Vec<FieldError>> {
        let p = WebhookPatch::parse_fields(url, description, event_types, enabled, true)?;
        Ok(Self {
            url: p.url.expect("a required url was checked"),
            description: p.description.flatten(),
            event_types: p.event_types.unwrap_or_default(),
            enabled: p.enabled.unwrap_or(true),
        })
    }
}

impl WebhookPatch {
    pub fn parse(
        url: Field<String>,
        description: Field<String>,
        event_types: Field<Vec<serde_json::Value>>,
        enabled: Field<bool>,
    ) -> Result<Self, Vec<FieldError>> {
        Self::parse_fields(url, description, event_types, enabled, false)
    }

    /// Every field checked, all errors reported together.
    fn parse_fields(
        url: Field<String>,
        description: Field<String>,
        event_types: Field<Vec<serde_json::Value>>,
        enabled: Field<bool>,
        url_required: bool,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let url = parse_url(url, url_required).map_err(|e| errors.push(e));
        let description = parse_description(description).map_err(|e| errors.push(e));
        let event_types = parse_types(event_types).map_err(|e| errors.push(e));
        let enabled = parse_enabled(enabled).map_err(|e| errors.push(e));
        match (url, description, event_types, enabled) {
            (Ok(url), Ok(description), Ok(event_types), Ok(enabled)) if errors.is_empty() => {
                Ok(Self {
                    url,
                    description,
                    event_types,
                    enabled,
                })
            }
            _ => Err(errors),
        }
    }
}

fn parse_url(f: Field<String>, required: bool) -> Result<Option<url::Url>, FieldError> {
    let err = |m: &str| FieldError::new("url", m);
    let s = match f {
        Field::Absent if required => return Err(err("is required")),
        Field::Absent => return Ok(None),
        Field::WrongType => return Err(err("must be a URL")),
        Field::Given(s) => s,
    };
    if s.len() > MAX_URL {
        return Err(err(&format!("must be at most {MAX_URL} characters")));
    }
    let url = url::Url::parse(s.trim()).map_err(|_| err("must be an absolute http(s) URL"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return Err(err("must be an absolute http(s) URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(err(
            "must not carry credentials; verify the signature instead",
        ));
    }
    if url.fragment().is_some() {
        return Err(err("must not have a fragment"));
    }
    Ok(Some(url))
}

/// `Some(None)`: given as empty (cleared); `None`: absent.
fn parse_description(f: Field<String>) -> Result<Option<Option<String>>, FieldError> {
    match f {
        Field::Absent => Ok(None),
        Field::WrongType => Err(FieldError::new("description", "must be a string")),
        Field::Given(s) => {
            let s = s.trim();
            if s.chars().count() > MAX_DESCRIPTION {
                return Err(FieldError::new(
                    "description",
                    format!("must be at most {MAX_DESCRIPTION} characters"),
                ));
            }
            Ok(Some((!s.is_empty()).then(|| s.to_owned())))
        }
    }
}

fn parse_types(f: Field<Vec<serde_json::Value>>) -> Result<Option<Vec<EventType>>, FieldError> {
    let names = EventType::ALL.map(EventType::as_str).join(", ");
    let err = || FieldError::new("event_types", format!("must be an array of: {names}"));
    match f {
        Field::Absent => Ok(None),
        Field::WrongType => Err(err()),
        Field::Given(items) => {
            let mut out = Vec::new();
            for item in &items {
                let t = item.as_str().and_then(EventType::parse).ok_or_else(err)?;
                if !out.contains(&t) {
                    out.push(t);
                }
            }
            Ok(Some(out))
        }
    }
}

fn parse_enabled(f: Field<bool>) -> Result<Option<bool>, FieldError> {
    match f {
        Field::Absent => Ok(None),
        Field::WrongType => Err(FieldError::new("enabled", "must be true or false")),
        Field::Given(b) => Ok(Some(b)),
    }
}
