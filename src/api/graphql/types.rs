//! The output types: a user and a group as REST shows them (camel-cased),
//! Relay connections, search hits, audit entries and change events.

use async_graphql::{Context, Enum, ID, Json, Object, Result, SimpleObject};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::auth::policy::Caller;
use crate::domain::{self, AuditEntry, Event, Group, GroupId, Subject};

use super::super::state::AppState;
use super::user::{SearchEdge, UserConnection, UserEdge, UserNode};
use super::{bad, problem_error};

/// What every resolver needs: the services and who is asking.
pub(super) fn context<'a>(ctx: &'a Context<'_>) -> (&'a AppState, &'a Caller) {
    (
        ctx.data_unchecked::<AppState>(),
        ctx.data_unchecked::<Caller>(),
    )
}

/// A role, as REST's `roles` values.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum Role {
    Admin,
    User,
}

impl From<domain::Role> for Role {
    fn from(r: domain::Role) -> Self {
        match r {
            domain::Role::Admin => Role::Admin,
            domain::Role::User => Role::User,
        }
    }
}

impl From<Role> for domain::Role {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => domain::Role::Admin,
            Role::User => domain::Role::User,
        }
    }
}

impl Role {
    pub fn as_str(self) -> &'static str {
        domain::Role::from(self).as_str()
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum UserStatus {
    Active,
    Disabled,
}

impl From<domain::Status> for UserStatus {
    fn from(s: domain::Status) -> Self {
        match s {
            domain::Status::Active => UserStatus::Active,
            domain::Status::Disabled => UserStatus::Disabled,
        }
    }
}

impl From<UserStatus> for domain::Status {
    fn from(s: UserStatus) -> Self {
        match s {
            UserStatus::Active => domain::Status::Active,
            UserStatus::Disabled => domain::Status::Disabled,
        }
    }
}

pub struct GroupNode(pub Group);

/// A group: a name, roles granted to its members, and its members.
#[Object(name = "Group")]
impl GroupNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn name(&self) -> &str {
        self.0.name.as_str()
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// Granted to every member on top of its own.
    async fn roles(&self) -> Vec<Role> {
        self.0.roles.iter().map(|r| Role::from(*r)).collect()
    }

    async fn attributes(&self) -> Json<&Map<String, Value>> {
        Json(self.0.attributes.as_map())
    }

    async fn member_count(&self) -> u64 {
        self.0.member_count
    }

    async fn created_at(&self) -> Option<OffsetDateTime> {
        self.0.created_at.to_datetime()
    }

    async fn updated_at(&self) -> Option<OffsetDateTime> {
        self.0.updated_at.to_datetime()
    }

    /// Increases with every change, membership included.
    async fn version(&self) -> u64 {
        self.0.version
    }

    /// Its members in id order.
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT) as usize * child_complexity")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(minimum = 1, maximum = 500))] first: Option<i32>,
        after: Option<String>,
    ) -> Result<UserConnection> {
        let (st, caller) = context(ctx);
        let after = after.as_deref().map(id_cursor).transpose()?;
        let limit = first.unwrap_or(PAGE_DEFAULT) as usize;
        let page = st.groups().members(caller, self.0.id, after, limit)?;
        Ok(UserConnection::by_id(page.items, page.next_after.is_some()))
    }
}

/// Page size when `first` is not given.
pub const PAGE_DEFAULT: i32 = 20;

/// The id cursors of groups, members and audit entries: a UUID.
pub fn id_cursor(c: &str) -> Result<u128> {
    uuid::Uuid::try_parse(c)
        .map(|u| u.as_u128())
        .map_err(|_| bad("after is not a cursor this server issued"))
}

/// Relay's page information.
#[derive(SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

impl PageInfo {
    pub fn of(cursors: &[&str], has_next_page: bool, has_previous_page: bool) -> Self {
        Self {
            has_next_page,
            has_previous_page,
            start_cursor: cursors.first().map(|c| (*c).to_owned()),
            end_cursor: cursors.last().map(|c| (*c).to_owned()),
        }
    }
}

/// A page of users.
#[derive(SimpleObject)]
#[graphql(name = "UserConnection")]
pub struct UserConnectionFields {
    pub edges: Vec<UserEdge>,
    pub page_info: PageInfo,
}

#[derive(SimpleObject)]
pub struct GroupEdge {
    pub cursor: String,
    pub node: GroupNode,
}

/// A page of groups.
#[derive(SimpleObject)]
pub struct GroupConnection {
    pub edges: Vec<GroupEdge>,
    pub page_info: PageInfo,
}

impl GroupConnection {
    pub fn new(groups: Vec<Group>, has_next_page: bool, has_previous_page: bool) -> Self {
        let edges: Vec<GroupEdge> = groups
            .into_iter()
            .map(|g| GroupEdge {
                cursor: g.id.to_string(),
                node: GroupNode(g),
            })
            .collect();
        let cursors: Vec<&str> = edges.iter().map(|e| e.cursor.as_str()).collect();
        let page_info = PageInfo::of(&cursors, has_next_page, has_previous_page);
        Self { edges, page_info }
    }
}

/// A matched field's text with the matched words marked `<mark>…</mark>`.
#[derive(SimpleObject)]
pub struct Highlight {
    pub field: String,
    pub text: String,
}

/// How many matches hold one value of a facet.
#[derive(SimpleObject)]
pub struct FacetValue {
    pub value: String,
    pub count: u64,
}

/// The counts of one facet (`status`, `roles`, `mfa_enabled`, `groups`).
#[derive(SimpleObject)]
pub struct FacetCounts {
    pub name: String,
    pub values: Vec<FacetValue>,
}

/// A page of search hits, best first.
#[derive(SimpleObject)]
#[graphql(name = "UserSearchConnection")]
pub struct UserSearchConnectionFields {
    pub edges: Vec<SearchEdge>,
    pub page_info: PageInfo,
    /// How many users match in all.
    pub total: u64,
    pub facets: Vec<FacetCounts>,
    pub took_ms: f64,
}

/// One security or administrative event.
#[derive(SimpleObject)]
pub struct AuditLogEntry {
    pub id: ID,
    pub at: Option<OffsetDateTime>,
    /// Such as `login`, `user.create`, `api_key.revoke`.
    pub action: String,
    /// Who did it: `user:<id>`, `key:<id>`, `system`, or the login name tried.
    pub actor: Option<String>,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

impl From<AuditEntry> for AuditLogEntry {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: ID(e.id.to_string()),
            at: e.at.to_datetime(),
            outcome: e.outcome.as_str().to_owned(),
            action: e.action,
            actor: e.actor,
            target: e.target,
            ip: e.ip,
            detail: e.detail,
        }
    }
}

#[derive(SimpleObject)]
pub struct AuditEdge {
    pub cursor: String,
    pub node: AuditLogEntry,
}

/// A page of the audit log, newest first.
#[derive(SimpleObject)]
pub struct AuditConnection {
    pub edges: Vec<AuditEdge>,
    pub page_info: PageInfo,
}

impl AuditConnection {
    pub fn new(entries: Vec<AuditEntry>, has_next_page: bool, has_previous_page: bool) -> Self {
        let edges: Vec<AuditEdge> = entries
            .into_iter()
            .map(|e| AuditEdge {
                cursor: e.id.to_string(),
                node: e.into(),
            })
            .collect();
        let cursors: Vec<&str> = edges.iter().map(|e| e.cursor.as_str()).collect();
        let page_info = PageInfo::of(&cursors, has_next_page, has_previous_page);
        Self { edges, page_info }
    }
}

/// The stream could not resume where asked: re-read what you mirror, then
/// follow from `lastId`.
#[derive(SimpleObject)]
pub struct StreamReset {
    pub reason: String,
    pub last_id: ID,
}

pub enum ChangeEvent {
    Change(Box<Event>),
    Reset(StreamReset),
}

/// A change to a user or a group, as the change log recorded it; or, with
/// `type: "reset"`, word that the stream could not resume where asked.
#[Object]
impl ChangeEvent {
    /// The change's sequence number: pass it as `after` to resume.
    async fn id(&self) -> ID {
        match self {
            ChangeEvent::Change(e) => ID(e.id.to_string()),
            ChangeEvent::Reset(r) => r.last_id.clone(),
        }
    }

    /// `user.created`, `group.updated`, …; or `reset` (see `reset`).
    #[graphql(name = "type")]
    async fn kind(&self) -> &str {
        match self {
            ChangeEvent::Change(e) => e.kind.as_str(),
            ChangeEvent::Reset(_) => "reset",
        }
    }

    async fn occurred_at(&self) -> Option<OffsetDateTime> {
        match self {
            ChangeEvent::Change(e) => e.occurred_at.and_then(|t| t.to_datetime()),
            ChangeEvent::Reset(_) => None,
        }
    }

    /// The id of the user or group changed.
    async fn subject_id(&self) -> Option<ID> {
        match self {
            ChangeEvent::Change(e) => match &e.subject {
                Subject::User(id, _) => Some(ID(id.to_string())),
                Subject::Group(id, _) => Some(ID(id.to_string())),
            },
            ChangeEvent::Reset(_) => None,
        }
    }

    /// The user as it is after the change (as it was, for a deletion).
    async fn user(&self) -> Option<UserNode> {
        match self {
            ChangeEvent::Change(e) => match &e.subject {
                Subject::User(_, Some(u)) => Some(UserNode::of(u.clone())),
                _ => None,
            },
            ChangeEvent::Reset(_) => None,
        }
    }

    /// The group as it is after the change (as it was, for a deletion).
    async fn group(&self) -> Option<GroupNode> {
        match self {
            ChangeEvent::Change(e) => match &e.subject {
                Subject::Group(_, Some(g)) => Some(GroupNode(g.clone())),
                _ => None,
            },
            ChangeEvent::Reset(_) => None,
        }
    }

    /// For `user.updated` and `group.updated`: what changed.
    async fn changed_fields(&self) -> Vec<String> {
        match self {
            ChangeEvent::Change(e) => e.changed_fields.clone(),
            ChangeEvent::Reset(_) => Vec::new(),
        }
    }

    async fn reset(&self) -> Option<&StreamReset> {
        match self {
            ChangeEvent::Reset(r) => Some(r),
            ChangeEvent::Change(_) => None,
        }
    }
}

/// An id argument as a user's id; anything else is not found.
pub fn user_id(id: &ID) -> Result<domain::UserId> {
    domain::UserId::parse(id.as_str()).ok_or_else(|| not_found("user"))
}

pub fn group_id(id: &ID) -> Result<GroupId> {
    GroupId::parse(id.as_str()).ok_or_else(|| not_found("group"))
}

fn not_found(what: &str) -> async_graphql::Error {
    problem_error(super::super::problem::Problem::new(
        super::super::problem::Kind::NotFound,
        format!("No such {what}."),
    ))
}
