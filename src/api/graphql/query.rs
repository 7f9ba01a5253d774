//! The `Query` root: each field is one call of a service use case.

use async_graphql::{Context, ID, Object, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::auth::policy::Principal;
use crate::domain::SearchQuery;
use crate::error::Error;
use crate::service::{GROUP_LIMIT_MAX, LIST_LIMIT_MAX, ListParams, Users};

use super::bad;
use super::inputs::{Facet, SearchFilter, SearchOrder, UserFilter, UserSort, timestamp};
use super::types::{
    AuditConnection, FacetCounts, FacetValue, GroupConnection, GroupNode, Highlight, PAGE_DEFAULT,
    PageInfo, UserSearchConnectionFields, context, group_id, id_cursor, user_id,
};
use super::user::{SearchEdge, UserConnection, UserEdge, UserNode, UserSearchConnection};

pub struct Query;

/// `NotFound` as `None`: a missing node is `null`, not an error.
fn found<T>(r: Result<T, Error>) -> Result<Option<T>> {
    match r {
        Ok(t) => Ok(Some(t)),
        Err(Error::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[Object]
impl Query {
    /// The signed-in user; `null` for an API key.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<UserNode>> {
        let (st, caller) = context(ctx);
        let Principal::User { id, .. } = &caller.principal else {
            return Ok(None);
        };
        Ok(found(st.users().get(caller, *id))?.map(UserNode::of))
    }

    /// A user by id; `null` if there is none.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<UserNode>> {
        let (st, caller) = context(ctx);
        let Ok(id) = user_id(&id) else {
            return Ok(None);
        };
        Ok(found(st.users().get(caller, id))?.map(UserNode::of))
    }

    /// Users in a stable order, a page at a time (admins).
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT) as usize * child_complexity")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(minimum = 1, maximum = 500))] first: Option<i32>,
        after: Option<String>,
        filter: Option<UserFilter>,
        sort: Option<UserSort>,
    ) -> Result<UserConnection> {
        let (st, caller) = context(ctx);
        let filter = filter.unwrap_or_default();
        let sort = sort.unwrap_or_default().into();
        let limit = first.unwrap_or(PAGE_DEFAULT) as usize;
        debug_assert!(limit <= LIST_LIMIT_MAX);
        let has_previous_page = after.is_some();
        let params = ListParams {
            limit: Some(limit),
            cursor: after,
            sort,
            roles: filter
                .roles
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            status: filter.status.map(Into::into),
            created_after: timestamp(filter.created_after),
            created_before: timestamp(filter.created_before),
        };
        let page = st.users().list(caller, params).await?;
        let edges = page
            .items
            .into_iter()
            .map(|u| UserEdge::new(Users::cursor_after(sort, &u), u))
            .collect();
        Ok(UserConnection::new(
            edges,
            page.next_cursor.is_some(),
            has_previous_page,
        ))
    }

    /// Users found the way people search: typo-tolerant, the last word as
    /// a prefix, filtered and faceted; best first. `consistent: true` waits
    /// until the index has every change made so far.
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn search_users(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(max_length = 512))] q: Option<String>,
        filter: Option<SearchFilter>,
        facets: Option<Vec<Facet>>,
        sort: Option<SearchOrder>,
        #[graphql(validator(minimum = 1, maximum = 200))] first: Option<i32>,
        after: Option<String>,
        #[graphql(desc = "Wait until the index has every change made so far.")] consistent: Option<
            bool,
        >,
    ) -> Result<UserSearchConnection> {
        let (st, caller) = context(ctx);
        let filter = filter.unwrap_or_default();
        let offset = after.as_deref().map(offset_of).transpose()?.unwrap_or(0);
        if offset > SearchQuery::OFFSET_MAX {
            return Err(bad(format!(
                "searchUsers pages end after {} hits",
                SearchQuery::OFFSET_MAX
            )));
        }
        let mut query = SearchQuery {
            text: q.unwrap_or_default(),
            status: filter.status.map(Into::into),
            roles: filter
                .roles
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            created_after: timestamp(filter.created_after),
            created_before: timestamp(filter.created_before),
            email_verified: filter.email_verified,
            mfa_enabled: filter.mfa_enabled,
            groups: filter.groups.unwrap_or_default(),
            sort: sort.unwrap_or_default().into(),
            limit: first.unwrap_or(PAGE_DEFAULT) as usize,
            offset,
            consistent: consistent.unwrap_or(false),
            ..Default::default()
        };
        for f in facets.unwrap_or_default() {
            match f {
                Facet::Status => query.facet_status = true,
                Facet::Roles => query.facet_roles = true,
                Facet::MfaEnabled => query.facet_mfa = true,
                Facet::Groups => query.facet_groups = true,
            }
        }
        let results = st.search().search(caller, query).await?;
        let edges: Vec<SearchEdge> = results
            .hits
            .into_iter()
            .enumerate()
            .map(|(i, h)| {
                let highlights = h
                    .highlights
                    .into_iter()
                    .map(|(field, text)| Highlight {
                        field: field.into_owned(),
                        text,
                    })
                    .collect();
                SearchEdge::new(offset_cursor(offset + i + 1), h.user, h.score, highlights)
            })
            .collect();
        let cursors: Vec<&str> = edges.iter().map(|e| e.cursor()).collect();
        let page_info = PageInfo {
            has_next_page: offset + edges.len() < results.total,
            has_previous_page: offset > 0,
            start_cursor: cursors.first().map(|c| (*c).to_owned()),
            end_cursor: cursors.last().map(|c| (*c).to_owned()),
        };
        let facets = results
            .facets
            .into_iter()
            .map(|(name, counts)| FacetCounts {
                name: name.to_owned(),
                values: counts
                    .into_iter()
                    .map(|(value, count)| FacetValue {
                        value: value.into_owned(),
                        count: count as u64,
                    })
                    .collect(),
            })
            .collect();
        Ok(UserSearchConnection(UserSearchConnectionFields {
            edges,
            page_info,
            total: results.total as u64,
            facets,
            took_ms: (results.took_ms * 1000.0).round() / 1000.0,
        }))
    }

    /// A group by id; `null` if there is none.
    async fn group(&self, ctx: &Context<'_>, id: ID) -> Result<Option<GroupNode>> {
        let (st, caller) = context(ctx);
        let Ok(id) = group_id(&id) else {
            return Ok(None);
        };
        Ok(found(st.groups().get(caller, id))?.map(GroupNode))
    }

    /// Groups in creation order.
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT) as usize * child_complexity")]
    async fn groups(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(minimum = 1, maximum = 500))] first: Option<i32>,
        after: Option<String>,
    ) -> Result<GroupConnection> {
        let (st, caller) = context(ctx);
        let limit = first.unwrap_or(PAGE_DEFAULT) as usize;
        debug_assert!(limit <= GROUP_LIMIT_MAX);
        let has_previous_page = after.is_some();
        let after = after.as_deref().map(id_cursor).transpose()?;
        let page = st.groups().list(caller, after, limit)?;
        Ok(GroupConnection::new(
            page.items,
            page.next_after.is_some(),
            has_previous_page,
        ))
    }

    /// The audit log, newest first (admins); only entries by `actor` (such
    /// as `user:<id>`) or of `action` (such as `login`) when given.
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT) as usize * child_complexity")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(minimum = 1, maximum = 500))] first: Option<i32>,
        after: Option<String>,
        actor: Option<String>,
        action: Option<String>,
    ) -> Result<AuditConnection> {
        let (st, caller) = context(ctx);
        let has_previous_page = after.is_some();
        let cursor = after
            .as_deref()
            .map(|c| {
                uuid::Uuid::try_parse(c)
                    .map_err(|_| bad("after is not a cursor this server issued"))
            })
            .transpose()?;
        let limit = first.unwrap_or(PAGE_DEFAULT) as usize;
        let (items, next) = st
            .auth()
            .audit(caller, limit, cursor, actor, action)
            .await?;
        Ok(AuditConnection::new(
            items,
            next.is_some(),
            has_previous_page,
        ))
    }
}

/// A search cursor: the number of hits before the next page.
fn offset_cursor(n: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("hits:{n}"))
}

fn offset_of(cursor: &str) -> Result<usize> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("hits:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| bad("after is not a cursor this server issued"))
}
