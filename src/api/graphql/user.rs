//! The `User` type, its edges and its connections, written as JSON in one
//! pass when they can be.
//!
//! A page of twenty users selects a dozen fields each: resolved the
//! general way, that is some three hundred boxed futures, a
//! `FuturesUnordered` per object and a context per field, and then a tree
//! of values (a hashed map per object, a copy of every string) that is
//! only ever written out. So a user (and an edge or a page holding users)
//! writes its selection straight as JSON when the selection is plain —
//! fields only (no fragments, no directives, no field twice), none of them
//! `groups`, the one field that waits on a data loader — and goes through
//! the derived resolver otherwise. The JSON is passed on as it is when it
//! answers a top-level field that nothing can merge with (see
//! [`RawAnswers`]), and parsed back into a value everywhere else. Every
//! path gives the same answer: `a_user_answers_alike_with_or_without_fragments`
//! in `tests/api/graphql.rs` holds them to it.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use async_graphql::dataloader::DataLoader;
use async_graphql::parser::types::{Field, Selection};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::{enum_value, resolve_container};
use async_graphql::{
    Context, ContextSelectionSet, ID, Json, Name, Object, OutputType, Positioned, Result,
    ServerResult, SimpleObject, Value,
};
use serde_json::Map;
use time::OffsetDateTime;

use crate::domain::{self, User};

use super::super::json::Out;
use super::loaders::GroupsOfUsers;
use super::response::{self, RawAnswers, asked_before};
use super::types::{
    FacetValue, GroupNode, Highlight, PageInfo, Role, UserConnectionFields,
    UserSearchConnectionFields, UserStatus,
};

/// A user as GraphQL shows it.
pub struct UserNode(UserFields);

impl UserNode {
    pub fn of(user: User) -> Self {
        Self(UserFields(user))
    }

    /// The selection written in one pass, if it is plain.
    fn plain(&self, out: &mut Out, field: &Positioned<Field>) -> bool {
        object(out, field, "User", |out, f| self.plain_field(out, name(f)))
    }

    /// A field that needs no context; `false` for `groups` (and for a name
    /// the type does not have, which validation has refused).
    fn plain_field(&self, out: &mut Out, field: &str) -> bool {
        let u = &self.0.0;
        match field {
            "id" => out.uuid(&u.id.0),
            "email" => out.str(u.email.as_str()),
            "username" => out.opt_str(u.username.as_ref().map(|n| n.as_str())),
            "name" => out.opt_str(u.name.as_ref().map(|n| n.as_str())),
            "roles" => out.array(u.roles.iter().map(|r| role(*r))),
            "status" => out.str(status(u.status)),
            "emailVerified" => out.bool(u.email_verified),
            "mfaEnabled" => out.bool(u.mfa_enabled),
            "attributes" => out.serde(u.attributes.as_map()),
            "createdAt" => out.time(u.created_at),
            "updatedAt" => out.time(u.updated_at),
            "version" => out.u64(u.version),
            _ => return false,
        }
        true
    }
}

/// An enum value's name, as the derived resolver writes it.
fn enum_name<T: async_graphql::EnumType>(value: T) -> Name {
    match enum_value(value) {
        Value::Enum(name) => name,
        _ => unreachable!("an enum resolves to an enum value"),
    }
}

fn role(r: domain::Role) -> &'static str {
    static NAMES: LazyLock<[Name; 2]> =
        LazyLock::new(|| [enum_name(Role::Admin), enum_name(Role::User)]);
    NAMES[match Role::from(r) {
        Role::Admin => 0,
        Role::User => 1,
    }]
    .as_str()
}

fn status(s: domain::Status) -> &'static str {
    static NAMES: LazyLock<[Name; 2]> = LazyLock::new(|| {
        [
            enum_name(UserStatus::Active),
            enum_name(UserStatus::Disabled),
        ]
    });
    NAMES[match UserStatus::from(s) {
        UserStatus::Active => 0,
        UserStatus::Disabled => 1,
    }]
    .as_str()
}

/// Writes the selection as a JSON object in one pass; `false` (with `out`
/// left half written) when it is not plain (see the module's
/// documentation).
fn object(
    out: &mut Out,
    field: &Positioned<Field>,
    type_name: &str,
    mut value: impl FnMut(&mut Out, &Positioned<Field>) -> bool,
) -> bool {
    let items = &field.node.selection_set.node.items;
    out.raw("{");
    for (i, item) in items.iter().enumerate() {
        let Selection::Field(f) = &item.node else {
            return false;
        };
        if !f.node.directives.is_empty() {
            return false;
        }
        if asked_before(items, i) {
            // Merging selections is the general path's work.
            return false;
        }
        let key = &f.node.response_key().node;
        if i > 0 {
            out.raw(",");
        }
        // A name: letters, digits and `_`, nothing to escape.
        out.raw("\"").raw(key).raw("\":");
        let written = match name(f) {
            "__typename" => {
                out.str(type_name);
                true
            }
            _ => value(out, f),
        };
        if !written {
            return false;
        }
    }
    out.raw("}");
    true
}

/// Every item written in one pass as a JSON array, or `false`.
fn list<T>(out: &mut Out, items: &[T], mut item: impl FnMut(&mut Out, &T) -> bool) -> bool {
    out.raw("[");
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.raw(",");
        }
        if !item(out, x) {
            return false;
        }
    }
    out.raw("]");
    true
}

fn name(field: &Positioned<Field>) -> &str {
    field.node.name.node.as_str()
}

/// `OutputType` for a type written by `plain` when it can be, and
/// answered by the derived resolver of its fields (`.0`) otherwise.
macro_rules! plain_or_derived {
    ($ty:ty, $fields:ty) => {
        impl OutputType for $ty {
            fn type_name() -> Cow<'static, str> {
                <$fields>::type_name()
            }

            fn create_type_info(registry: &mut Registry) -> String {
                <$fields>::create_type_info(registry)
            }

            async fn resolve(
                &self,
                ctx: &ContextSelectionSet<'_>,
                field: &Positioned<Field>,
            ) -> ServerResult<Value> {
                // The schema registers no extension (an extension would
                // expect to see every field resolved).
                let mut out = Out::with_capacity(1024);
                if self.plain(&mut out, field)
                    && let Some(value) = written(ctx, out)
                {
                    return Ok(value);
                }
                // Boxed: the general path's future is large, and every
                // item of a list would carry it otherwise.
                Box::pin(resolve_container(ctx, &self.0)).await
            }
        }
    };
}

/// A value written as JSON, as the response takes it: as it is when it
/// answers a top-level field the transport let through (see
/// [`RawAnswers`]), parsed back into a value otherwise (a nested page, a
/// mutation's payload read by a subscription, a selection merged with
/// another).
fn written(ctx: &ContextSelectionSet<'_>, out: Out) -> Option<Value> {
    let top = ctx.path_node.as_ref().is_some_and(|p| p.parent.is_none());
    if top && ctx.data_opt::<RawAnswers>().is_some() {
        return Some(response::raw(out.into_string()));
    }
    serde_json::from_slice(out.as_bytes())
        .inspect_err(|e| tracing::error!(error = %e, "a plain GraphQL answer did not parse"))
        .ok()
}

plain_or_derived!(UserNode, UserFields);
plain_or_derived!(UserEdge, UserEdgeFields);
plain_or_derived!(SearchEdge, SearchEdgeFields);
plain_or_derived!(UserConnection, UserConnectionFields);
plain_or_derived!(UserSearchConnection, UserSearchConnectionFields);

/// A page of users.
pub struct UserConnection(UserConnectionFields);

impl UserConnection {
    /// Users paired with their cursors.
    pub fn new(edges: Vec<UserEdge>, has_next_page: bool, has_previous_page: bool) -> Self {
        let cursors: Vec<&str> = edges.iter().map(|e| e.cursor()).collect();
        let page_info = PageInfo::of(&cursors, has_next_page, has_previous_page);
        Self(UserConnectionFields { edges, page_info })
    }

    /// Users in id order, each one's cursor its id.
    pub fn by_id(users: Vec<User>, has_next_page: bool) -> Self {
        let edges = users
            .into_iter()
            .map(|u| UserEdge::new(u.id.to_string(), u))
            .collect();
        Self::new(edges, has_next_page, false)
    }

    fn plain(&self, out: &mut Out, field: &Positioned<Field>) -> bool {
        object(out, field, "UserConnection", |out, f| match name(f) {
            "edges" => list(out, &self.0.edges, |out, e| e.plain(out, f)),
            "pageInfo" => self.0.page_info.plain(out, f),
            _ => false,
        })
    }
}

/// A page of search hits, best first.
pub struct UserSearchConnection(pub UserSearchConnectionFields);

impl UserSearchConnection {
    fn plain(&self, out: &mut Out, field: &Positioned<Field>) -> bool {
        let c = &self.0;
        object(out, field, "UserSearchConnection", |out, f| {
            match name(f) {
                "edges" => return list(out, &c.edges, |out, e| e.plain(out, f)),
                "pageInfo" => return c.page_info.plain(out, f),
                "total" => out.u64(c.total),
                "tookMs" => out.f64(c.took_ms),
                "facets" => {
                    return list(out, &c.facets, |out, facet| {
                        object(out, f, "FacetCounts", |out, f| {
                            match name(f) {
                                "name" => out.str(&facet.name),
                                "values" => {
                                    return list(out, &facet.values, |out, v| v.plain(out, f));
                                }
                                _ => return false,
                            }
                            true
                        })
                    });
                }
                _ => return false,
            }
            true
        })
    }
}

impl FacetValue {
    fn plain(&self, out: &mut Out, field: &Positioned<Field>) -> bool {
        object(out, field, "FacetValue", |out, f| {
            match name(f) {
                "value" => out.str(&self.value),
                "count" => out.u64(self.count),
                _ => return false,
            }
            true
        })
    }
}

impl PageInfo {
    fn plain(&self, out: &mut Out, field: &Positioned<Field>) -> bool {
        object(out, field, "PageInfo", |out, f| {
            match name(f) {
                "hasNextPage" => out.bool(self.has_next_page),
                "hasPreviousPage" => out.bool(self.has_previous_page),
                "startCursor" => out.opt_str(self.start_cursor.as_deref()),
                "endCursor" => out.opt_str(self.end_cursor.as_deref()),
                _ => return false,
            }
            true
        })
    }
}

/// A user in a page, with the cursor to resume after it.
pub struct UserEdge(UserEdgeFields);

#[derive(SimpleObject)]
#[graphql(name = "UserEdge")]
struct UserEdgeFields {
    cursor: String,
    node: UserNode,
}

impl UserEdge {
    pub fn new(cursor: String, user: User) -> Self {
        Self(UserEdgeFields {
            cursor,
            node: UserNode::of(user),
        })
    }

    pub fn cursor(&self) -> &str {
        &self.0.cursor
    }

    fn plain(&self, out: &mut Out, field: &Positioned<Field>) -> bool {
        object(out, field, "UserEdge", |out, f| match name(f) {
            "cursor" => {
                out.str(&self.0.cursor);
                true
            }
            "node" => self.0.node.plain(out, f),
            _ => false,
        })
    }
}

/// A search hit: a user, its score and what matched.
pub struct SearchEdge(SearchEdgeFields);

#[derive(SimpleObject)]
#[graphql(name = "SearchEdge")]
struct SearchEdgeFields {
    cursor: String,
    node: UserNode,
    score: f32,
    highlights: Vec<Highlight>,
}

impl SearchEdge {
    pub fn new(cursor: String, user: User, score: f32, highlights: Vec<Highlight>) -> Self {
        Self(SearchEdgeFields {
            cursor,
            node: UserNode::of(user),
            score,
            highlights,
        })
    }

    pub fn cursor(&self) -> &str {
        &self.0.cursor
    }

    fn plain(&self, out: &mut Out, field: &Positioned<Field>) -> bool {
        let e = &self.0;
        object(out, field, "SearchEdge", |out, f| {
            match name(f) {
                "cursor" => out.str(&e.cursor),
                "node" => return e.node.plain(out, f),
                // As the derived resolver: the `f32` widened to `f64`.
                "score" => out.f64(f64::from(e.score)),
                "highlights" => {
                    return list(out, &e.highlights, |out, h| {
                        object(out, f, "Highlight", |out, f| {
                            match name(f) {
                                "field" => out.str(&h.field),
                                "text" => out.str(&h.text),
                                _ => return false,
                            }
                            true
                        })
                    });
                }
                _ => return false,
            }
            true
        })
    }
}

/// The fields as the general resolver sees them.
struct UserFields(User);

/// A user; never carries secrets.
#[Object(name = "User")]
impl UserFields {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn email(&self) -> &str {
        self.0.email.as_str()
    }

    async fn username(&self) -> Option<&str> {
        self.0.username.as_ref().map(|u| u.as_str())
    }

    async fn name(&self) -> Option<&str> {
        self.0.name.as_ref().map(|n| n.as_str())
    }

    /// Its own roles (groups may grant more).
    async fn roles(&self) -> Vec<Role> {
        self.0.roles.iter().map(|r| Role::from(*r)).collect()
    }

    async fn status(&self) -> UserStatus {
        self.0.status.into()
    }

    async fn email_verified(&self) -> bool {
        self.0.email_verified
    }

    /// A second factor (TOTP or a passkey) is enrolled.
    async fn mfa_enabled(&self) -> bool {
        self.0.mfa_enabled
    }

    /// Free-form JSON object.
    async fn attributes(&self) -> Json<&Map<String, serde_json::Value>> {
        Json(self.0.attributes.as_map())
    }

    async fn created_at(&self) -> OffsetDateTime {
        self.0.created_at
    }

    async fn updated_at(&self) -> OffsetDateTime {
        self.0.updated_at
    }

    /// Increases with every change; pass it as `expectedVersion`.
    async fn version(&self) -> u64 {
        self.0.version
    }

    /// The groups it belongs to (batched: a page of users costs one read).
    async fn groups(&self, ctx: &Context<'_>) -> Result<Vec<GroupNode>> {
        let loader = ctx.data_unchecked::<Arc<DataLoader<GroupsOfUsers>>>();
        let groups = loader.load_one(self.0.id).await?.unwrap_or_default();
        Ok(groups.into_iter().map(GroupNode).collect())
    }
}
