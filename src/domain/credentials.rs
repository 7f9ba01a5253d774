//! What authentication keeps and checks: passwords as people type them,
//! API key scopes, login sessions, API keys and audit entries. Times are
//! [`Timestamp`]s; the stored forms are these types' serde encodings.

use uuid::Uuid;

use super::{Field, FieldError, Timestamp};

/// A password as given by a person: 8 to 1024 characters. Never stored,
/// logged or returned; only its argon2id hash is kept.
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    pub const MIN: usize = 8;
    pub const MAX: usize = 1024;

    pub fn parse(s: &str) -> Result<Self, String> {
        let n = s.chars().count();
        if n < Self::MIN {
            return Err(format!("must be at least {} characters", Self::MIN));
        }
        if n > Self::MAX {
            return Err(format!("must be at most {} characters", Self::MAX));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The `password` field of a request body: absent and `null` are
    /// `None`, an error when `required`.
    pub fn from_field(field: Field<String>, required: bool) -> Result<Option<Self>, FieldError> {
        field
            .parse(
                || match required {
                    true => Err("is required".to_owned()),
                    false => Ok(None),
                },
                |s| Self::parse(&s).map(Some),
                "must be a string",
            )
            .map_err(|m| FieldError::new("password", m))
    }
}

/// What an API key may do. `admin` implies the others. Stored (and shown)
/// as its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, utoipa::ToSchema)]
#[schema(as = ScopeName)]
pub enum Scope {
    #[schema(rename = "users:read")]
    UsersRead,
    #[schema(rename = "users:write")]
    UsersWrite,
    #[schema(rename = "admin")]
    Admin,
    /// SCIM provisioning (`/scim/v2`): users and groups, read and write.
    #[schema(rename = "scim")]
    Scim,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::UsersRead,
        Scope::UsersWrite,
        Scope::Admin,
        Scope::Scim,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::UsersRead => "users:read",
            Scope::UsersWrite => "users:write",
            Scope::Admin => "admin",
            Scope::Scim => "scim",
        }
    }
}

/// A login session: one refresh-token family. The refresh token itself is
/// never stored, only the SHA-256 of each token issued.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    /// How many times the refresh token was rotated; the current token has
    /// this generation, every older one is spent.
    pub generation: u32,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked: bool,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// How its sign-in was proven; kept for the tokens its refreshes
    /// issue. Stored after the record (older records have none).
    #[serde(skip)]
    pub amr: Vec<super::AuthMethod>,
}

/// An API key, without its secret (only the secret's SHA-256 is stored).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The first characters of the secret, to recognise a key in a list.
    pub prefix: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub created_by: Option<String>,
    /// Its own request limit (per second), instead of the server's.
    /// Stored after the record (older records have none), so not part of
    /// its serde form.
    #[serde(skip)]
    pub rate_limit: Option<u32>,
    /// When it was last used, to the minute (saved in batches); stored
    /// after the record like `rate_limit`.
    #[serde(skip)]
    pub last_used_at: Option<Timestamp>,
}

/// The highest request limit a key may be given, per second.
pub const MAX_KEY_RATE_LIMIT: u64 = 1_000_000;

/// One security or administrative event.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: Timestamp,
    pub action: String,
    /// Who did it: `user:<id>`, `key:<id>`, `system`, or the login name tried.
    pub actor: Option<String>,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub outcome: Outcome,
    pub detail: Option<String>,
}

/// How an audited attempt ended. Stored (and shown) as its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn of(success: bool) -> Self {
        if success {
            Self::Success
        } else {
            Self::Failure
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Success, Self::Failure]
            .into_iter()
            .find(|x| x.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// `Scope` and `Outcome` are written as their names: the encoding the
/// strings they replaced had, so stored keys and audit entries read as before.
macro_rules! serde_as_name {
    ($($t:ty),*) => {$(
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                <$t>::parse(&name).ok_or_else(|| {
                    serde::de::Error::custom(format_args!("unknown {}: {name:?}", stringify!($t)))
                })
            }
        }
    )*};
}
serde_as_name!(Scope, Outcome);

/// An API key to make: valid by construction (a name of 1 to 100
/// characters, at least one scope, an expiry in the future if any).
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<Timestamp>,
    pub rate_limit: Option<u32>,
}

impl NewApiKey {
    /// The key described by these fields, or every field's error.
    pub fn parse(
        name: Field<String>,
        scopes: Field<Vec<serde_json::Value>>,
        expires_at: Field<String>,
        rate_limit: Field<u64>,
        now: Timestamp,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = name
            .parse(
                || Err("is required".to_owned()),
                |s| {
                    let s = s.trim();
                    match !s.is_empty() && s.chars().count() <= 100 {
                        true => Ok(s.to_owned()),
                        false => Err("must be 1 to 100 characters".to_owned()),
                    }
                },
                "must be 1 to 100 characters",
            )
            .map_err(|m| errors.push(FieldError::new("name", m)));
        let scopes = scopes
            .parse(
                || Err("is required".to_owned()),
                |items| {
                    let mut scopes: Vec<Scope> = Vec::new();
                    for item in &items {
                        let scope = item.as_str().and_then(Scope::parse).ok_or_else(|| {
                            "must hold only users:read, users:write, admin".to_owned()
                        })?;
                        if !scopes.contains(&scope) {
                            scopes.push(scope);
                        }
                    }
                    match scopes.is_empty() {
                        true => Err("must be a non-empty array of scopes".to_owned()),
                        false => Ok(scopes),
                    }
                },
                "must be a non-empty array of scopes",
            )
            .map_err(|m| errors.push(FieldError::new("scopes", m)));
        let expires_at = expires_at
            .parse(
                || Ok(None),
                |s| {
                    let t = time::OffsetDateTime::parse(
                        &s,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .map_err(|_| "must be an RFC 3339 time".to_owned())?;
                    let t = Timestamp::from_datetime(t);
                    match t > now {
                        true => Ok(Some(t)),
                        false => Err("must be in the future".to_owned()),
                    }
                },
                "must be an RFC 3339 time",
            )
            .map_err(|m| errors.push(FieldError::new("expires_at", m)));
        let range = format!("must be a whole number from 1 to {MAX_KEY_RATE_LIMIT}");
        let rate_limit = rate_limit
            .parse(
                || Ok(None),
                |n| match (1..=MAX_KEY_RATE_LIMIT).contains(&n) {
                    true => Ok(Some(n as u32)),
                    false => Err(range.clone()),
                },
                &range,
            )
            .map_err(|m| errors.push(FieldError::new("rate_limit", m)));
        match (name, scopes, expires_at, rate_limit) {
            (Ok(name), Ok(scopes), Ok(expires_at), Ok(rate_limit)) if errors.is_empty() => {
                Ok(Self {
                    name,
                    scopes,
                    expires_at,
                    rate_limit,
                })
            }
            _ => Err(errors),
        }
    }
}
