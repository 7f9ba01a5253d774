//! The pages a person sees when an app sends them to roster: sign-in (with
//! the second-factor step), consent, sign-out. Server-rendered forms under
//! a Content-Security-Policy like the console's; they work without script,
//! and the sign-in pages' one script (`web/js/signin-page.js`) adds
//! passkeys.
//!
//! Roster's own browser session is a cookie (`HttpOnly`, `SameSite=Lax`,
//! `Secure` over TLS) holding a session token; `forms` has the cookies and
//! the CSRF checks.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::context;

use crate::domain::OidcScope;
use crate::error::Error;
use crate::service::oauth::{Authorization, AuthorizeRequest, BrowserSignIn};

use super::super::caller::{client_ip, user_agent};
use super::super::problem::Problem;
use super::super::state::AppState;
use super::forms::{
    SESSION_COOKIE, allow_form_target, cookie, csrf, forbidden, html, message_page, params,
    redirect_in, render, same_site_post, secure, see_other, set_cookie,
};
use super::provider::take;

/// Where a sign-in with no (acceptable) `return_to` lands.
const HOME: &str = "/admin/";

/// The authorization parameters the pages carry along.
const AUTHORIZE_PARAMS: [&str; 11] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "response_mode",
];

fn authorize_request(p: &[(String, String)]) -> AuthorizeRequest {
    AuthorizeRequest {
        client_id: take(p, "client_id"),
        redirect_uri: take(p, "redirect_uri"),
        response_type: take(p, "response_type"),
        scope: take(p, "scope"),
        state: take(p, "state"),
        nonce: take(p, "nonce"),
        code_challenge: take(p, "code_challenge"),
        code_challenge_method: take(p, "code_challenge_method"),
        prompt: take(p, "prompt"),
        max_age: take(p, "max_age"),
        response_mode: take(p, "response_mode"),
    }
}

/// The authorization parameters of `p`, as name/value pairs for forms.
fn carried(p: &[(String, String)]) -> Vec<minijinja::Value> {
    p.iter()
        .filter(|(k, _)| AUTHORIZE_PARAMS.contains(&k.as_str()))
        .map(|(k, v)| context! { name => k, value => v })
        .collect()
}

/// The authorization request again, without `prompt=login` and `max_age`
/// (the fresh sign-in they ask for is being done; kept, a `max_age=0`
/// would send the person back to sign in forever): where the sign-in page
/// returns to.
fn return_to(p: &[(String, String)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in p
        .iter()
        .filter(|(k, _)| AUTHORIZE_PARAMS.contains(&k.as_str()) && k != "max_age")
    {
        if k == "prompt" {
            let rest: Vec<&str> = v
                .split_ascii_whitespace()
                .filter(|x| *x != "login")
                .collect();
            if !rest.is_empty() {
                q.append_pair(k, &rest.join(" "));
            }
        } else {
            q.append_pair(k, v);
        }
    }
    format!("/oauth2/authorize?{}", q.finish())
}

/// Only a return to an authorization request is followed; anything else
/// goes home (no open redirect through the sign-in page).
fn safe_return(to: Option<String>) -> String {
    to.filter(|t| t.starts_with("/oauth2/authorize?") && !t.contains(['\\', '\r', '\n']))
        .unwrap_or_else(|| HOME.to_owned())
}

fn outcome(
    a: Authorization,
    p: &[(String, String)],
    headers: &HeaderMap,
    secure: bool,
) -> Response {
    match a {
        Authorization::Invalid(why) => {
            message_page(StatusCode::BAD_REQUEST, "Cannot sign you in", why, secure)
        }
        Authorization::Redirect(to) => see_other(&to),
        Authorization::Login { .. } => {
            let to = return_to(p);
            let q = form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", &to)
                .finish();
            see_other(&format!("/account/login?{q}"))
        }
        Authorization::Consent(c) => {
            let token = csrf(headers);
            let scopes: Vec<minijinja::Value> = c
                .scopes
                .iter()
                .map(|s: &OidcScope| {
                    context! { name => s.as_str(), text => s.describe() }
                })
                .collect();
            let body = render(context! {
                page => "consent",
                title => format!("Allow {}?", c.client_name),
                client => c.client_name,
                user => c.user_label,
                scopes,
                params => carried(p),
                csrf => &token.token,
            });
            let mut res = html(StatusCode::OK, body, Some(&token), secure);
            allow_form_target(&mut res, take(p, "redirect_uri").as_deref());
            res
        }
    }
}

/// `GET /oauth2/authorize`: where an app sends the browser.
pub async fn authorize(
    State(st): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    uri: axum::http::Uri,
) -> Result<Response, Problem> {
    let secure = secure(&ext);
    let Some(p) = params(uri.query().unwrap_or("").as_bytes()) else {
        return Ok(message_page(
            StatusCode::BAD_REQUEST,
            "Cannot sign you in",
            "The request repeats a parameter or is too long.",
            secure,
        ));
    };
    let session = cookie(&headers, SESSION_COOKIE);
    let a = st
        .oauth()
        .authorize(&authorize_request(&p), session.as_deref())
        .await?;
    Ok(outcome(a, &p, &headers, secure))
}

/// `POST /oauth2/authorize/consent`: the consent page's answer.
pub async fn consent(
    State(st): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    body: Bytes,
) -> Result<Response, Problem> {
    let secure = secure(&ext);
    let p = match params(&body) {
        Some(p) if same_site_post(&headers, &p) => p,
        _ => return Ok(forbidden(secure)),
    };
    let approve = take(&p, "decision").as_deref() == Some("allow");
    let session = cookie(&headers, SESSION_COOKIE);
    let a = st
        .oauth()
        .consent(
            &authorize_request(&p),
            session.as_deref(),
            approve,
            client_ip(&ext),
        )
        .await?;
    Ok(outcome(a, &p, &headers, secure))
}

/// Which step of a sign-in a page shows, with what it carries.
enum Step<'a> {
    /// The login name already typed, if any.
    Password(&'a str),
    /// The challenge the second factor answers.
    SecondFactor(&'a str),
}

fn sign_in_page(
    status: StatusCode,
    headers: &HeaderMap,
    secure: bool,
    return_to: &str,
    step: Step<'_>,
    error: Option<&str>,
) -> Response {
    let token = csrf(headers);
    let (page, title, login, mfa_token) = match step {
        Step::Password(login) => ("login", "Sign in", login, ""),
        Step::SecondFactor(t) => ("second_factor", "Two-step verification", "", t),
    };
    let body = render(context! {
        page,
        title,
        return_to,
        login,
        mfa_token,
        error,
        csrf => &token.token,
    });
    let mut res = html(status, body, Some(&token), secure);
    allow_form_target(&mut res, redirect_in(return_to).as_deref());
    res
}

/// `GET /account/login`: roster's sign-in page.
pub async fn login_form(
    headers: HeaderMap,
    ext: axum::http::Extensions,
    uri: axum::http::Uri,
) -> Response {
    let p = params(uri.query().unwrap_or("").as_bytes()).unwrap_or_default();
    let to = safe_return(take(&p, "return_to"));
    sign_in_page(
        StatusCode::OK,
        &headers,
        secure(&ext),
        &to,
        Step::Password(""),
        None,
    )
}

/// What a failed sign-in step tells the person.
fn sign_in_error(e: &Error) -> Option<(StatusCode, &'static str)> {
    match e {
        Error::Unauthorized(m) => Some((StatusCode::UNAUTHORIZED, m)),
        Error::TooManyRequests { .. } => Some((
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts. Wait a minute and try again.",
        )),
        Error::EmailUnverified => Some((
            StatusCode::FORBIDDEN,
            "Verify your email address first: follow the link we sent you.",
        )),
        _ => None,
    }
}

/// Signed in: the session cookie, and on to where the sign-in was for.
fn signed_in(token: &str, to: &str, secure: bool) -> Response {
    let mut res = see_other(to);
    set_cookie(&mut res, SESSION_COOKIE, token, secure, false);
    res
}

/// `POST /account/login`: the sign-in form's answer.
pub async fn login(
    State(st): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    body: Bytes,
) -> Result<Response, Problem> {
    let secure = secure(&ext);
    let p = match params(&body) {
        Some(p) if same_site_post(&headers, &p) => p,
        _ => return Ok(forbidden(secure)),
    };
    let to = safe_return(take(&p, "return_to"));
    let login = take(&p, "login").unwrap_or_default();
    let password = take(&p, "password").unwrap_or_default();
    if login.is_empty() || password.is_empty() || login.len() > 320 || password.len() > 1024 {
        let why = Some("Enter your email (or username) and your password.");
        let step = Step::Password(&login);
        return Ok(sign_in_page(
            StatusCode::BAD_REQUEST,
            &headers,
            secure,
            &to,
            step,
            why,
        ));
    }
    let r = st
        .oauth()
        .browser_login(&login, &password, client_ip(&ext), user_agent(&headers))
        .await;
    Ok(match r {
        Ok(BrowserSignIn::Done(token)) => signed_in(&token, &to, secure),
        Ok(BrowserSignIn::SecondFactor { mfa_token }) => {
            let step = Step::SecondFactor(&mfa_token);
            sign_in_page(StatusCode::OK, &headers, secure, &to, step, None)
        }
        Err(e) => match sign_in_error(&e) {
            Some((status, why)) => {
                let step = Step::Password(&login);
                sign_in_page(status, &headers, secure, &to, step, Some(why))
            }
            None => return Err(e.into()),
        },
    })
}

/// `POST /account/login/second-factor`: the code from an authenticator
/// app, or a recovery code.
pub async fn second_factor(
    State(st): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    body: Bytes,
) -> Result<Response, Problem> {
    let secure = secure(&ext);
    let p = match params(&body) {
        Some(p) if same_site_post(&headers, &p) => p,
        _ => return Ok(forbidden(secure)),
    };
    let to = safe_return(take(&p, "return_to"));
    let mfa_token = take(&p, "mfa_token").unwrap_or_default();
    let code = take(&p, "code").unwrap_or_default();
    if mfa_token.len() > 128 || code.len() > 64 {
        return Ok(forbidden(secure));
    }
    let r = st
        .oauth()
        .browser_second_factor(&mfa_token, &code, client_ip(&ext), user_agent(&headers))
        .await;
    Ok(match r {
        Ok(token) => signed_in(&token, &to, secure),
        Err(e) => match sign_in_error(&e) {
            Some((status, why)) => {
                let step = Step::SecondFactor(&mfa_token);
                sign_in_page(status, &headers, secure, &to, step, Some(why))
            }
            None => return Err(e.into()),
        },
    })
}

/// `POST /account/login/session`: the session a passkey sign-in made (by
/// the page's script, through the API) becomes the browser's cookie.
pub async fn adopt_session(
    State(st): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    body: Bytes,
) -> Result<Response, Problem> {
    let secure = secure(&ext);
    let p = match params(&body) {
        Some(p) if same_site_post(&headers, &p) => p,
        _ => return Ok(forbidden(secure)),
    };
    let to = safe_return(take(&p, "return_to"));
    let session = take(&p, "session").unwrap_or_default();
    if st.oauth().is_browser_session(&session)? {
        return Ok(signed_in(&session, &to, secure));
    }
    let why = Some("That sign-in did not work; try again.");
    Ok(sign_in_page(
        StatusCode::UNAUTHORIZED,
        &headers,
        secure,
        &to,
        Step::Password(""),
        why,
    ))
}

/// `GET /oauth2/logout` (RP-initiated logout): asks before signing out, so
/// that no other site can sign a person out behind their back.
pub async fn logout_form(
    headers: HeaderMap,
    ext: axum::http::Extensions,
    uri: axum::http::Uri,
) -> Response {
    let p = params(uri.query().unwrap_or("").as_bytes()).unwrap_or_default();
    let token = csrf(&headers);
    let kept: Vec<minijinja::Value> = p
        .iter()
        .filter(|(k, _)| ["client_id", "post_logout_redirect_uri", "state"].contains(&k.as_str()))
        .map(|(k, v)| context! { name => k, value => v })
        .collect();
    let body = render(context! {
        page => "logout",
        title => "Sign out of roster?",
        params => kept,
        csrf => &token.token,
    });
    let mut res = html(StatusCode::OK, body, Some(&token), secure(&ext));
    allow_form_target(&mut res, take(&p, "post_logout_redirect_uri").as_deref());
    res
}

/// `POST /oauth2/logout`: ends roster's browser session, then returns to
/// the app if it registered that address.
pub async fn logout(
    State(st): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    body: Bytes,
) -> Result<Response, Problem> {
    let secure = secure(&ext);
    let p = match params(&body) {
        Some(p) if same_site_post(&headers, &p) => p,
        _ => return Ok(forbidden(secure)),
    };
    if let Some(session) = cookie(&headers, SESSION_COOKIE) {
        st.oauth().browser_logout(&session).await?;
    }
    let back = match (take(&p, "client_id"), take(&p, "post_logout_redirect_uri")) {
        (Some(c), Some(u)) if st.oauth().may_return_after_logout(&c, &u)? => {
            let mut url = url::Url::parse(&u).map_err(|e| Error::Internal(e.into()))?;
            if let Some(s) = take(&p, "state") {
                url.query_pairs_mut().append_pair("state", &s);
            }
            Some(url.to_string())
        }
        _ => None,
    };
    let mut res = match back {
        Some(to) => see_other(&to),
        None => message_page(
            StatusCode::OK,
            "Signed out",
            "You are signed out of roster.",
            secure,
        ),
    };
    set_cookie(&mut res, SESSION_COOKIE, "", secure, true);
    Ok(res)
}
