//! The admin console: the files of `web/`, embedded in the binary, served at
//! `/admin/` with ETags and a strict Content-Security-Policy. Every page path
//! (no dot in its last segment, e.g. `/admin/setup`) gets `index.html`; the
//! console routes itself in the browser. The end-user pages that mail links
//! open (`/account/verify`, `/account/reset`, …) are `account.html` under the
//! same policy; their script and styles load from `/admin/…`.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::problem::{Kind, Problem};

#[derive(rust_embed::Embed)]
#[folder = "web/"]
#[exclude = "*.md"]
#[exclude = "screenshots/*"]
#[exclude = "oauth/*"]
struct Assets;

/// Only this server's own files may run, style, load or be framed: no
/// inline scripts or styles, no third-party origins. (Fonts may be `data:`
/// URIs: GraphiQL's stylesheet embeds its fonts so.)
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; \
frame-ancestors 'none'; form-action 'self'";

/// `/` and `/admin` lead to the console.
pub async fn to_console() -> Redirect {
    Redirect::permanent("/admin/")
}

pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

pub async fn file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    // The embedded set is looked up by name, never on disk by a joined path;
    // still, names that try to climb out are refused outright.
    if path.split(['/', '\\']).any(|seg| seg == ".." || seg == ".")
        || path.starts_with('/')
        || path.contains('\0')
    {
        return not_found();
    }
    let last = path.rsplit('/').next().unwrap_or_default();
    if last.is_empty() || !last.contains('.') {
        return serve("index.html", &headers);
    }
    serve(&path, &headers)
}

/// GraphiQL (`/api/v1/graphql` in a browser, when `--graphql-playground`
/// is on): its page and the vendored bundle, under the same policy.
pub async fn graphiql(headers: &HeaderMap) -> Response {
    serve("graphiql.html", headers)
}

/// The pages mailed links open.
const ACCOUNT_PAGES: [&str; 4] = ["verify", "reset", "magic", "email"];

/// `/account/<page>`: each of [`ACCOUNT_PAGES`] gets `account.html`, which
/// picks its view by path. Its address carries a one-time token, so no
/// referrer leaves the page, even before the `<meta name="referrer">` is
/// parsed.
pub async fn account(Path(page): Path<String>, headers: HeaderMap) -> Response {
    let name = page.strip_suffix('/').unwrap_or(page.as_str());
    if !ACCOUNT_PAGES.contains(&name) {
        return not_found();
    }
    let mut res = serve("account.html", &headers);
    res.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return not_found();
    };
    let hash = file.metadata.sha256_hash();
    let etag = format!("\"{}\"", hex(&hash[..12]));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mime = file.metadata.mimetype();
        let content_type = if mime.starts_with("text/") || mime.ends_with("javascript") {
            format!("{mime}; charset=utf-8")
        } else {
            mime.to_owned()
        };
        ([(header::CONTENT_TYPE, content_type)], file.data).into_response()
    };
    let h = res.headers_mut();
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex is a valid header"),
    );
    // Revalidate every time (a cheap 304): a new binary serves new files.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    res
}

fn not_found() -> Response {
    Problem::new(Kind::NotFound, "There is nothing at this address.").into_response()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
