//! The admin console in a real headless Chromium, driven through Debian's
//! chromedriver with WebDriver (fantoccini). The server is the real `App` on
//! a loopback port with a temp data dir (or the real binary, for first-run
//! setup).
//!
//! These tests are `#[ignore]`d so `cargo test` passes on a machine without
//! Chromium; `.ci/run` installs `chromium` and `chromium-driver` and runs them
//! with `cargo test --test browser -- --ignored`. Set `CHROMEDRIVER` and
//! `CHROMIUM` to use other paths. With `ROSTER_SCREENSHOTS=1` the screenshots
//! they take are also written to `web/screenshots/` (else to `target/`).
//!
//! Every test fails on a console error, an uncaught exception or a CSP
//! violation in the page (chromedriver's browser log), and on any network
//! answer of 500 or above.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../support/smtp_sink.rs"]
mod smtp_sink;

mod graphiql;
mod groups;
mod mfa;
mod oidc;
mod passkeys;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, FirstRun, TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

/// chromedriver and one Chromium session; both end when this is dropped.
struct Browser {
    client: Client,
    driver: Child,
}

impl Browser {
    async fn start(width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver_bin = std::env::var("CHROMEDRIVER").unwrap_or("/usr/bin/chromedriver".into());
        let mut driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {driver_bin} ({e}): install chromium-driver"));
        // chromedriver prints a line once it listens.
        let mut out = BufReader::new(driver.stdout.take().expect("piped"));
        let mut line = String::new();
        while out.read_line(&mut line).expect("chromedriver output") > 0 {
            if line.contains("started successfully") {
                break;
            }
            line.clear();
        }
        std::thread::spawn(move || for _ in out.lines() {});

        let binary = std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into());
        let mut caps = Capabilities::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": binary,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                    format!("--window-size={width},{height}"),
                ],
            }),
        );
        // Desktop windows cannot be narrower than 500 px; a phone is
        // emulated (viewport, touch, device pixel ratio).
        if width < 500 {
            caps["goog:chromeOptions"]["mobileEmulation"] = json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 2.0, "touch": true },
            });
        }
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session through chromedriver");
        Browser { client, driver }
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigates");
    }

    async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.find(css)
            .await
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed ({e}): {script}"))
    }

    /// Waits until `script` returns something truthy; panics with `what`.
    async fn until(&self, what: &str, script: &str) -> Value {
        let start = Instant::now();
        loop {
            let v = self.js(script).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            if start.elapsed() > WAIT {
                self.save_screenshot("failure").await;
                panic!(
                    "timed out waiting for {what} (last: {v}); console: {:?}",
                    self.log().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ids of the rows the users table shows now.
    async fn user_rows(&self) -> Vec<String> {
        let v = self
            .js("return [...document.querySelectorAll('#users-table tbody tr[data-id]')].map(r => r.dataset.id)")
            .await;
        serde_json::from_value(v).expect("a list of ids")
    }

    /// The browser's log since the last call.
    async fn log(&self) -> Vec<Value> {
        match self.client.issue_cmd(BrowserLog).await {
            Ok(Value::Array(entries)) => entries,
            other => panic!("cannot read the browser log: {other:?}"),
        }
    }

    /// Fails on console errors, exceptions and CSP violations (any severe
    /// entry not from the network), and on network answers ≥ 500. Expected
    /// 4xx answers (a wrong password, a validation error) are not errors of
    /// the page and Chromium logs them under "network".
    async fn assert_clean_console(&self) {
        let bad: Vec<Value> = self
            .log()
            .await
            .into_iter()
            .filter(|e| {
                let severe = e["level"] == "SEVERE";
                let msg = e["message"].as_str().unwrap_or_default();
                let network = e["source"] == "network";
                (severe && !network) || (network && msg.contains("status of 5"))
            })
            .collect();
        assert!(bad.is_empty(), "console errors: {bad:#?}");
    }

    async fn save_screenshot(&self, name: &str) {
        let Ok(png) = self.client.screenshot().await else {
            return;
        };
        let dir =
            if std::env::var("ROSTER_SCREENSHOTS").is_ok_and(|v| v == "1") && name != "failure" {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web/screenshots")
            } else {
                PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
            };
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
    }

    async fn close(self) {
        let Browser { client, mut driver } = self;
        let _ = client.close().await;
        let _ = driver.kill();
        let _ = driver.wait();
    }
}

/// chromedriver's `POST /session/{id}/se/log {"type":"browser"}`: the
/// console messages, exceptions and network errors since the last read.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A server with an admin and a few dozen users, one of them Margaret Hamilton.
async fn seeded_app() -> (TestApp, String) {
    let app = spawn_app().await;
    let first = [
        "Ada",
        "Grace",
        "Alan",
        "Barbara",
        "Donald",
        "Edsger",
        "Frances",
        "John",
        "Katherine",
        "Linus",
        "Radia",
        "Ken",
        "Dennis",
        "Bjarne",
        "Guido",
        "Anita",
    ];
    let last = [
        "Lovelace", "Hopper", "Turing", "Liskov", "Knuth", "Dijkstra", "Allen",
    ];
    for i in 0..40 {
        let (f, l) = (first[i % first.len()], last[i % last.len()]);
        let status = if i % 9 == 0 { "disabled" } else { "active" };
        app.create_user(json!({
            "email": format!("{}.{}{i}@example.com", f.to_lowercase(), l.to_lowercase()),
            "name": format!("{f} {l}"),
            "status": status,
        }))
        .await;
    }
    let margaret = app
        .create_user(json!({
            "email": "mhamilton@example.com",
            "username": "margaret",
            "name": "Margaret Hamilton",
            "attributes": {"team": "Apollo guidance"},
        }))
        .await;
    let id = margaret["id"].as_str().expect("id").to_owned();
    (app, id)
}

async fn log_in(b: &Browser, app: &TestApp) {
    b.goto(&app.url("/admin/")).await;
    let login = b.find("#login-form input[name=login]").await;
    assert_eq!(
        login.attr("autocomplete").await.unwrap().as_deref(),
        Some("username")
    );
    let password = b.find("#login-form input[name=password]").await;
    assert_eq!(
        password.attr("autocomplete").await.unwrap().as_deref(),
        Some("current-password")
    );
    login.send_keys(ADMIN_EMAIL).await.unwrap();
    password.send_keys(ADMIN_PASSWORD).await.unwrap();
    b.click("#login-form button[type=submit]").await;
    b.until(
        "the users table after login",
        "return document.querySelectorAll('#users-table tbody tr[data-id]').length",
    )
    .await;
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver; run by .ci/run"]
async fn login_search_edit_and_api_keys() {
    let (app, margaret) = seeded_app().await;
    let b = Browser::start(1280, 860).await;

    // A wrong password is shown as a readable message, not a console error.
    b.goto(&app.url("/admin/")).await;
    b.type_into("#login-form input[name=login]", ADMIN_EMAIL)
        .await;
    b.type_into("#login-form input[name=password]", "not-the-password")
        .await;
    b.click("#login-form button[type=submit]").await;
    let alert = b
        .until(
            "a login error message",
            "const a = document.querySelector('#login-form [role=alert]'); return a && a.textContent.trim()",
        )
        .await;
    assert!(!alert.as_str().unwrap().contains("undefined"), "{alert}");
    b.assert_clean_console().await;

    // Log in through the form; users are listed.
    log_in(&b, &app).await;
    assert!(
        b.user_rows().await.len() >= 20,
        "the first page lists users"
    );
    b.save_screenshot("users-desktop").await;
    b.assert_clean_console().await;

    // A partial, misspelt name narrows the list to the right user, highlighted.
    let search = b.find("input[type=search]#user-search").await;
    search.send_keys("margret hamil").await.unwrap();
    b.until(
        "the search to narrow to one row",
        "return document.querySelectorAll('#users-table tbody tr[data-id]').length === 1",
    )
    .await;
    assert_eq!(b.user_rows().await, vec![margaret.clone()]);
    let marked = b
        .js("return [...document.querySelectorAll('#users-table tbody mark')].map(m => m.textContent.toLowerCase())")
        .await;
    assert!(
        marked
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m.as_str().unwrap().starts_with("hamil")),
        "matches are highlighted: {marked}"
    );
    b.save_screenshot("search-desktop").await;

    // Open the user, edit the name; the change is in the store.
    b.click(&format!("#users-table tbody tr[data-id='{margaret}']"))
        .await;
    let name = b.find("#user-panel #user-form input[name=name]").await;
    b.until(
        "the panel to show the user",
        "const i = document.querySelector('#user-form input[name=name]'); return i && i.value === 'Margaret Hamilton'",
    )
    .await;
    b.save_screenshot("user-panel-desktop").await;
    name.clear().await.unwrap();
    name.send_keys("Margaret H. Hamilton").await.unwrap();
    b.click("#user-form button[type=submit]").await;
    let start = Instant::now();
    loop {
        let user: Value = app
            .get(&format!("/api/v1/users/{margaret}"))
            .await
            .json()
            .await
            .unwrap();
        if user["name"] == "Margaret H. Hamilton" {
            assert_eq!(user["version"], 2, "one update: {user}");
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "the edit never reached the API: {user}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The table row shows the new name too.
    b.until(
        "the row to show the new name",
        &format!("const r = document.querySelector(\"#users-table tr[data-id='{margaret}']\"); return r && r.textContent.includes('Margaret H. Hamilton')"),
    )
    .await;

    // Bad attributes JSON is explained next to the field and nothing is sent.
    let attrs = b.find("#user-form textarea[name=attributes]").await;
    attrs.clear().await.unwrap();
    attrs.send_keys("{\"team\": ").await.unwrap();
    b.click("#user-form button[type=submit]").await;
    b.until(
        "a message next to the attributes field",
        "return [...document.querySelectorAll('#user-form .field-error')].some(e => e.textContent.trim() && e.offsetParent !== null)",
    )
    .await;
    let user: Value = app
        .get(&format!("/api/v1/users/{margaret}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["version"], 2, "invalid JSON is not sent");
    assert_eq!(user["attributes"]["team"], "Apollo guidance");

    // Escape closes the panel.
    b.client
        .active_element()
        .await
        .unwrap()
        .send_keys(&fantoccini::key::Key::Escape.to_string())
        .await
        .unwrap();
    b.until(
        "Escape to close the panel",
        "const p = document.getElementById('user-panel'); return !p || p.hidden || p.getClientRects().length === 0 || !p.classList.contains('open') && getComputedStyle(p).visibility === 'hidden'",
    )
    .await;
    b.assert_clean_console().await;

    // API keys: create with a scope, the secret is shown once and works.
    b.click("a[href='#/keys']").await;
    b.type_into("#key-form input[name=name]", "ci reader").await;
    b.type_into("#key-rate-limit", "25").await;
    // Exactly users:read, whatever the form preselects.
    for scope in ["users:read", "users:write", "admin"] {
        let boxed = b
            .find(&format!("#key-form input[name=scopes][value='{scope}']"))
            .await;
        if boxed.is_selected().await.unwrap() != (scope == "users:read") {
            boxed.click().await.unwrap();
        }
    }
    b.click("#key-form button[type=submit]").await;
    let secret = b
        .until(
            "the new key's secret",
            "const s = document.querySelector('#key-secret code'); return s && s.textContent.trim()",
        )
        .await;
    let secret = secret.as_str().unwrap().to_owned();
    assert!(secret.starts_with("rk_"), "{secret}");
    let with_key = |method: Method, path: &str| app.as_token(&secret, method, path).send();
    assert_eq!(
        with_key(Method::GET, "/api/v1/users")
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let write = app
        .as_token(&secret, Method::POST, "/api/v1/users")
        .json(&json!({"email": "nope@example.com"}))
        .send();
    assert_eq!(
        write.await.unwrap().status(),
        StatusCode::FORBIDDEN,
        "only the chosen scope"
    );
    let keys: Value = app.get("/api/v1/api-keys").await.json().await.unwrap();
    let key = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "ci reader")
        .expect("the key is listed")
        .clone();
    assert_eq!(key["scopes"], json!(["users:read"]));
    assert_eq!(key["rate_limit"], 25, "its own request limit");
    b.until(
        "the key's own limit in its row",
        &format!(
            "const c = document.querySelector(\"#keys-table tr[data-id='{}'] .col-used\"); return c && c.textContent.includes('25/s')",
            key["id"].as_str().unwrap()
        ),
    )
    .await;

    // Revoke it (with confirmation); the secret stops working.
    let key_id = key["id"].as_str().unwrap();
    b.click(&format!("#keys-table tr[data-id='{key_id}'] button.revoke"))
        .await;
    b.click("#confirm-ok").await;
    b.until(
        "the revoked key's row to go",
        &format!("return !document.querySelector(\"#keys-table tr[data-id='{key_id}']\")"),
    )
    .await;
    assert_eq!(
        with_key(Method::GET, "/api/v1/users")
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // The dashboard shows the real user count; the audit log the key's creation.
    b.click("a[href='#/dashboard']").await;
    b.until(
        "the dashboard's user count",
        "return document.body.textContent.includes('42')",
    )
    .await;
    b.click("a[href='#/audit']").await;
    b.until(
        "the audit log to list the key's creation",
        "return document.body.textContent.includes('api_key.create')",
    )
    .await;

    // Logout returns to the form and forgets the session.
    b.click("#logout").await;
    b.find("#login-form input[name=login]").await;
    let stored = b.js("return sessionStorage.length").await;
    assert_eq!(stored, 0, "nothing kept after logout");
    b.assert_clean_console().await;
    b.close().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver; run by .ci/run"]
async fn phone_width_and_reload_keep_working() {
    let (app, margaret) = seeded_app().await;
    let b = Browser::start(390, 844).await;
    log_in(&b, &app).await;
    let overflow = b
        .js("return document.documentElement.scrollWidth - window.innerWidth")
        .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "no sideways scrolling at phone width: {overflow}"
    );
    b.save_screenshot("users-phone").await;

    // A reload keeps the session (refresh token in sessionStorage, new access token).
    b.client.refresh().await.unwrap();
    b.until(
        "the users table after a reload",
        "return document.querySelectorAll('#users-table tbody tr[data-id]').length",
    )
    .await;

    // Filtering by status uses the facet counts and narrows the list.
    let disabled = b
        .js("const s = document.querySelector('select[name=status], #status-filter'); if (!s) return null; s.value = 'disabled'; s.dispatchEvent(new Event('change', {bubbles: true})); return true")
        .await;
    assert_eq!(disabled, true, "a status filter exists");
    b.until(
        "only disabled users",
        "return document.querySelectorAll('#users-table tbody tr[data-id]').length === 5",
    )
    .await;

    // Deep link to a user opens the panel at phone width.
    b.goto(&app.url(&format!("/admin/#/users/{margaret}")))
        .await;
    b.until(
        "the panel from a deep link",
        "const i = document.querySelector('#user-form input[name=name]'); return i && i.value === 'Margaret Hamilton'",
    )
    .await;
    let overflow = b
        .js("return document.documentElement.scrollWidth - window.innerWidth")
        .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "panel fits the phone: {overflow}"
    );
    b.save_screenshot("user-panel-phone").await;

    // Delete with confirmation.
    b.click("#user-panel button.delete, #user-panel #delete-user")
        .await;
    b.click("#confirm-ok").await;
    let start = Instant::now();
    while app.get(&format!("/api/v1/users/{margaret}")).await.status() != StatusCode::NOT_FOUND {
        assert!(start.elapsed() < WAIT, "the delete never reached the API");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.assert_clean_console().await;
    b.close().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver; run by .ci/run"]
async fn first_run_setup_page_creates_the_admin() {
    let server = FirstRun::start();

    let b = Browser::start(1280, 860).await;
    b.goto(&server.link).await;
    b.type_into("#setup-form input[name=email]", "first@example.com")
        .await;
    b.type_into("#setup-form input[name=password]", "first-admin-pw")
        .await;
    b.click("#setup-form button[type=submit]").await;
    // The login form follows, with the email filled in.
    b.until(
        "the login form after setup",
        "const i = document.querySelector('#login-form input[name=login]'); return i && i.value === 'first@example.com'",
    )
    .await;
    b.type_into("#login-form input[name=password]", "first-admin-pw")
        .await;
    b.click("#login-form button[type=submit]").await;
    b.until(
        "the new admin's users table",
        "return document.querySelectorAll('#users-table tbody tr[data-id]').length === 1",
    )
    .await;
    b.assert_clean_console().await;

    // The link was single use.
    let client = helpers::http_client();
    let again = client
        .post(format!("{}/api/v1/setup", server.base))
        .json(&json!({"token": server.token, "email": "second@example.com", "password": "second-admin-pw"}))
        .send()
        .await
        .unwrap()
        .status();
    assert!(again.is_client_error(), "{again}");
    b.close().await;
}

/// A password reset from end to end: the request, the mail as a real SMTP
/// server receives it, its link opened in Chromium, the new password chosen
/// on the account page; then only the new password signs in.
#[tokio::test]
#[ignore = "needs chromium and chromium-driver; run by .ci/run"]
async fn password_reset_page_from_a_received_mail() {
    let sink = smtp_sink::SmtpSink::start();
    let app = helpers::spawn_app_tuned(|c| c.mail.smtp_url = Some(sink.url())).await;
    let (email, old, new) = (
        "grace@example.com",
        "old-password-1",
        "brand-new-password-2",
    );
    app.create_user(json!({"email": email, "name": "Grace Hopper", "password": old}))
        .await;
    let requested = app
        .anon(Method::POST, "/api/v1/auth/password-reset/request")
        .json(&json!({"email": email}))
        .send()
        .await
        .unwrap();
    assert_eq!(requested.status(), StatusCode::ACCEPTED);
    let received = sink.next_to(email).await;
    let link = received.link();
    assert!(
        link.starts_with(&app.url("/account/reset?token=")),
        "the link opens roster's own reset page: {link}"
    );

    let b = Browser::start(1280, 860).await;
    b.goto(&link).await;
    b.find("#reset-form input[name=password]").await;
    // The token has left the address bar (history, screen sharing).
    assert_eq!(
        b.js("return location.href").await,
        app.url("/account/reset")
    );

    // Two different entries are caught on the page.
    b.type_into("#reset-form input[name=password]", new).await;
    b.type_into("#reset-form input[name=password_repeat]", "something-else")
        .await;
    b.click("#reset-form button[type=submit]").await;
    b.until(
        "the message that the passwords differ",
        "const e = document.querySelector('#reset-form .field-error[data-field=password_repeat]'); return e && !e.hidden && e.textContent.trim()",
    )
    .await;
    let repeat = b.find("#reset-form input[name=password_repeat]").await;
    repeat.clear().await.unwrap();
    repeat.send_keys(new).await.unwrap();
    b.click("#reset-form button[type=submit]").await;
    let done = b
        .until(
            "the success state",
            "const d = document.getElementById('account-done'); return d && d.textContent.trim()",
        )
        .await;
    assert!(done.as_str().unwrap().contains("changed"), "{done}");
    b.assert_clean_console().await;

    // Only the new password signs in now.
    let login = |password: &str| {
        app.anon(Method::POST, "/api/v1/auth/login")
            .json(&json!({"login": email, "password": password}))
            .send()
    };
    assert_eq!(login(new).await.unwrap().status(), StatusCode::OK);
    assert_eq!(login(old).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    b.close().await;
}

/// One request a `Receiver` got: request line and headers, and the body.
#[derive(Clone, Debug)]
struct Received {
    head: String,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            if k.trim().eq_ignore_ascii_case(name) {
                Some(v.trim())
            } else {
                None
            }
        })
    }
}

/// A webhook receiver on a loopback port. It reads each request whole (by
/// Content-Length, keeping the connection open for the next one), answers
/// 200 with an empty body and keeps what it got.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the receiver");
        let url = format!(
            "http://{}/hook",
            listener.local_addr().expect("its address")
        );
        let got = Arc::new(Mutex::new(Vec::new()));
        let keep = got.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(receive(conn, keep.clone()));
            }
        });
        Receiver { url, got }
    }

    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    /// The first request `matches` accepts, waiting up to WAIT for it.
    async fn wait_for(&self, what: &str, matches: impl Fn(&Received) -> bool) -> Received {
        let start = Instant::now();
        loop {
            if let Some(r) = self.got.lock().unwrap().iter().find(|r| matches(r)) {
                return r.clone();
            }
            assert!(
                start.elapsed() < WAIT,
                "the receiver never got {what}; it got {:#?}",
                self.got.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(mut conn: tokio::net::TcpStream, got: Arc<Mutex<Vec<Received>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let len = head
            .lines()
            .find_map(|line| {
                let (k, v) = line.split_once(':')?;
                if k.trim().eq_ignore_ascii_case("content-length") {
                    v.trim().parse::<usize>().ok()
                } else {
                    None
                }
            })
            .unwrap_or(0);
        while buf.len() < head_end + len {
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned();
        buf.drain(..head_end + len);
        got.lock().unwrap().push(Received { head, body });
        let answer = conn
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await;
        if answer.is_err() {
            return;
        }
    }
}

/// Waits until the webhooks list has (re)loaded: it reloads whenever the
/// page comes back from an endpoint's deliveries.
async fn webhook_list_loaded(b: &Browser) {
    b.until(
        "the webhooks list",
        "const l = document.getElementById('webhook-list'); return l && !l.closest('[hidden]') && l.getAttribute('aria-busy') === 'false'",
    )
    .await;
}

/// Webhooks in the console against a receiver on a loopback port: the
/// endpoint created with its secret shown once, a user.created delivery
/// listed as delivered, a refused retry while disabled, "Send test" and
/// secret rotation; the dashboard's "Recent changes", fed by the change
/// stream (fetch() and an SSE parser), showing a user created through the
/// API while it is open; then deleting the endpoint.
#[tokio::test]
#[ignore = "needs chromium and chromium-driver; run by .ci/run"]
async fn webhooks_page_and_live_changes() {
    let receiver = Receiver::start().await;
    let app = helpers::spawn_app_tuned(|c| {
        c.webhooks.allow_insecure = true;
        c.webhooks.allow_private = true;
    })
    .await;
    let b = Browser::start(1280, 860).await;
    log_in(&b, &app).await;

    // An endpoint for user.created only; its secret is shown once.
    b.click("a[href='#/webhooks']").await;
    webhook_list_loaded(&b).await;
    b.type_into("#webhook-url", &receiver.url).await;
    b.type_into("#webhook-description", "browser test receiver")
        .await;
    b.click("#webhook-form input[name=event_types][value='user.created']")
        .await;
    b.click("#webhook-form button[type=submit]").await;
    let secret = b
        .until(
            "the new endpoint's secret",
            "const s = document.querySelector('#webhook-secret code'); return s && s.textContent.trim()",
        )
        .await;
    let secret = secret.as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let hooks: Value = app.get("/api/v1/webhooks").await.json().await.unwrap();
    let hook = hooks["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["url"] == receiver.url.as_str())
        .expect("the endpoint is listed")
        .clone();
    assert_eq!(hook["event_types"], json!(["user.created"]));
    assert!(
        hook["secret"].is_null(),
        "a list never shows secrets: {hook}"
    );
    let id = hook["id"].as_str().unwrap().to_owned();
    let row = format!(".webhook-row[data-id='{id}']");
    b.find(&row).await;
    b.assert_clean_console().await;

    // A user created through the API reaches the receiver, signed.
    let email = "hooked@example.com";
    app.create_user(json!({"email": email, "name": "Hook Receiver"}))
        .await;
    let got = receiver
        .wait_for("the user.created delivery", |r| {
            r.body.contains("\"user.created\"") && r.body.contains(email)
        })
        .await;
    assert!(
        got.header("webhook-signature")
            .is_some_and(|s| s.starts_with("v1,")),
        "{got:?}"
    );
    let event_id = got.header("webhook-id").expect("a webhook-id").to_owned();

    // Its Deliveries view lists that event as delivered (refreshed until so).
    b.click(&format!("{row} a[data-action=deliveries]")).await;
    b.until(
        "the delivery listed as delivered",
        &format!(
            "const r = document.querySelector(\".delivery-row[data-event-id='{event_id}']\"); \
             if (r && r.dataset.status === 'delivered' && r.textContent.includes('user.created')) return true; \
             const t = document.getElementById('deliveries-table'); \
             const btn = document.getElementById('deliveries-refresh'); \
             if (t && btn && !btn.disabled && t.getAttribute('aria-busy') !== 'true') btn.click(); \
             return false"
        ),
    )
    .await;
    b.assert_clean_console().await;

    // Disabled, the endpoint refuses a retry; the 409 problem's detail shows.
    b.click(".back-link").await;
    webhook_list_loaded(&b).await;
    b.click(&format!("{row} button[data-action=toggle]")).await;
    b.until(
        "the endpoint shown as disabled",
        &format!(
            "const r = document.querySelector(\"{row}\"); return r && r.dataset.enabled === 'false'"
        ),
    )
    .await;
    let now: Value = app
        .get(&format!("/api/v1/webhooks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["enabled"], json!(false), "{now}");
    b.click(&format!("{row} a[data-action=deliveries]")).await;
    b.click(&format!(
        ".delivery-row[data-event-id='{event_id}'] button[data-action=retry]"
    ))
    .await;
    b.until(
        "the refused retry's message",
        "const a = document.getElementById('deliveries-alert'); return a && !a.hidden && a.textContent.trim()",
    )
    .await;
    b.click(".back-link").await;
    webhook_list_loaded(&b).await;
    b.click(&format!("{row} button[data-action=toggle]")).await;
    b.until(
        "the endpoint enabled again",
        &format!(
            "const r = document.querySelector(\"{row}\"); return r && r.dataset.enabled === 'true'"
        ),
    )
    .await;

    // "Send test" reaches the receiver and says so.
    b.click(&format!("{row} button[data-action=test]")).await;
    let delivered = b
        .until(
            "the test's outcome",
            "const r = document.querySelector('#webhook-test-result[data-delivered]'); return r && r.dataset.delivered",
        )
        .await;
    let outcome = b
        .js("return document.getElementById('webhook-test-result').textContent")
        .await;
    assert_eq!(delivered, "true", "{outcome}");
    let test = receiver
        .wait_for("the test event", |r| r.body.contains("\"webhook.test\""))
        .await;
    assert!(
        test.header("webhook-id")
            .is_some_and(|v| v.starts_with("test_")),
        "{test:?}"
    );

    // Rotating shows a new secret, once.
    b.click(&format!("{row} button[data-action=rotate]")).await;
    b.click("#confirm-ok").await;
    let rotated = b
        .until(
            "the rotated secret",
            &format!(
                "const s = document.querySelector('#webhook-secret code'); \
                 const t = s && s.textContent.trim(); return t !== '{secret}' && t"
            ),
        )
        .await;
    assert!(rotated.as_str().unwrap().starts_with("whsec_"), "{rotated}");
    b.save_screenshot("webhooks-desktop").await;
    b.assert_clean_console().await;

    // The dashboard's "Recent changes" shows a user created while it is open.
    b.click("a[href='#/dashboard']").await;
    b.until(
        "the change stream to be open",
        "const p = document.getElementById('recent-changes'); return p && p.dataset.state === 'live'",
    )
    .await;
    let live = "live.change@example.com";
    app.create_user(json!({"email": live, "name": "Live Change"}))
        .await;
    b.until(
        "the new user in Recent changes",
        &format!(
            "return [...document.querySelectorAll('#recent-changes .change-item[data-type=\"user.created\"]')]\
             .some(i => i.textContent.includes('{live}'))"
        ),
    )
    .await;
    b.save_screenshot("dashboard-changes-desktop").await;

    // That user was delivered too: three requests in all, with the test.
    receiver
        .wait_for("the second user's delivery", |r| r.body.contains(live))
        .await;
    assert_eq!(receiver.count(), 3, "{:#?}", receiver.got.lock().unwrap());

    // Delete the endpoint (with confirmation); it is gone from the API.
    b.click("a[href='#/webhooks']").await;
    webhook_list_loaded(&b).await;
    b.click(&format!("{row} button[data-action=delete]")).await;
    b.click("#confirm-ok").await;
    b.until(
        "the deleted endpoint's card to go",
        &format!("return !document.querySelector(\"{row}\")"),
    )
    .await;
    assert_eq!(
        app.get(&format!("/api/v1/webhooks/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );
    b.assert_clean_console().await;
    b.close().await;
}
