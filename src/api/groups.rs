//! `/api/v1/groups`: groups, their members, and the groups of a user.
//! Bodies become domain commands, the service decides, the DTOs render.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa::{PartialSchema, ToSchema};

use crate::auth::policy::Caller;
use crate::domain::{
    Field, FieldError, Group, GroupDraft, GroupFields, MEMBERS_PER_REQUEST, UserId,
};
use crate::error::Error;
use crate::service::{GROUP_LIMIT_DEFAULT, GROUP_LIMIT_MAX};

use super::extract::{Body, QueryPairs, etag};
use super::openapi as doc;
use super::params::{GroupPath, IfMatch, MemberPath, UserPath};
use super::problem::{Kind, Problem};
use super::state::AppState;
use super::users::{UserDto, merge_patch_of};

/// Every writable field of a group; absent ones take their defaults.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct GroupReplace {
    /// Unique without regard to case.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 128)]
    name: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 1000)]
    description: Field<String>,
    /// Roles every member is granted on top of its own (default none).
    #[serde(default)]
    #[schema(value_type = Option<Vec<crate::domain::Role>>, max_items = 16)]
    roles: Field<Vec<Value>>,
    /// A JSON object of at most 16 KiB serialised.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    attributes: Field<Value>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

impl TryFrom<GroupReplace> for GroupDraft {
    type Error = Error;

    fn try_from(b: GroupReplace) -> Result<Self, Error> {
        GroupDraft::from_fields(GroupFields {
            name: b.name,
            description: b.description,
            roles: b.roles,
            attributes: b.attributes,
            other: b.other,
        })
        .map_err(Error::Validation)
    }
}

/// A JSON merge patch (RFC 7396) of a group's writable fields.
#[derive(Deserialize)]
pub struct GroupPatch(Map<String, Value>);

impl PartialSchema for GroupPatch {
    fn schema() -> RefOr<Schema> {
        merge_patch_of::<GroupReplace>(
            "A JSON merge patch (RFC 7396) of a group's writable fields: `null` \
             removes a field (it takes its default). Unknown and read-only fields \
             are refused (422).",
        )
    }
}

impl ToSchema for GroupPatch {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <GroupReplace as ToSchema>::schemas(schemas);
    }
}

/// Users to add to a group.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct MembersAdd {
    /// User ids (1 to 1000); those already members are left as they are.
    #[serde(default)]
    #[schema(value_type = Vec<uuid::Uuid>, required = true, min_items = 1, max_items = 1000)]
    user_ids: Field<Vec<Value>>,
    #[serde(flatten)]
    #[schema(ignore)]
    other: Map<String, Value>,
}

impl MembersAdd {
    fn ids(self) -> Result<Vec<UserId>, Error> {
        let parsed = self.user_ids.parse(
            || Err("is required".to_owned()),
            |items| {
                if items.is_empty() || items.len() > MEMBERS_PER_REQUEST {
                    return Err(format!("must hold 1 to {MEMBERS_PER_REQUEST} user ids"));
                }
                let mut ids = Vec::with_capacity(items.len());
                for item in items {
                    let id = item
                        .as_str()
                        .and_then(UserId::parse)
                        .ok_or_else(|| "must hold only user ids (UUIDs)".to_owned())?;
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                Ok(ids)
            },
            "must be an array of user ids",
        );
        let mut errors: Vec<FieldError> = parsed
            .as_ref()
            .err()
            .map(|m| vec![FieldError::new("user_ids", m.as_str())])
            .unwrap_or_default();
        errors.extend(
            self.other
                .keys()
                .map(|k| FieldError::new(k.as_str(), "is not a known field")),
        );
        match parsed {
            Ok(ids) if errors.is_empty() => Ok(ids),
            _ => Err(Error::Validation(errors)),
        }
    }
}

/// A group as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Group)]
pub struct GroupDto<'a> {
    #[schema(value_type = uuid::Uuid)]
    id: String,
    name: &'a str,
    #[schema(required = true)]
    description: Option<&'a str>,
    /// Granted to every member on top of its own roles.
    #[schema(value_type = Vec<crate::domain::Role>)]
    roles: Vec<&'static str>,
    #[schema(value_type = Object)]
    attributes: &'a Map<String, Value>,
    member_count: u64,
    #[schema(value_type = time::OffsetDateTime)]
    created_at: String,
    #[schema(value_type = time::OffsetDateTime)]
    updated_at: String,
    /// Increases with every change, membership included; the `ETag`.
    #[schema(minimum = 1)]
    version: u64,
}

impl<'a> From<&'a Group> for GroupDto<'a> {
    fn from(g: &'a Group) -> Self {
        Self {
            id: g.id.to_string(),
            name: g.name.as_str(),
            description: g.description.as_deref(),
            roles: g.roles.iter().map(|r| r.as_str()).collect(),
            attributes: g.attributes.as_map(),
            member_count: g.member_count,
            created_at: g.created_at.rfc3339(),
            updated_at: g.updated_at.rfc3339(),
            version: g.version,
        }
    }
}

/// The group, its `ETag` and `Location`.
fn group_response(status: StatusCode, g: &Group) -> Response {
    let mut res = (status, Json(GroupDto::from(g))).into_response();
    let h = res.headers_mut();
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&etag(g.version)).expect("a quoted number is a valid header"),
    );
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/api/v1/groups/{}", g.id))
            .expect("a path with a UUID is a valid header"),
    );
    res
}

/// One page of groups; `next_cursor` is null on the last page.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GroupPage<'a> {
    items: Vec<GroupDto<'a>>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// One page of a group's members (users); `next_cursor` is null on the
/// last page.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MemberPage<'a> {
    items: Vec<UserDto<'a>>,
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// The groups a user belongs to.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UserGroups<'a> {
    items: Vec<GroupDto<'a>>,
}

/// What adding members did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MembersAdded<'a> {
    /// How many were not members before.
    added: u64,
    group: GroupDto<'a>,
}

/// Groups found by a search.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GroupResults<'a> {
    hits: Vec<GroupHitDto<'a>>,
    /// How many groups match in all.
    total: usize,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = GroupHit)]
pub struct GroupHitDto<'a> {
    group: GroupDto<'a>,
    score: f32,
}

/// `limit` and `cursor` of a page, the cursor being the last id seen.
fn page_params(query: &QueryPairs, max: usize) -> Result<(Option<u128>, usize), Problem> {
    query.only(&["limit", "cursor"])?;
    let limit: usize = query
        .parsed("limit", |v| v.parse().ok(), "a whole number")?
        .unwrap_or(GROUP_LIMIT_DEFAULT);
    if !(1..=max).contains(&limit) {
        return Err(Problem::new(
            Kind::BadRequest,
            format!("limit must be between 1 and {max}"),
        ));
    }
    let after = query.parsed(
        "cursor",
        |v| uuid::Uuid::try_parse(v).ok().map(|u| u.as_u128()),
        "a next_cursor this server returned",
    )?;
    Ok((after, limit))
}

fn cursor(after: Option<u128>) -> Option<String> {
    after.map(|a| uuid::Uuid::from_u128(a).hyphenated().to_string())
}

/// Create a group.
#[utoipa::path(
    post, path = "/api/v1/groups", operation_id = "createGroup", tag = "groups",
    request_body(content = GroupReplace, content_type = "application/json"),
    responses((status = 201, description = "Created.", body = GroupDto, headers(("ETag" = String, description = "The group's version, quoted."), ("Location" = String, description = "The group's URL."))), doc::Authorized, doc::JsonBody, (status = 409, response = doc::Conflict), (status = 503, response = doc::Unavailable)),
)]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    Body(body): Body<GroupReplace>,
) -> Result<Response, Problem> {
    let group = st.groups().create(&caller, body.try_into()?).await?;
    Ok(group_response(StatusCode::CREATED, &group))
}

/// List groups in creation order, cursor-paginated.
#[utoipa::path(
    get, path = "/api/v1/groups", operation_id = "listGroups", tag = "groups",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size (default 50)."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page."),
    ),
    responses((status = 200, description = "One page of groups.", body = GroupPage), (status = 400, response = doc::BadRequest), doc::Authorized),
)]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    query: QueryPairs,
) -> Result<Response, Problem> {
    let (after, limit) = page_params(&query, GROUP_LIMIT_MAX)?;
    let page = st.groups().list(&caller, after, limit)?;
    Ok(Json(GroupPage {
        items: page.items.iter().map(GroupDto::from).collect(),
        next_cursor: cursor(page.next_after),
    })
    .into_response())
}

/// Search groups by name and description (typo-tolerant, prefixes).
#[utoipa::path(
    get, path = "/api/v1/groups/search", operation_id = "searchGroups", tag = "groups",
    params(
        ("q" = Option<String>, Query, description = "Words that must each appear in the name or description (a prefix, or one letter off for words of four letters or more). Empty: every group by name."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Page size (default 20)."),
        ("offset" = Option<u32>, Query, minimum = 0, maximum = 10000, description = "Hits to skip (default 0)."),
    ),
    responses((status = 200, description = "The matching groups, best first.", body = GroupResults), (status = 400, response = doc::BadRequest), doc::Authorized),
)]
pub async fn search(
    State(st): State<AppState>,
    caller: Caller,
    query: QueryPairs,
) -> Result<Response, Problem> {
    query.only(&["q", "limit", "offset"])?;
    let q = query.one("q")?.unwrap_or("");
    if q.chars().count() > 200 {
        return Err(Problem::new(
            Kind::BadRequest,
            "q must be at most 200 characters",
        ));
    }
    let limit = query.number("limit", 20, 1..=200)?;
    let offset = query.number("offset", 0, 0..=10_000)?;
    let (hits, total) = st.groups().search(&caller, q, offset, limit)?;
    Ok(Json(GroupResults {
        hits: hits
            .iter()
            .map(|h| GroupHitDto {
                group: GroupDto::from(&h.group),
                score: h.score,
            })
            .collect(),
        total,
    })
    .into_response())
}

/// Read a group.
#[utoipa::path(
    get, path = "/api/v1/groups/{id}", operation_id = "getGroup", tag = "groups",
    params(GroupPath),
    responses((status = 200, description = "The group.", body = GroupDto, headers(("ETag" = String, description = "The group's version, quoted."), ("Location" = String, description = "The group's URL."))), doc::Authorized, (status = 404, response = doc::NotFound)),
)]
pub async fn get(
    State(st): State<AppState>,
    caller: Caller,
    GroupPath(id): GroupPath,
) -> Result<Response, Problem> {
    let group = st.groups().get(&caller, id)?;
    Ok(group_response(StatusCode::OK, &group))
}

/// Update a group with a JSON merge patch (RFC 7396).
#[utoipa::path(
    patch, path = "/api/v1/groups/{id}", operation_id = "patchGroup", tag = "groups",
    params(GroupPath, IfMatch),
    request_body(content(
        (GroupPatch = "application/merge-patch+json"),
        (GroupPatch = "application/json"),
    )),
    responses((status = 200, description = "The updated group.", body = GroupDto, headers(("ETag" = String, description = "The group's version, quoted."), ("Location" = String, description = "The group's URL."))), doc::Authorized, doc::JsonBody, (status = 404, response = doc::NotFound), (status = 409, response = doc::Conflict), (status = 412, response = doc::PreconditionFailed), (status = 503, response = doc::Unavailable)),
)]
pub async fn patch(
    State(st): State<AppState>,
    caller: Caller,
    GroupPath(id): GroupPath,
    IfMatch(pre): IfMatch,
    Body(body): Body<GroupPatch>,
) -> Result<Response, Problem> {
    let patch = crate::domain::GroupPatch::new(body.0);
    let group = st.groups().patch(&caller, id, patch, pre).await?;
    Ok(group_response(StatusCode::OK, &group))
}

/// Replace every writable field of a group.
#[utoipa::path(
    put, path = "/api/v1/groups/{id}", operation_id = "replaceGroup", tag = "groups",
    params(GroupPath, IfMatch),
    request_body(content = GroupReplace, content_type = "application/json"),
    responses((status = 200, description = "The updated group.", body = GroupDto, headers(("ETag" = String, description = "The group's version, quoted."), ("Location" = String, description = "The group's URL."))), doc::Authorized, doc::JsonBody, (status = 404, response = doc::NotFound), (status = 409, response = doc::Conflict), (status = 412, response = doc::PreconditionFailed), (status = 503, response = doc::Unavailable)),
)]
pub async fn replace(
    State(st): State<AppState>,
    caller: Caller,
    GroupPath(id): GroupPath,
    IfMatch(pre): IfMatch,
    Body(body): Body<GroupReplace>,
) -> Result<Response, Problem> {
    let group = st
        .groups()
        .replace(&caller, id, body.try_into()?, pre)
        .await?;
    Ok(group_response(StatusCode::OK, &group))
}

/// Delete a group; its memberships go with it (the users stay).
#[utoipa::path(
    delete, path = "/api/v1/groups/{id}", operation_id = "deleteGroup", tag = "groups",
    params(GroupPath, IfMatch),
    responses((status = 204, description = "Deleted."), (status = 400, response = doc::BadRequest), doc::Authorized, (status = 404, response = doc::NotFound), (status = 412, response = doc::PreconditionFailed), (status = 503, response = doc::Unavailable)),
)]
pub async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    GroupPath(id): GroupPath,
    IfMatch(pre): IfMatch,
) -> Result<StatusCode, Problem> {
    st.groups().delete(&caller, id, pre).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a group's members in user-id order, cursor-paginated.
#[utoipa::path(
    get, path = "/api/v1/groups/{id}/members", operation_id = "listGroupMembers", tag = "groups",
    params(
        GroupPath,
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size (default 50)."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page."),
    ),
    responses((status = 200, description = "One page of members.", body = MemberPage), (status = 400, response = doc::BadRequest), doc::Authorized, (status = 404, response = doc::NotFound)),
)]
pub async fn members(
    State(st): State<AppState>,
    caller: Caller,
    GroupPath(id): GroupPath,
    query: QueryPairs,
) -> Result<Response, Problem> {
    let (after, limit) = page_params(&query, GROUP_LIMIT_MAX)?;
    let page = st.groups().members(&caller, id, after, limit)?;
    Ok(Json(MemberPage {
        items: page.items.iter().map(UserDto::from).collect(),
        next_cursor: cursor(page.next_after),
    })
    .into_response())
}

/// Add users to a group (up to 1000 per request, in one transaction).
#[utoipa::path(
    post, path = "/api/v1/groups/{id}/members", operation_id = "addGroupMembers", tag = "groups",
    params(GroupPath, IfMatch),
    request_body(content = MembersAdd, content_type = "application/json"),
    responses((status = 200, description = "Added; the group as it now is.", body = MembersAdded), doc::Authorized, doc::JsonBody, (status = 404, response = doc::NotFound), (status = 412, response = doc::PreconditionFailed), (status = 503, response = doc::Unavailable)),
)]
pub async fn add_members(
    State(st): State<AppState>,
    caller: Caller,
    GroupPath(id): GroupPath,
    IfMatch(pre): IfMatch,
    Body(body): Body<MembersAdd>,
) -> Result<Response, Problem> {
    let (group, added) = st
        .groups()
        .add_members(&caller, id, body.ids()?, pre)
        .await?;
    Ok(Json(MembersAdded {
        added,
        group: GroupDto::from(&group),
    })
    .into_response())
}

/// Remove a user from a group.
#[utoipa::path(
    delete, path = "/api/v1/groups/{id}/members/{user_id}", operation_id = "removeGroupMember", tag = "groups",
    params(MemberPath, IfMatch),
    responses((status = 204, description = "Removed."), (status = 400, response = doc::BadRequest), doc::Authorized, (status = 404, response = doc::NotFound), (status = 412, response = doc::PreconditionFailed), (status = 503, response = doc::Unavailable)),
)]
pub async fn remove_member(
    State(st): State<AppState>,
    caller: Caller,
    MemberPath(id, user): MemberPath,
    IfMatch(pre): IfMatch,
) -> Result<StatusCode, Problem> {
    let (_, removed) = st
        .groups()
        .remove_members(&caller, id, vec![user], pre)
        .await?;
    if removed == 0 {
        return Err(Problem::new(Kind::NotFound, "That user is not a member."));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The groups a user belongs to.
#[utoipa::path(
    get, path = "/api/v1/users/{id}/groups", operation_id = "listUserGroups", tag = "groups",
    params(UserPath),
    responses((status = 200, description = "The user's groups.", body = UserGroups), (status = 400, response = doc::BadRequest), doc::Authorized, (status = 404, response = doc::NotFound)),
)]
pub async fn user_groups(
    State(st): State<AppState>,
    caller: Caller,
    UserPath(id): UserPath,
) -> Result<Response, Problem> {
    let groups = st.groups().groups_of(&caller, id)?;
    Ok(Json(UserGroups {
        items: groups.iter().map(GroupDto::from).collect(),
    })
    .into_response())
}
