//! SCIM PATCH (RFC 7644 §3.5.2) applied to a resource's SCIM JSON: `add`,
//! `replace` and `remove`, with or without a path, value filters in paths,
//! and the forms real identity providers send (operation names in any
//! case, booleans as strings, path-less values whose keys are paths such
//! as `name.givenName`). The result is then read like a `PUT` body, so a
//! PATCH can change nothing a `PUT` could not.

use serde_json::{Map, Value};

use super::filter::{self, Filter, find_key};
use super::{ENTERPRISE, ScimError};

/// Most operations one PATCH may carry.
pub const OPERATIONS_MAX: usize = 1000;
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub kind: Kind,
    pub path: Option<String>,
    pub value: Option<Value>,
}

/// The operations of a PATCH body.
pub fn operations(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let schemas_ok = find_key(body, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|x| x.as_str() == Some(PATCH_OP)));
    if !schemas_ok {
        return Err(ScimError::bad(
            "invalidSyntax",
            format!("a PATCH body has \"schemas\": [\"{PATCH_OP}\"]"),
        ));
    }
    let ops = find_key(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ScimError::bad("invalidSyntax", "a PATCH body has an \"Operations\" array")
        })?;
    if ops.is_empty() || ops.len() > OPERATIONS_MAX {
        return Err(ScimError::bad(
            "invalidSyntax",
            format!("a PATCH carries 1 to {OPERATIONS_MAX} operations"),
        ));
    }
    ops.iter()
        .map(|op| {
            let kind = match find_key(op, "op")
                .and_then(Value::as_str)
                .map(str::to_lowercase)
            {
                Some(k) if k == "add" => Kind::Add,
                Some(k) if k == "replace" => Kind::Replace,
                Some(k) if k == "remove" => Kind::Remove,
                _ => {
                    return Err(ScimError::bad(
                        "invalidSyntax",
                        "each operation's \"op\" is add, replace or remove",
                    ));
                }
            };
            let path = match find_key(op, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if !p.trim().is_empty() => Some(p.trim().to_owned()),
                _ => return Err(ScimError::bad("invalidPath", "\"path\" must be a string")),
            };
            let value = find_key(op, "value").cloned();
            if kind != Kind::Remove && value.is_none() {
                return Err(ScimError::bad(
                    "invalidValue",
                    "add and replace need a \"value\"",
                ));
            }
            if kind == Kind::Remove && path.is_none() {
                return Err(ScimError::bad("noTarget", "remove needs a \"path\""));
            }
            Ok(Operation { kind, path, value })
        })
        .collect()
}

/// Where a path points.
#[derive(Debug)]
pub struct Target {
    /// The extension object it is in (its URN, as the resource's key).
    pub ext: Option<String>,
    /// The attribute; `None`: the whole extension.
    pub attr: Option<String>,
    pub filter: Option<Filter>,
    pub sub: Option<String>,
}

/// Parses a PATCH path against the resource's schema URNs.
pub fn target(path: &str, core: &str) -> Result<Target, ScimError> {
    let bad = |why: String| ScimError::bad("invalidPath", why);
    let lower = path.to_lowercase();
    let (ext, rest) = if lower == ENTERPRISE.to_lowercase() {
        return Ok(Target {
            ext: Some(ENTERPRISE.to_owned()),
            attr: None,
            filter: None,
            sub: None,
        });
    } else if lower.starts_with(&format!("{}:", ENTERPRISE.to_lowercase())) {
        (Some(ENTERPRISE.to_owned()), &path[ENTERPRISE.len() + 1..])
    } else if lower.starts_with(&format!("{}:", core.to_lowercase())) {
        (None, &path[core.len() + 1..])
    } else if lower.starts_with("urn:") {
        return Err(bad(format!(
            "{path:?} is not in a schema this resource has"
        )));
    } else {
        (None, path)
    };
    let (head, filter, sub) = match rest.find('[') {
        Some(open) => {
            let close = rest
                .rfind(']')
                .ok_or_else(|| bad(format!("{path:?}: `[` is not closed")))?;
            if close < open {
                return Err(bad(format!("{path:?} is not a path")));
            }
            let f =
                filter::parse(&rest[open + 1..close]).map_err(|e| bad(format!("{path:?}: {e}")))?;
            let after = &rest[close + 1..];
            let sub = match after.strip_prefix('.') {
                Some(s) if !s.is_empty() => Some(s.to_owned()),
                None if after.is_empty() => None,
                _ => return Err(bad(format!("{path:?} is not a path"))),
            };
            (&rest[..open], Some(f), sub)
        }
        None => match rest.split_once('.') {
            Some((a, s)) => (a, None, Some(s.to_owned())),
            None => (rest, None, None),
        },
    };
    let p = filter::parse_path(head).map_err(bad)?;
    if p.sub.is_some() || p.urn.is_some() {
        return Err(bad(format!("{path:?} is not a path")));
    }
    Ok(Target {
        ext,
        attr: Some(head.to_owned()),
        filter,
        sub,
    })
}

/// Applies `op` to `doc`. `core` is the resource's core schema URN.
/// `members` and other attributes the caller handles itself never reach
/// here.
pub fn apply(doc: &mut Map<String, Value>, op: &Operation, core: &str) -> Result<(), ScimError> {
    match &op.path {
        Some(path) => apply_at(doc, op.kind, &target(path, core)?, op.value.as_ref()),
        None => {
            let Some(Value::Object(values)) = &op.value else {
                return Err(ScimError::bad(
                    "invalidValue",
                    "an operation without a path needs an object value",
                ));
            };
            for (key, value) in values {
                if key.eq_ignore_ascii_case("schemas") {
                    continue;
                }
                apply_at(doc, op.kind, &target(key, core)?, Some(value))?;
            }
            Ok(())
        }
    }
}

/// The key of `name` in `obj`: the one already there (names are
/// case-insensitive), else `name` as given.
fn key_in(obj: &Map<String, Value>, name: &str) -> String {
    obj.keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_owned())
}

fn without_schemas(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("schemas"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn apply_at(
    doc: &mut Map<String, Value>,
    kind: Kind,
    t: &Target,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let container: &mut Map<String, Value> = match &t.ext {
        None => doc,
        Some(urn) => {
            let key = key_in(doc, urn);
            let Some(attr) = &t.attr else {
                // The whole extension.
                match (kind, value) {
                    (Kind::Remove, _) => {
                        doc.remove(&key);
                    }
                    (Kind::Add, Some(Value::Object(v))) => {
                        let ext = doc.entry(key).or_insert_with(|| Value::Object(Map::new()));
                        if let (Value::Object(e), Value::Object(v)) =
                            (ext, without_schemas(&Value::Object(v.clone())))
                        {
                            e.extend(v);
                        }
                    }
                    (Kind::Replace, Some(v @ Value::Object(_))) => {
                        doc.insert(key, without_schemas(v));
                    }
                    _ => {
                        return Err(ScimError::bad(
                            "invalidValue",
                            "an extension's value is an object",
                        ));
                    }
                }
                return Ok(());
            };
            let _ = attr;
            if kind == Kind::Remove && !doc.contains_key(&key) {
                return Ok(());
            }
            let ext = doc.entry(key).or_insert_with(|| Value::Object(Map::new()));
            match ext {
                Value::Object(e) => e,
                _ => {
                    return Err(ScimError::bad(
                        "invalidPath",
                        "the extension is not an object",
                    ));
                }
            }
        }
    };
    let attr = t.attr.as_deref().expect("set unless the whole extension");
    let key = key_in(container, attr);
    let value = value.map(normalise);
    match (&t.filter, &t.sub) {
        (None, None) => match kind {
            Kind::Remove => match (value, container.get_mut(&key)) {
                // Remove those of the values given (Entra's member removal).
                (Some(Value::Array(gone)), Some(Value::Array(items))) => {
                    items.retain(|i| !gone.iter().any(|g| same_item(i, g)));
                    if items.is_empty() {
                        container.remove(&key);
                    }
                }
                _ => {
                    container.remove(&key);
                }
            },
            Kind::Add => {
                let v = value.expect("checked");
                match (container.get_mut(&key), v) {
                    (Some(Value::Array(items)), Value::Array(new)) => {
                        for n in new {
                            if !items.iter().any(|i| same_item(i, &n)) {
                                items.push(n);
                            }
                        }
                    }
                    (Some(Value::Array(items)), n) => {
                        if !items.iter().any(|i| same_item(i, &n)) {
                            items.push(n);
                        }
                    }
                    (Some(Value::Object(o)), Value::Object(n)) => o.extend(n),
                    (_, v) => {
                        container.insert(key, v);
                    }
                }
            }
            Kind::Replace => {
                let v = value.expect("checked");
                match (container.get_mut(&key), v) {
                    (Some(Value::Object(o)), Value::Object(n)) => o.extend(n),
                    (_, v) => {
                        container.insert(key, v);
                    }
                }
            }
        },
        (None, Some(sub)) => {
            if kind == Kind::Remove {
                if let Some(Value::Object(o)) = container.get_mut(&key) {
                    let sk = key_in(o, sub);
                    o.remove(&sk);
                    if o.is_empty() {
                        container.remove(&key);
                    }
                }
                return Ok(());
            }
            let entry = container
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(o) = entry else {
                return Err(ScimError::bad(
                    "invalidPath",
                    format!("{attr} has no sub-attribute {sub}"),
                ));
            };
            let sk = key_in(o, sub);
            o.insert(sk, value.expect("checked"));
        }
        (Some(filter), sub) => {
            let items = match container.get_mut(&key) {
                Some(Value::Array(items)) => items,
                _ if kind == Kind::Remove => return Ok(()),
                _ => {
                    container.insert(key.clone(), Value::Array(Vec::new()));
                    match container.get_mut(&key) {
                        Some(Value::Array(items)) => items,
                        _ => unreachable!("inserted just above"),
                    }
                }
            };
            let matching: Vec<usize> = (0..items.len())
                .filter(|&i| filter.matches(&items[i]))
                .collect();
            match kind {
                Kind::Remove => {
                    match sub {
                        None => {
                            let mut i = 0;
                            items.retain(|_| {
                                let keep = !matching.contains(&i);
                                i += 1;
                                keep
                            });
                        }
                        Some(s) => {
                            for &i in &matching {
                                if let Value::Object(o) = &mut items[i] {
                                    let sk = key_in(o, s);
                                    o.remove(&sk);
                                }
                            }
                        }
                    }
                    if items.is_empty() {
                        container.remove(&key);
                    }
                }
                Kind::Add | Kind::Replace => {
                    let v = value.expect("checked");
                    if matching.is_empty() {
                        // `emails[type eq "work"].value` with no work
                        // address yet: the address is added, with its type.
                        let Some(mut new) = seed(filter) else {
                            return Err(ScimError::bad(
                                "noTarget",
                                format!("no value of {attr} matches the path's filter"),
                            ));
                        };
                        match (sub, v) {
                            (Some(s), v) => {
                                new.insert(s.clone(), v);
                            }
                            (None, Value::Object(o)) => new.extend(o),
                            (None, _) => {
                                return Err(ScimError::bad(
                                    "invalidValue",
                                    "the value must be an object",
                                ));
                            }
                        }
                        items.push(Value::Object(new));
                        return Ok(());
                    }
                    for &i in &matching {
                        match (&mut items[i], sub) {
                            (Value::Object(o), Some(s)) => {
                                let sk = key_in(o, s);
                                o.insert(sk, v.clone());
                            }
                            (Value::Object(o), None) => match &v {
                                Value::Object(n) => o.extend(n.clone()),
                                _ => {
                                    return Err(ScimError::bad(
                                        "invalidValue",
                                        "the value must be an object",
                                    ));
                                }
                            },
                            (item, None) => *item = v.clone(),
                            _ => {
                                return Err(ScimError::bad(
                                    "invalidPath",
                                    format!("{attr} has no sub-attributes"),
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The item a filter of equalities describes (`type eq "work"`).
fn seed(f: &Filter) -> Option<Map<String, Value>> {
    match f {
        Filter::Compare(p, filter::Op::Eq, v) if p.sub.is_none() && p.urn.is_none() => {
            let mut m = Map::new();
            m.insert(p.name.clone(), v.clone());
            Some(m)
        }
        Filter::And(a, b) => {
            let mut m = seed(a)?;
            m.extend(seed(b)?);
            Some(m)
        }
        _ => None,
    }
}

/// Two items of a multi-valued attribute are the same when their `value`s
/// are (or, without one, when they are equal).
fn same_item(a: &Value, b: &Value) -> bool {
    match (find_key(a, "value"), find_key(b, "value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Booleans sent as strings (`"False"`) become booleans.
fn normalise(v: &Value) -> Value {
    match v {
        Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

    fn patch(doc: Value, ops: Value) -> Result<Value, ScimError> {
        let mut doc = doc.as_object().unwrap().clone();
        let body = json!({"schemas": [PATCH_OP], "Operations": ops});
        for op in operations(&body)? {
            apply(&mut doc, &op, USER)?;
        }
        Ok(Value::Object(doc))
    }

    fn base() -> Value {
        json!({
            "userName": "bjensen",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "b@example.com", "type": "work", "primary": true}],
            "active": true
        })
    }

    #[test]
    fn paths_filters_and_provider_quirks() {
        // Entra: capitalised op, a boolean as a string.
        let d = patch(
            base(),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .unwrap();
        assert_eq!(d["active"], false);
        // Okta: path-less replace.
        let d = patch(
            base(),
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .unwrap();
        assert_eq!(d["active"], false);
        // Entra with aadOptscim062020: dotted keys in a path-less value.
        let d = patch(
            base(),
            json!([{"op": "replace", "value": {"name.givenName": "Babs", "displayName": "B J",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "7"}}]),
        )
        .unwrap();
        assert_eq!(
            d["name"],
            json!({"givenName": "Babs", "familyName": "Jensen"})
        );
        assert_eq!(d["displayName"], "B J");
        assert_eq!(d[ENTERPRISE]["employeeNumber"], "7");
        // A value filter with a sub-attribute.
        let d = patch(
            base(),
            json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@example.com"}]),
        )
        .unwrap();
        assert_eq!(d["emails"][0]["value"], "new@example.com");
        assert_eq!(d["emails"][0]["primary"], true);
        // …that matches nothing yet: the item is added with its type.
        let d = patch(
            base(),
            json!([{"op": "add", "path": "emails[type eq \"home\"].value", "value": "h@example.com"}]),
        )
        .unwrap();
        assert_eq!(
            d["emails"][1],
            json!({"type": "home", "value": "h@example.com"})
        );
        // Remove a filtered item; the empty attribute goes.
        let d = patch(
            base(),
            json!([{"op": "remove", "path": "emails[type eq \"work\"]"}]),
        )
        .unwrap();
        assert!(d.get("emails").is_none(), "{d}");
        // Remove with a value list removes only those.
        let two = json!({"emails": [{"value": "a"}, {"value": "b"}]});
        let d = patch(
            two,
            json!([{"op": "remove", "path": "emails", "value": [{"value": "a"}]}]),
        )
        .unwrap();
        assert_eq!(d["emails"], json!([{"value": "b"}]));
        // Add to a multi-valued attribute appends, without duplicates.
        let d = patch(base(), json!([{"op": "add", "path": "emails", "value": [{"value": "b@example.com"}, {"value": "c@x"}]}])).unwrap();
        assert_eq!(d["emails"].as_array().unwrap().len(), 2);
        // The whole extension, with its own schemas key, and its removal.
        let d = patch(base(), json!([{"op": "add", "path": ENTERPRISE, "value": {"schemas": [ENTERPRISE], "department": "R&D"}}])).unwrap();
        assert_eq!(d[ENTERPRISE], json!({"department": "R&D"}));
        let d = patch(d, json!([{"op": "remove", "path": ENTERPRISE}])).unwrap();
        assert!(d.get(ENTERPRISE).is_none());
        // Sub-attribute removal, and names in any case.
        let d = patch(base(), json!([{"op": "remove", "path": "NAME.givenname"}])).unwrap();
        assert_eq!(d["name"], json!({"familyName": "Jensen"}));
        // A core-URN-prefixed path.
        let d = patch(
            base(),
            json!([{"op": "replace", "path": format!("{USER}:userName"), "value": "bj"}]),
        )
        .unwrap();
        assert_eq!(d["userName"], "bj");
    }

    #[test]
    fn bad_operations_are_scim_errors() {
        let err = |ops: Value| patch(base(), ops).unwrap_err().scim_type;
        assert_eq!(
            err(json!([{"op": "move", "path": "a"}])),
            Some("invalidSyntax")
        );
        assert_eq!(err(json!([{"op": "remove"}])), Some("noTarget"));
        assert_eq!(
            err(json!([{"op": "add", "path": "emails[type eq]", "value": 1}])),
            Some("invalidPath")
        );
        assert_eq!(
            err(json!([{"op": "add", "path": "urn:x:y:z", "value": 1}])),
            Some("invalidPath")
        );
        assert_eq!(
            err(json!([{"op": "replace", "value": "x"}])),
            Some("invalidValue")
        );
        assert_eq!(
            err(
                json!([{"op": "replace", "path": "emails[value co \"zz\"].type", "value": "work"}])
            ),
            Some("noTarget")
        );
        assert_eq!(err(json!([])), Some("invalidSyntax"));
    }
}
