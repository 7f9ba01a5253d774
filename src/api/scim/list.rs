//! List and search requests (RFC 7644 §3.4.2, §3.4.3): the parameters of
//! `GET /Users?…` or of a `POST …/.search` body, the page, and which
//! attributes each resource shows.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::filter::{self, Filter, find_key};
use super::{ENTERPRISE, ScimBody, ScimError, scim_json};
use crate::api::state::AppState;
use crate::auth::policy::Caller;

const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// Most resources one page holds.
pub const MAX_RESULTS: usize = 1000;
const DEFAULT_COUNT: usize = 100;
/// Most users or groups a filter that no exact lookup serves may examine:
/// beyond, the filter is refused (`invalidFilter`) rather than scan.
pub const SCAN_MAX: u64 = 20_000;

/// A list request.
#[derive(Debug, Default)]
pub struct ListRequest {
    pub filter: Option<Filter>,
    pub sort_by: Option<String>,
    pub descending: bool,
    /// 1-based.
    pub start_index: usize,
    pub count: usize,
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

impl ListRequest {
    /// From a query string.
    pub fn from_query(q: &HashMap<String, String>) -> Result<Self, ScimError> {
        let get = |k: &str| {
            q.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.as_str())
        };
        Self::build(
            get("filter"),
            get("sortBy"),
            get("sortOrder"),
            get("startIndex").map(str::to_owned),
            get("count").map(str::to_owned),
            get("attributes").map(split),
            get("excludedAttributes").map(split),
        )
    }

    /// From a `.search` body.
    pub fn from_body(body: &Value) -> Result<Self, ScimError> {
        let schemas_ok = find_key(body, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|s| s.iter().any(|x| x.as_str() == Some(SEARCH)));
        if !schemas_ok {
            return Err(ScimError::bad(
                "invalidSyntax",
                format!("a search body has \"schemas\": [\"{SEARCH}\"]"),
            ));
        }
        let s = |k: &str| find_key(body, k).and_then(Value::as_str);
        let n = |k: &str| find_key(body, k).map(|v| v.to_string());
        let list = |k: &str| {
            find_key(body, k).map(|v| match v {
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                Value::String(s) => split(s),
                _ => Vec::new(),
            })
        };
        Self::build(
            s("filter"),
            s("sortBy"),
            s("sortOrder"),
            n("startIndex"),
            n("count"),
            list("attributes"),
            list("excludedAttributes"),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        filter: Option<&str>,
        sort_by: Option<&str>,
        sort_order: Option<&str>,
        start: Option<String>,
        count: Option<String>,
        attributes: Option<Vec<String>>,
        excluded: Option<Vec<String>>,
    ) -> Result<Self, ScimError> {
        let filter = match filter.map(str::trim).filter(|f| !f.is_empty()) {
            Some(f) => Some(filter::parse(f).map_err(|e| ScimError::bad("invalidFilter", e))?),
            None => None,
        };
        let descending = match sort_order.map(str::to_lowercase).as_deref() {
            None | Some("ascending") => false,
            Some("descending") => true,
            Some(_) => {
                return Err(ScimError::bad(
                    "invalidValue",
                    "sortOrder is ascending or descending",
                ));
            }
        };
        // RFC 7644: a startIndex below 1 counts as 1; a negative count as 0.
        let number = |v: Option<String>, name: &str| -> Result<Option<i64>, ScimError> {
            v.map(|s| {
                s.trim_matches('"').parse::<i64>().map_err(|_| {
                    ScimError::bad("invalidValue", format!("{name} must be a whole number"))
                })
            })
            .transpose()
        };
        let start_index = number(start, "startIndex")?.unwrap_or(1).max(1) as usize;
        let count = number(count, "count")?
            .unwrap_or(DEFAULT_COUNT as i64)
            .clamp(0, MAX_RESULTS as i64) as usize;
        Ok(Self {
            filter,
            sort_by: sort_by.map(str::to_owned),
            descending,
            start_index,
            count,
            attributes: attributes.unwrap_or_default(),
            excluded: excluded.unwrap_or_default(),
        })
    }

    /// Whether the answer shows `attr` (members of big groups are only
    /// read when they are).
    pub fn shows(&self, attr: &str) -> bool {
        let named = |list: &[String]| {
            list.iter().any(|a| {
                a.eq_ignore_ascii_case(attr)
                    || a.to_lowercase()
                        .starts_with(&format!("{}.", attr.to_lowercase()))
            })
        };
        if !self.attributes.is_empty() {
            return named(&self.attributes);
        }
        !named(&self.excluded)
    }

    /// Sorts `resources` by `sortBy` (missing values last), then pages.
    /// Returns the page and the total.
    pub fn page(&self, mut resources: Vec<Value>) -> (Vec<Value>, usize) {
        if let Some(by) = &self.sort_by
            && let Ok(path) = filter::parse_path(by)
        {
            let key = |v: &Value| -> Option<String> {
                let base = find_key(v, &path.name)?;
                let v = match &path.sub {
                    Some(s) => find_key(first(base), s)?,
                    None => first(base),
                };
                Some(match v {
                    Value::String(s) => s.to_lowercase(),
                    other => other.to_string(),
                })
            };
            resources.sort_by(|a, b| match (key(a), key(b)) {
                (Some(x), Some(y)) if self.descending => y.cmp(&x),
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            });
        }
        let total = resources.len();
        let page = resources
            .into_iter()
            .skip(self.start_index - 1)
            .take(self.count)
            .collect();
        (page, total)
    }

    /// The answer: a ListResponse of `page`, each shown with the attributes
    /// asked for.
    pub fn respond(&self, page: Vec<Value>, total: usize) -> Response {
        let items: Vec<Value> = page.into_iter().map(|r| self.project(r)).collect();
        scim_json(
            StatusCode::OK,
            &json!({
                "schemas": [LIST],
                "totalResults": total,
                "itemsPerPage": items.len(),
                "startIndex": self.start_index,
                "Resources": items,
            }),
        )
    }

    /// `resource` with only the `attributes` asked for (plus `id` and
    /// `schemas`, always returned), or without the `excludedAttributes`.
    pub fn project(&self, resource: Value) -> Value {
        project(resource, &self.attributes, &self.excluded)
    }
}

fn first(v: &Value) -> &Value {
    match v {
        Value::Array(a) => a
            .iter()
            .find(|i| find_key(i, "primary") == Some(&Value::Bool(true)))
            .or(a.first())
            .unwrap_or(&Value::Null),
        other => other,
    }
}

fn split(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

/// See [`ListRequest::project`].
pub fn project(resource: Value, attributes: &[String], excluded: &[String]) -> Value {
    let Value::Object(obj) = resource else {
        return resource;
    };
    // (attribute, sub-attribute) in lower case, extension paths within
    // their extension.
    let parse = |a: &String| -> Option<(Option<String>, String, Option<String>)> {
        let lower = a.to_lowercase();
        let ext = ENTERPRISE.to_lowercase();
        if lower == ext {
            return Some((Some(ENTERPRISE.to_owned()), String::new(), None));
        }
        let (ext, rest) = match lower.strip_prefix(&format!("{ext}:")) {
            Some(rest) => (Some(ENTERPRISE.to_owned()), rest.to_owned()),
            None => (
                None,
                lower
                    .rsplit_once(':')
                    .map_or(lower.clone(), |(_, r)| r.to_owned()),
            ),
        };
        let (name, sub) = match rest.split_once('.') {
            Some((n, s)) => (n.to_owned(), Some(s.to_owned())),
            None => (rest, None),
        };
        Some((ext, name, sub))
    };
    let always = ["id", "schemas"];
    if !attributes.is_empty() {
        let wanted: Vec<_> = attributes.iter().filter_map(parse).collect();
        let mut out = Map::new();
        for (k, v) in &obj {
            let lk = k.to_lowercase();
            if always.contains(&lk.as_str()) {
                out.insert(k.clone(), v.clone());
                continue;
            }
            if lk == ENTERPRISE.to_lowercase() {
                let subs: Vec<&String> = wanted
                    .iter()
                    .filter(|(e, _, _)| e.is_some())
                    .map(|(_, n, _)| n)
                    .collect();
                if subs.iter().any(|n| n.is_empty()) {
                    out.insert(k.clone(), v.clone());
                } else if let Value::Object(ext) = v {
                    let kept: Map<String, Value> = ext
                        .iter()
                        .filter(|(ek, _)| subs.iter().any(|n| ek.eq_ignore_ascii_case(n)))
                        .map(|(a, b)| (a.clone(), b.clone()))
                        .collect();
                    if !kept.is_empty() {
                        out.insert(k.clone(), Value::Object(kept));
                    }
                }
                continue;
            }
            let subs: Vec<&Option<String>> = wanted
                .iter()
                .filter(|(e, n, _)| e.is_none() && *n == lk)
                .map(|(_, _, s)| s)
                .collect();
            if subs.is_empty() {
                continue;
            }
            if subs.iter().any(|s| s.is_none()) {
                out.insert(k.clone(), v.clone());
            } else {
                let keep = |o: &Map<String, Value>| -> Map<String, Value> {
                    o.iter()
                        .filter(|(sk, _)| {
                            subs.iter()
                                .filter_map(|s| s.as_deref())
                                .any(|s| sk.eq_ignore_ascii_case(s))
                        })
                        .map(|(a, b)| (a.clone(), b.clone()))
                        .collect()
                };
                let shown = match v {
                    Value::Object(o) => Value::Object(keep(o)),
                    Value::Array(items) => Value::Array(
                        items
                            .iter()
                            .map(|i| match i {
                                Value::Object(o) => Value::Object(keep(o)),
                                other => other.clone(),
                            })
                            .collect(),
                    ),
                    other => other.clone(),
                };
                out.insert(k.clone(), shown);
            }
        }
        return Value::Object(out);
    }
    if excluded.is_empty() {
        return Value::Object(obj);
    }
    let gone: Vec<_> = excluded.iter().filter_map(parse).collect();
    let mut out = obj;
    for (ext, name, sub) in gone {
        if always.contains(&name.as_str()) && ext.is_none() {
            continue;
        }
        let container = match &ext {
            Some(urn) if name.is_empty() => {
                let key = out.keys().find(|k| k.eq_ignore_ascii_case(urn)).cloned();
                if let Some(k) = key {
                    out.remove(&k);
                }
                continue;
            }
            Some(urn) => {
                let key = out.keys().find(|k| k.eq_ignore_ascii_case(urn)).cloned();
                match key.and_then(|k| out.get_mut(&k)) {
                    Some(Value::Object(o)) => o,
                    _ => continue,
                }
            }
            None => &mut out,
        };
        let key = container
            .keys()
            .find(|k| k.eq_ignore_ascii_case(&name))
            .cloned();
        let Some(key) = key else { continue };
        match sub {
            None => {
                container.remove(&key);
            }
            Some(s) => {
                let strip = |o: &mut Map<String, Value>| {
                    let sk = o.keys().find(|k| k.eq_ignore_ascii_case(&s)).cloned();
                    if let Some(sk) = sk {
                        o.remove(&sk);
                    }
                };
                match container.get_mut(&key) {
                    Some(Value::Object(o)) => strip(o),
                    Some(Value::Array(items)) => items.iter_mut().for_each(|i| {
                        if let Value::Object(o) = i {
                            strip(o)
                        }
                    }),
                    _ => {}
                }
            }
        }
    }
    Value::Object(out)
}

/// `POST /scim/v2/.search`: users, then groups, that match.
pub async fn search_all(
    State(st): State<AppState>,
    caller: Caller,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let req = ListRequest::from_body(&body)?;
    let mut all = super::users::matching(&st, &caller, &req)?;
    all.extend(super::groups::matching(&st, &caller, &req)?);
    let (page, total) = req.page(all);
    Ok(req.respond(page, total))
}

/// The query string of a list request.
pub type QueryMap = Query<HashMap<String, String>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_and_excluded_attributes_shape_the_resource() {
        let r = json!({
            "schemas": ["x"], "id": "1", "userName": "a",
            "name": {"givenName": "A", "familyName": "B"},
            "emails": [{"value": "a@x", "type": "work"}],
            ENTERPRISE: {"department": "D", "division": "V"},
        });
        let only = |a: &[&str]| {
            project(
                r.clone(),
                &a.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                &[],
            )
        };
        assert_eq!(
            only(&["userName"]),
            json!({"schemas": ["x"], "id": "1", "userName": "a"})
        );
        assert_eq!(only(&["name.givenName"])["name"], json!({"givenName": "A"}));
        assert_eq!(only(&["emails.value"])["emails"], json!([{"value": "a@x"}]));
        assert_eq!(
            only(&[&format!("{ENTERPRISE}:department")])[ENTERPRISE],
            json!({"department": "D"})
        );
        let without = |a: &[&str]| {
            project(
                r.clone(),
                &[],
                &a.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            )
        };
        let w = without(&["name", "id", ENTERPRISE]);
        assert!(w.get("name").is_none() && w.get(ENTERPRISE).is_none());
        assert_eq!(w["id"], "1", "id is always returned");
        assert_eq!(
            without(&["emails.type"])["emails"],
            json!([{"value": "a@x"}])
        );
    }

    #[test]
    fn pages_start_at_one_and_sort_by_any_attribute() {
        let req = ListRequest {
            sort_by: Some("name.familyName".into()),
            descending: true,
            start_index: 2,
            count: 1,
            ..Default::default()
        };
        let rs = vec![
            json!({"name": {"familyName": "b"}}),
            json!({"name": {"familyName": "c"}}),
            json!({}),
            json!({"name": {"familyName": "a"}}),
        ];
        let (page, total) = req.page(rs);
        assert_eq!(total, 4);
        assert_eq!(page, vec![json!({"name": {"familyName": "b"}})]);
        let q: HashMap<String, String> = [
            ("startIndex".into(), "-4".into()),
            ("count".into(), "5000".into()),
        ]
        .into();
        let r = ListRequest::from_query(&q).unwrap();
        assert_eq!((r.start_index, r.count), (1, MAX_RESULTS));
        let q: HashMap<String, String> = [("filter".into(), "userName xx \"a\"".into())].into();
        assert_eq!(
            ListRequest::from_query(&q).unwrap_err().scim_type,
            Some("invalidFilter")
        );
    }
}
