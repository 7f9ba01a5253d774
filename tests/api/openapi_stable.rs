//! The OpenAPI document stays what clients were given: every operation of
//! the copy taken before the typed-DTO restructuring (`openapi-before.json`)
//! is still documented with the same method, path, parameters, status codes
//! and schemas, and no operation appeared or vanished unannounced.
//!
//! "The same" is semantic: `$ref`s are resolved (a schema may move between
//! components or be inlined), and prose (`description`, `title`) and the
//! order of `required` are ignored. A deliberate change of the API updates
//! the copy in the same commit, where the diff shows it
//! (`ROSTER_UPDATE_OPENAPI=1 cargo test --test api openapi_stable`
//! writes it).

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{Map, Value};

use crate::helpers::spawn_app;

const BEFORE: &str = include_str!("openapi-before.json");
const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];
const PROSE: [&str; 3] = ["description", "title", "summary"];

/// `v` with every `$ref` replaced by what it names (a reference met again
/// while being resolved stays a reference: schemas may be recursive), prose
/// dropped and `required` sorted.
fn normal(doc: &Value, v: &Value, seen: &mut Vec<String>) -> Value {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                if seen.contains(r) {
                    return Value::String(format!("recursive {r}"));
                }
                let mut target = doc;
                for part in r.trim_start_matches("#/").split('/') {
                    target = &target[part];
                }
                assert!(!target.is_null(), "unresolved reference {r}");
                seen.push(r.clone());
                let out = normal(doc, target, seen);
                seen.pop();
                return out;
            }
            let mut out = Map::new();
            for (k, v) in m {
                if PROSE.contains(&k.as_str()) && !v.is_object() {
                    continue;
                }
                let mut n = normal(doc, v, seen);
                if k == "required"
                    && let Value::Array(a) = &mut n
                {
                    a.sort_by_key(|x| x.to_string());
                }
                out.insert(k.clone(), n);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| normal(doc, x, seen)).collect()),
        other => other.clone(),
    }
}

/// Per `METHOD path`: the operation, normalised.
fn operations(doc: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                let mut op = op.clone();
                // Tags group operations in viewers; they are not the contract.
                op.as_object_mut().expect("operation").remove("tags");
                out.insert(
                    format!("{} {path}", m.to_uppercase()),
                    normal(doc, &op, &mut Vec::new()),
                );
            }
        }
    }
    out
}

#[tokio::test]
async fn the_document_is_semantically_the_one_taken_before_the_restructuring() {
    let app = spawn_app().await;
    let res = app
        .anon(Method::GET, "/api/v1/openapi.json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let now: Value = res.json().await.expect("the document is JSON");
    if std::env::var_os("ROSTER_UPDATE_OPENAPI").is_some() {
        // A deliberate change: write the copy anew (then review its diff).
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/openapi-before.json");
        std::fs::write(path, serde_json::to_string_pretty(&now).unwrap()).unwrap();
        return;
    }
    let before: Value = serde_json::from_str(BEFORE).expect("the copy is JSON");
    let (then, now) = (operations(&before), operations(&now));
    assert_eq!(
        then.keys().collect::<Vec<_>>(),
        now.keys().collect::<Vec<_>>(),
        "the documented operations changed"
    );
    for (key, op) in &then {
        assert_eq!(
            op, &now[key],
            "{key} is documented differently than before (parameters, body, statuses or schemas)"
        );
    }
}
