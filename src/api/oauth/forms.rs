//! What roster's pages share: the cookies (the browser session and the
//! CSRF token), the check that a form post comes from our own page, the
//! Content-Security-Policy, and rendering the one template.
//!
//! Every form is protected from cross-site posts twice: a double-submit
//! token (a cookie the page's form repeats), and the browser's
//! `Sec-Fetch-Site` / `Origin` headers when sent.

use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::{Environment, context};
use subtle::ConstantTimeEq;

use crate::auth::secrets;

use super::super::caller::ClientScheme;
use super::provider::take;

pub(super) const SESSION_COOKIE: &str = "roster_session";
const CSRF_COOKIE: &str = "roster_csrf";
/// Longest form body or query the pages read.
const MAX_PARAMS: usize = 8 * 1024;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The page's policy also lets its form end at `target`'s origin: browsers
/// apply `form-action` to the redirects after a post too, and a sign-in or
/// consent ends with a redirect to the app.
pub(super) fn allow_form_target(res: &mut Response, target: Option<&str>) {
    let Some(origin) = target
        .and_then(|t| url::Url::parse(t).ok())
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null")
    else {
        return;
    };
    if let Ok(v) = HeaderValue::from_str(&format!("{CSP} {origin}")) {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
}

/// The `redirect_uri` inside a `return_to` (an authorization request).
pub(super) fn redirect_in(return_to: &str) -> Option<String> {
    let query = return_to.split_once('?')?.1;
    params(query.as_bytes()).and_then(|p| take(&p, "redirect_uri"))
}

static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.add_template("page.html", include_str!("../../../web/oauth/page.html"))
        .expect("the page template parses");
    env
});

pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

pub(super) fn secure(ext: &axum::http::Extensions) -> bool {
    ext.get::<ClientScheme>()
        .is_some_and(|ClientScheme(s)| *s == "https")
}

pub(super) fn set_cookie(res: &mut Response, name: &str, value: &str, secure: bool, clear: bool) {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if secure {
        c.push_str("; Secure");
    }
    if clear {
        c.push_str("; Max-Age=0");
    }
    if let Ok(v) = HeaderValue::from_str(&c) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The browser's CSRF token: its cookie, or a new one (set on the answer).
pub(super) struct Csrf {
    pub token: String,
    fresh: bool,
}

pub(super) fn csrf(headers: &HeaderMap) -> Csrf {
    match cookie(headers, CSRF_COOKIE).filter(|t| t.len() == 43) {
        Some(token) => Csrf {
            token,
            fresh: false,
        },
        None => Csrf {
            token: secrets::random_token(),
            fresh: true,
        },
    }
}

/// Whether a form post comes from this site's own page.
pub(super) fn same_site_post(headers: &HeaderMap, params: &[(String, String)]) -> bool {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|s| s != "same-origin" && s != "none") {
        return false;
    }
    // Under `Referrer-Policy: no-referrer` a browser sends `Origin: null`
    // even for its own forms: that says nothing either way.
    if let (Some(origin), Some(host)) = (header("origin").filter(|o| *o != "null"), header("host"))
    {
        let origin_host = origin.split_once("://").map_or("", |(_, h)| h);
        if origin_host != host {
            return false;
        }
    }
    let (Some(c), Some(f)) = (cookie(headers, CSRF_COOKIE), take(params, "csrf")) else {
        return false;
    };
    c.len() == 43 && bool::from(c.as_bytes().ct_eq(f.as_bytes()))
}

pub(super) fn html(
    status: StatusCode,
    body: String,
    csrf: Option<&Csrf>,
    secure: bool,
) -> Response {
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    if let Some(c) = csrf.filter(|c| c.fresh) {
        set_cookie(&mut res, CSRF_COOKIE, &c.token, secure, false);
    }
    res
}

pub(super) fn render(ctx: minijinja::Value) -> String {
    PAGES
        .get_template("page.html")
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "sign-in page did not render");
            "roster: this page could not be shown.".into()
        })
}

pub(super) fn message_page(status: StatusCode, title: &str, text: &str, secure: bool) -> Response {
    let body = render(context! { page => "message", title, subtitle => text });
    html(status, body, None, secure)
}

pub(super) fn see_other(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Query or form parameters, each at most once.
pub(super) fn params(raw: &[u8]) -> Option<Vec<(String, String)>> {
    if raw.len() > MAX_PARAMS {
        return None;
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(raw) {
        if out.iter().any(|(seen, _)| *seen == k) {
            return None;
        }
        out.push((k.into_owned(), v.into_owned()));
    }
    Some(out)
}

pub(super) fn forbidden(secure: bool) -> Response {
    message_page(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "The form was not sent from this site's own page, or it is too old. Go back and try again.",
        secure,
    )
}
