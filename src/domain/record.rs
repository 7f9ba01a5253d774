//! [`ImportRecord`]: one user as an import file gives it (an NDJSON line or
//! a CSV row), read field by field at the edge that reads the file.
//!
//! Like [`UserFields`], it never fails to build: a field of the wrong type is
//! kept as [`Field::WrongType`] and becomes that field's error when the
//! import validates the record, so that one message can name every bad field
//! of a line. Validation needs the password rules and the clock, which are
//! the service's; this type only carries what was given.

use serde_json::{Map, Value};

use super::{Field, UserFields};

/// One imported user as given: the writable fields, plus what a migration
/// carries over (`id`, `created_at`, `updated_at`, `version`) and at most one
/// secret (`password`, or an existing `password_hash`).
#[derive(Debug)]
pub struct ImportRecord {
    pub id: Field<String>,
    /// RFC 3339.
    pub created_at: Field<String>,
    /// RFC 3339.
    pub updated_at: Field<String>,
    pub version: Field<u64>,
    pub password: Field<String>,
    pub password_hash: Field<String>,
    /// Everything else: the writable fields and any unknown key.
    pub user: UserFields,
}

impl ImportRecord {
    /// The record in `obj`: the import's own keys are taken out, the rest
    /// is read as the user's writable fields.
    pub fn from_map(mut obj: Map<String, Value>) -> Self {
        Self {
            id: Field::take(&mut obj, "id"),
            created_at: Field::take(&mut obj, "created_at"),
            updated_at: Field::take(&mut obj, "updated_at"),
            version: Field::take(&mut obj, "version"),
            password: Field::take(&mut obj, "password"),
            password_hash: Field::take(&mut obj, "password_hash"),
            user: UserFields::from_map(obj),
        }
    }

    /// One NDJSON line: `None` if it is blank; `Err` with the import
    /// report's wording if it is not a JSON object.
    pub fn from_json_line(text: &str) -> Result<Option<Self>, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(obj)) => Ok(Some(Self::from_map(obj))),
            Ok(_) => Err("is not a JSON object".into()),
            Err(e) => Err(format!("is not valid JSON ({e})")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_blank_a_record_or_the_reason_it_is_not_one() {
        assert!(matches!(ImportRecord::from_json_line("  \r"), Ok(None)));
        assert_eq!(
            ImportRecord::from_json_line("[1]").unwrap_err(),
            "is not a JSON object"
        );
        assert!(
            ImportRecord::from_json_line("{nope")
                .unwrap_err()
                .starts_with("is not valid JSON (")
        );
        let rec =
            ImportRecord::from_json_line(r#"{"id": 1, "version": 2, "email": "a@b.c", "x": 0}"#)
                .unwrap()
                .unwrap();
        assert_eq!((rec.id, rec.version), (Field::WrongType, Field::Given(2)));
        assert_eq!(rec.user.email, Field::Given("a@b.c".to_owned()));
        assert!(!rec.password.is_given() && rec.user.other.contains_key("x"));
    }
}
