//! roster as an OpenID Connect provider, over HTTP: the admin's client
//! registry (`/api/v1/oauth-clients`), the provider's JSON endpoints
//! (discovery, token, userinfo, revoke, introspect; documented in the
//! OpenAPI document) and the pages a person signs in on.

pub mod apps;
pub mod clients;
mod forms;
mod pages;
pub mod provider;

use axum::Router;
use axum::middleware;
use axum::routing::get;

use super::limits;
use super::state::AppState;

/// The sign-in, consent and sign-out pages, limited per address like the
/// API's public routes.
pub fn pages(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/oauth2/authorize", get(pages::authorize))
        .route(
            "/oauth2/authorize/consent",
            axum::routing::post(pages::consent),
        )
        .route(
            "/oauth2/logout",
            get(pages::logout_form).post(pages::logout),
        )
        .route("/account/login", get(pages::login_form).post(pages::login))
        .route(
            "/account/login/second-factor",
            axum::routing::post(pages::second_factor),
        )
        .route(
            "/account/login/session",
            axum::routing::post(pages::adopt_session),
        )
        .route_layer(middleware::from_fn_with_state(
            state,
            limits::limit_by_address,
        ))
}
