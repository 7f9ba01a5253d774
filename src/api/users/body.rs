//! The bodies of `POST`, `PUT` and `PATCH /api/v1/users`: typed DTOs read
//! field by field (so every invalid field is reported at once) and their
//! conversions into the service's commands.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::domain::{Field, NewUser, Password, UserDraft, UserFields};
use crate::error::Error;

/// A new user. Unknown and read-only fields are refused (422).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct UserCreate {
    #[serde(default)]
    #[schema(value_type = String, required = true, format = Email, max_length = 254)]
    email: Field<String>,
    /// ASCII letters, digits, `.`, `_`, `-`, starting with a letter or digit; unique.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    username: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 200)]
    name: Field<String>,
    /// Default `["user"]`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<crate::domain::Role>>, max_items = 16)]
    roles: Field<Vec<Value>>,
    /// Default `active`.
    #[serde(default)]
    #[schema(value_type = Option<crate::domain::Status>)]
    status: Field<String>,
    /// Default `false`.
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    email_verified: Field<bool>,
    /// A JSON object of at most 16 KiB serialised.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    attributes: Field<Value>,
    /// Sets the user's password; never returned.
    #[serde(default)]
    #[schema(value_type = Option<String>, write_only, min_length = 8, max_length = 1024)]
    password: Field<String>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

impl TryFrom<UserCreate> for NewUser {
    type Error = Error;

    /// The write-only `password` is checked first and alone, then every
    /// other field at once.
    fn try_from(b: UserCreate) -> Result<Self, Error> {
        let password =
            Password::from_field(b.password, false).map_err(|e| Error::Validation(vec![e]))?;
        let draft = UserDraft::from_fields(UserFields {
            email: b.email,
            username: b.username,
            name: b.name,
            roles: b.roles,
            status: b.status,
            email_verified: b.email_verified,
            attributes: b.attributes,
            other: b.other,
        })
        .map_err(Error::Validation)?;
        Ok(NewUser { draft, password })
    }
}

/// Every writable field of a user; absent ones take their defaults.
/// Unknown and read-only fields (and `password`) are refused (422).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct UserReplace {
    #[serde(default)]
    #[schema(value_type = String, required = true, format = Email, max_length = 254)]
    email: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    username: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 200)]
    name: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<crate::domain::Role>>, max_items = 16)]
    roles: Field<Vec<Value>>,
    #[serde(default)]
    #[schema(value_type = Option<crate::domain::Status>)]
    status: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    email_verified: Field<bool>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    attributes: Field<Value>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

impl TryFrom<UserReplace> for UserDraft {
    type Error = Error;

    /// Every field's error at once.
    fn try_from(b: UserReplace) -> Result<Self, Error> {
        UserDraft::from_fields(UserFields {
            email: b.email,
            username: b.username,
            name: b.name,
            roles: b.roles,
            status: b.status,
            email_verified: b.email_verified,
            attributes: b.attributes,
            other: b.other,
        })
        .map_err(Error::Validation)
    }
}

/// A JSON merge patch (RFC 7396) of a user's writable fields: `null`
/// removes a field (it takes its default). Unknown and read-only fields,
/// and `password`, are refused (422). A field here is kept as sent, `null`
/// included, because in a merge patch `null` means "remove".
#[derive(Deserialize, utoipa::ToSchema)]
pub struct UserPatch {
    #[serde(default, deserialize_with = "as_sent")]
    #[schema(value_type = Option<String>, format = Email, max_length = 254)]
    email: Option<Value>,
    #[serde(default, deserialize_with = "as_sent")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    username: Option<Value>,
    #[serde(default, deserialize_with = "as_sent")]
    #[schema(value_type = Option<String>, max_length = 200)]
    name: Option<Value>,
    #[serde(default, deserialize_with = "as_sent")]
    #[schema(value_type = Option<Vec<crate::domain::Role>>, max_items = 16)]
    roles: Option<Value>,
    #[serde(default, deserialize_with = "as_sent")]
    #[schema(value_type = Option<crate::domain::Status>)]
    status: Option<Value>,
    #[serde(default, deserialize_with = "as_sent")]
    #[schema(value_type = Option<bool>)]
    email_verified: Option<Value>,
    /// Merged into the current attributes.
    #[serde(default, deserialize_with = "as_sent")]
    #[schema(value_type = Option<Object>)]
    attributes: Option<Value>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

/// A present field's value as sent, `null` included (serde would read a
/// `null` into an `Option` as absent).
fn as_sent<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl TryFrom<UserPatch> for crate::domain::UserPatch {
    type Error = Error;

    fn try_from(b: UserPatch) -> Result<Self, Error> {
        let mut patch = b.other;
        let fields = [
            ("email", b.email),
            ("username", b.username),
            ("name", b.name),
            ("roles", b.roles),
            ("status", b.status),
            ("email_verified", b.email_verified),
            ("attributes", b.attributes),
        ];
        for (key, value) in fields {
            if let Some(v) = value {
                patch.insert(key.to_owned(), v);
            }
        }
        crate::domain::UserPatch::parse(patch).map_err(|e| Error::Validation(vec![e]))
    }
}
