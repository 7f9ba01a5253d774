//! A GraphQL response written as JSON with the REST answers' writer
//! (`api::json`) instead of serde_json: a page of users is mostly strings,
//! and serde_json escapes them a byte at a time (about a tenth of the CPU
//! of a `searchUsers` page). The output is byte for byte serde_json's, as
//! the test below holds it to; numbers, errors and extensions are written
//! by serde_json itself.

use async_graphql::{BatchResponse, Response, Value};

use super::super::json::{Out, WriteJson};

/// A response, or a batch of them.
pub struct Answer<'a>(pub &'a BatchResponse);

impl WriteJson for Answer<'_> {
    fn write_json(&self, out: &mut Out) {
        match self.0 {
            BatchResponse::Single(r) => r.write_json(out),
            BatchResponse::Batch(rs) => out.array(rs),
        }
    }
}

/// The fields in the order, and with the omissions, of `Response`'s
/// `Serialize`.
impl WriteJson for Response {
    fn write_json(&self, out: &mut Out) {
        out.raw("{\"data\":");
        self.data.write_json(out);
        if !self.extensions.is_empty() {
            out.raw(",\"extensions\":").serde(&self.extensions);
        }
        if !self.errors.is_empty() {
            out.raw(",\"errors\":").serde(&self.errors);
        }
        out.raw("}");
    }
}

impl WriteJson for Value {
    fn write_json(&self, out: &mut Out) {
        match self {
            Value::Null => {
                out.raw("null");
            }
            Value::String(s) => out.str(s),
            Value::Enum(name) => out.str(name.as_str()),
            Value::Boolean(b) => out.bool(*b),
            Value::List(items) => out.array(items),
            Value::Object(fields) => {
                out.raw("{");
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.raw(",");
                    }
                    out.str(key.as_str());
                    out.raw(":");
                    value.write_json(out);
                }
                out.raw("}");
            }
            number_or_binary => out.serde(number_or_binary),
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{Name, ServerError, Value};
    use serde_json::json;

    use super::*;

    fn ours(r: &BatchResponse) -> String {
        let mut out = Out::with_capacity(0);
        Answer(r).write_json(&mut out);
        out.into_string()
    }

    #[test]
    fn responses_are_written_as_serde_json_writes_them() {
        let data = Value::from_json(json!({
            "users": {"edges": [
                {"cursor": "a\"b\\c\n", "node": {"id": "x", "name": null, "n": 1.5, "big": 18446744073709551615u64,
                 "neg": -3, "ok": true, "no": false, "tags": [], "nested": {"é": "ünïcødé \u{1}"}}},
                {"cursor": "", "node": {}}
            ]},
            "empty": [],
        }))
        .unwrap();
        let mut with_enum = async_graphql::indexmap::IndexMap::new();
        with_enum.insert(Name::new("role"), Value::Enum(Name::new("ADMIN")));
        with_enum.insert(Name::new("bytes"), Value::Binary(vec![1u8, 2, 255].into()));
        let mut errors = Response::new(Value::Object(with_enum));
        errors
            .errors
            .push(ServerError::new("no \"such\" user", None));
        let errors = errors.extension("took", Value::from(3));
        for r in [
            BatchResponse::Single(Response::new(data.clone())),
            BatchResponse::Single(errors),
            BatchResponse::Single(Response::from_errors(vec![ServerError::new("x", None)])),
            BatchResponse::Batch(vec![Response::new(data), Response::new(Value::Null)]),
            BatchResponse::Batch(vec![]),
        ] {
            assert_eq!(ours(&r), serde_json::to_string(&r).unwrap());
        }
    }
}
