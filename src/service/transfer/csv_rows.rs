//! The CSV side of transfer: the columns an export writes and an import
//! accepts, and the reading of one imported row into an
//! [`ImportRecord`]. Empty cells are absent; `roles` are separated by `;`
//! (or `,`), `attributes` is JSON text, `email_verified` true/false.

use serde_json::{Map, Value};

use crate::domain::ImportRecord;

/// The columns of a CSV export, in order (`password_hash` last, if asked for).
pub const CSV_COLUMNS: [&str; 11] = [
    "id",
    "email",
    "username",
    "name",
    "roles",
    "status",
    "email_verified",
    "attributes",
    "created_at",
    "updated_at",
    "version",
];

/// Columns an imported CSV may have besides [`CSV_COLUMNS`].
const CSV_SECRET_COLUMNS: [&str; 2] = ["password", "password_hash"];

/// A CSV row as a record; `Err` (the import report's wording) if a cell
/// cannot be read or the row's length differs from the header's.
pub fn csv_record(headers: &[String], row: &csv::StringRecord) -> Result<ImportRecord, String> {
    csv_object(headers, row).map(ImportRecord::from_map)
}

/// A CSV row as the JSON object an NDJSON line would give for it, so that
/// both formats are validated by the same code.
fn csv_object(headers: &[String], row: &csv::StringRecord) -> Result<Map<String, Value>, String> {
    let mut obj = Map::new();
    for (h, cell) in headers.iter().zip(row.iter()) {
        if cell.is_empty() {
            continue;
        }
        let value = match h.as_str() {
            "roles" => Value::Array(
                cell.split([';', ','])
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(Value::from)
                    .collect(),
            ),
            "email_verified" => match cell.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Value::Bool(true),
                "false" | "0" | "no" => Value::Bool(false),
                _ => return Err("email_verified: must be true or false".into()),
            },
            "attributes" => {
                serde_json::from_str(cell).map_err(|_| "attributes: is not JSON text".to_owned())?
            }
            "version" => cell
                .trim()
                .parse::<u64>()
                .map(Value::from)
                .map_err(|_| "version: must be a whole number".to_owned())?,
            _ => Value::from(cell),
        };
        obj.insert(h.clone(), value);
    }
    if row.len() != headers.len() {
        return Err(format!(
            "has {} cells where the header has {}",
            row.len(),
            headers.len()
        ));
    }
    Ok(obj)
}

/// Checks a CSV header: known columns, each once, `email` among them.
pub fn check_csv_header(headers: &[String]) -> Result<(), String> {
    for (i, h) in headers.iter().enumerate() {
        if !CSV_COLUMNS.contains(&h.as_str()) && !CSV_SECRET_COLUMNS.contains(&h.as_str()) {
            return Err(format!(
                "unknown column {h:?} (known: {}, password, password_hash)",
                CSV_COLUMNS.join(", ")
            ));
        }
        if headers[..i].contains(h) {
            return Err(format!("column {h:?} appears twice"));
        }
    }
    if !headers.iter().any(|h| h == "email") {
        return Err("the header has no email column".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_become_records() {
        let headers: Vec<String> = ["email", "roles", "email_verified", "attributes", "name"]
            .map(String::from)
            .to_vec();
        check_csv_header(&headers).unwrap();
        let row =
            csv::StringRecord::from(vec!["a@example.com", "admin;user", "true", "{\"t\":1}", ""]);
        let rec = csv_object(&headers, &row).unwrap();
        assert_eq!(
            Value::Object(rec),
            serde_json::json!({"email": "a@example.com", "roles": ["admin", "user"], "email_verified": true, "attributes": {"t": 1}})
        );
        assert!(check_csv_header(&["name".into()]).is_err());
        assert!(check_csv_header(&["email".into(), "nope".into()]).is_err());
        assert!(check_csv_header(&["email".into(), "email".into()]).is_err());
    }
}
