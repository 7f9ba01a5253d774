//! Validation of one imported record: an [`ImportRecord`] as the edge read
//! it becomes a [`User`] and its secret, or one message naming every bad
//! field (`field: problem`, joined by `; `) for the import report.
//!
//! It lives in the service, not the domain, because it needs the password
//! rules (`auth::passwords`) and the clock.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::auth::passwords::check_imported_hash;
use crate::domain::{Field, ImportRecord, Password, Timestamp, User, UserDraft, UserId};

use super::super::now;

/// The secret an imported user comes with.
#[derive(Debug)]
pub(super) enum Secret {
    None,
    /// A hash checked by [`check_imported_hash`], stored as given.
    Hash(String),
    /// A password to hash before the write.
    Plain(Password),
}

/// Validates one record; the message names every bad field, in the order
/// id, times, version, secret, then the user's own fields.
pub(super) fn parse_record(rec: ImportRecord) -> Result<(User, Secret), String> {
    let mut errors: Vec<String> = Vec::new();
    let id = parse_id(rec.id, &mut errors);
    let created_at = parse_time("created_at", rec.created_at, &mut errors);
    let updated_at = parse_time("updated_at", rec.updated_at, &mut errors);
    let version = parse_version(rec.version, &mut errors);
    let secret = parse_secret(rec.password, rec.password_hash, &mut errors);
    let draft = UserDraft::from_fields(rec.user).map_err(|errs| {
        for e in errs {
            errors.push(format!("{}: {}", e.field, e.message));
        }
    });
    match (draft, id, version) {
        (Ok(draft), Some(id), Some(version)) if errors.is_empty() => {
            let created = created_at.map_or_else(now, Timestamp::truncate);
            let mut user = User::from_draft(id, draft, created);
            user.updated_at = updated_at.map_or(created, Timestamp::truncate);
            user.version = version;
            Ok((user, secret))
        }
        _ => Err(errors.join("; ")),
    }
}

/// The given id, or a new one; `None` after an error.
fn parse_id(id: Field<String>, errors: &mut Vec<String>) -> Option<UserId> {
    match id {
        Field::Absent => Some(UserId::new()),
        Field::Given(s) => UserId::parse(&s).or_else(|| {
            errors.push("id: is not a UUID".into());
            None
        }),
        Field::WrongType => {
            errors.push("id: must be a string".into());
            None
        }
    }
}

/// The given time in UTC; `None` if absent or after an error.
fn parse_time(key: &str, given: Field<String>, errors: &mut Vec<String>) -> Option<OffsetDateTime> {
    match given {
        Field::Absent => None,
        Field::Given(s) => match OffsetDateTime::parse(&s, &Rfc3339) {
            Ok(t) => Some(t.to_offset(time::UtcOffset::UTC)),
            Err(_) => {
                errors.push(format!("{key}: is not an RFC 3339 time"));
                None
            }
        },
        Field::WrongType => {
            errors.push(format!("{key}: must be an RFC 3339 time string"));
            None
        }
    }
}

/// The given version (1 if absent); `None` after an error.
fn parse_version(version: Field<u64>, errors: &mut Vec<String>) -> Option<u64> {
    match version {
        Field::Absent => Some(1),
        Field::Given(n) if n >= 1 => Some(n),
        Field::Given(_) | Field::WrongType => {
            errors.push("version: must be a whole number of at least 1".into());
            None
        }
    }
}

/// At most one of a password and a password hash.
fn parse_secret(password: Field<String>, hash: Field<String>, errors: &mut Vec<String>) -> Secret {
    let mut fail = |message: String| {
        errors.push(message);
        Secret::None
    };
    match (password, hash) {
        (p, h) if p.is_given() && h.is_given() => {
            fail("password: give a password or a password_hash, not both".into())
        }
        (Field::Given(p), _) => match Password::parse(&p) {
            Ok(p) => Secret::Plain(p),
            Err(m) => fail(format!("password: {m}")),
        },
        (Field::WrongType, _) => fail("password: must be a string".into()),
        (Field::Absent, Field::Given(h)) => match check_imported_hash(&h) {
            Ok(()) => Secret::Hash(h),
            Err(m) => fail(format!("password_hash: {m}")),
        },
        (Field::Absent, Field::WrongType) => fail("password_hash: must be a string".into()),
        (Field::Absent, Field::Absent) => Secret::None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn obj(v: Value) -> ImportRecord {
        ImportRecord::from_map(v.as_object().unwrap().clone())
    }

    #[test]
    fn records_keep_ids_times_and_versions_and_name_every_bad_field() {
        let (u, secret) = parse_record(obj(serde_json::json!({
            "id": "01929d6e-0000-7000-8000-000000000001",
            "email": "Ada@Example.com",
            "created_at": "2024-01-02T03:04:05.123456789Z",
            "version": 7,
            "password_hash": "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        })))
        .unwrap();
        assert_eq!(u.id.to_string(), "01929d6e-0000-7000-8000-000000000001");
        assert_eq!(u.version, 7);
        assert_eq!(u.created_at.nanosecond(), 123_456_000);
        assert_eq!(u.updated_at, u.created_at);
        assert!(matches!(secret, Secret::Hash(_)));

        let err = parse_record(obj(serde_json::json!({
            "id": "nope", "email": "x", "version": 0, "password": "short", "extra": 1,
        })))
        .unwrap_err();
        for field in ["id:", "email:", "version:", "password:", "extra:"] {
            assert!(err.contains(field), "{field} in {err}");
        }
        let err = parse_record(obj(serde_json::json!({
            "email": "a@example.com", "password_hash": "$md5$abc",
        })))
        .unwrap_err();
        assert!(err.starts_with("password_hash:"), "{err}");
    }

    #[test]
    fn each_bad_field_is_named_in_order_and_null_is_absent() {
        let err = parse_record(obj(serde_json::json!({
            "id": 5, "created_at": 5, "updated_at": "yesterday", "version": "7",
            "password": 1, "password_hash": 2, "email": 3, "extra": 1,
        })))
        .unwrap_err();
        assert_eq!(
            err,
            "id: must be a string; created_at: must be an RFC 3339 time string; \
             updated_at: is not an RFC 3339 time; version: must be a whole number of at least 1; \
             password: give a password or a password_hash, not both; \
             email: must be a string; extra: is not a known field"
        );
        let err = parse_record(obj(
            serde_json::json!({"email": "a@example.com", "password": 1}),
        ))
        .unwrap_err();
        assert_eq!(err, "password: must be a string");
        let err = parse_record(obj(
            serde_json::json!({"email": "a@example.com", "password_hash": 1}),
        ))
        .unwrap_err();
        assert_eq!(err, "password_hash: must be a string");
        let (u, secret) = parse_record(obj(serde_json::json!({
            "id": null, "email": "a@example.com", "version": null, "password": null,
            "password_hash": "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        })))
        .unwrap();
        assert_eq!(u.version, 1);
        assert!(matches!(secret, Secret::Hash(_)));
    }
}
