use std::path::{Path, PathBuf};

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use roster::{App, Config};
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server running in this process on its own port and data dir.
pub const ADMIN_EMAIL: &str = "admin@example.test";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

pub struct TestApp {
    pub base: String,
    pub client: Client,
    /// The bootstrap admin's access token, sent by `request` and friends.
    pub token: String,
    pub data_dir: PathBuf,
    /// The store's reads so far.
    pub reads: roster::ReadCounter,
    /// Kept so the directory lives as long as the app (None when borrowed).
    _dir: Option<TempDir>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_tuned(|_| {}).await
}

/// Test defaults (bootstrap admin, no rate limits) adjusted by `tune`.
pub async fn spawn_app_tuned(tune: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(dir.path());
    tune(&mut config);
    let mut app = spawn_app_with(config).await;
    app._dir = Some(dir);
    app
}

pub fn test_config(dir: &Path) -> Config {
    let mut config = Config::for_data_dir(dir);
    config.auth.bootstrap_admin = Some((ADMIN_EMAIL.into(), ADMIN_PASSWORD.into()));
    config.auth.login_rate_limit = None;
    config.rate_limit = None;
    config
}

pub async fn spawn_app_with(config: Config) -> TestApp {
    spawn_app_with_login(config, ADMIN_EMAIL, ADMIN_PASSWORD).await
}

/// Starts the app and signs in as the given account.
pub async fn spawn_app_with_login(config: Config, email: &str, password: &str) -> TestApp {
    let data_dir = config.data_dir.clone();
    let app = App::build(config).await.expect("app builds");
    let reads = app.read_counter();
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let client = http_client();
    let token = login(&client, &base, email, password).await["access_token"]
        .as_str()
        .expect("admin logs in")
        .to_owned();
    TestApp {
        base,
        client,
        token,
        data_dir,
        reads,
        _dir: None,
        stop: Some(stop),
        handle: Some(handle),
    }
}

/// Logs in; panics unless it succeeds. Returns the token response.
pub async fn login(client: &Client, base: &str, login: &str, password: &str) -> Value {
    let res = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"login": login, "password": password}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::OK, "login of {login}");
    let body: Value = res.json().await.expect("token json");
    assert_no_secrets(&body);
    body
}

/// Sends a request and checks that its response body holds no password
/// hash or other stored secret; every test request goes through this.
pub trait Checked {
    async fn check(self) -> Response;
}

impl Checked for RequestBuilder {
    async fn check(self) -> Response {
        let res = self.send().await.expect("request sent");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("response body");
        let text = String::from_utf8_lossy(&bytes);
        for needle in ["$argon2", "$2a$", "$2b$", "$2y$"] {
            assert!(
                !text.contains(needle),
                "a secret-looking value ({needle}) in {text}"
            );
        }
        let mut rebuilt = http::Response::new(bytes.to_vec());
        *rebuilt.status_mut() = status;
        *rebuilt.headers_mut() = headers;
        Response::from(rebuilt)
    }
}

/// No password, hash or stored secret in a response body.
pub fn assert_no_secrets(body: &Value) {
    let text = body.to_string();
    for needle in [
        "$argon2",
        "$2b$",
        "\"password\"",
        "password_hash",
        "\"seed\"",
    ] {
        assert!(
            !text.contains(needle),
            "a secret-looking value ({needle}) in {text}"
        );
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request as the bootstrap admin.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }

    /// A request with no credentials.
    pub fn anon(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// A request with the given bearer token.
    pub fn as_token(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).check().await
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Response {
        self.request(method, path).json(body).check().await
    }

    pub async fn create_user(&self, body: Value) -> Value {
        let res = self.send_json(Method::POST, "/api/v1/users", &body).await;
        assert_eq!(res.status(), StatusCode::CREATED, "creating {body}");
        res.json().await.expect("user json")
    }

    /// Creates a plain user with `password` and signs it in: the user and
    /// its access token.
    pub async fn user_with_token(&self, email: &str, password: &str) -> (Value, String) {
        let user = self
            .create_user(serde_json::json!({"email": email, "password": password}))
            .await;
        let token = login(&self.client, &self.base, email, password).await["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned();
        (user, token)
    }

    /// Stops the server gracefully and waits until its store is closed.
    /// Returns the data dir (and its guard) so the caller can start again.
    pub async fn stop(mut self) -> (PathBuf, Option<TempDir>) {
        let _ = self.stop.take().expect("running").send(());
        self.handle
            .take()
            .expect("running")
            .await
            .expect("server task")
            .expect("server ran");
        (self.data_dir.clone(), self._dir.take())
    }
}

/// Asserts a problem+json response with this status; returns its body.
pub async fn assert_problem(res: Response, status: StatusCode) -> Value {
    assert_eq!(res.status(), status);
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert_eq!(ct, "application/problem+json");
    let body: Value = res.json().await.expect("problem json");
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["type"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    body
}

/// The fields named in a validation problem's `errors`.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

pub fn roster_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_roster"))
}

/// The real binary on a fresh data dir with no admin, as an operator first
/// starts it: it prints a one-time setup link. Killed when dropped.
pub struct FirstRun {
    pub base: String,
    /// The printed `http://…/admin/setup?token=…` link and its token.
    pub link: String,
    pub token: String,
    child: std::process::Child,
    _dir: TempDir,
}

impl FirstRun {
    pub fn start() -> FirstRun {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(roster_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .arg("--data")
            .arg(dir.path())
            .env_remove("ROSTER_ADMIN_EMAIL")
            .env_remove("ROSTER_ADMIN_PASSWORD")
            .stderr(Stdio::piped())
            .spawn()
            .expect("roster starts");
        let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
        let (mut link, mut addr) = (None, None);
        while link.is_none() || addr.is_none() {
            let line = lines.next().expect("server output").expect("utf-8 line");
            if let Some(i) = line
                .find("http://")
                .filter(|_| line.contains("setup?token="))
            {
                link = line[i..].split_whitespace().next().map(str::to_owned);
            }
            let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if let Some(a) = v["address"].as_str() {
                addr = Some(a.to_owned());
            }
        }
        std::thread::spawn(move || for _ in lines {});
        let link = link.expect("a setup link");
        let token = link.split("token=").nth(1).expect("a token").to_owned();
        FirstRun {
            base: format!("http://{}", addr.expect("an address")),
            link,
            token,
            child,
            _dir: dir,
        }
    }
}

impl Drop for FirstRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP client. reqwest is built with rustls but no crypto provider
/// (to keep aws-lc out), so the ring provider is installed once first.
pub fn http_client() -> Client {
    http_client_builder().build().expect("an HTTP client")
}

pub fn http_client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
}
