//! `GET /api/v1/audit`: the audit log, newest first, paginated by id.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::policy::Caller;
use crate::domain::AuditEntry;

use super::extract::QueryPairs;
use super::openapi as doc;
use super::problem::{Kind, Problem};
use super::state::AppState;

/// One security or administrative event.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AuditEntry)]
pub struct AuditDto<'a> {
    #[schema(value_type = uuid::Uuid)]
    id: String,
    #[schema(value_type = time::OffsetDateTime)]
    at: String,
    /// Such as `login`, `user.create`, `api_key.revoke`.
    #[schema(value_type = String)]
    action: &'a str,
    /// Who did it: `user:<id>`, `key:<id>`, `system`, or the login name tried.
    #[schema(value_type = Option<String>, required = true)]
    actor: Option<&'a str>,
    #[schema(value_type = Option<String>, required = true)]
    target: Option<&'a str>,
    #[schema(value_type = Option<String>, required = true)]
    ip: Option<&'a str>,
    #[schema(value_type = String)]
    outcome: &'static str,
    #[schema(value_type = Option<String>, required = true)]
    detail: Option<&'a str>,
}

/// One page of the audit log, newest first; `next_cursor` is null on the last page.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditPage<'a> {
    items: Vec<AuditDto<'a>>,
    #[schema(value_type = Option<uuid::Uuid>, required = true)]
    next_cursor: Option<String>,
}

impl<'a> From<&'a AuditEntry> for AuditDto<'a> {
    fn from(e: &'a AuditEntry) -> Self {
        Self {
            id: e.id.to_string(),
            at: e.at.rfc3339(),
            action: &e.action,
            actor: e.actor.as_deref(),
            target: e.target.as_deref(),
            ip: e.ip.as_deref(),
            outcome: e.outcome.as_str(),
            detail: e.detail.as_deref(),
        }
    }
}

/// The audit log, newest first.
#[utoipa::path(
    get, path = "/api/v1/audit", operation_id = "listAudit", tag = "audit",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "Page size (default 50)."),
        ("cursor" = Option<uuid::Uuid>, Query, description = "`next_cursor` of the previous page."),
        ("actor" = Option<String>, Query, description = "Only entries by this actor, such as `user:<id>`."),
        ("action" = Option<String>, Query, description = "Only entries of this action, such as `login`."),
    ),
    responses((status = 200, description = "One page of entries.", body = AuditPage), (status = 400, response = doc::BadRequest), doc::Authorized),
)]
pub async fn audit(
    State(st): State<AppState>,
    caller: Caller,
    query: QueryPairs,
) -> Result<Response, Problem> {
    query.only(&["limit", "cursor", "actor", "action"])?;
    let limit = query.number("limit", 50, 1..=500)?;
    let cursor = query
        .one("cursor")?
        .map(|c| {
            Uuid::try_parse(c)
                .map_err(|_| Problem::new(Kind::BadRequest, "cursor is not one this server issued"))
        })
        .transpose()?;
    let (items, next) = st
        .auth()
        .audit(
            &caller,
            limit,
            cursor,
            query.one("actor")?.map(str::to_owned),
            query.one("action")?.map(str::to_owned),
        )
        .await?;
    let items: Vec<AuditDto> = items.iter().map(AuditDto::from).collect();
    Ok(Json(AuditPage {
        items,
        next_cursor: next.map(|u| u.to_string()),
    })
    .into_response())
}
