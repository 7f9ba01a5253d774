//! [`Field`]: one field of a request body as it was given. A body is read
//! field by field into these, never failing, so that a value of the wrong
//! type becomes that field's error, reported together with every other
//! field's; a strict serde type would stop at the first and word the error
//! in serde's terms. The typed DTOs at the API's edge are made of them, and
//! so are the domain's own field sets ([`UserFields`](super::UserFields)).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A body field: absent (or `null`, which means the same), given with the
/// expected type, or given with another.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Field<T> {
    #[default]
    Absent,
    Given(T),
    WrongType,
}

impl<T: DeserializeOwned> Field<T> {
    /// The field holding `value` as sent.
    pub fn from_value(value: Option<Value>) -> Self {
        match value {
            None | Some(Value::Null) => Self::Absent,
            Some(v) => serde_json::from_value(v).map_or(Self::WrongType, Self::Given),
        }
    }

    /// Takes field `key` out of `body`.
    pub fn take(body: &mut Map<String, Value>, key: &str) -> Self {
        Self::from_value(body.remove(key))
    }
}

impl<T> Field<T> {
    /// Whether the body had a value (of any type) for this field.
    pub fn is_given(&self) -> bool {
        !matches!(self, Self::Absent)
    }

    /// The value parsed by `parse`; `absent` when there is none, and
    /// `wrong_type` as the error for a value of another type.
    pub fn parse<U>(
        self,
        absent: impl FnOnce() -> Result<U, String>,
        parse: impl FnOnce(T) -> Result<U, String>,
        wrong_type: &str,
    ) -> Result<U, String> {
        match self {
            Self::Absent => absent(),
            Self::Given(v) => parse(v),
            Self::WrongType => Err(wrong_type.to_owned()),
        }
    }
}

impl<'de, T: DeserializeOwned> serde::Deserialize<'de> for Field<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from_value(Some(Value::deserialize(d)?)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_absent_null_right_and_wrong_types() {
        let mut body = json!({"a": "x", "b": 5, "c": null})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            Field::<String>::take(&mut body, "a"),
            Field::Given("x".into())
        );
        assert_eq!(Field::<String>::take(&mut body, "b"), Field::WrongType);
        assert_eq!(Field::<String>::take(&mut body, "c"), Field::Absent);
        assert_eq!(Field::<String>::take(&mut body, "d"), Field::Absent);
        assert!(body.is_empty());
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(default)]
            n: Field<bool>,
            #[serde(default)]
            m: Field<bool>,
        }
        let b: Body = serde_json::from_value(json!({"n": "yes"})).unwrap();
        assert_eq!((b.n, b.m), (Field::WrongType, Field::Absent));
    }
}
