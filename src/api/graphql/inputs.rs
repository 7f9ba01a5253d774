//! Input types, and their conversion into the REST bodies (and from those
//! into the service's commands), so a GraphQL write is checked field by
//! field exactly as the same REST write is.

use async_graphql::{Enum, InputObject, Json, MaybeUndefined};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::domain::{ListOrder, NewUser, SearchSort, Timestamp, UserPatch};
use crate::error::Error;

use super::super::groups::GroupReplace;
use super::super::users::{UserCreate, UserPatch as PatchBody};
use super::types::{Role, UserStatus};

/// The order of `users`.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub enum UserSort {
    /// Oldest first.
    #[default]
    CreatedAt,
    /// Newest first.
    CreatedAtDesc,
    Email,
}

impl From<UserSort> for ListOrder {
    fn from(s: UserSort) -> Self {
        match s {
            UserSort::CreatedAt => ListOrder::CreatedAsc,
            UserSort::CreatedAtDesc => ListOrder::CreatedDesc,
            UserSort::Email => ListOrder::Email,
        }
    }
}

/// The order of `searchUsers`.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub enum SearchOrder {
    #[default]
    Relevance,
    CreatedAt,
    CreatedAtDesc,
    Name,
}

impl From<SearchOrder> for SearchSort {
    fn from(s: SearchOrder) -> Self {
        match s {
            SearchOrder::Relevance => SearchSort::Relevance,
            SearchOrder::CreatedAt => SearchSort::CreatedAsc,
            SearchOrder::CreatedAtDesc => SearchSort::CreatedDesc,
            SearchOrder::Name => SearchSort::Name,
        }
    }
}

/// A facet to count over the matches.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum Facet {
    Status,
    Roles,
    MfaEnabled,
    /// By group name; the 50 groups with most matches.
    Groups,
}

/// Which users `users` lists.
#[derive(InputObject, Default)]
pub struct UserFilter {
    /// Any of these roles.
    pub roles: Option<Vec<Role>>,
    pub status: Option<UserStatus>,
    pub created_after: Option<OffsetDateTime>,
    pub created_before: Option<OffsetDateTime>,
}

/// Which users `searchUsers` may return.
#[derive(InputObject, Default)]
pub struct SearchFilter {
    pub status: Option<UserStatus>,
    /// Any of these (own) roles.
    pub roles: Option<Vec<Role>>,
    /// Members of any of these groups, by id or name.
    #[graphql(validator(max_items = 50))]
    pub groups: Option<Vec<String>>,
    pub created_after: Option<OffsetDateTime>,
    pub created_before: Option<OffsetDateTime>,
    pub email_verified: Option<bool>,
    pub mfa_enabled: Option<bool>,
}

/// A new user. `password` is write-only; without one the user cannot sign
/// in until one is set.
#[derive(InputObject)]
pub struct CreateUserInput {
    pub email: String,
    pub username: Option<String>,
    pub name: Option<String>,
    /// Default `[USER]`.
    pub roles: Option<Vec<Role>>,
    pub status: Option<UserStatus>,
    pub email_verified: Option<bool>,
    /// A JSON object of at most 16 KiB serialised.
    pub attributes: Option<Json<Value>>,
    pub password: Option<String>,
}

/// Changes to a user: a field left out stays, `null` takes its default
/// (a JSON merge patch, as `PATCH /api/v1/users/{id}`).
#[derive(InputObject)]
pub struct UpdateUserInput {
    pub email: MaybeUndefined<String>,
    pub username: MaybeUndefined<String>,
    pub name: MaybeUndefined<String>,
    pub roles: MaybeUndefined<Vec<Role>>,
    pub status: MaybeUndefined<UserStatus>,
    pub email_verified: MaybeUndefined<bool>,
    /// Merged into the current attributes (`null` values remove keys).
    pub attributes: MaybeUndefined<Json<Value>>,
}

/// A new group.
#[derive(InputObject)]
pub struct CreateGroupInput {
    pub name: String,
    pub description: Option<String>,
    /// Granted to every member on top of its own.
    pub roles: Option<Vec<Role>>,
    pub attributes: Option<Json<Value>>,
}

fn roles_json(roles: Vec<Role>) -> Value {
    Value::from(roles.into_iter().map(Role::as_str).collect::<Vec<_>>())
}

fn status_json(s: UserStatus) -> Value {
    Value::from(crate::domain::Status::from(s).as_str())
}

/// Sets `key` when `value` is given.
fn put(body: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        body.insert(key.to_owned(), v);
    }
}

/// Sets `key` to the value or `null`; leaves it out when undefined.
fn patch(body: &mut Map<String, Value>, key: &str, value: MaybeUndefined<Value>) {
    match value {
        MaybeUndefined::Undefined => {}
        MaybeUndefined::Null => {
            body.insert(key.to_owned(), Value::Null);
        }
        MaybeUndefined::Value(v) => {
            body.insert(key.to_owned(), v);
        }
    }
}

/// A JSON body the REST layer reads: a malformed one is a 422 there too.
fn read_body<T: serde::de::DeserializeOwned>(body: Map<String, Value>) -> Result<T, Error> {
    serde_json::from_value(Value::Object(body))
        .map_err(|e| Error::BadRequest(format!("input: {e}")))
}

impl TryFrom<CreateUserInput> for NewUser {
    type Error = Error;

    fn try_from(i: CreateUserInput) -> Result<Self, Error> {
        let mut body = Map::new();
        body.insert("email".into(), Value::from(i.email));
        put(&mut body, "username", i.username.map(Value::from));
        put(&mut body, "name", i.name.map(Value::from));
        put(&mut body, "roles", i.roles.map(roles_json));
        put(&mut body, "status", i.status.map(status_json));
        put(
            &mut body,
            "email_verified",
            i.email_verified.map(Value::from),
        );
        put(&mut body, "attributes", i.attributes.map(|j| j.0));
        put(&mut body, "password", i.password.map(Value::from));
        read_body::<UserCreate>(body)?.try_into()
    }
}

impl TryFrom<UpdateUserInput> for UserPatch {
    type Error = Error;

    fn try_from(i: UpdateUserInput) -> Result<Self, Error> {
        let mut body = Map::new();
        patch(&mut body, "email", i.email.map_value(Value::from));
        patch(&mut body, "username", i.username.map_value(Value::from));
        patch(&mut body, "name", i.name.map_value(Value::from));
        patch(&mut body, "roles", i.roles.map_value(roles_json));
        patch(&mut body, "status", i.status.map_value(status_json));
        patch(
            &mut body,
            "email_verified",
            i.email_verified.map_value(Value::from),
        );
        patch(&mut body, "attributes", i.attributes.map_value(|j| j.0));
        read_body::<PatchBody>(body)?.try_into()
    }
}

impl TryFrom<CreateGroupInput> for crate::domain::GroupDraft {
    type Error = Error;

    fn try_from(i: CreateGroupInput) -> Result<Self, Error> {
        let mut body = Map::new();
        body.insert("name".into(), Value::from(i.name));
        put(&mut body, "description", i.description.map(Value::from));
        put(&mut body, "roles", i.roles.map(roles_json));
        put(&mut body, "attributes", i.attributes.map(|j| j.0));
        read_body::<GroupReplace>(body)?.try_into()
    }
}

/// A time argument as the search's bound.
pub fn timestamp(t: Option<OffsetDateTime>) -> Option<Timestamp> {
    t.map(Timestamp::from_datetime)
}
