//! The SCIM Group resource over roster groups: `displayName` is the
//! group's name, `members` its members (users only); everything else a
//! provider writes (`externalId`, …) is kept in the group's
//! `attributes.scim`, as users' are. A group's roles, its description and
//! the rest of its attributes are roster's own and survive SCIM writes.
//!
//! Membership changes go to the store as changes, never as a rewrite of
//! the member list: a PATCH adding one member to a group of 100 000 reads
//! one user.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::filter::{Filter, Lookup, find_key};
use super::list::{ListRequest, QueryMap, SCAN_MAX};
use super::patch::{self, Kind};
use super::users::DOC;
use super::{CORE_GROUP, ScimBody, ScimError, base, etag, if_match, no_content, resource_response};
use crate::api::state::AppState;
use crate::auth::policy::Caller;
use crate::domain::{Group, GroupDraft, GroupId, GroupName, UserId};
use crate::service::{GroupChange, Precondition};

const NOT_STORED: [&str; 5] = ["schemas", "id", "meta", "displayName", "members"];

fn group_id(id: &str) -> Result<GroupId, ScimError> {
    GroupId::parse(id).ok_or_else(|| ScimError::not_found("group"))
}

/// A roster group as a SCIM Group; `members` `None`: not read.
pub fn render(base: &str, g: &Group, members: Option<&[UserId]>) -> Value {
    let mut out = Map::new();
    out.insert("schemas".into(), json!([CORE_GROUP]));
    out.insert("id".into(), g.id.to_string().into());
    if let Some(doc) = g.attributes.as_map().get(DOC).and_then(Value::as_object) {
        for (k, v) in doc {
            out.insert(k.clone(), v.clone());
        }
    }
    out.insert("displayName".into(), g.name.as_str().into());
    if let Some(ids) = members
        && !ids.is_empty()
    {
        let items: Vec<Value> = ids
            .iter()
            .map(|u| json!({"value": u.to_string(), "$ref": format!("{base}/Users/{u}"), "type": "User"}))
            .collect();
        out.insert("members".into(), items.into());
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": g.created_at.rfc3339(),
            "lastModified": g.updated_at.rfc3339(),
            "location": format!("{base}/Groups/{}", g.id),
            "version": etag(g.version),
        }),
    );
    Value::Object(out)
}

/// The roster draft of a SCIM Group body (`current`: the group it
/// replaces, whose roster-only fields it keeps).
fn draft(body: &Value, current: Option<&Group>) -> Result<GroupDraft, ScimError> {
    let Value::Object(obj) = body else {
        return Err(ScimError::bad("invalidSyntax", "a Group is a JSON object"));
    };
    if let (Some(cur), Some(id)) = (current, find_key(body, "id").and_then(Value::as_str))
        && id != cur.id.to_string()
    {
        return Err(ScimError::bad("mutability", "id cannot change"));
    }
    let name = find_key(body, "displayName")
        .and_then(Value::as_str)
        .ok_or_else(|| ScimError::bad("invalidValue", "displayName is required"))?;
    let name = GroupName::parse(name)
        .map_err(|m| ScimError::bad("invalidValue", format!("displayName {m}")))?;
    let doc: Map<String, Value> = obj
        .iter()
        .filter(|(k, v)| !NOT_STORED.iter().any(|n| k.eq_ignore_ascii_case(n)) && !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut attributes = current
        .map(|c| c.attributes.as_map().clone())
        .unwrap_or_default();
    if doc.is_empty() {
        attributes.remove(DOC);
    } else {
        attributes.insert(DOC.into(), Value::Object(doc));
    }
    let mut fields = Map::new();
    fields.insert("name".into(), name.as_str().into());
    if let Some(c) = current {
        if let Some(d) = &c.description {
            fields.insert("description".into(), d.as_str().into());
        }
        let roles: Vec<Value> = c.roles.iter().map(|r| Value::from(r.as_str())).collect();
        fields.insert("roles".into(), roles.into());
    }
    fields.insert("attributes".into(), Value::Object(attributes));
    GroupDraft::from_json(fields).map_err(|errors| {
        let why: Vec<String> = errors
            .iter()
            .map(|e| format!("{} {}", e.field, e.message))
            .collect();
        ScimError::bad("invalidValue", why.join("; "))
    })
}

/// The user ids of a `members` value (an array of `{value}`, or one).
fn member_ids(v: &Value) -> Result<Vec<UserId>, ScimError> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        one => vec![one],
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Some(t) = find_key(item, "type").and_then(Value::as_str)
            && !t.eq_ignore_ascii_case("User")
        {
            return Err(ScimError::bad(
                "invalidValue",
                "members are users (type User)",
            ));
        }
        let id = find_key(item, "value")
            .and_then(Value::as_str)
            .and_then(UserId::parse)
            .ok_or_else(|| ScimError::bad("invalidValue", "each member's value is a user id"))?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

fn shown(
    st: &AppState,
    caller: &Caller,
    g: &Group,
    with_members: bool,
) -> Result<Value, ScimError> {
    let members = if with_members {
        Some(st.groups().member_ids(caller, g.id)?)
    } else {
        None
    };
    Ok(render(&base(st), g, members.as_deref()))
}

pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let d = draft(&body, None)?;
    let members = find_key(&body, "members")
        .map(member_ids)
        .transpose()?
        .unwrap_or_default();
    let g = st.groups().create_with_members(&caller, d, members).await?;
    Ok(resource_response(
        StatusCode::CREATED,
        &shown(&st, &caller, &g, true)?,
    ))
}

pub async fn get(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: QueryMap,
) -> Result<Response, ScimError> {
    let req = ListRequest::from_query(&query.0)?;
    let g = st.groups().get(&caller, group_id(&id)?)?;
    Ok(resource_response(
        StatusCode::OK,
        &req.project(shown(&st, &caller, &g, req.shows("members"))?),
    ))
}

pub async fn replace(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let current = st.groups().get(&caller, group_id(&id)?)?;
    let members = find_key(&body, "members")
        .map(member_ids)
        .transpose()?
        .unwrap_or_default();
    let change = GroupChange {
        set_members: Some(members),
        ..GroupChange::fields(draft(&body, Some(&current))?)
    };
    let (g, _, _) = st
        .groups()
        .change(&caller, current.id, if_match(&headers)?, change)
        .await?;
    Ok(resource_response(
        StatusCode::OK,
        &shown(&st, &caller, &g, true)?,
    ))
}

/// Membership changes gathered from PATCH operations, in their order:
/// adds and removals stay disjoint, a replacement starts over.
#[derive(Default)]
struct Members {
    set: Option<Vec<UserId>>,
    add: Vec<UserId>,
    remove: Vec<UserId>,
}

impl Members {
    fn add(&mut self, ids: Vec<UserId>) {
        for id in ids {
            self.remove.retain(|r| *r != id);
            if !self.add.contains(&id) {
                self.add.push(id);
            }
        }
    }

    fn remove(&mut self, ids: Vec<UserId>) {
        for id in ids {
            self.add.retain(|a| *a != id);
            if !self.remove.contains(&id) {
                self.remove.push(id);
            }
        }
    }

    fn replace(&mut self, ids: Vec<UserId>) {
        self.set = Some(ids);
        self.add.clear();
        self.remove.clear();
    }

    fn touched(&self) -> bool {
        self.set.is_some() || !self.add.is_empty() || !self.remove.is_empty()
    }
}

/// The current members a filter on `members` matches
/// (`members[value eq "…"]`).
fn filtered(
    f: &Filter,
    current: &dyn Fn() -> Result<Vec<UserId>, ScimError>,
) -> Result<Vec<UserId>, ScimError> {
    Ok(current()?
        .into_iter()
        .filter(|id| f.matches(&json!({"value": id.to_string(), "type": "User"})))
        .collect())
}

pub async fn patch(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let current = st.groups().get(&caller, group_id(&id)?)?;
    let Value::Object(mut doc) = render(&base(&st), &current, None) else {
        unreachable!("a rendered group is an object")
    };
    doc.remove("meta");
    let mut members = Members::default();
    let mut fields_changed = false;
    let current_members = || {
        st.groups()
            .member_ids(&caller, current.id)
            .map_err(ScimError::from)
    };
    for op in patch::operations(&body)? {
        let on_members = |p: &str| p.to_lowercase().starts_with("members");
        match (&op.path, op.kind) {
            (Some(p), kind) if on_members(p) => {
                let target = patch::target(p, CORE_GROUP)?;
                match (&target.filter, kind, &op.value) {
                    (None, Kind::Add, Some(v)) => members.add(member_ids(v)?),
                    (None, Kind::Replace, Some(v)) => members.replace(member_ids(v)?),
                    // Entra removes members with a value list: only those.
                    (None, Kind::Remove, Some(v)) if !v.is_null() => members.remove(member_ids(v)?),
                    (None, Kind::Remove, _) => members.replace(Vec::new()),
                    (Some(f), Kind::Remove, _) => members.remove(filtered(f, &current_members)?),
                    _ => {
                        return Err(ScimError::bad(
                            "invalidPath",
                            "members are added, replaced or removed as a whole or by `members[value eq \"…\"]`",
                        ));
                    }
                }
            }
            (None, kind) => {
                let Some(Value::Object(values)) = &op.value else {
                    return Err(ScimError::bad(
                        "invalidValue",
                        "an operation without a path needs an object value",
                    ));
                };
                let mut rest = values.clone();
                if let Some(k) = rest
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case("members"))
                    .cloned()
                {
                    let ids = member_ids(&rest.remove(&k).unwrap_or(Value::Null))?;
                    match kind {
                        Kind::Replace => members.replace(ids),
                        _ => members.add(ids),
                    }
                }
                // Okta names the group's own id in path-less values.
                if let Some(k) = rest.keys().find(|k| k.eq_ignore_ascii_case("id")).cloned() {
                    if rest[&k] != current.id.to_string() {
                        return Err(ScimError::bad("mutability", "id cannot change"));
                    }
                    rest.remove(&k);
                }
                if !rest.is_empty() {
                    let op = patch::Operation {
                        value: Some(Value::Object(rest)),
                        ..op
                    };
                    patch::apply(&mut doc, &op, CORE_GROUP)?;
                    fields_changed = true;
                }
            }
            (Some(p), _) => {
                if ["id", "meta"].iter().any(|r| p.eq_ignore_ascii_case(r)) {
                    return Err(ScimError::bad("mutability", format!("{p} is read-only")));
                }
                if p.eq_ignore_ascii_case("displayName") && op.kind == Kind::Remove {
                    return Err(ScimError::bad("mutability", "displayName is required"));
                }
                patch::apply(&mut doc, &op, CORE_GROUP)?;
                fields_changed = true;
            }
        }
    }
    let pre = match if_match(&headers)? {
        Precondition::None => Precondition::Version(current.version),
        other => other,
    };
    let touched = fields_changed || members.touched();
    let fields = if fields_changed {
        GroupChange::fields(draft(&Value::Object(doc), Some(&current))?)
    } else {
        GroupChange::default()
    };
    let change = GroupChange {
        set_members: members.set,
        add: members.add,
        remove: members.remove,
        ..fields
    };
    let g = if touched {
        st.groups()
            .change(&caller, current.id, pre, change)
            .await?
            .0
    } else {
        current
    };
    Ok(resource_response(
        StatusCode::OK,
        &shown(&st, &caller, &g, true)?,
    ))
}

pub async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    st.groups()
        .delete(&caller, group_id(&id)?, if_match(&headers)?)
        .await?;
    Ok(no_content())
}

pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    query: QueryMap,
) -> Result<Response, ScimError> {
    let req = ListRequest::from_query(&query.0)?;
    let (page, total) = req.page(matching(&st, &caller, &req)?);
    Ok(req.respond(page, total))
}

pub async fn search(
    State(st): State<AppState>,
    caller: Caller,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let req = ListRequest::from_body(&body)?;
    let (page, total) = req.page(matching(&st, &caller, &req)?);
    Ok(req.respond(page, total))
}

/// Every group that matches (in creation order), as SCIM JSON; members
/// only when shown or filtered on.
pub fn matching(
    st: &AppState,
    caller: &Caller,
    req: &ListRequest,
) -> Result<Vec<Value>, ScimError> {
    let groups = match req.filter.as_ref().and_then(|f| f.lookups()) {
        Some(lookups)
            if lookups
                .iter()
                .all(|l| matches!(l, Lookup::DisplayName(_) | Lookup::Id(_))) =>
        {
            let mut found: Vec<Group> = Vec::new();
            for l in lookups {
                let g = match l {
                    Lookup::DisplayName(n) => st.groups().find_by_name(caller, &n)?,
                    Lookup::Id(id) => {
                        GroupId::parse(&id).and_then(|id| st.groups().get(caller, id).ok())
                    }
                    _ => None,
                };
                if let Some(g) = g
                    && !found.iter().any(|f| f.id == g.id)
                {
                    found.push(g);
                }
            }
            found
        }
        _ => st.groups().all(caller)?,
    };
    let filter_members = req.filter.as_ref().is_some_and(|f| f.mentions("members"));
    if filter_members && groups.len() as u64 > SCAN_MAX {
        return Err(ScimError::bad(
            "invalidFilter",
            "a filter on members needs fewer groups",
        ));
    }
    let base = base(st);
    let with_members = req.shows("members");
    let mut out = Vec::new();
    for g in groups {
        let members = if with_members || filter_members {
            Some(st.groups().member_ids(caller, g.id)?)
        } else {
            None
        };
        let r = render(&base, &g, members.as_deref());
        if req.filter.as_ref().is_none_or(|f| f.matches(&r)) {
            out.push(if with_members || !filter_members {
                r
            } else {
                render(&base, &g, None)
            });
        }
    }
    Ok(out)
}
