//! The OpenAPI 3.1 document of the API, generated from the code, and the one
//! table of the routes it describes.
//!
//! **Why the document cannot drift from the router.** [`routes`] is the only
//! list of the API's routes, and each is registered there with utoipa-axum's
//! `routes!`, which takes the path and methods from the handler's
//! `#[utoipa::path]` item and mounts the handler exactly there. `router()`
//! serves those routers and [`Routes::openapi`] describes those operations:
//! a route is served if and only if it is documented, with the same path and
//! methods. A route is protected if and only if it is in the protected
//! group, and the document's operations say so because the group does
//! ([`require_bearer`]): there is no per-handler `security` to forget. Left
//! out on purpose, and mounted by `router()` itself: the console (`/`,
//! `/admin`, `/admin/*`) and the 404 fallback.
//!
//! Every schema comes from the type that is parsed or serialised: request
//! bodies are the DTOs beside their handlers (read field by field, to report
//! every invalid field at once), answers the DTOs they serialise, enums the
//! domain's own. Reusable answers are declared once: the problem responses
//! in `components.responses`, and the sets most operations share
//! ([`Authorized`], [`JsonBody`]).

use std::sync::LazyLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::state::AppState;

use super::{
    account, admin, audit, auth, events, groups, health, keys, metrics, mfa, oauth, passkeys,
    problem, search, sessions, transfer, users, webhooks,
};
use oauth::{clients as oauth_clients, provider as oidc};

/// The API's routes by who may call them, each registered together with
/// its documentation. `router()` mounts the three groups behind their
/// layers.
pub(super) struct Routes {
    /// Behind `require_caller`: `Authorization: Bearer <JWT or rk_ key>`.
    pub protected: OpenApiRouter<AppState>,
    /// Under `/api/v1`, for anyone (still rate limited per IP).
    pub public: OpenApiRouter<AppState>,
    /// Outside `/api/v1` (health, metrics, JWKS): for anyone, never limited.
    pub outside: OpenApiRouter<AppState>,
    /// The OpenID Provider's JSON endpoints (`/oauth2/*`, discovery): for
    /// anyone (clients authenticate themselves), limited per address.
    pub oidc: OpenApiRouter<AppState>,
}

/// Every documented route. `router()` serves these; [`Routes::openapi`]
/// describes these. One `routes!` per path.
pub(super) fn routes() -> Routes {
    let protected = OpenApiRouter::new()
        .routes(routes!(users::list, users::create))
        .routes(routes!(search::search))
        .routes(routes!(
            users::get,
            users::patch,
            users::replace,
            users::delete
        ))
        .routes(routes!(sessions::change_password))
        .routes(routes!(sessions::list_sessions, sessions::revoke_sessions))
        .routes(routes!(sessions::revoke_session))
        .routes(routes!(auth::me))
        .routes(routes!(auth::logout))
        .routes(routes!(account::request_email_change))
        .routes(routes!(keys::list_keys, keys::create_key))
        .routes(routes!(keys::revoke_key))
        .routes(routes!(audit::audit))
        .routes(routes!(admin::stats))
        .routes(routes!(transfer::import))
        .routes(routes!(transfer::export))
        .routes(routes!(transfer::backup))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::test))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::retry))
        .routes(routes!(events::stream))
        .routes(routes!(mfa::status))
        .routes(routes!(mfa::totp_setup))
        .routes(routes!(mfa::totp_confirm))
        .routes(routes!(mfa::totp_remove))
        .routes(routes!(mfa::reset))
        .routes(routes!(mfa::regenerate_recovery_codes))
        .routes(routes!(passkeys::register_start))
        .routes(routes!(passkeys::register_finish))
        .routes(routes!(passkeys::list))
        .routes(routes!(passkeys::rename, passkeys::remove))
        .routes(routes!(groups::list, groups::create))
        .routes(routes!(groups::search))
        .routes(routes!(
            groups::get,
            groups::patch,
            groups::replace,
            groups::delete
        ))
        .routes(routes!(groups::members, groups::add_members))
        .routes(routes!(groups::remove_member))
        .routes(routes!(groups::user_groups))
        .routes(routes!(oauth_clients::list, oauth_clients::create))
        .routes(routes!(
            oauth_clients::get,
            oauth_clients::update,
            oauth_clients::delete
        ))
        .routes(routes!(oauth_clients::rotate_secret))
        .routes(routes!(oauth::apps::list))
        .routes(routes!(oauth::apps::revoke));
    let public = OpenApiRouter::new()
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::register))
        .routes(routes!(auth::setup))
        .routes(routes!(account::request_verification))
        .routes(routes!(account::confirm_verification))
        .routes(routes!(account::request_reset))
        .routes(routes!(account::confirm_reset))
        .routes(routes!(account::request_magic_link))
        .routes(routes!(account::confirm_magic_link))
        .routes(routes!(mfa::verify))
        .routes(routes!(passkeys::login_start))
        .routes(routes!(passkeys::login_finish))
        .routes(routes!(account::confirm_email_change))
        .routes(routes!(document));
    let outside = OpenApiRouter::new()
        .routes(routes!(auth::jwks))
        .routes(routes!(health::livez))
        .routes(routes!(health::readyz))
        .routes(routes!(metrics::render));
    let oidc = OpenApiRouter::new()
        .routes(routes!(oidc::discovery))
        .routes(routes!(oidc::token))
        .routes(routes!(oidc::userinfo))
        .routes(routes!(oidc::revoke))
        .routes(routes!(oidc::introspect));
    let routes = Routes {
        protected,
        public,
        outside,
        oidc,
    };
    routes.check();
    routes
}

impl Routes {
    /// Only the outside group lives outside `/api/v1` (the rate limit and
    /// the problem answers assume it).
    fn check(&self) {
        let groups = [
            (&self.protected, true),
            (&self.public, true),
            (&self.outside, false),
        ];
        for (group, in_api) in groups {
            for path in group.get_openapi().paths.paths.keys() {
                assert_eq!(
                    path.starts_with("/api/v1/"),
                    in_api,
                    "route table: {path} is in the wrong group"
                );
            }
        }
        for path in self.oidc.get_openapi().paths.paths.keys() {
            assert!(
                path.starts_with("/oauth2/") || path.starts_with("/.well-known/"),
                "route table: {path} is not an OpenID Provider route"
            );
        }
    }

    /// The document: [`ApiDoc`]'s frame with every route's operation.
    pub fn openapi(&self) -> utoipa::openapi::OpenApi {
        let mut doc = ApiDoc::openapi();
        let mut protected = self.protected.get_openapi().clone();
        require_bearer(&mut protected);
        doc.merge(protected);
        for group in [&self.public, &self.outside, &self.oidc] {
            doc.merge(group.get_openapi().clone());
        }
        close_request_bodies(&mut doc);
        doc
    }
}

/// Every operation of `group` needs the bearer scheme: what is protected
/// is said once, by the group its route is in.
fn require_bearer(group: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::SecurityRequirement;
    for item in group.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in operations.into_iter().flatten() {
            op.security = Some(vec![SecurityRequirement::new(
                "bearer",
                Vec::<String>::new(),
            )]);
        }
    }
}

/// Every request body refuses fields it does not name (a 422 lists them):
/// its schema says `additionalProperties: false`. The DTOs cannot say it
/// through serde's `deny_unknown_fields`, which utoipa reads, because they
/// collect unknown keys to report them all.
fn close_request_bodies(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{AdditionalProperties, Schema};
    let mut names = Vec::new();
    for item in doc.paths.paths.values() {
        let operations = [&item.post, &item.put, &item.patch];
        for op in operations.into_iter().flatten() {
            let Some(RefOr::T(body)) = &op.request_body else {
                continue;
            };
            for content in body.content.values() {
                if let RefOr::T(content) = content
                    && let Some(RefOr::Ref(r)) = &content.schema
                {
                    names.extend(r.ref_location.rsplit('/').next().map(str::to_owned));
                }
            }
        }
    }
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    for name in names {
        if let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut(&name) {
            o.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        }
    }
}

/// The document's frame: info, tags, shared components. Its paths come
/// from [`routes`] (see [`Routes::openapi`]).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "roster",
        description = "Users for your application: accounts, authentication (passwords, JWTs, \
            refresh sessions, API keys) and search, over a versioned REST API. \
            Errors are RFC 9457 problem details (`application/problem+json`).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    servers((url = "/")),
    tags(
        (name = "users", description = "Accounts: create, read, update, delete, list."),
        (name = "search", description = "Typo-tolerant, filtered, faceted user search."),
        (name = "groups", description = "Groups of users: the roles they grant their members, membership, search."),
        (name = "auth", description = "Signing in, tokens, registration, first-admin setup."),
        (name = "sessions", description = "A user's refresh sessions."),
        (name = "mfa", description = "Second factors: TOTP with recovery codes, the second step of a sign-in."),
        (name = "api-keys", description = "Scoped API keys for services."),
        (name = "audit", description = "The audit log."),
        (name = "account", description = "Links mailed to users: email verification, password reset, sign-in links, email change."),
        (name = "webhooks", description = "Signed deliveries of events to your endpoints (Standard Webhooks), retried from a durable queue."),
        (name = "events", description = "The change stream (Server-Sent Events), resumable by event id."),
        (name = "oauth", description = "roster as an OpenID Connect provider: the clients (apps) registered, and the provider's endpoints."),
        (name = "admin", description = "Operator figures."),
        (name = "meta", description = "This document and the server's health."),
    ),
    components(
        schemas(
            problem::Body, users::UserDto, users::ListBody, search::Results, auth::TokenBody,
            sessions::SessionList, keys::ApiKeyDto, keys::ApiKeyList, audit::AuditPage, admin::Stats, transfer::ImportReportBody,
            users::UserCreate, users::UserReplace, users::UserPatch, auth::Registration, auth::SetupRequest,
            auth::LoginRequest, auth::RefreshRequest, sessions::PasswordChange, keys::ApiKeyCreate, crate::domain::ListOrder, crate::domain::SearchSort, crate::auth::tokens::JwkSet,
            health::Liveness, health::Readiness,
            webhooks::WebhookDto, webhooks::WebhookList, webhooks::WebhookCreate, webhooks::WebhookUpdate,
            webhooks::SecretRotation, webhooks::DeliveryDto, webhooks::DeliveryPage, webhooks::TestDelivery,
            crate::domain::EventType, crate::domain::DeliveryStatus,
            mfa::MfaVerify, mfa::TotpCode, mfa::TotpRemoval, mfa::TotpSetupBody, mfa::RecoveryCodes, mfa::MfaStatusBody,
        ),
        responses(
            BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PreconditionFailed,
            PayloadTooLarge, UnsupportedMediaType, ValidationFailed, TooManyRequests, Unavailable,
        ),
    ),
    modifiers(&BearerScheme),
)]
pub struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT or rk_ API key")
            .description(Some(
                "An access token from `POST /api/v1/auth/login` (an EdDSA JWT, verifiable \
                 with `/.well-known/jwks.json`), or an API key (`rk_…`).",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document as served, rendered once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    routes()
        .openapi()
        .to_json()
        .expect("the OpenAPI document always serialises")
});

/// This document.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", operation_id = "getOpenApi", tag = "meta",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json",
            body = Object, headers(("Cache-Control" = String, description = "`public, max-age=300`."))),
        (status = 429, response = TooManyRequests),
    )
)]
pub(super) async fn document() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        DOCUMENT.as_str(),
    )
        .into_response()
}

/// The reusable error answers: `components.responses`, each a `Problem`.
macro_rules! problem_responses {
    ($($name:ident $(+ $header:literal : $header_doc:literal)? => $description:literal;)*) => {$(
        #[doc = $description]
        pub(super) struct $name;

        impl<'r> utoipa::ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<utoipa::openapi::response::Response>) {
                let response = ResponseBuilder::new()
                    .description($description)
                    .content(
                        problem::CONTENT_TYPE,
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("Problem")))
                            .build(),
                    );
                $(
                    let response = response.header(
                        $header,
                        utoipa::openapi::HeaderBuilder::new()
                            .schema(Some(
                                utoipa::openapi::ObjectBuilder::new()
                                    .schema_type(utoipa::openapi::schema::Type::String),
                            ))
                            .description(Some($header_doc))
                            .build(),
                    );
                )?
                (stringify!($name), response.build().into())
            }
        }
    )*};
}

problem_responses! {
    BadRequest => "Bad request: malformed JSON, an unknown or repeated query parameter, or a value out of range.";
    Unauthorized + "WWW-Authenticate": "`Bearer`." => "Authentication required, or the credentials are not valid.";
    Forbidden => "The caller may not do this.";
    NotFound => "No such resource.";
    Conflict => "Another record already has this value (see `errors`), or the admin already exists.";
    PreconditionFailed => "`If-Match` does not match the current version.";
    PayloadTooLarge => "The request body is over the size limit.";
    UnsupportedMediaType => "The body is not sent as JSON (`application/json` or another `+json` type).";
    ValidationFailed => "The body is not a JSON object, or has invalid fields (see `errors`).";
    TooManyRequests + "Retry-After": "Seconds to wait before trying again." => "Too many requests from this address or for this account.";
    Unavailable => "The store or the search index cannot take the request now, or it took too long.";
}

/// Sets of the reusable error answers that many operations share, declared
/// once: `responses(…, doc::Authorized, doc::JsonBody)`.
macro_rules! response_sets {
    ($($(#[$doc:meta])* $name:ident = [$($status:literal => $response:ident),*];)*) => {$(
        $(#[$doc])*
        pub(super) struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                RefOr<utoipa::openapi::response::Response>,
            > {
                [$((
                    $status.to_string(),
                    RefOr::Ref(Ref::from_response_name(stringify!($response))),
                )),*]
                .into()
            }
        }
    )*};
}

response_sets! {
    /// What a protected operation may answer before it runs: no or bad
    /// credentials, a caller the policy refuses, too many requests.
    Authorized = [401 => Unauthorized, 403 => Forbidden, 429 => TooManyRequests];
    /// What reading a JSON body may answer: malformed, too large, not JSON,
    /// invalid fields.
    JsonBody = [400 => BadRequest, 413 => PayloadTooLarge, 415 => UnsupportedMediaType, 422 => ValidationFailed];
}
