//! The parts of a user, each valid by construction: its id, email address,
//! username, display name, roles, status and free-form attributes. Every
//! value that reaches the store went through a `parse` here.

use serde_json::{Map, Value};
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

/// Declares an id type: a UUIDv7, so ids sort by creation time.
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses the canonical hyphenated form (other UUID spellings
            /// are accepted too, as the uuid crate does).
            pub fn parse(s: &str) -> Option<Self> {
                Uuid::try_parse(s).ok().map(Self)
            }

            pub fn as_u128(self) -> u128 {
                self.0.as_u128()
            }

            pub fn from_u128(v: u128) -> Self {
                Self(Uuid::from_u128(v))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A user id.
    UserId
);
uuid_id!(
    /// A group id.
    GroupId
);

/// The accessors every parsed text value shares; `folded` for the ones that
/// are uniqueness keys.
macro_rules! parsed_text {
    ($ty:ident) => {
        impl $ty {
            /// Rebuilds a value read back from the store, which only holds
            /// parsed values.
            pub(crate) fn from_stored(s: String) -> Self {
                Self(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
    ($ty:ident, folded) => {
        parsed_text!($ty);

        impl $ty {
            /// The uniqueness key: case-folded after NFC normalisation.
            pub fn folded(&self) -> String {
                fold(&self.0)
            }
        }
    };
}

parsed_text!(Email, folded);
parsed_text!(Username, folded);
parsed_text!(Name);

/// An email address, NFC-normalised. Syntax follows the WHATWG definition of
/// a valid email address, widened to non-ASCII letters and digits so that
/// internationalised addresses (RFC 6531) are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

const EMAIL_MAX: usize = 254;
const LOCAL_MAX: usize = 64;

impl Email {
    pub fn parse(input: &str) -> Result<Self, String> {
        let s: String = input.trim().nfc().collect();
        if s.is_empty() {
            return Err("is required".into());
        }
        if s.chars().count() > EMAIL_MAX {
            return Err(format!("must be at most {EMAIL_MAX} characters"));
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err("must be an email address such as ada@example.com".into());
        };
        let local_ok = !local.is_empty()
            && local.chars().count() <= LOCAL_MAX
            && local.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || "!#$%&'*+-/=?^_`{|}~.".contains(c)
                    || (!c.is_ascii() && c.is_alphanumeric())
            })
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        let domain_ok = !domain.is_empty()
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.chars().count() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| {
                        c.is_ascii_alphanumeric()
                            || c == '-'
                            || (!c.is_ascii() && c.is_alphanumeric())
                    })
            });
        if !local_ok || !domain_ok {
            return Err("must be an email address such as ada@example.com".into());
        }
        Ok(Self(s))
    }
}

/// A username: 1–254 of ASCII letters, digits, `.`, `_`, `-`, `@`, `+`,
/// starting with a letter or digit. ASCII only, so look-alike characters
/// cannot be used to impersonate another user. It may look like an email
/// address (identity providers use addresses as user names); the store
/// keeps usernames and email addresses one namespace, so a sign-in name
/// still names one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

const USERNAME_MAX: usize = 254;

impl Username {
    pub fn parse(input: &str) -> Result<Self, String> {
        let s = input.trim();
        if s.is_empty() || s.len() > USERNAME_MAX {
            return Err(format!("must be 1 to {USERNAME_MAX} characters"));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+'))
        {
            return Err("may contain only letters a-z, digits, '.', '_', '-', '@' and '+'".into());
        }
        if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err("must start with a letter or a digit".into());
        }
        // A UUID would make path look-ups ambiguous. (One that is another
        // user's email address is refused by the store.)
        if Uuid::try_parse(s).is_ok() {
            return Err("must not be a UUID".into());
        }
        Ok(Self(s.to_owned()))
    }
}

/// Case-folding used for every uniqueness key: NFC, then lower case.
pub fn fold(s: &str) -> String {
    s.nfc().collect::<String>().to_lowercase()
}

/// A display name: at most 200 characters, NFC, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

const NAME_MAX: usize = 200;

impl Name {
    /// `Ok(None)` for a blank name.
    pub fn parse(input: &str) -> Result<Option<Self>, String> {
        let s: String = input.trim().nfc().collect();
        if s.is_empty() {
            return Ok(None);
        }
        if s.chars().count() > NAME_MAX {
            return Err(format!("must be at most {NAME_MAX} characters"));
        }
        if s.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Some(Self(s)))
    }
}

/// The known roles. `admin` may do everything; `user` is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, utoipa::ToSchema)]
#[schema(as = RoleName, rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Admin, Role::User];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Role::Admin => 1,
            Role::User => 2,
        }
    }

    pub fn from_code(c: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == c)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, utoipa::ToSchema)]
#[schema(as = StatusName, rename_all = "lowercase")]
pub enum Status {
    #[default]
    Active,
    Disabled,
}

impl Status {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Status::Active),
            "disabled" => Some(Status::Disabled),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Disabled => "disabled",
        }
    }
}

/// Free-form attributes: a JSON object of at most 16 KiB when serialised.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attributes(Map<String, Value>);

pub const ATTRIBUTES_MAX_BYTES: usize = 16 * 1024;

impl Attributes {
    pub fn parse(value: Value) -> Result<Self, String> {
        let Value::Object(map) = value else {
            return Err("must be a JSON object".into());
        };
        let size = serde_json::to_vec(&map)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > ATTRIBUTES_MAX_BYTES {
            return Err(format!(
                "must be at most {ATTRIBUTES_MAX_BYTES} bytes as JSON, not {size}"
            ));
        }
        Ok(Self(map))
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub(crate) fn from_stored(map: Map<String, Value>) -> Self {
        Self(map)
    }
}
