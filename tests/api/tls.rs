//! HTTPS served by roster itself: a test CA issues a certificate for
//! localhost/127.0.0.1, and clients trust exactly that CA.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use reqwest::{Client, StatusCode};
use roster::App;
use roster::config::TlsFiles;
use rustls::pki_types::CertificateDer;
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Checked, login, roster_bin, test_config};

/// A certificate authority and a server certificate it issued, as PEM files.
struct Pki {
    ca: CertificateDer<'static>,
    files: TlsFiles,
}

fn write_pki(dir: &Path) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "roster test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
        .expect("CA certificate");

    let key = KeyPair::generate().expect("server key");
    let mut params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("server params");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &ca).expect("server certificate");

    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&files.cert, cert.pem()).expect("write cert");
    std::fs::write(&files.key, key.serialize_pem()).expect("write key");
    Pki {
        ca: ca.der().clone(),
        files,
    }
}

/// A client over ring that trusts `ca` and nothing else.
fn client_trusting(ca: &CertificateDer<'static>) -> Client {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).expect("CA certificate is valid");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports TLS 1.2 and 1.3")
    .with_root_certificates(roots)
    .with_no_client_auth();
    Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client builds")
}

struct TlsApp {
    /// `https://127.0.0.1:PORT`
    base: String,
    port: u16,
    client: Client,
    stop: oneshot::Sender<()>,
    handle: JoinHandle<anyhow::Result<()>>,
    _dir: TempDir,
}

async fn spawn_tls_app() -> TlsApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = write_pki(dir.path());
    let mut config = test_config(&dir.path().join("data"));
    config.tls = Some(pki.files.clone());
    let app = App::build(config).await.expect("app builds with TLS");
    let addr = app.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TlsApp {
        base: format!("https://{addr}"),
        port: addr.port(),
        client: client_trusting(&pki.ca),
        stop,
        handle,
        _dir: dir,
    }
}

impl TlsApp {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.handle
            .await
            .expect("server task")
            .expect("server stops cleanly");
    }
}

#[tokio::test]
async fn serves_the_api_over_https_and_only_https() {
    let app = spawn_tls_app().await;

    let res = app.client.get(format!("{}/livez", app.base)).check().await;
    assert_eq!(res.status(), StatusCode::OK);

    let token = login(&app.client, &app.base, ADMIN_EMAIL, ADMIN_PASSWORD).await["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();
    let res = app
        .client
        .get(format!("{}/api/v1/auth/me", app.base))
        .bearer_auth(&token)
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = res.json().await.expect("json");
    assert_eq!(me["email"], ADMIN_EMAIL, "{me}");

    // The same port does not answer in cleartext.
    let plain = app
        .client
        .get(format!("http://127.0.0.1:{}/livez", app.port))
        .send()
        .await;
    assert!(plain.is_err(), "cleartext got an answer: {plain:?}");

    app.stop().await;
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_certificate_is_refused() {
    let app = spawn_tls_app().await;
    let other = write_pki(&subdir(app._dir.path(), "other"));
    let stranger = client_trusting(&other.ca);
    let res = stranger.get(format!("{}/livez", app.base)).send().await;
    let err = res.expect_err("an untrusted certificate is refused");
    assert!(err.is_connect(), "{err:?}");
    // The server is unharmed.
    let res = app.client.get(format!("{}/livez", app.base)).check().await;
    assert_eq!(res.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_silent_connection_does_not_hold_up_other_clients() {
    let app = spawn_tls_app().await;
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(
            tokio::net::TcpStream::connect(("127.0.0.1", app.port))
                .await
                .expect("connects"),
        );
    }
    // Let the server accept them and start waiting for their ClientHello.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let res = tokio::time::timeout(
        Duration::from_secs(2),
        app.client.get(format!("{}/livez", app.base)).send(),
    )
    .await
    .expect("served within 2 s despite silent connections")
    .expect("request sent");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(silent);
    app.stop().await;
}

#[tokio::test]
async fn bad_certificate_or_key_files_fail_the_start_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = write_pki(dir.path());
    let other = write_pki(&subdir(dir.path(), "other"));
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not PEM\n").expect("write");
    let missing = dir.path().join("missing.pem");

    let cases = [
        (
            missing.clone(),
            good.files.key.clone(),
            "cannot read TLS certificate",
            &missing,
        ),
        (
            garbage.clone(),
            good.files.key.clone(),
            "no certificate found",
            &garbage,
        ),
        // A key file holds no certificate.
        (
            good.files.key.clone(),
            good.files.key.clone(),
            "no certificate found",
            &good.files.key,
        ),
        (
            good.files.cert.clone(),
            missing.clone(),
            "cannot read TLS private key",
            &missing,
        ),
        (
            good.files.cert.clone(),
            garbage.clone(),
            "no private key found",
            &garbage,
        ),
        // A certificate with somebody else's key.
        (
            good.files.cert.clone(),
            other.files.key.clone(),
            "cannot use TLS certificate",
            &other.files.key,
        ),
    ];
    for (cert, key, expected, named) in cases {
        let mut config = test_config(&dir.path().join("data"));
        config.tls = Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        });
        let err = match App::build(config).await {
            Ok(_) => panic!("started with cert {cert:?} and key {key:?}"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains(expected), "{err}");
        assert!(err.contains(&named.display().to_string()), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }
}

#[test]
fn the_binary_exits_with_a_clear_message_on_a_garbage_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = write_pki(dir.path());
    std::fs::write(&pki.files.key, "garbage\n").expect("write");
    let mut child = std::process::Command::new(roster_bin())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--data")
        .arg(dir.path().join("data"))
        .arg("--tls-cert")
        .arg(&pki.files.cert)
        .arg("--tls-key")
        .arg(&pki.files.key)
        .env_remove("ROSTER_ADMIN_EMAIL")
        .env_remove("ROSTER_ADMIN_PASSWORD")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("roster starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("roster kept running with a garbage TLS key");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut stderr)
        .expect("stderr");
    assert!(!status.success(), "{stderr}");
    let line = format!(
        "roster: cannot read TLS private key {}: no private key found",
        pki.files.key.display()
    );
    assert!(stderr.contains(&line), "{stderr}");
}

#[test]
fn the_binary_prints_an_https_setup_link() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = write_pki(dir.path());
    let mut child = std::process::Command::new(roster_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .arg("--data")
        .arg(dir.path().join("data"))
        .arg("--tls-cert")
        .arg(&pki.files.cert)
        .arg("--tls-key")
        .arg(&pki.files.key)
        .env_remove("ROSTER_ADMIN_EMAIL")
        .env_remove("ROSTER_ADMIN_PASSWORD")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("roster starts");
    let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
    let (mut link, mut listening) = (None, None);
    while link.is_none() || listening.is_none() {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            panic!("roster stopped before it was listening");
        };
        if line.contains("setup?token=") {
            link = Some(line.clone());
        }
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if v["address"].is_string() {
            listening = Some(v);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let (link, listening) = (link.expect("a link"), listening.expect("a log line"));
    let address = listening["address"].as_str().expect("an address");
    assert!(
        link.contains(&format!("https://{address}/admin/setup?token=")),
        "{link}"
    );
    assert_eq!(listening["scheme"], "https", "{listening}");
}

fn subdir(dir: &Path, name: &str) -> PathBuf {
    let sub = dir.join(name);
    std::fs::create_dir_all(&sub).expect("mkdir");
    sub
}
