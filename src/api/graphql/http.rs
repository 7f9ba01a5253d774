//! The transport of `/api/v1/graphql`: queries and mutations by `POST`
//! (one operation or a batch of at most [`BATCH_MAX`]), queries by `GET`,
//! subscriptions over a WebSocket (`graphql-transport-ws`, credentials in
//! `connection_init`), and GraphiQL for browsers when it is turned on.
//!
//! Authentication, the rate limits and the body limit are the API's; on
//! top of them every request has a timeout and the schema its depth and
//! complexity limits.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::dataloader::DataLoader;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::parser::types::{DocumentOperations, OperationType, Selection};
use async_graphql::{BatchRequest, BatchResponse, Data, Request as GqlRequest, ValidationMode};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::auth::policy::Caller;
use crate::config::GraphqlConfig;

use super::super::caller::{self, client_addr, client_ip};
use super::super::problem::{Kind, Problem};
use super::super::state::AppState;
use super::super::{console, json, limits};
use super::documents::{Documents, Seen};
use super::loaders::GroupsOfUsers;
use super::response::{Answer, RawAnswers, asked_before};
use super::{BATCH_MAX, RosterSchema, builder, introspection, problem_error};

pub const PATH: &str = "/api/v1/graphql";

/// What the endpoint's handlers share.
struct Endpoint {
    schema: RosterSchema,
    playground: bool,
    /// The same schema, validating only what may change between two runs
    /// of one operation text: for operations in `documents`.
    known: RosterSchema,
    documents: Documents,
    /// Answers operations that only introspect; `None` when introspection
    /// is off.
    introspection: Option<RosterSchema>,
    timeout: Duration,
}

/// The GraphQL route: authenticated and rate-limited as the REST API is,
/// behind [`gate`] (GraphiQL and WebSocket upgrades, which bring no
/// `Authorization` header).
pub fn router(state: AppState, config: &GraphqlConfig) -> Router<AppState> {
    let endpoint = Arc::new(Endpoint {
        schema: builder(config).data(state.clone()).finish(),
        known: builder(config)
            .validation_mode(ValidationMode::Fast)
            .data(state.clone())
            .finish(),
        documents: Documents::new(),
        playground: config.playground,
        introspection: config
            .introspection
            .then(|| introspection().data(state.clone()).finish()),
        timeout: config.timeout,
    });
    let limit = middleware::from_fn_with_state(state.clone(), limits::limit);
    let auth = middleware::from_fn_with_state(state.clone(), caller::require_caller);
    let gate = middleware::from_fn_with_state((state, endpoint.clone()), gate);
    Router::new()
        .route(PATH, get(query).post(query))
        .route_layer(limit)
        .route_layer(auth)
        .route_layer(gate)
        .layer(axum::Extension(endpoint))
}

/// In front of authentication: a WebSocket upgrade is authenticated by its
/// `connection_init`, a browser asking for the page gets GraphiQL (when on).
async fn gate(
    State((st, endpoint)): State<(AppState, Arc<Endpoint>)>,
    req: Request,
    next: Next,
) -> Response {
    if req.method() == Method::GET && req.headers().contains_key(header::UPGRADE) {
        return websocket(st, endpoint, req).await;
    }
    let wants_page = req.method() == Method::GET
        && req.uri().query().is_none()
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    if wants_page && endpoint.playground {
        return console::graphiql(req.headers()).await;
    }
    next.run(req).await
}

/// `POST` (JSON: one operation or a batch) and `GET` (a query in the query
/// string; mutations are refused, as GraphQL over HTTP says).
async fn query(
    State(st): State<AppState>,
    axum::Extension(endpoint): axum::Extension<Arc<Endpoint>>,
    caller: Caller,
    method: Method,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> Result<Response, Problem> {
    let batch = if method == Method::GET {
        let request = async_graphql::http::parse_query_string(uri.query().unwrap_or(""))
            .map_err(|e| Problem::new(Kind::BadRequest, format!("query string: {e}")))?;
        BatchRequest::Single(refuse_mutation(request)?)
    } else {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                let ct = ct.split(';').next().unwrap_or("").trim();
                ct.eq_ignore_ascii_case("application/json")
                    || ct.eq_ignore_ascii_case("application/graphql-response+json")
            });
        if !json {
            return Err(Problem::new(
                Kind::UnsupportedMediaType,
                "Send the operation as application/json.",
            ));
        }
        let batch: BatchRequest = serde_json::from_slice(&body).map_err(|e| {
            Problem::new(
                Kind::MalformedJson,
                format!("The body is not a GraphQL request: {e}."),
            )
        })?;
        match &batch {
            BatchRequest::Batch(v) if v.is_empty() || v.len() > BATCH_MAX => {
                return Err(Problem::new(
                    Kind::BadRequest,
                    format!("A batch holds 1 to {BATCH_MAX} operations."),
                ));
            }
            _ => batch,
        }
    };
    let mut batch = batch;
    let seen: Vec<Seen> = batch
        .iter_mut()
        .map(|r| endpoint.documents.prepare(r))
        .collect();
    let known = seen.iter().all(|s| matches!(s, Seen::Known));
    let asks: Vec<Introspects> = batch.iter_mut().map(introspects).collect();
    for request in batch.iter_mut() {
        if nothing_merges_at_top(request) {
            request.data.insert(RawAnswers);
        }
    }
    let schema = match &endpoint.introspection {
        _ if !asks.iter().any(|a| a.any) && known => &endpoint.known,
        _ if !asks.iter().any(|a| a.any) => &endpoint.schema,
        None => {
            return Err(Problem::new(
                Kind::BadRequest,
                "Introspection is turned off on this server (--graphql-introspection).",
            ));
        }
        Some(schema) if asks.iter().all(|a| a.only) => schema,
        Some(_) => &endpoint.schema,
    };
    let batch = batch.data(loader(&st, &caller)).data(caller);
    let response = match tokio::time::timeout(endpoint.timeout, schema.execute_batch(batch)).await {
        Ok(r) => r,
        Err(_) => BatchResponse::Single(async_graphql::Response::from_errors(vec![
            problem_error(Problem::new(
                Kind::Timeout,
                format!(
                    "The operation took longer than {} ms and was stopped.",
                    endpoint.timeout.as_millis()
                ),
            ))
            .into_server_error(Default::default()),
        ])),
    };
    if std::ptr::eq(schema, &endpoint.schema) {
        remember(&endpoint.documents, seen, &response);
    }
    // About 600 bytes a user on a page of twenty.
    let mut res = json::response(&Answer(&response), 16 * 1024);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// Keeps the documents of the operations that ran without an error
/// (validated in full on the way).
fn remember(documents: &Documents, seen: Vec<Seen>, response: &BatchResponse) {
    let ok: Vec<bool> = match response {
        BatchResponse::Single(r) => vec![r.is_ok()],
        BatchResponse::Batch(rs) => rs.iter().map(|r| r.is_ok()).collect(),
    };
    for (seen, ok) in seen.into_iter().zip(ok) {
        if let (Seen::Fresh(Some((key, doc))), true) = (seen, ok) {
            documents.remember(key, doc);
        }
    }
}

/// A GET operation that is a mutation is a 405: GETs must not change
/// anything (and are not CSRF-safe).
fn refuse_mutation(mut request: GqlRequest) -> Result<GqlRequest, Problem> {
    let name = request.operation_name.clone();
    let Ok(doc) = request.parsed_query() else {
        // Syntax errors are reported by the execution, as for POST.
        return Ok(request);
    };
    let mutation = match &doc.operations {
        DocumentOperations::Single(op) => op.node.ty == OperationType::Mutation,
        DocumentOperations::Multiple(ops) => ops.iter().any(|(n, op)| {
            name.as_deref().is_none_or(|want| n.as_str() == want)
                && op.node.ty == OperationType::Mutation
        }),
    };
    if mutation {
        let mut p = Problem::new(Kind::MethodNotAllowed, "Mutations must be sent by POST.");
        p.headers
            .push((header::ALLOW, HeaderValue::from_static("GET, POST")));
        return Err(p);
    }
    Ok(request)
}

/// What an operation asks of introspection at its top level.
struct Introspects {
    /// `__schema` or `__type` (answered with `null` when introspection is
    /// off; refused with a reason instead).
    any: bool,
    /// Nothing else (`__typename` aside).
    only: bool,
}

fn introspects(request: &mut GqlRequest) -> Introspects {
    let Ok(doc) = request.parsed_query() else {
        return Introspects {
            any: false,
            only: false,
        };
    };
    let names: Vec<&str> = doc
        .operations
        .iter()
        .flat_map(|(_, op)| op.node.selection_set.node.items.iter())
        .map(|s| match &s.node {
            Selection::Field(f) => f.node.name.node.as_str(),
            _ => "",
        })
        .collect();
    let meta = |n: &&str| matches!(*n, "__schema" | "__type");
    Introspects {
        any: names.iter().any(meta),
        only: names.iter().all(|n| meta(n) || *n == "__typename"),
    }
}

/// Whether every operation of the request selects only fields at its top
/// level, each response key once (see [`RawAnswers`]).
fn nothing_merges_at_top(request: &mut GqlRequest) -> bool {
    let Ok(doc) = request.parsed_query() else {
        return false;
    };
    doc.operations.iter().all(|(_, op)| {
        let items = &op.node.selection_set.node.items;
        items
            .iter()
            .enumerate()
            .all(|(i, item)| matches!(item.node, Selection::Field(_)) && !asked_before(items, i))
    })
}

/// A request's data loaders: they read as its caller.
fn loader(st: &AppState, caller: &Caller) -> Arc<DataLoader<GroupsOfUsers>> {
    Arc::new(DataLoader::new(
        GroupsOfUsers {
            groups: st.groups().clone(),
            caller: caller.clone(),
        },
        tokio::spawn,
    ))
}

/// A subscription socket. Its `connection_init` payload carries the
/// credentials (`{"Authorization": "Bearer …"}`, or `{"token": "…"}`);
/// failures count against the address as failed authentications do.
async fn websocket(st: AppState, endpoint: Arc<Endpoint>, req: Request) -> Response {
    let addr = client_addr(req.extensions());
    let ip = client_ip(req.extensions());
    if let Err(too_many) = st.limits().before_auth(addr) {
        return too_many.into_response();
    }
    if let Err(too_many) = st.limits().take(None, addr) {
        return too_many.into_response();
    }
    let (mut parts, _) = req.into_parts();
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
        Ok(p) => p,
        Err(_) => {
            return Problem::new(
                Kind::BadRequest,
                "Offer the graphql-transport-ws subprotocol.",
            )
            .into_response();
        }
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(e) => return Problem::new(Kind::BadRequest, e.body_text()).into_response(),
    };
    let schema = endpoint.schema.clone();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let caller = authenticate(&st, &payload, ip).inspect_err(|_| {
                        // Counted like a failed bearer; the socket closes.
                        let _ = st.limits().failed_auth(addr);
                    })?;
                    let mut data = Data::default();
                    data.insert(loader(&st, &caller));
                    data.insert(caller);
                    Ok(data)
                })
                .serve()
        })
}

/// The caller a `connection_init` payload names.
fn authenticate(
    st: &AppState,
    payload: &serde_json::Value,
    ip: Option<String>,
) -> async_graphql::Result<Caller> {
    let field = |k: &str| {
        payload
            .as_object()?
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .and_then(|(_, v)| v.as_str())
    };
    let token = field("authorization")
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        })
        .or_else(|| field("token"))
        .ok_or_else(|| {
            problem_error(Problem::unauthorized(
                "Send {\"Authorization\": \"Bearer <token>\"} in connection_init.",
            ))
        })?;
    Ok(st.auth().authenticate(token, ip)?)
}
