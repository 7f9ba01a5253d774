//! The `User` type, its edges and its connections, resolved without a
//! future per field when they can be.
//!
//! A page of twenty users selects a dozen fields each: resolved the
//! general way, that is some three hundred boxed futures, a
//! `FuturesUnordered` per object and a context per field, for values that
//! are already in memory. So a user (and an edge or a page holding users)
//! answers its selection in one pass when the selection is plain — fields
//! only (no fragments, no directives, no field twice), none of them
//! `groups`, the one field that waits on a data loader — and through the
//! derived resolver otherwise. Both give the same value:
//! `a_user_answers_alike_with_or_without_fragments` in
//! `tests/api/graphql.rs` holds them to it.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use async_graphql::dataloader::DataLoader;
use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::{enum_value, resolve_container};
use async_graphql::{
    Context, ContextSelectionSet, ID, Json, Name, Object, OutputType, Positioned, Result,
    ScalarType, ServerResult, SimpleObject, Value,
};
use serde_json::Map;
use time::OffsetDateTime;

use crate::domain::{self, User};

use super::loaders::GroupsOfUsers;
use super::types::{
    GroupNode, Highlight, PageInfo, Role, UserConnectionFields, UserSearchConnectionFields,
    UserStatus,
};

/// A user as GraphQL shows it.
pub struct UserNode(UserFields);

impl UserNode {
    pub fn of(user: User) -> Self {
        Self(UserFields(user))
    }

    /// The selection answered in one pass, if it is plain.
    fn plain(&self, field: &Positioned<Field>) -> Option<Value> {
        plain(field, "User", |f| self.plain_value(name(f)))
    }

    /// A field's value when it needs no context; `None` for `groups` (and
    /// for a name the type does not have, which validation has refused).
    fn plain_value(&self, field: &str) -> Option<Value> {
        let u = &self.0.0;
        let text = |s: Option<&str>| s.map_or(Value::Null, |s| Value::String(s.to_owned()));
        Some(match field {
            "id" => Value::String(u.id.to_string()),
            "email" => Value::String(u.email.as_str().to_owned()),
            "username" => text(u.username.as_ref().map(|n| n.as_str())),
            "name" => text(u.name.as_ref().map(|n| n.as_str())),
            "roles" => Value::List(u.roles.iter().map(|r| role(*r)).collect()),
            "status" => status(u.status),
            "emailVerified" => Value::Boolean(u.email_verified),
            "mfaEnabled" => Value::Boolean(u.mfa_enabled),
            "attributes" => async_graphql::to_value(u.attributes.as_map()).unwrap_or_default(),
            "createdAt" => u.created_at.to_value(),
            "updatedAt" => u.updated_at.to_value(),
            "version" => Value::Number(u.version.into()),
            _ => return None,
        })
    }
}

/// The enum values, made once (each is a shared name).
fn role(r: domain::Role) -> Value {
    static VALUES: LazyLock<[Value; 2]> =
        LazyLock::new(|| [enum_value(Role::Admin), enum_value(Role::User)]);
    VALUES[match Role::from(r) {
        Role::Admin => 0,
        Role::User => 1,
    }]
    .clone()
}

fn status(s: domain::Status) -> Value {
    static VALUES: LazyLock<[Value; 2]> = LazyLock::new(|| {
        [
            enum_value(UserStatus::Active),
            enum_value(UserStatus::Disabled),
        ]
    });
    VALUES[match UserStatus::from(s) {
        UserStatus::Active => 0,
        UserStatus::Disabled => 1,
    }]
    .clone()
}

/// The whole selection answered in one pass, or `None` when it is not
/// plain (see the module's documentation).
fn plain(
    field: &Positioned<Field>,
    type_name: &str,
    value: impl Fn(&Positioned<Field>) -> Option<Value>,
) -> Option<Value> {
    let items = &field.node.selection_set.node.items;
    let mut object = IndexMap::with_capacity(items.len());
    for item in items {
        let Selection::Field(f) = &item.node else {
            return None;
        };
        if !f.node.directives.is_empty() {
            return None;
        }
        let v = match name(f) {
            "__typename" => Value::String(type_name.to_owned()),
            _ => value(f)?,
        };
        let key: &Name = &f.node.response_key().node;
        if object.insert(key.clone(), v).is_some() {
            // Asked twice: merging selections is the general path's work.
            return None;
        }
    }
    Some(Value::Object(object))
}

fn name(field: &Positioned<Field>) -> &str {
    field.node.name.node.as_str()
}

/// `OutputType` for a type answered by `plain` when it can be, and by the
/// derived resolver of its fields (`.0`) otherwise.
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
                match self.plain(field) {
                    Some(value) => Ok(value),
                    // Boxed: the general path's future is large, and
                    // every item of a list would carry it otherwise.
                    None => Box::pin(resolve_container(ctx, &self.0)).await,
                }
            }
        }
    };
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

    fn plain(&self, field: &Positioned<Field>) -> Option<Value> {
        plain(field, "UserConnection", |f| match name(f) {
            "edges" => list(&self.0.edges, |e| e.plain(f)),
            "pageInfo" => self.0.page_info.plain(f),
            _ => None,
        })
    }
}

/// A page of search hits, best first.
pub struct UserSearchConnection(pub UserSearchConnectionFields);

impl UserSearchConnection {
    fn plain(&self, field: &Positioned<Field>) -> Option<Value> {
        let c = &self.0;
        plain(field, "UserSearchConnection", |f| match name(f) {
            "edges" => list(&c.edges, |e| e.plain(f)),
            "pageInfo" => c.page_info.plain(f),
            "total" => Some(Value::Number(c.total.into())),
            "tookMs" => Some(c.took_ms.to_value()),
            "facets" => list(&c.facets, |facet| {
                plain(f, "FacetCounts", |f| match name(f) {
                    "name" => Some(Value::String(facet.name.clone())),
                    "values" => list(&facet.values, |v| {
                        plain(f, "FacetValue", |f| match name(f) {
                            "value" => Some(Value::String(v.value.clone())),
                            "count" => Some(Value::Number(v.count.into())),
                            _ => None,
                        })
                    }),
                    _ => None,
                })
            }),
            _ => None,
        })
    }
}

impl PageInfo {
    fn plain(&self, field: &Positioned<Field>) -> Option<Value> {
        let cursor = |c: &Option<String>| c.clone().map_or(Value::Null, Value::String);
        plain(field, "PageInfo", |f| match name(f) {
            "hasNextPage" => Some(Value::Boolean(self.has_next_page)),
            "hasPreviousPage" => Some(Value::Boolean(self.has_previous_page)),
            "startCursor" => Some(cursor(&self.start_cursor)),
            "endCursor" => Some(cursor(&self.end_cursor)),
            _ => None,
        })
    }
}

/// Every item answered in one pass, or `None`.
fn list<T>(items: &[T], plain: impl Fn(&T) -> Option<Value>) -> Option<Value> {
    items
        .iter()
        .map(plain)
        .collect::<Option<Vec<_>>>()
        .map(Value::List)
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

    fn plain(&self, field: &Positioned<Field>) -> Option<Value> {
        plain(field, "UserEdge", |f| match name(f) {
            "cursor" => Some(Value::String(self.0.cursor.clone())),
            "node" => self.0.node.plain(f),
            _ => None,
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

    fn plain(&self, field: &Positioned<Field>) -> Option<Value> {
        let e = &self.0;
        plain(field, "SearchEdge", |f| match name(f) {
            "cursor" => Some(Value::String(e.cursor.clone())),
            "node" => e.node.plain(f),
            "score" => Some(e.score.to_value()),
            "highlights" => list(&e.highlights, |h| {
                plain(f, "Highlight", |f| match name(f) {
                    "field" => Some(Value::String(h.field.clone())),
                    "text" => Some(Value::String(h.text.clone())),
                    _ => None,
                })
            }),
            _ => None,
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
