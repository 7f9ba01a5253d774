use std::path::{Path, PathBuf};

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use roster::{App, Config};
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server running in this process on its own port and data dir.
pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub data_dir: PathBuf,
    /// Kept so the directory lives as long as the app (None when borrowed).
    _dir: Option<TempDir>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_path_buf();
    let mut app = spawn_app_with(Config::for_data_dir(&path)).await;
    app._dir = Some(dir);
    app
}

pub async fn spawn_app_with(config: Config) -> TestApp {
    let data_dir = config.data_dir.clone();
    let app = App::build(config).await.expect("app builds");
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        base,
        client: Client::new(),
        data_dir,
        _dir: None,
        stop: Some(stop),
        handle: Some(handle),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Response {
        self.request(method, path)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn create_user(&self, body: Value) -> Value {
        let res = self.send_json(Method::POST, "/api/v1/users", &body).await;
        assert_eq!(res.status(), StatusCode::CREATED, "creating {body}");
        res.json().await.expect("user json")
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
