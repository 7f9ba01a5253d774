//! `GET /api/v1/openapi.json`: the document is served, covers exactly the
//! routes the server answers, and describes what they really send.
//!
//! Route coverage: `router()` builds the API's routes from the same table
//! the document is built from (`src/api/openapi.rs`), so "served but not
//! documented" cannot happen by construction. These tests check the rest
//! from outside: every documented operation is answered by a handler (not
//! the 404 fallback, not 405) and protected ones demand credentials;
//! and `router()`'s source adds no other route than the console's.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Checked, TestApp, spawn_app};

/// The methods an OpenAPI path item may hold.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Operations anyone may call, without a token.
const PUBLIC: [&str; 23] = [
    "login",
    "verifySecondFactor",
    "startPasskeyLogin",
    "finishPasskeyLogin",
    "requestEmailVerification",
    "confirmEmailVerification",
    "requestPasswordReset",
    "confirmPasswordReset",
    "requestMagicLink",
    "confirmMagicLink",
    "confirmEmailChange",
    "refresh",
    "register",
    "setup",
    "getOpenApi",
    "getJwks",
    "livez",
    "readyz",
    "metrics",
    "getOpenIdConfiguration",
    "oauthToken",
    "oauthRevoke",
    "oauthIntrospect",
];

/// What `router()` mounts itself: the console, its redirects, and the
/// account pages that mailed links open.
const UNDOCUMENTED: [&str; 5] = [
    "/",
    "/admin",
    "/admin/",
    "/admin/{*path}",
    "/account/{*path}",
];

/// The served document.
async fn document(app: &TestApp) -> Value {
    let res = app.anon(Method::GET, "/api/v1/openapi.json").check().await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.headers()["cache-control"], "public, max-age=300");
    res.json().await.expect("the document is JSON")
}

/// Every (method, path, operation) of the document.
fn operations(doc: &Value) -> Vec<(Method, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                let method = Method::from_bytes(m.to_uppercase().as_bytes()).expect("method");
                ops.push((method, path.clone(), op.clone()));
            }
        }
        for key in item.as_object().expect("path item").keys() {
            assert!(
                METHODS.contains(&key.as_str()) || key == "parameters",
                "{path}: unexpected key {key}"
            );
        }
    }
    ops
}

#[tokio::test]
async fn the_document_is_openapi_3_1_with_the_bearer_scheme_on_protected_operations() {
    let app = spawn_app().await;
    let doc = document(&app).await;

    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "roster");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc["info"]["license"]["identifier"], "Apache-2.0");
    assert!(doc["info"]["description"].is_string());
    assert_eq!(doc["servers"], json!([{"url": "/"}]));
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    assert!(doc.get("security").is_none(), "no global security");

    let ops = operations(&doc);
    let mut ids = BTreeSet::new();
    for (method, path, op) in &ops {
        let id = op["operationId"].as_str().expect("operationId").to_owned();
        assert!(ids.insert(id.clone()), "operationId {id} twice");
        assert!(op["summary"].is_string(), "{method} {path}: summary");
        assert_eq!(
            op["tags"].as_array().map(Vec::len),
            Some(1),
            "{id}: one tag"
        );
        if PUBLIC.contains(&id.as_str()) {
            assert!(op.get("security").is_none(), "{id} is public");
        } else {
            assert_eq!(op["security"], json!([{"bearer": []}]), "{id}");
            assert!(op["responses"].get("401").is_some(), "{id}: 401");
        }
        if path.starts_with("/api/v1/") && id != "getOpenApi" {
            assert!(op["responses"].get("429").is_some(), "{id}: 429");
        }
        for (status, response) in op["responses"].as_object().expect("responses") {
            // The OpenID Provider's endpoints answer OAuth's own errors
            // (RFC 6749 §5.2), which relying-party libraries parse.
            let oauth = path.starts_with("/oauth2/") && status != "429";
            if oauth && status.starts_with('4') {
                let (ct, schema) = response_schema(&doc, response);
                assert_eq!(ct, "application/json", "{id} {status}");
                assert!(schema["properties"].get("error").is_some(), "{id} {status}");
            } else if status.starts_with('4') || status.starts_with('5') {
                let (ct, schema) = response_schema(&doc, response);
                assert_eq!(ct, "application/problem+json", "{id} {status}");
                assert!(
                    schema["properties"].get("detail").is_some(),
                    "{id} {status}"
                );
            }
        }
    }
    for id in PUBLIC {
        assert!(ids.contains(id), "{id} is documented");
    }
    assert!(ops.len() >= 26, "{} operations", ops.len());
}

#[tokio::test]
async fn every_reference_in_the_document_resolves() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    fn walk(doc: &Value, v: &Value) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    let pointer = r.strip_prefix('#').expect("local $ref");
                    assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
                }
                map.values().for_each(|x| walk(doc, x));
            }
            Value::Array(items) => items.iter().for_each(|x| walk(doc, x)),
            _ => {}
        }
    }
    walk(&doc, &doc);
}

/// A concrete URL for a documented path: every `{param}` a fresh UUID.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "0190a0b0-0000-7000-8000-000000000000".to_owned()
            } else {
                seg.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_documented_operation_is_served_and_protected_ones_need_a_token() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap_or("").to_owned();
        // Anonymous, and with a body no handler accepts: nothing is changed.
        let res = app
            .anon(method.clone(), &concrete(&path))
            .header("content-type", "text/plain")
            .body("probe")
            .check()
            .await;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_ne!(
            body["detail"], "There is nothing at this address.",
            "{method} {path} is documented but not served"
        );
        if PUBLIC.contains(&id.as_str()) {
            assert_ne!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} is public"
            );
        } else {
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} needs a token"
            );
        }
        assert!(
            op["responses"].get(status.as_str()).is_some(),
            "{method} {path} answered {status}, which it does not document"
        );
    }
}

/// The routes `router()` adds itself must be the console's: any other
/// belongs in the table (`src/api/openapi.rs`), where it gets documented.
#[test]
fn router_adds_no_route_beyond_the_table_but_the_console() {
    let source = include_str!("../../src/api/mod.rs");
    let start = source.find("pub fn router(").expect("router() in mod.rs");
    let body = &source[start..];
    let body = &body[..body.find("\n}\n").expect("end of router()")];
    assert!(
        body.contains("openapi::routes()"),
        "router() uses the table"
    );
    let mut found = Vec::new();
    for part in body.split(".route(").skip(1) {
        let literal = part
            .trim_start()
            .strip_prefix('"')
            .and_then(|p| p.split('"').next())
            .unwrap_or("<not a literal>");
        found.push(literal.to_owned());
    }
    // `.route(&r.path, …)` for the table's entries; the rest are literals.
    found.retain(|r| r != "<not a literal>");
    assert_eq!(found, UNDOCUMENTED, "routes added outside the table");
    assert!(
        !body.contains(".nest("),
        "a nested router would bypass the table"
    );
}

/// The documented response of `op` for `status`: its one content type and
/// schema, with `$ref`s resolved.
fn documented(doc: &Value, path: &str, method: &str, status: u16) -> (String, Value) {
    let response = &doc["paths"][path][method]["responses"][status.to_string()];
    assert!(!response.is_null(), "{method} {path} documents {status}");
    response_schema(doc, response)
}

fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => resolve(doc, doc.pointer(&r[1..]).expect("$ref resolves")),
        None => v,
    }
}

fn response_schema(doc: &Value, response: &Value) -> (String, Value) {
    let response = resolve(doc, response);
    let content = response["content"].as_object().expect("content");
    assert_eq!(content.len(), 1, "one content type");
    let (ct, media) = content.iter().next().expect("a content type");
    (ct.clone(), resolve(doc, &media["schema"]).clone())
}

/// The body's top-level keys are the schema's properties: all the required
/// ones, maybe some optional ones, nothing else.
async fn assert_matches(doc: &Value, res: reqwest::Response, path: &str, method: &str) -> Value {
    let status = res.status().as_u16();
    let (ct, schema) = documented(doc, path, method, status);
    let got_ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert_eq!(got_ct, ct, "{method} {path} {status}: content type");
    let body: Value = res.json().await.expect("json body");
    let keys: BTreeSet<&str> = body
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    // One of several shapes (a sign-in: tokens, or a second factor due):
    // the alternative whose properties hold every key of the body.
    let schema = match schema["oneOf"].as_array() {
        Some(shapes) => shapes
            .iter()
            .map(|s| resolve(doc, s))
            .find(|s| {
                s["properties"]
                    .as_object()
                    .is_some_and(|p| keys.iter().all(|k| p.contains_key(*k)))
            })
            .unwrap_or_else(|| panic!("{method} {path} {status}: no shape fits {keys:?}"))
            .clone(),
        None => schema,
    };
    let properties: BTreeSet<&str> = schema["properties"]
        .as_object()
        .expect("an object schema")
        .keys()
        .map(String::as_str)
        .collect();
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        keys.is_subset(&properties),
        "{method} {path} {status}: undocumented keys {:?}",
        keys.difference(&properties).collect::<Vec<_>>()
    );
    assert!(
        required.is_subset(&keys),
        "{method} {path} {status}: missing required keys {:?}",
        required.difference(&keys).collect::<Vec<_>>()
    );
    body
}

#[tokio::test]
async fn real_answers_match_their_documented_schemas() {
    let app = spawn_app().await;
    let doc = document(&app).await;

    let res = app
        .request(Method::POST, "/api/v1/users")
        .json(&json!({"email": "ada@example.com", "name": "Ada"}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let user = assert_matches(&doc, res, "/api/v1/users", "post").await;
    // Every property of a user is always sent.
    let (_, schema) = documented(&doc, "/api/v1/users", "post", 201);
    assert_eq!(
        schema["properties"].as_object().map(|p| p.len()),
        user.as_object().map(|u| u.len())
    );
    let id = user["id"].as_str().expect("id");

    let res = app.get(&format!("/api/v1/users/{id}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_matches(&doc, res, "/api/v1/users/{id}", "get").await;

    let res = app.get("/api/v1/users?limit=1").await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = assert_matches(&doc, res, "/api/v1/users", "get").await;
    assert!(page["next_cursor"].is_string(), "two users, one per page");

    let res = app
        .get("/api/v1/users/search?q=ada&facets=status,roles&consistent=true")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let results = assert_matches(&doc, res, "/api/v1/users/search", "get").await;
    assert!(
        results["hits"].as_array().is_some_and(|h| !h.is_empty()),
        "{results}"
    );

    let res = app
        .anon(Method::POST, "/api/v1/auth/login")
        .json(&json!({"login": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_matches(&doc, res, "/api/v1/auth/login", "post").await;

    let res = app
        .request(Method::POST, "/api/v1/api-keys")
        .json(&json!({"name": "ci", "scopes": ["users:read"]}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let key = assert_matches(&doc, res, "/api/v1/api-keys", "post").await;
    assert!(key["secret"].as_str().is_some_and(|s| s.starts_with("rk_")));

    let res = app
        .request(Method::POST, "/api/v1/users")
        .json(&json!({"email": "not an address"}))
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem = assert_matches(&doc, res, "/api/v1/users", "post").await;
    assert!(problem["errors"].is_array());

    let res = app
        .get("/api/v1/users/0190a0b0-0000-7000-8000-000000000000")
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_matches(&doc, res, "/api/v1/users/{id}", "get").await;

    let res = app.anon(Method::GET, "/api/v1/users").check().await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_matches(&doc, res, "/api/v1/users", "get").await;

    let res = app.anon(Method::GET, "/readyz").check().await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_matches(&doc, res, "/readyz", "get").await;
}

/// Runs `python3 -m openapi_spec_validator` (PyPI `openapi-spec-validator`)
/// on the served document; `.ci/run` installs it in a venv.
#[tokio::test]
#[ignore = "needs python3 with openapi-spec-validator on PATH; .ci/run provides it"]
async fn openapi_document_passes_the_validator() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "openapi-spec-validator failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The OpenID Provider metadata (`/.well-known/openid-configuration`)
/// against a JSON Schema of OpenID Connect Discovery 1.0 and RFC 8414
/// (`openid-provider-metadata.schema.json`), checked by Python's
/// `jsonschema` (installed with openapi-spec-validator by `.ci/run`), with
/// URI formats checked. The issuer must also equal the server's address.
#[tokio::test]
#[ignore = "needs python3 with jsonschema on PATH; .ci/run provides it"]
async fn openapi_companion_openid_configuration_passes_its_schema() {
    let app = spawn_app().await;
    let res = app
        .anon(Method::GET, "/.well-known/openid-configuration")
        .check()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["issuer"], app.base.as_str());
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("openid-configuration.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
    let schema = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/api/openid-provider-metadata.schema.json"
    );
    let script = "import json, sys, jsonschema\n\
        schema = json.load(open(sys.argv[1])); doc = json.load(open(sys.argv[2]))\n\
        jsonschema.Draft202012Validator.check_schema(schema)\n\
        v = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)\n\
        errors = [f'{list(e.path)}: {e.message}' for e in v.iter_errors(doc)]\n\
        print('\\n'.join(errors)); sys.exit(1 if errors else 0)";
    let check = |file: &std::path::Path| {
        std::process::Command::new("python3")
            .args(["-c", script, schema])
            .arg(file)
            .output()
            .expect("python3 runs")
    };
    let out = check(&file);
    assert!(
        out.status.success(),
        "the metadata does not match the schema:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The schema can fail: without RS256, or with a relative endpoint.
    for (key, bad) in [
        ("id_token_signing_alg_values_supported", json!(["EdDSA"])),
        ("token_endpoint", json!("/oauth2/token")),
    ] {
        let mut broken = doc.clone();
        broken[key] = bad;
        std::fs::write(&file, broken.to_string()).expect("write");
        assert!(!check(&file).status.success(), "{key} was not checked");
    }
}
