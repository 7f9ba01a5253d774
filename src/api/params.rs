//! Extractors for what the path and headers of many routes share, each
//! documented by its own `IntoParams`: the user in `/users/{id}…` and the
//! `If-Match` precondition. Parsed once here, described once here.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use utoipa::IntoParams;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};

use crate::domain::UserId;
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
