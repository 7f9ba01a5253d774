//! The SCIM User resource over roster users.
//!
//! **Mapping.** The SCIM document a provider writes is kept whole in the
//! user's `attributes.scim` (every attribute as sent: `name`, `emails`,
//! `externalId`, the enterprise extension, ones roster does not know), and
//! roster's own fields are derived from it on every write: `username` from
//! `userName` (when it is a valid roster username; otherwise `userName` is
//! kept in the document only), `email` from the primary email (else a
//! `userName` that is an address; else a placeholder under
//! `no-email.invalid`, never shown and never mailed), `name` from
//! `displayName`, else `name.formatted`, else given and family names,
//! `status` from `active`. Read back, the document is shown as stored,
//! except where a roster field changed since through the REST API: then
//! the roster value wins. So a provider gets back exactly what it wrote,
//! and both APIs see one user.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::filter::{Lookup, find_key};
use super::list::{ListRequest, QueryMap, SCAN_MAX};
use super::patch::{self, Kind};
use super::{
    CORE_USER, ENTERPRISE, ScimBody, ScimError, base, etag, if_match, no_content, resource_response,
};
use crate::api::state::AppState;
use crate::auth::policy::Caller;
use crate::domain::{Email, Group, NewUser, Password, Status, User, UserDraft, UserId, Username};
use crate::service::Precondition;

/// Where the SCIM document lives in a user's attributes.
pub const DOC: &str = crate::domain::PROVISIONED;
/// The domain of the address a user without one gets (RFC 2606: never
/// resolves); such an address is not shown through SCIM.
pub const NO_EMAIL_DOMAIN: &str = "no-email.invalid";
/// Keys of a body that are not stored: the server's, or written elsewhere.
const NOT_STORED: [&str; 5] = ["schemas", "id", "meta", "groups", "password"];

fn placeholder(email: &str) -> bool {
    email
        .rsplit_once('@')
        .is_some_and(|(_, d)| d.eq_ignore_ascii_case(NO_EMAIL_DOMAIN))
}

/// The primary email of a SCIM document (else its first).
fn primary_email(doc: &Map<String, Value>) -> Option<String> {
    let emails = doc
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("emails"))
        .and_then(|(_, v)| v.as_array())?;
    emails
        .iter()
        .find(|e| find_key(e, "primary") == Some(&Value::Bool(true)))
        .or(emails.first())
        .and_then(|e| find_key(e, "value").or(Some(e)))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The display name a SCIM document gives roster.
fn derived_name(doc: &Map<String, Value>) -> Option<String> {
    let get = |k: &str| {
        doc.iter()
            .find(|(x, _)| x.eq_ignore_ascii_case(k))
            .map(|(_, v)| v)
    };
    let s = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    if let Some(d) = s(get("displayName")) {
        return Some(d);
    }
    let name = get("name")?;
    if let Some(f) = s(find_key(name, "formatted")) {
        return Some(f);
    }
    let parts: Vec<String> = ["givenName", "familyName"]
        .iter()
        .filter_map(|k| s(find_key(name, k)))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The SCIM document of a body: what is stored, normalised only where
/// SCIM says values are the same (booleans sent as strings, the
/// extension's own `schemas`, nulls meaning unassigned).
fn document(body: &Value) -> Result<Map<String, Value>, ScimError> {
    let Value::Object(obj) = body else {
        return Err(ScimError::bad("invalidSyntax", "a User is a JSON object"));
    };
    let mut doc = Map::new();
    for (k, v) in obj {
        if NOT_STORED.iter().any(|n| k.eq_ignore_ascii_case(n)) || v.is_null() {
            continue;
        }
        if k.eq_ignore_ascii_case(ENTERPRISE) {
            let Value::Object(ext) = v else {
                return Err(ScimError::bad(
                    "invalidValue",
                    "the enterprise extension is an object",
                ));
            };
            let ext: Map<String, Value> = ext
                .iter()
                .filter(|(k, v)| !k.eq_ignore_ascii_case("schemas") && !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !ext.is_empty() {
                doc.insert(ENTERPRISE.to_owned(), Value::Object(ext));
            }
            continue;
        }
        let v = match (k.to_lowercase().as_str(), v) {
            ("active", Value::String(s)) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            ("active", Value::String(s)) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => v.clone(),
        };
        doc.insert(k.clone(), v);
    }
    Ok(doc)
}

/// A SCIM User body (POST, PUT, or a PATCH's result) as a roster draft,
/// and the password it sets, if any. `current`: the user it replaces.
fn draft(body: &Value, current: Option<&User>) -> Result<(UserDraft, Option<Password>), ScimError> {
    if let (Some(cur), Some(id)) = (current, find_key(body, "id").and_then(Value::as_str))
        && id != cur.id.to_string()
    {
        return Err(ScimError::bad("mutability", "id cannot change"));
    }
    let password = match find_key(body, "password") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(
            Password::parse(p)
                .map_err(|m| ScimError::bad("invalidValue", format!("password {m}")))?,
        ),
        Some(_) => return Err(ScimError::bad("invalidValue", "password must be a string")),
    };
    let doc = document(body)?;
    let user_name = doc
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("userName"))
        .and_then(|(_, v)| v.as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ScimError::bad("invalidValue", "userName is required"))?
        .to_owned();
    let username = Username::parse(&user_name).ok();
    let email = match primary_email(&doc) {
        Some(e) => e,
        None if Email::parse(&user_name).is_ok() => user_name.clone(),
        None => match current {
            Some(cur) if placeholder(cur.email.as_str()) => cur.email.as_str().to_owned(),
            _ => format!("{}@{NO_EMAIL_DOMAIN}", uuid::Uuid::new_v4().simple()),
        },
    };
    let active = doc
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("active"))
        .map(|(_, v)| v);
    let status = match active {
        Some(Value::Bool(false)) => Status::Disabled,
        Some(Value::Bool(true)) | None => Status::Active,
        Some(_) => {
            return Err(ScimError::bad(
                "invalidValue",
                "active must be true or false",
            ));
        }
    };
    let mut attributes = current
        .map(|c| c.attributes.as_map().clone())
        .unwrap_or_default();
    attributes.insert(DOC.to_owned(), Value::Object(doc.clone()));
    let mut fields = Map::new();
    fields.insert("email".into(), email.into());
    if let Some(u) = username {
        fields.insert("username".into(), u.as_str().into());
    }
    if let Some(n) = derived_name(&doc) {
        fields.insert("name".into(), n.into());
    }
    let roles: Vec<Value> = match current {
        Some(c) => c.roles.iter().map(|r| Value::from(r.as_str())).collect(),
        None => vec!["user".into()],
    };
    fields.insert("roles".into(), roles.into());
    fields.insert("status".into(), status.as_str().into());
    fields.insert(
        "email_verified".into(),
        current.is_some_and(|c| c.email_verified).into(),
    );
    fields.insert("attributes".into(), Value::Object(attributes));
    let draft = UserDraft::from_json(fields).map_err(|errors| {
        let why: Vec<String> = errors
            .iter()
            .map(|e| {
                let field = match e.field.as_str() {
                    "email" => "emails",
                    "username" => "userName",
                    "name" => "displayName",
                    "attributes" => "the resource",
                    other => other,
                };
                format!("{field} {}", e.message)
            })
            .collect();
        ScimError::bad("invalidValue", why.join("; "))
    })?;
    Ok((draft, password))
}

/// A roster user as a SCIM User (see the module docs), with its groups.
pub fn render(base: &str, u: &User, groups: &[Group]) -> Value {
    let doc = u
        .attributes
        .as_map()
        .get(DOC)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut out = Map::new();
    let mut schemas = vec![Value::from(CORE_USER)];
    if doc.contains_key(ENTERPRISE) {
        schemas.push(ENTERPRISE.into());
    }
    out.insert("schemas".into(), schemas.into());
    out.insert("id".into(), u.id.to_string().into());
    for (k, v) in &doc {
        out.insert(k.clone(), v.clone());
    }
    let key = |out: &Map<String, Value>, name: &str| {
        out.keys()
            .find(|k| k.eq_ignore_ascii_case(name))
            .cloned()
            .unwrap_or_else(|| name.to_owned())
    };
    // userName: as sent, unless the roster username changed since.
    let sent = doc
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("userName"))
        .and_then(|(_, v)| v.as_str());
    let user_name = match (&u.username, sent) {
        (Some(mine), Some(s)) if Username::parse(s).ok().as_ref() == Some(mine) => s.to_owned(),
        (Some(mine), _) => mine.as_str().to_owned(),
        (None, Some(s)) if Username::parse(s).is_err() => s.to_owned(),
        (None, _) => u.email.as_str().to_owned(),
    };
    out.insert(key(&out, "userName"), user_name.into());
    // emails: as sent, the primary one following a change of address.
    if !placeholder(u.email.as_str()) {
        let k = key(&out, "emails");
        match out.get_mut(&k) {
            Some(Value::Array(items)) if !items.is_empty() => {
                let sent = primary_email(&doc).unwrap_or_default();
                if crate::domain::fold(&sent) != u.email.folded() {
                    let at = items
                        .iter()
                        .position(|e| find_key(e, "primary") == Some(&Value::Bool(true)))
                        .unwrap_or(0);
                    if let Value::Object(e) = &mut items[at] {
                        e.insert("value".into(), u.email.as_str().into());
                    }
                }
            }
            _ => {
                out.insert(k, json!([{"value": u.email.as_str(), "primary": true}]));
            }
        }
    }
    // active: shown when it was sent, or when the user is disabled.
    let k = key(&out, "active");
    if out.contains_key(&k) || u.status == Status::Disabled {
        out.insert(k, (u.status == Status::Active).into());
    }
    // displayName: as sent, unless the roster name changed since.
    let derived = derived_name(&doc);
    let mine = u.name.as_ref().map(|n| n.as_str().to_owned());
    if derived != mine {
        let k = key(&out, "displayName");
        match mine {
            Some(n) => out.insert(k, n.into()),
            None => out.remove(&k),
        };
    }
    if !groups.is_empty() {
        let items: Vec<Value> = groups
            .iter()
            .map(|g| {
                json!({
                    "value": g.id.to_string(),
                    "$ref": format!("{base}/Groups/{}", g.id),
                    "display": g.name.as_str(),
                    "type": "direct",
                })
            })
            .collect();
        out.insert("groups".into(), items.into());
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": crate::domain::Timestamp::from_datetime(u.created_at).rfc3339(),
            "lastModified": crate::domain::Timestamp::from_datetime(u.updated_at).rfc3339(),
            "location": format!("{base}/Users/{}", u.id),
            "version": etag(u.version),
        }),
    );
    Value::Object(out)
}

fn user_id(id: &str) -> Result<UserId, ScimError> {
    UserId::parse(id).ok_or_else(|| ScimError::not_found("user"))
}

/// The user `id` as SCIM JSON.
fn shown(st: &AppState, caller: &Caller, u: &User) -> Result<Value, ScimError> {
    let groups = st.groups().groups_of(caller, u.id)?;
    Ok(render(&base(st), u, &groups))
}

pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let (draft, password) = draft(&body, None)?;
    let user = st
        .users()
        .create(&caller, NewUser { draft, password })
        .await?;
    Ok(resource_response(
        StatusCode::CREATED,
        &shown(&st, &caller, &user)?,
    ))
}

pub async fn get(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: QueryMap,
) -> Result<Response, ScimError> {
    let user = st.users().get(&caller, user_id(&id)?)?;
    let req = ListRequest::from_query(&query.0)?;
    Ok(resource_response(
        StatusCode::OK,
        &req.project(shown(&st, &caller, &user)?),
    ))
}

pub async fn replace(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let current = st.users().get(&caller, user_id(&id)?)?;
    let (draft, password) = draft(&body, Some(&current))?;
    write(&st, &caller, &current, draft, password, if_match(&headers)?).await
}

pub async fn patch(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let current = st.users().get(&caller, user_id(&id)?)?;
    let Value::Object(mut doc) = shown(&st, &caller, &current)? else {
        unreachable!("a rendered user is an object")
    };
    doc.remove("meta");
    doc.remove("groups");
    let mut password = None;
    for op in patch::operations(&body)? {
        // The password is not part of the document: it is set on its own.
        let is_password = |p: &str| p.eq_ignore_ascii_case("password");
        match (&op.path, &op.value) {
            (Some(p), v) if is_password(p) => {
                if op.kind != Kind::Remove {
                    password = v.clone();
                }
                continue;
            }
            (None, Some(Value::Object(values))) => {
                let mut rest = values.clone();
                if let Some(k) = rest.keys().find(|k| is_password(k)).cloned() {
                    password = rest.remove(&k);
                }
                // Okta names the resource's own id in path-less values.
                if let Some(k) = rest.keys().find(|k| k.eq_ignore_ascii_case("id")).cloned() {
                    if rest[&k] != current.id.to_string() {
                        return Err(ScimError::bad("mutability", "id cannot change"));
                    }
                    rest.remove(&k);
                }
                let op = patch::Operation {
                    value: Some(Value::Object(rest)),
                    ..op
                };
                patch::apply(&mut doc, &op, CORE_USER)?;
                continue;
            }
            _ => {}
        }
        if let Some(p) = &op.path
            && ["id", "meta", "groups"]
                .iter()
                .any(|r| p.to_lowercase().starts_with(r))
        {
            return Err(ScimError::bad("mutability", format!("{p} is read-only")));
        }
        patch::apply(&mut doc, &op, CORE_USER)?;
    }
    if let Some(p) = &password {
        doc.insert("password".into(), p.clone());
    }
    let (draft, password) = draft(&Value::Object(doc), Some(&current))?;
    let pre = match if_match(&headers)? {
        Precondition::None => Precondition::Version(current.version),
        other => other,
    };
    write(&st, &caller, &current, draft, password, pre).await
}

/// Replaces the user's fields (and sets its password), answering with it.
async fn write(
    st: &AppState,
    caller: &Caller,
    current: &User,
    draft: UserDraft,
    password: Option<Password>,
    pre: Precondition,
) -> Result<Response, ScimError> {
    let user = st.users().replace(caller, current.id, draft, pre).await?;
    if let Some(p) = password {
        st.auth()
            .change_password(caller, user.id, None, p.expose())
            .await?;
    }
    Ok(resource_response(
        StatusCode::OK,
        &shown(st, caller, &user)?,
    ))
}

pub async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    st.users()
        .delete(&caller, user_id(&id)?, if_match(&headers)?)
        .await?;
    Ok(no_content())
}

pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    query: QueryMap,
) -> Result<Response, ScimError> {
    let req = ListRequest::from_query(&query.0)?;
    respond(&st, &caller, &req)
}

pub async fn search(
    State(st): State<AppState>,
    caller: Caller,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let req = ListRequest::from_body(&body)?;
    respond(&st, &caller, &req)
}

fn respond(st: &AppState, caller: &Caller, req: &ListRequest) -> Result<Response, ScimError> {
    if req.filter.is_none() && req.sort_by.is_none() {
        // A page in creation order, read from the creation index.
        let (users, total) = st
            .users()
            .page_by_creation(caller, req.start_index - 1, req.count)?;
        let page = users
            .iter()
            .map(|u| shown(st, caller, u))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(req.respond(page, total as usize));
    }
    let all = matching(st, caller, req)?;
    let (page, total) = req.page(all);
    Ok(req.respond(page, total))
}

/// Every user that matches the request's filter (in creation order), as
/// SCIM JSON. Exact lookups when the filter reduces to them; else a scan
/// of at most [`SCAN_MAX`] users, or `invalidFilter`.
pub fn matching(
    st: &AppState,
    caller: &Caller,
    req: &ListRequest,
) -> Result<Vec<Value>, ScimError> {
    // A userName that is no roster username or address is kept in the
    // document only: no index has it.
    let indexed = |l: &Lookup| match l {
        Lookup::Id(_) | Lookup::Email(_) | Lookup::ExternalId(_) => true,
        Lookup::UserName(s) => Username::parse(s).is_ok() || Email::parse(s).is_ok(),
        Lookup::DisplayName(_) => false,
    };
    let lookups = req
        .filter
        .as_ref()
        .and_then(|f| f.lookups())
        .filter(|l| l.iter().all(indexed));
    let candidates: Vec<User> = match lookups {
        Some(lookups) => {
            let mut found: Vec<User> = Vec::new();
            for l in lookups {
                let u = match l {
                    Lookup::Id(id) => match UserId::parse(&id) {
                        Some(id) => st.users().get(caller, id).ok(),
                        None => None,
                    },
                    Lookup::UserName(s) | Lookup::Email(s) => {
                        st.users().find_by_login(caller, &s)?
                    }
                    Lookup::ExternalId(x) => {
                        for u in st.users().find_by_external_id(caller, &x)? {
                            if !found.iter().any(|f| f.id == u.id) {
                                found.push(u);
                            }
                        }
                        None
                    }
                    Lookup::DisplayName(_) => None,
                };
                if let Some(u) = u
                    && !found.iter().any(|f| f.id == u.id)
                {
                    found.push(u);
                }
            }
            found
        }
        None => match st.users().all_up_to(caller, SCAN_MAX)? {
            Some(all) => all,
            None => {
                return Err(ScimError::bad(
                    "invalidFilter",
                    format!(
                        "with more than {SCAN_MAX} users, a filter (or sortBy) needs `eq` on id, \
                         userName, emails.value or externalId, so that it is served without a scan"
                    ),
                ));
            }
        },
    };
    let base = base(st);
    let mut out = Vec::new();
    for u in candidates {
        // Groups are read only for what is shown or filtered on.
        let r = render(&base, &u, &[]);
        if req.filter.as_ref().is_none_or(|f| f.matches(&r)) {
            let full = if req.shows("groups") {
                shown(st, caller, &u)?
            } else {
                r
            };
            out.push(full);
        }
    }
    Ok(out)
}
