//! The OpenAPI 3.1 document of the API, generated from the code, and the one
//! table of the routes it describes.
//!
//! **Why the document cannot drift from the router.** [`routes`] is the only
//! list of the API's routes: each entry pairs a handler with the
//! `#[utoipa::path]` item written on it. `router()` mounts every entry at the
//! path and methods its item declares (and nowhere else), and [`ApiDoc`] adds
//! exactly those operations to the document. A route is therefore served if
//! and only if it is documented, with the same path and methods; there is no
//! second list to forget. What the types cannot check is checked as the table
//! is built, i.e. at every start and so in every test: the item belongs to its
//! handler (same name), and a route's [`Access`] agrees with the `security`
//! its operation declares. Left out on purpose, and mounted by `router()`
//! itself: the console (`/`, `/admin`, `/admin/*`) and the 404 fallback.
//!
//! Request bodies are parsed by hand (to report every invalid field at
//! once), so their schemas are the doc-only types in [`schema`]; response
//! schemas come from the serialised DTOs themselves, except where noted.

use std::sync::LazyLock;

use axum::extract::State;
use axum::handler::Handler;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa::{Modify, OpenApi};

use super::state::AppState;

use super::{admin, audit, auth, keys, metrics, problem, search, sessions, transfer, users};

pub(super) use schema::*;

/// Who may call a route. Decides which of `router()`'s groups it joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// Behind `require_caller`: needs `Authorization: Bearer <JWT or rk_ key>`.
    Bearer,
    /// Anyone.
    Public,
}

/// One documented route: where it is served and what the document says of it.
pub(super) struct Route {
    pub access: Access,
    pub path: String,
    pub methods: Vec<HttpMethod>,
    pub operation: Operation,
    pub handler: MethodRouter<AppState>,
}

/// Every documented route. `router()` serves these, [`ApiDoc`] lists these.
pub(super) fn routes() -> Vec<Route> {
    use Access::{Bearer, Public};
    vec![
        route::<users::__path_list, _, _>(Bearer, users::list),
        route::<users::__path_create, _, _>(Bearer, users::create),
        route::<search::__path_search, _, _>(Bearer, search::search),
        route::<users::__path_get, _, _>(Bearer, users::get),
        route::<users::__path_patch, _, _>(Bearer, users::patch),
        route::<users::__path_replace, _, _>(Bearer, users::replace),
        route::<users::__path_delete, _, _>(Bearer, users::delete),
        route::<sessions::__path_change_password, _, _>(Bearer, sessions::change_password),
        route::<sessions::__path_list_sessions, _, _>(Bearer, sessions::list_sessions),
        route::<sessions::__path_revoke_sessions, _, _>(Bearer, sessions::revoke_sessions),
        route::<sessions::__path_revoke_session, _, _>(Bearer, sessions::revoke_session),
        route::<auth::__path_me, _, _>(Bearer, auth::me),
        route::<auth::__path_logout, _, _>(Bearer, auth::logout),
        route::<keys::__path_list_keys, _, _>(Bearer, keys::list_keys),
        route::<keys::__path_create_key, _, _>(Bearer, keys::create_key),
        route::<keys::__path_revoke_key, _, _>(Bearer, keys::revoke_key),
        route::<audit::__path_audit, _, _>(Bearer, audit::audit),
        route::<admin::__path_stats, _, _>(Bearer, admin::stats),
        route::<transfer::__path_import, _, _>(Bearer, transfer::import),
        route::<transfer::__path_export, _, _>(Bearer, transfer::export),
        route::<transfer::__path_backup, _, _>(Bearer, transfer::backup),
        route::<auth::__path_login, _, _>(Public, auth::login),
        route::<auth::__path_refresh, _, _>(Public, auth::refresh),
        route::<auth::__path_register, _, _>(Public, auth::register),
        route::<auth::__path_setup, _, _>(Public, auth::setup),
        route::<__path_document, _, _>(Public, document),
        route::<auth::__path_jwks, _, _>(Public, auth::jwks),
        route::<__path_livez, _, _>(Public, livez),
        route::<__path_readyz, _, _>(Public, readyz),
        route::<metrics::__path_render, _, _>(Public, metrics::render),
    ]
}

/// The entry for `handler`, documented by the `#[utoipa::path]` item `D`.
///
/// `Tags` is utoipa's hidden trait through which its own `paths(...)` (and
/// utoipa-axum) read an item's `tag`; `Path::operation` leaves tags out.
fn route<D, H, T>(access: Access, handler: H) -> Route
where
    D: utoipa::Path + for<'t> utoipa::__dev::Tags<'t>,
    H: Handler<T, AppState>,
    T: 'static,
{
    // `type_name` is for diagnostics and its format is not promised, so the
    // name check runs in debug builds (tests) only.
    let last = |name: &'static str| name.rsplit("::").next().unwrap_or(name);
    debug_assert_eq!(
        last(std::any::type_name::<D>()).strip_prefix("__path_"),
        Some(last(std::any::type_name::<H>())),
        "route table: the documentation item does not belong to this handler"
    );
    let mut operation = D::operation();
    let tags = operation.tags.get_or_insert_with(Vec::new);
    for tag in D::tags() {
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_owned());
        }
    }
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    assert_eq!(
        secured,
        access == Access::Bearer,
        "route table: {} is {access:?} but its operation's security says otherwise",
        D::path(),
    );
    let methods = D::methods();
    let filter = methods
        .iter()
        .map(|m| match m {
            HttpMethod::Get => MethodFilter::GET,
            HttpMethod::Post => MethodFilter::POST,
            HttpMethod::Put => MethodFilter::PUT,
            HttpMethod::Delete => MethodFilter::DELETE,
            HttpMethod::Patch => MethodFilter::PATCH,
            HttpMethod::Head => MethodFilter::HEAD,
            HttpMethod::Options => MethodFilter::OPTIONS,
            HttpMethod::Trace => MethodFilter::TRACE,
        })
        .reduce(MethodFilter::or)
        .expect("a #[utoipa::path] item names at least one method");
    Route {
        access,
        path: D::path(),
        methods,
        operation,
        handler: on(filter, handler),
    }
}

/// The document. Paths come from [`routes`] (see the module doc).
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
        (name = "auth", description = "Signing in, tokens, registration, first-admin setup."),
        (name = "sessions", description = "A user's refresh sessions."),
        (name = "api-keys", description = "Scoped API keys for services."),
        (name = "audit", description = "The audit log."),
        (name = "admin", description = "Operator figures."),
        (name = "meta", description = "This document and the server's health."),
    ),
    components(
        schemas(
            problem::Body, users::UserDto, users::ListBody, search::Results, auth::TokenBody,
            sessions::SessionList, keys::ApiKeyDto, keys::ApiKeyList, audit::AuditPage, admin::Stats, transfer::ImportReportBody,
            users::UserCreate, users::UserReplace, users::UserPatch, auth::Registration, auth::SetupRequest,
            auth::LoginRequest, auth::RefreshRequest, sessions::PasswordChange, keys::ApiKeyCreate, ListSort, SearchSort, Jwks,
            Liveness, Readiness,
        ),
        responses(
            BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PreconditionFailed,
            PayloadTooLarge, UnsupportedMediaType, ValidationFailed, TooManyRequests, Unavailable,
        ),
    ),
    modifiers(&RouteTable, &BearerScheme),
)]
pub struct ApiDoc;

struct RouteTable;

impl Modify for RouteTable {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for r in routes() {
            openapi
                .paths
                .add_path_operation(r.path, r.methods, r.operation);
        }
    }
}

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
    ApiDoc::openapi()
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

/// The process is up and answering.
#[utoipa::path(
    get, path = "/livez", operation_id = "livez", tag = "meta",
    responses((status = 200, description = "Alive.", body = Liveness))
)]
async fn livez() -> Response {
    super::livez().await.into_response()
}

/// The store takes writes: the server can take traffic.
///
/// Also reports the search index, which may still be rebuilding (then only
/// search is down).
#[utoipa::path(
    get, path = "/readyz", operation_id = "readyz", tag = "meta",
    responses(
        (status = 200, description = "Ready.", body = Readiness),
        (status = 503, response = Unavailable),
    )
)]
async fn readyz(state: State<AppState>) -> Response {
    super::readyz(state).await
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

/// Doc-only types: the schemas of request bodies (parsed by hand in the
/// handlers and the service) and of answers built as JSON values outside
/// the api files. Never constructed; they exist to be described.
#[allow(dead_code)]
pub(super) mod schema {
    use serde::Deserialize;

    use utoipa::ToSchema;

    #[derive(Deserialize, ToSchema)]
    #[schema(rename_all = "lowercase")]
    pub enum RoleName {
        Admin,
        User,
    }

    #[derive(Deserialize, ToSchema)]
    #[schema(rename_all = "lowercase")]
    pub enum StatusName {
        Active,
        Disabled,
    }

    /// What an API key may do; `admin` implies the others.
    #[derive(Deserialize, ToSchema)]
    pub enum ScopeName {
        #[schema(rename = "users:read")]
        UsersRead,
        #[schema(rename = "users:write")]
        UsersWrite,
        #[schema(rename = "admin")]
        Admin,
    }

    /// The orders of `GET /api/v1/users`.
    #[derive(ToSchema)]
    pub enum ListSort {
        #[schema(rename = "created_at")]
        CreatedAt,
        #[schema(rename = "-created_at")]
        CreatedAtDesc,
        #[schema(rename = "email")]
        Email,
    }

    /// The orders of `GET /api/v1/users/search`.
    #[derive(ToSchema)]
    pub enum SearchSort {
        #[schema(rename = "relevance")]
        Relevance,
        #[schema(rename = "created_at")]
        CreatedAt,
        #[schema(rename = "-created_at")]
        CreatedAtDesc,
        #[schema(rename = "name")]
        Name,
    }

    /// One invalid field of a request.
    #[derive(ToSchema)]
    #[schema(as = FieldError)]
    pub struct FieldErrorDoc {
        /// The field's name in the request body (or query).
        pub field: String,
        /// What is wrong with it, such as `is required`.
        pub message: String,
    }

    /// A JSON Web Key Set (RFC 7517) of Ed25519 public keys.
    /// Built as a JSON value in `auth::tokens`; described here.
    #[derive(ToSchema)]
    pub struct Jwks {
        pub keys: Vec<Jwk>,
    }

    #[derive(ToSchema)]
    pub struct Jwk {
        #[schema(pattern = "^OKP$")]
        pub kty: String,
        #[schema(pattern = "^Ed25519$")]
        pub crv: String,
        /// The public key, base64url.
        pub x: String,
        /// Matches the `kid` in a token's header.
        pub kid: String,
        #[schema(pattern = "^EdDSA$")]
        pub alg: String,
        #[schema(rename = "use", pattern = "^sig$")]
        pub use_: String,
    }

    /// `GET /livez`; built as a JSON value in `api::livez`.
    #[derive(ToSchema)]
    pub struct Liveness {
        #[schema(pattern = "^ok$")]
        pub status: String,
    }

    /// `GET /readyz`; built as a JSON value in `api::readyz`.
    #[derive(ToSchema)]
    pub struct Readiness {
        #[schema(pattern = "^ready$")]
        pub status: String,
        pub checks: ReadinessChecks,
    }

    #[derive(ToSchema)]
    pub struct ReadinessChecks {
        #[schema(pattern = "^ok$")]
        pub store: String,
        pub index: IndexHealth,
    }

    /// The search index's state; built as a JSON value in `api::index_json`.
    #[derive(ToSchema)]
    pub struct IndexHealth {
        pub state: IndexState,
        /// Whether this process found the index unusable and rebuilt it.
        pub rebuilt_at_start: bool,
        /// Changes the index has yet to take in.
        pub lag: u64,
        pub indexed_seq: u64,
        pub docs: u64,
        pub size_bytes: u64,
    }

    #[derive(ToSchema)]
    #[schema(rename_all = "lowercase")]
    pub enum IndexState {
        Ready,
        Rebuilding,
    }
}
