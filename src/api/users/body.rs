//! The bodies of `POST`, `PUT` and `PATCH /api/v1/users` (and of sign-up):
//! typed DTOs read field by field, so every invalid field is reported at
//! once, and their conversions into the service's commands.
//!
//! The writable fields of a user are declared once, in [`UserReplace`]; the
//! other bodies are it plus a field or two, and their schemas are its
//! schema edited accordingly (see [`composed`]).

use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Object, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::{Field, NewUser, Password, UserDraft, UserFields};
use crate::error::Error;

/// Every writable field of a user; absent ones take their defaults.
/// Unknown and read-only fields (and `password`) are refused (422).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct UserReplace {
    #[serde(default)]
    #[schema(value_type = String, required = true, format = Email, max_length = 254)]
    pub(in crate::api) email: Field<String>,
    /// ASCII letters, digits, `.`, `_`, `-`, `@`, `+`, starting with a letter or digit; not a UUID; unique, and not another user's email address.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 254, pattern = "^[A-Za-z0-9][A-Za-z0-9._@+-]*$")]
    pub(in crate::api) username: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub(in crate::api) name: Field<String>,
    /// Default `["user"]`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<crate::domain::Role>>, max_items = 16)]
    pub(in crate::api) roles: Field<Vec<Value>>,
    /// Default `active`.
    #[serde(default)]
    #[schema(value_type = Option<crate::domain::Status>)]
    pub(in crate::api) status: Field<String>,
    /// Default `false`.
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub(in crate::api) email_verified: Field<bool>,
    /// A JSON object of at most 16 KiB serialised.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub(in crate::api) attributes: Field<Value>,
    #[serde(flatten)]
    #[schema(ignore)]
    pub(in crate::api) other: Map<String, Value>,
}

impl From<UserReplace> for UserFields {
    fn from(b: UserReplace) -> Self {
        UserFields {
            email: b.email,
            username: b.username,
            name: b.name,
            roles: b.roles,
            status: b.status,
            email_verified: b.email_verified,
            attributes: b.attributes,
            other: b.other,
        }
    }
}

impl TryFrom<UserReplace> for UserDraft {
    type Error = Error;

    /// Every field's error at once.
    fn try_from(b: UserReplace) -> Result<Self, Error> {
        UserDraft::from_fields(b.into()).map_err(Error::Validation)
    }
}

/// A new user: the fields of [`UserReplace`] and a write-only `password`.
#[derive(Deserialize)]
pub struct UserCreate {
    #[serde(default)]
    password: Field<String>,
    #[serde(flatten)]
    fields: UserReplace,
}

impl TryFrom<UserCreate> for NewUser {
    type Error = Error;

    /// The write-only `password` is checked first and alone, then every
    /// other field at once.
    fn try_from(b: UserCreate) -> Result<Self, Error> {
        let password =
            Password::from_field(b.password, false).map_err(|e| Error::Validation(vec![e]))?;
        let draft = b.fields.try_into()?;
        Ok(NewUser { draft, password })
    }
}

impl PartialSchema for UserCreate {
    fn schema() -> RefOr<Schema> {
        composed::<UserReplace>(
            "A new user. Unknown and read-only fields are refused (422).",
            |o| {
                o.properties.insert(
                    "password".into(),
                    password(false, "Sets the user's password; never returned."),
                );
            },
        )
    }
}

impl ToSchema for UserCreate {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <UserReplace as ToSchema>::schemas(schemas);
    }
}

/// A JSON merge patch (RFC 7396) of a user's writable fields, kept as sent:
/// in a merge patch `null` means "remove" (the field takes its default), so
/// the patch is applied to the current user before anything is checked.
#[derive(Deserialize)]
pub struct UserPatch(Map<String, Value>);

impl TryFrom<UserPatch> for crate::domain::UserPatch {
    type Error = Error;

    fn try_from(b: UserPatch) -> Result<Self, Error> {
        crate::domain::UserPatch::parse(b.0).map_err(|e| Error::Validation(vec![e]))
    }
}

impl PartialSchema for UserPatch {
    fn schema() -> RefOr<Schema> {
        merge_patch_of::<UserReplace>(
            "A JSON merge patch (RFC 7396) of a user's writable fields: `null` \
             removes a field (it takes its default). Unknown and read-only fields, \
             and `password`, are refused (422).",
        )
    }
}

/// The schema of a merge patch of `T`'s fields: none required, each may
/// also be `null`.
pub(in crate::api) fn merge_patch_of<T: PartialSchema>(description: &str) -> RefOr<Schema> {
    composed::<T>(description, |o| {
        o.required.clear();
        for property in o.properties.values_mut() {
            if let RefOr::T(Schema::Object(p)) = property
                && let SchemaType::Type(t) = p.schema_type.clone()
            {
                p.schema_type = SchemaType::from_iter([t, Type::Null]);
            }
        }
    })
}

impl ToSchema for UserPatch {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <UserReplace as ToSchema>::schemas(schemas);
    }
}

/// `T`'s object schema with a new description, edited by `edit`.
pub(in crate::api) fn composed<T: PartialSchema>(
    description: &str,
    edit: impl FnOnce(&mut Object),
) -> RefOr<Schema> {
    let RefOr::T(Schema::Object(mut o)) = T::schema() else {
        unreachable!("a derived struct schema is an inline object")
    };
    o.description = Some(description.to_owned());
    edit(&mut o);
    RefOr::T(Schema::Object(o))
}

/// A `password` property: 8 to 1024 characters, write-only.
pub(in crate::api) fn password(required: bool, description: &str) -> RefOr<Schema> {
    let t = match required {
        true => SchemaType::Type(Type::String),
        false => SchemaType::from_iter([Type::String, Type::Null]),
    };
    ObjectBuilder::new()
        .schema_type(t)
        .description(Some(description))
        .write_only(true)
        .min_length(Some(8))
        .max_length(Some(1024))
        .into()
}
