//! Extractors for what the path and headers of many routes share, each
//! documented by its own `IntoParams`: the user in `/users/{id}…` and the
//! `If-Match` precondition. Parsed once here, described once here.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use utoipa::IntoParams;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};

use crate::domain::{GroupId, UserId};
use crate::service::Precondition;

use super::extract::if_match;
use super::problem::{Kind, Problem};

/// The `{id}` of a `/users/{id}…` route. An id that is not a UUID names no
/// user: 404, as for an unknown one.
pub struct UserPath(pub UserId);

impl<S: Send + Sync> FromRequestParts<S> for UserPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let no_such_user = || Problem::new(Kind::NotFound, "No such user.");
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| no_such_user())?;
        params
            .iter()
            .find(|(key, _)| *key == "id")
            .and_then(|(_, raw)| UserId::parse(raw))
            .map(UserPath)
            .ok_or_else(no_such_user)
    }
}

impl IntoParams for UserPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![param(
            "id",
            ParameterIn::Path,
            Required::True,
            SchemaType::Type(Type::String),
            "The user's id (a UUID; anything else is 404).",
        )]
    }
}

/// The UUID path parameter `key`, or a 404 saying what is not found.
async fn uuid_param<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    key: &str,
    missing: &'static str,
) -> Result<uuid::Uuid, Problem> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| Problem::new(Kind::NotFound, missing))?;
    params
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, raw)| uuid::Uuid::try_parse(raw).ok())
        .ok_or_else(|| Problem::new(Kind::NotFound, missing))
}

/// The `{id}` of a `/groups/{id}…` route (not a UUID: 404).
pub struct GroupPath(pub GroupId);

impl<S: Send + Sync> FromRequestParts<S> for GroupPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let id = uuid_param(parts, state, "id", "No such group.").await?;
        Ok(GroupPath(GroupId(id)))
    }
}

impl IntoParams for GroupPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![param(
            "id",
            ParameterIn::Path,
            Required::True,
            SchemaType::Type(Type::String),
            "The group's id (a UUID; anything else is 404).",
        )]
    }
}

/// The `{id}` and `{user_id}` of `/groups/{id}/members/{user_id}`.
pub struct MemberPath(pub GroupId, pub UserId);

impl<S: Send + Sync> FromRequestParts<S> for MemberPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let group = uuid_param(parts, state, "id", "No such group.").await?;
        let user = uuid_param(parts, state, "user_id", "No such member.").await?;
        Ok(MemberPath(GroupId(group), UserId(user)))
    }
}

impl IntoParams for MemberPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            param(
                "id",
                ParameterIn::Path,
                Required::True,
                SchemaType::Type(Type::String),
                "The group's id (a UUID; anything else is 404).",
            ),
            param(
                "user_id",
                ParameterIn::Path,
                Required::True,
                SchemaType::Type(Type::String),
                "The member's user id (a UUID; anything else is 404).",
            ),
        ]
    }
}

/// The `{id}` of a `/auth/webauthn/credentials/{id}` route: a credential
/// id in base64url. Anything else names no passkey: 404.
pub struct CredentialPath(pub Vec<u8>);

impl<S: Send + Sync> FromRequestParts<S> for CredentialPath {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let none = || Problem::new(Kind::NotFound, "No such passkey.");
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| none())?;
        params
            .iter()
            .find(|(key, _)| *key == "id")
            .filter(|(_, raw)| raw.len() <= 2 * crate::auth::webauthn::MAX_CREDENTIAL_ID)
            .and_then(|(_, raw)| crate::auth::webauthn::b64url(raw))
            .filter(|id| !id.is_empty())
            .map(CredentialPath)
            .ok_or_else(none)
    }
}

impl IntoParams for CredentialPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![param(
            "id",
            ParameterIn::Path,
            Required::True,
            SchemaType::Type(Type::String),
            "The credential id, base64url as listed (anything else is 404).",
        )]
    }
}

/// `If-Match`: absent, `*`, or one strong entity tag such as `"3"`.
pub struct IfMatch(pub Precondition);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        if_match(&parts.headers).map(IfMatch)
    }
}

impl IntoParams for IfMatch {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![param(
            "If-Match",
            ParameterIn::Header,
            Required::False,
            SchemaType::from_iter([Type::String, Type::Null]),
            "`*` or one strong entity tag such as `\"3\"`; the write happens only if it matches (else 412).",
        )]
    }
}

fn param(
    name: &str,
    location: ParameterIn,
    required: Required,
    schema: SchemaType,
    description: &str,
) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(location)
        .required(required)
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(schema)))
        .build()
}
