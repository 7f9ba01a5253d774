//! The filter parser and evaluator against RFC 7644's examples.

use serde_json::json;

use super::*;

fn ada() -> Value {
    json!({
        "id": "2819c223-7f76-453a-919d-413861904646",
        "userName": "bjensen@example.com",
        "externalId": "Abc",
        "name": {"familyName": "Jensen", "givenName": "Barbara"},
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Tour Operations"},
        "meta": {"lastModified": "2011-05-13T04:42:34Z", "version": "W/\"3\""}
    })
}

fn m(f: &str) -> bool {
    parse(f)
        .unwrap_or_else(|e| panic!("{f}: {e}"))
        .matches(&ada())
}

#[test]
fn the_rfc_examples_match_as_they_should() {
    assert!(m(r#"userName eq "BJensen@example.com""#));
    assert!(m(r#"name.familyName co "ens""#));
    assert!(m(r#"userName sw "bj""#));
    assert!(m(r#"userName ew ".COM""#));
    assert!(!m("title pr"));
    assert!(m("name pr"));
    assert!(m(r#"meta.lastModified gt "2011-05-13T04:42:00Z""#));
    assert!(!m(r#"meta.lastModified lt "2011-05-13T04:42:34Z""#));
    assert!(m(r#"meta.lastModified ge "2011-05-13T04:42:34Z""#));
    assert!(m(r#"emails[type eq "work" and value co "@example.com"]"#));
    assert!(m(
        r#"emails[type eq "work"].value eq "bjensen@example.com""#
    ));
    assert!(!m(
        r#"emails[type eq "home"].value eq "bjensen@example.com""#
    ));
    assert!(m(r#"emails eq "babs@jensen.org""#));
    assert!(m(r#"emails.value ew "jensen.org""#));
    assert!(m(
        r#"userType eq "Employee" or (active eq true and not (name.givenName eq "Ada"))"#
    ));
    assert!(!m(r#"userType eq "Employee" and active eq true"#));
    assert!(m(r#"externalId eq "Abc""#));
    assert!(!m(r#"externalId eq "abc""#), "externalId is case-exact");
    assert!(m(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "tour operations""#
    ));
    assert!(m(r#"active eq "True""#), "a boolean sent as a string");
    assert!(m(r#"title ne "x""#));
    assert!(m(r#"USERNAME Eq "bjensen@example.com""#));
}

#[test]
fn bad_filters_are_errors_not_panics() {
    for f in [
        "",
        "userName",
        "userName eq",
        r#"userName xx "a""#,
        r#"userName eq "a"#,
        r#"(userName eq "a""#,
        r#"emails[type eq "work""#,
        r#"userName eq "a" and"#,
        "userName eq bare",
        r#"not userName eq "a""#,
        r#"userName eq "a" )"#,
        "..a eq 1",
        &"(".repeat(100),
        &"x".repeat(FILTER_MAX + 1),
    ] {
        assert!(parse(f).is_err(), "{f:?}");
    }
}

#[test]
fn lookups_only_when_every_match_is_found_by_them() {
    let l = |f: &str| parse(f).unwrap().lookups();
    assert_eq!(
        l(r#"userName eq "a""#),
        Some(vec![Lookup::UserName("a".into())])
    );
    assert_eq!(
        l(r#"userName eq "a" and active eq true"#),
        Some(vec![Lookup::UserName("a".into())])
    );
    assert_eq!(
        l(r#"emails[type eq "work"].value eq "x@y""#),
        Some(vec![Lookup::Email("x@y".into())])
    );
    assert_eq!(
        l(r#"id eq "1" or externalId eq "2""#),
        Some(vec![Lookup::Id("1".into()), Lookup::ExternalId("2".into())])
    );
    assert_eq!(l(r#"userName sw "a""#), None);
    assert_eq!(l(r#"userName eq "a" or active eq true"#), None);
    assert_eq!(l(r#"not (userName eq "a")"#), None);
}
