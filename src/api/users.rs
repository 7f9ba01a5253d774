//! `/api/v1/users`: parse bodies into domain commands, call the service,
//! render. No rules live here.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::auth::policy::Caller;
use crate::domain::{
    Field, ListOrder, NewUser, Password, Role, Status, User, UserDraft, UserFields, UserId,
};
use crate::error::Error;
use crate::service::ListParams;

use super::extract::{Body, QueryPairs, etag, if_match, parse_etag};
use super::json::{Out, WriteJson};
use super::openapi as doc;
use super::problem::{Kind, Problem};
use super::state::AppState;

/// A user as the API shows it. Never carries secrets.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = User)]
pub struct UserDto<'a> {
    #[schema(value_type = uuid::Uuid)]
    id: uuid::fmt::Hyphenated,
    #[schema(value_type = String, format = Email)]
    email: &'a str,
    #[schema(value_type = Option<String>, required = true)]
    username: Option<&'a str>,
    #[schema(value_type = Option<String>, required = true)]
    name: Option<&'a str>,
    #[schema(value_type = Vec<crate::domain::Role>)]
    roles: Roles<'a>,
    #[schema(value_type = crate::domain::Status)]
    status: &'static str,
    email_verified: bool,
    /// Free-form JSON object, at most 16 KiB serialised.
    #[schema(value_type = Object)]
    attributes: &'a Map<String, Value>,
    #[schema(value_type = OffsetDateTime)]
    created_at: String,
    #[schema(value_type = OffsetDateTime)]
    updated_at: String,
    /// Increases with every change; the `ETag` is this number, quoted.
    #[schema(minimum = 1)]
    version: u64,
}

impl<'a> From<&'a User> for UserDto<'a> {
    fn from(u: &'a User) -> Self {
        Self {
            id: u.id.0.hyphenated(),
            email: u.email.as_str(),
            username: u.username.as_ref().map(|x| x.as_str()),
            name: u.name.as_ref().map(|x| x.as_str()),
            roles: Roles(&u.roles),
            status: u.status.as_str(),
            email_verified: u.email_verified,
            attributes: u.attributes.as_map(),
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
            version: u.version,
        }
    }
}

impl WriteJson for UserDto<'_> {
    fn write_json(&self, out: &mut Out) {
        out.raw("{\"id\":\"");
        out.raw(self.id.encode_lower(&mut uuid::Uuid::encode_buffer()));
        out.raw("\",\"email\":");
        out.str(self.email);
        out.raw(",\"username\":");
        out.opt_str(self.username);
        out.raw(",\"name\":");
        out.opt_str(self.name);
        out.raw(",\"roles\":");
        out.array(self.roles.0.iter().map(|r| r.as_str()));
        out.raw(",\"status\":");
        out.str(self.status);
        out.raw(",\"email_verified\":");
        out.bool(self.email_verified);
        out.raw(",\"attributes\":");
        out.serde(self.attributes);
        out.raw(",\"created_at\":");
        out.str(&self.created_at);
        out.raw(",\"updated_at\":");
        out.str(&self.updated_at);
        out.raw(",\"version\":");
        out.u64(self.version);
        out.raw("}");
    }
}

/// A user's roles by name, serialised from the user's own list.
struct Roles<'a>(&'a [Role]);

impl Serialize for Roles<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|r| r.as_str()))
    }
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// 200 (or the given status) with the user, its `ETag` and `Location`.
pub(super) fn user_response(status: StatusCode, user: &User) -> Response {
    let mut res = super::json::response(&UserDto::from(user), 640);
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&etag(user.version)).expect("a quoted number is a valid header"),
    );
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/api/v1/users/{}", user.id))
            .expect("a path with a UUID is a valid header"),
    );
    res
}

/// An id in the path that is not a UUID names no user: 404, like an unknown one.
pub(super) fn user_id(raw: &str) -> Result<UserId, Problem> {
    UserId::parse(raw).ok_or_else(|| Problem::new(Kind::NotFound, "No such user."))
}

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

/// Create a user.
///
/// The body may carry a write-only `password`; without one the user cannot
/// sign in until a password is set.
#[utoipa::path(
    post, path = "/api/v1/users", operation_id = "createUser", tag = "users",
    request_body(content = UserCreate, content_type = "application/json"),
    responses(
        (status = 201, description = "Created.", body = UserDto, headers(("ETag" = String, description = "The user's version, quoted."), ("Location" = String, description = "The user's URL."))),
        doc::Authorized,
        doc::JsonBody,
        (status = 409, response = doc::Conflict),
        (status = 503, response = doc::Unavailable),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    Body(body): Body<UserCreate>,
) -> Result<Response, Problem> {
    let user = st.users().create(&caller, body.try_into()?).await?;
    Ok(user_response(StatusCode::CREATED, &user))
}

/// Read a user.
#[utoipa::path(
    get, path = "/api/v1/users/{id}", operation_id = "getUser", tag = "users",
    params(
        ("id" = String, Path, description = "The user's id (a UUID; anything else is 404)."),
        ("If-None-Match" = Option<String>, Header, description = "Entity tags (or `*`); 304 if one is the current version."),
    ),
    responses(
        (status = 200, description = "The user.", body = UserDto, headers(("ETag" = String, description = "The user's version, quoted."), ("Location" = String, description = "The user's URL."))),
        (status = 304, description = "Not modified: the `If-None-Match` tag is current.", headers(("ETag" = String, description = "The user's version, quoted."))),
        (status = 400, response = doc::BadRequest),
        doc::Authorized,
        (status = 404, response = doc::NotFound),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let user = st.users().get(&caller, user_id(&id)?)?;
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(str::trim)
                .any(|t| t == "*" || parse_etag(t.trim_start_matches("W/")) == Some(user.version))
        });
    if not_modified {
        let mut res = StatusCode::NOT_MODIFIED.into_response();
        res.headers_mut().insert(
            header::ETAG,
            HeaderValue::from_str(&etag(user.version)).expect("a quoted number is a valid header"),
        );
        return Ok(res);
    }
    Ok(user_response(StatusCode::OK, &user))
}

/// Update a user with a JSON merge patch (RFC 7396).
#[utoipa::path(
    patch, path = "/api/v1/users/{id}", operation_id = "patchUser", tag = "users",
    params(("id" = String, Path, description = "The user's id (a UUID; anything else is 404)."), ("If-Match" = Option<String>, Header, description = "`*` or one strong entity tag such as `\"3\"`; the write happens only if it matches (else 412).")),
    request_body(content(
        (UserPatch = "application/merge-patch+json"),
        (UserPatch = "application/json"),
    )),
    responses(
        (status = 200, description = "The updated user.", body = UserDto, headers(("ETag" = String, description = "The user's version, quoted."), ("Location" = String, description = "The user's URL."))),
        doc::Authorized,
        doc::JsonBody,
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 412, response = doc::PreconditionFailed),
        (status = 503, response = doc::Unavailable),
    ),
    security(("bearer" = []))
)]
pub async fn patch(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<UserPatch>,
) -> Result<Response, Problem> {
    let id = user_id(&id)?;
    let user = st
        .users()
        .patch(&caller, id, body.try_into()?, if_match(&headers)?)
        .await?;
    Ok(user_response(StatusCode::OK, &user))
}

/// Replace every writable field of a user; absent ones take their defaults.
#[utoipa::path(
    put, path = "/api/v1/users/{id}", operation_id = "replaceUser", tag = "users",
    params(("id" = String, Path, description = "The user's id (a UUID; anything else is 404)."), ("If-Match" = Option<String>, Header, description = "`*` or one strong entity tag such as `\"3\"`; the write happens only if it matches (else 412).")),
    request_body(content = UserReplace, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated user.", body = UserDto, headers(("ETag" = String, description = "The user's version, quoted."), ("Location" = String, description = "The user's URL."))),
        doc::Authorized,
        doc::JsonBody,
        (status = 404, response = doc::NotFound),
        (status = 409, response = doc::Conflict),
        (status = 412, response = doc::PreconditionFailed),
        (status = 503, response = doc::Unavailable),
    ),
    security(("bearer" = []))
)]
pub async fn replace(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<UserReplace>,
) -> Result<Response, Problem> {
    let id = user_id(&id)?;
    let user = st
        .users()
        .replace(&caller, id, body.try_into()?, if_match(&headers)?)
        .await?;
    Ok(user_response(StatusCode::OK, &user))
}

/// Delete a user.
#[utoipa::path(
    delete, path = "/api/v1/users/{id}", operation_id = "deleteUser", tag = "users",
    params(("id" = String, Path, description = "The user's id (a UUID; anything else is 404)."), ("If-Match" = Option<String>, Header, description = "`*` or one strong entity tag such as `\"3\"`; the write happens only if it matches (else 412).")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, response = doc::BadRequest),
        doc::Authorized,
        (status = 404, response = doc::NotFound),
        (status = 412, response = doc::PreconditionFailed),
        (status = 503, response = doc::Unavailable),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    let id = user_id(&id)?;
    st.users().delete(&caller, id, if_match(&headers)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One page of users; `next_cursor` is null on the last page.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = UserPage)]
pub struct ListBody<'a> {
    items: Vec<UserDto<'a>>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

impl WriteJson for ListBody<'_> {
    fn write_json(&self, out: &mut Out) {
        out.raw("{\"items\":");
        out.array(&self.items);
        out.raw(",\"next_cursor\":");
        out.opt_str(self.next_cursor.as_deref());
        out.raw("}");
    }
}

const LIST_KEYS: [&str; 7] = [
    "limit",
    "cursor",
    "sort",
    "role",
    "status",
    "created_after",
    "created_before",
];

/// List users, cursor-paginated.
#[utoipa::path(
    get, path = "/api/v1/users", operation_id = "listUsers", tag = "users",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size (default 50)."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page; only valid with the same `sort`."),
        ("sort" = Option<crate::domain::ListOrder>, Query, description = "Order (default `created_at`)."),
        ("role" = Option<Vec<crate::domain::Role>>, Query, style = Form, explode, description = "Only users with any of these roles; repeat the key for several."),
        ("status" = Option<crate::domain::Status>, Query, description = "Only users with this status."),
        ("created_after" = Option<OffsetDateTime>, Query, description = "Only users created strictly after this RFC 3339 time."),
        ("created_before" = Option<OffsetDateTime>, Query, description = "Only users created strictly before this RFC 3339 time."),
    ),
    responses(
        (status = 200, description = "One page of users.", body = ListBody),
        (status = 400, response = doc::BadRequest),
        doc::Authorized,
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    query: QueryPairs,
) -> Result<Response, Problem> {
    query.only(&LIST_KEYS)?;
    let bad = |detail: String| Problem::new(Kind::BadRequest, detail);
    let limit = query
        .one("limit")?
        .map(|v| {
            v.parse::<usize>()
                .map_err(|_| bad(format!("limit must be a whole number, not {v:?}")))
        })
        .transpose()?;
    let roles = query
        .all("role")
        .map(|v| Role::parse(v).ok_or_else(|| bad(format!("role {v:?} is not a known role"))))
        .collect::<Result<Vec<_>, _>>()?;
    let status = query
        .one("status")?
        .map(|v| {
            Status::parse(v)
                .ok_or_else(|| bad(format!("status must be active or disabled, not {v:?}")))
        })
        .transpose()?;
    let time = |key: &str| -> Result<Option<OffsetDateTime>, Problem> {
        query
            .one(key)?
            .map(|v| {
                OffsetDateTime::parse(v, &Rfc3339).map_err(|_| {
                    bad(format!(
                        "{key} must be an RFC 3339 time such as 2026-01-31T12:00:00Z, not {v:?}"
                    ))
                })
            })
            .transpose()
    };
    let params = ListParams {
        limit,
        cursor: query.one("cursor")?.map(str::to_owned),
        sort: match query.one("sort")? {
            None => ListOrder::default(),
            Some(v) => ListOrder::parse(v).ok_or_else(|| {
                bad(format!(
                    "sort must be one of created_at, -created_at, email; not {v:?}"
                ))
            })?,
        },
        roles,
        status,
        created_after: time("created_after")?,
        created_before: time("created_before")?,
    };
    let page = st.users().list(&caller, params).await?;
    // About 500 bytes per user.
    let size = 256 + page.items.len() * 640;
    Ok(super::json::response(
        &ListBody {
            items: page.items.iter().map(UserDto::from).collect(),
            next_cursor: page.next_cursor,
        },
        size,
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn roles_are_written_by_name() {
        let roles = serde_json::to_string(&Roles(&[Role::Admin, Role::User])).expect("roles");
        assert_eq!(roles, r#"["admin","user"]"#);
        assert_eq!(serde_json::to_string(&Roles(&[])).expect("roles"), "[]");
    }

    /// Users whose every field varies: with and without the optional ones,
    /// roles, nested attributes, strings JSON must escape.
    pub(crate) fn odd_users() -> Vec<User> {
        use crate::domain::UserDraft;
        let drafts = [
            serde_json::json!({"email": "ada@example.com"}),
            serde_json::json!({
                "email": "ada.l+1@example.com", "username": "zoe_1", "name": "Zoë \"Ada\" \\ <b> 😀",
                "roles": ["admin", "user"], "status": "disabled", "email_verified": true,
                "attributes": {"team": "engines\n\u{1}", "n": [1, 2.5, {"x": null, "y": "😀"}], "e": {}}
            }),
            serde_json::json!({"email": "b@example.com", "name": "Grace Hopper", "roles": []}),
        ];
        drafts
            .into_iter()
            .map(|d| {
                let draft = UserDraft::from_json(d.as_object().expect("an object").clone())
                    .expect("a valid user");
                User::from_draft(UserId::new(), draft, OffsetDateTime::now_utc())
            })
            .collect()
    }

    #[test]
    fn users_are_written_as_serde_json_writes_them() {
        let users = odd_users();
        for u in &users {
            let (ours, serde) = super::super::json::tests::both(&UserDto::from(u));
            assert_eq!(ours, serde);
        }
        for next_cursor in [None, Some("c\"1".to_owned())] {
            let page = ListBody {
                items: users.iter().map(UserDto::from).collect(),
                next_cursor,
            };
            let (ours, serde) = super::super::json::tests::both(&page);
            assert_eq!(ours, serde);
        }
        let empty = ListBody {
            items: Vec::new(),
            next_cursor: None,
        };
        let (ours, serde) = super::super::json::tests::both(&empty);
        assert_eq!(ours, serde);
    }
}
