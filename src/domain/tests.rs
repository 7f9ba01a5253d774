use serde_json::{Map, Value, json};

use super::*;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn emails_are_normalised_and_folded() {
    let e = Email::parse("  Ada@Example.COM ").unwrap();
    assert_eq!(e.as_str(), "Ada@Example.COM");
    assert_eq!(e.folded(), "ada@example.com");
    // NFD and NFC spellings fold to the same key.
    let nfc = Email::parse("jos\u{e9}@example.com").unwrap();
    let nfd = Email::parse("jose\u{301}@example.com").unwrap();
    assert_eq!(nfc.folded(), nfd.folded());
}

#[test]
fn bad_emails_are_refused() {
    for bad in [
        "",
        "ada",
        "ada@",
        "@example.com",
        "a..b@example.com",
        ".a@example.com",
        "ada@-example.com",
        "ada@exa mple.com",
        "ada@example..com",
        "a b@example.com",
        "ada@example.com\u{0}",
    ] {
        assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
    }
    assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
}

#[test]
fn usernames() {
    assert!(Username::parse("ada.lovelace_1-x").is_ok());
    // Identity providers name users by address.
    assert!(Username::parse("ada+test@example.com").is_ok());
    assert!(Username::parse(&"a".repeat(254)).is_ok());
    for bad in [
        "",
        "-ada",
        "@ada",
        "ada lovelace",
        "adа",
        "ada#x",
        &"a".repeat(255),
        "0192f5b3-7c1e-7a4b-8c3d-1e2f3a4b5c6d",
    ] {
        assert!(Username::parse(bad).is_err(), "{bad:?} should be refused");
    }
    assert_eq!(Username::parse("Ada").unwrap().folded(), "ada");
}

#[test]
fn draft_collects_every_error() {
    let errs = UserDraft::from_json(obj(json!({
        "email": "nope", "name": 5, "roles": ["wizard"], "status": "gone",
        "attributes": [], "id": "x", "colour": "red"
    })))
    .unwrap_err();
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "email",
            "name",
            "roles",
            "status",
            "attributes",
            "colour",
            "id"
        ]
    );
    assert_eq!(errs.last().unwrap().message, "is read-only");
}

#[test]
fn draft_defaults() {
    let d = UserDraft::from_json(obj(json!({"email": "a@b.c", "name": "  "}))).unwrap();
    assert_eq!(d.roles, vec![Role::User]);
    assert_eq!(d.status, Status::Active);
    assert_eq!(d.name, None);
    assert!(!d.email_verified);
}

#[test]
fn attributes_size_limit() {
    let big = "x".repeat(ATTRIBUTES_MAX_BYTES);
    assert!(Attributes::parse(json!({ "a": big })).is_err());
    assert!(Attributes::parse(json!({ "a": "b" })).is_ok());
}

#[test]
fn merge_patch_follows_rfc7396() {
    // The example from RFC 7396 section 3.
    let mut target = json!({"a": "b", "c": {"d": "e", "f": "g"}});
    merge_patch(&mut target, &json!({"a": "z", "c": {"f": null}}));
    assert_eq!(target, json!({"a": "z", "c": {"d": "e"}}));
    let mut t = json!({"a": [1]});
    merge_patch(&mut t, &json!({"a": {"b": 1}, "n": null}));
    assert_eq!(t, json!({"a": {"b": 1}}));
}
