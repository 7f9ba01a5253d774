//! `/api/v1/graphql`: the users, groups, search and audit log in one query,
//! and the change stream as subscriptions. A second façade over the same
//! use cases as REST: every resolver calls `Users`, `Groups`, `Search`,
//! `Auth` or `Events` with the request's [`Caller`], so the policy, audit,
//! change log, search and webhooks follow as they do for REST.
//!
//! | module         | what it owns |
//! |----------------|--------------|
//! | `types`        | the output types: groups, connections, events |
//! | `user`         | the `User` type, resolved in one pass when it can be |
//! | `inputs`       | input types and their conversion into the REST bodies' commands |
//! | `query`        | the `Query` root |
//! | `mutation`     | the `Mutation` root |
//! | `subscription` | the `Subscription` root, fed by the change log |
//! | `loaders`      | data loaders: a page's groups in one read |
//! | `http`         | the transport: POST/GET, WebSocket, GraphiQL, limits |
//! | `documents`    | operations seen before, parsed and validated, by their text |
//! | `response`     | the response written as JSON with the REST answers' writer |
//!
//! Errors carry the REST problem's `type`, `status` and `title` in their
//! `extensions` (and `errors` for validation), so one client-side mapping
//! serves both APIs.

mod documents;
mod http;
mod inputs;
mod loaders;
mod mutation;
mod query;
mod response;
mod subscription;
mod types;
mod user;

use std::time::Duration;

use async_graphql::{ErrorExtensions, Schema, SchemaBuilder};

use crate::config::GraphqlConfig;
use crate::error::Error;

use super::problem::Problem;

pub use http::router;

/// The schema: queries, mutations, subscriptions.
pub type RosterSchema = Schema<query::Query, mutation::Mutation, subscription::Subscription>;

/// Deepest selection a query may nest.
pub const DEPTH_MAX: usize = 10;
/// Most a query may cost: one per field, times `first` under a connection.
pub const COMPLEXITY_MAX: usize = 5_000;
/// Most operations one batched request may carry.
pub const BATCH_MAX: usize = 10;
/// The timeout when the configuration sets none (tests do).
pub const TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);

/// The schema with its limits, without the server's data (the SDL needs
/// none).
fn builder(
    config: &GraphqlConfig,
) -> SchemaBuilder<query::Query, mutation::Mutation, subscription::Subscription> {
    let builder = Schema::build(query::Query, mutation::Mutation, subscription::Subscription)
        .limit_depth(DEPTH_MAX)
        .limit_complexity(COMPLEXITY_MAX)
        .limit_directives(20);
    match config.introspection {
        true => builder,
        false => builder.disable_introspection(),
    }
}

/// The schema that answers introspection alone: without the depth limit,
/// which the standard introspection query (`ofType` within `ofType` …)
/// exceeds; its cost is still bounded by the complexity limit.
fn introspection() -> SchemaBuilder<query::Query, mutation::Mutation, subscription::Subscription> {
    Schema::build(query::Query, mutation::Mutation, subscription::Subscription)
        .introspection_only()
        .limit_complexity(COMPLEXITY_MAX)
}

/// The schema in SDL (`roster graphql-schema`; `docs/schema.graphql`).
pub fn sdl() -> String {
    let config = GraphqlConfig {
        playground: false,
        introspection: true,
        timeout: TIMEOUT_DEFAULT,
    };
    builder(&config).finish().sdl()
}

impl From<Error> for async_graphql::Error {
    fn from(e: Error) -> Self {
        problem_error(Problem::from(e))
    }
}

/// A GraphQL error from a problem: its detail as the message, its `type`,
/// `status`, `title` and field `errors` as extensions.
pub(super) fn problem_error(p: Problem) -> async_graphql::Error {
    let (type_uri, status, title) = (p.type_uri(), p.status().as_u16(), p.title());
    let errors = (!p.errors.is_empty()).then(|| {
        async_graphql::Value::from_json(serde_json::to_value(&p.errors).unwrap_or_default())
            .unwrap_or_default()
    });
    async_graphql::Error::new(p.detail).extend_with(|_, ext| {
        ext.set("type", type_uri);
        ext.set("status", status);
        ext.set("title", title);
        if let Some(errors) = errors {
            ext.set("errors", errors);
        }
    })
}

/// A 400-kind error about an argument.
pub(super) fn bad(detail: impl Into<String>) -> async_graphql::Error {
    problem_error(Problem::new(super::problem::Kind::BadRequest, detail))
}

#[cfg(test)]
mod tests {
    /// The SDL in `docs/` is the schema served: a change to the schema
    /// must come with the document.
    #[test]
    fn the_checked_in_sdl_is_the_schema() {
        let checked_in = include_str!("../../../docs/schema.graphql");
        assert!(
            super::sdl() == checked_in,
            "docs/schema.graphql is out of date: run `cargo run -- graphql-schema > docs/schema.graphql`"
        );
    }
}
