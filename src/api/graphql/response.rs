//! A GraphQL response written as JSON with the REST answers' writer
//! (`api::json`) instead of serde_json: a page of users is mostly strings,
//! and serde_json escapes them a byte at a time (about a tenth of the CPU
//! of a `searchUsers` page). The output is byte for byte serde_json's, as
//! the test below holds it to; numbers, errors and extensions are written
//! by serde_json itself.
//!
//! A top-level field may also be answered by JSON already written (a page
//! of users written in one pass, see `user.rs`): [`raw`] carries it through
//! the executor and the writer copies it as it is.

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::Selection;
use async_graphql::{BatchResponse, Name, Positioned, Response, Value};

use super::super::json::{Out, WriteJson};

/// In a request's data when no two of its top-level selections can merge:
/// its operations select fields only at the top (no fragments) and never
/// the same response key twice. Only then may a top-level field be
/// answered with JSON already written (the executor merges the values of
/// a key asked twice, and cannot look inside written JSON). Requests that
/// do not come through the HTTP transport (subscriptions) never carry it.
pub struct RawAnswers;

/// Whether `items[i]` is a field whose response key an earlier field of
/// the same selection took already (the executor merges the two answers).
pub fn asked_before(items: &[Positioned<Selection>], i: usize) -> bool {
    let Selection::Field(field) = &items[i].node else {
        return false;
    };
    let key = &field.node.response_key().node;
    items[..i].iter().any(|earlier| match &earlier.node {
        Selection::Field(e) => e.node.response_key().node == *key,
        _ => false,
    })
}

/// The key of the one-entry object that carries written JSON. `$` is not
/// in any GraphQL name, so no field's answer has it as a key; and the
/// writer looks for it only as the whole value of a top-level field, where
/// every object is one the schema shaped.
const RAW: &str = "$json";

/// A top-level field's value that is `json`, already written.
pub fn raw(json: String) -> Value {
    let mut object = IndexMap::with_capacity(1);
    object.insert(Name::new(RAW), Value::String(json));
    Value::Object(object)
}

/// The written JSON a value carries, if it is one made by [`raw`].
fn raw_of(value: &Value) -> Option<&str> {
    match value {
        Value::Object(o) if o.len() == 1 => match o.get(RAW) {
            Some(Value::String(json)) => Some(json),
            _ => None,
        },
        _ => None,
    }
}

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
        match &self.data {
            Value::Object(fields) => object(out, fields, |out, value| match raw_of(value) {
                Some(json) => {
                    out.raw(json);
                }
                None => value.write_json(out),
            }),
            data => data.write_json(out),
        }
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
            Value::Object(fields) => object(out, fields, |out, value| value.write_json(out)),
            number_or_binary => out.serde(number_or_binary),
        }
    }
}

fn object(out: &mut Out, fields: &IndexMap<Name, Value>, value: impl Fn(&mut Out, &Value)) {
    out.raw("{");
    for (i, (key, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.raw(",");
        }
        out.str(key.as_str());
        out.raw(":");
        value(out, v);
    }
    out.raw("}");
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

    #[test]
    fn written_json_is_copied_only_as_a_top_level_answer() {
        let lookalike = Value::from_json(json!({"$json": "\"}"})).unwrap();
        let mut data = async_graphql::indexmap::IndexMap::new();
        data.insert(Name::new("users"), raw(r#"{"edges":[{"id":"1"}]}"#.into()));
        data.insert(
            Name::new("me"),
            Value::from_json(json!({"attributes": lookalike.clone()})).unwrap(),
        );
        data.insert(Name::new("other"), Value::List(vec![lookalike]));
        let r = BatchResponse::Single(Response::new(Value::Object(data)));
        assert_eq!(
            ours(&r),
            r#"{"data":{"users":{"edges":[{"id":"1"}]},"me":{"attributes":{"$json":"\"}"}},"other":[{"$json":"\"}"}]}}"#
        );
    }
}
