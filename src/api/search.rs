//! `GET /api/v1/users/search`: parse the query string, search, render hits.

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value};

use super::state::AppState;
use crate::auth::policy::Caller;
use crate::domain::{SearchQuery, SearchSort};
use crate::service::Highlight;

use super::extract::QueryPairs;
use super::json::{Out, WriteJson};
use super::openapi as doc;
use super::problem::{Kind, Problem};
use super::users::UserDto;

const KEYS: [&str; 13] = [
    "q",
    "status",
    "role",
    "group",
    "created_after",
    "created_before",
    "email_verified",
    "mfa_enabled",
    "facets",
    "limit",
    "offset",
    "sort",
    "consistent",
];

fn bad(detail: String) -> Problem {
    Problem::new(Kind::BadRequest, detail)
}

/// One page of search results.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = SearchResults)]
pub struct Results<'a> {
    hits: Vec<Hit<'a>>,
    /// How many users match in all (not just on this page).
    total: usize,
    /// Per requested facet (`status`, `roles`, `mfa_enabled`, `groups`),
    /// the count of matches per value.
    #[schema(value_type = std::collections::HashMap<String, std::collections::HashMap<String, u64>>)]
    facets: Map<String, Value>,
    took_ms: f64,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = SearchHit)]
pub struct Hit<'a> {
    user: UserDto<'a>,
    score: f32,
    /// Per field, its text with the matched words marked.
    #[schema(value_type = std::collections::HashMap<String, String>)]
    highlights: Highlights<'a>,
}

/// A hit's highlights as a JSON object, serialised from the service's
/// pairs (already in field-name order) without copying them into a map.
pub struct Highlights<'a>(&'a [Highlight]);

impl Serialize for Highlights<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k.as_ref(), v)))
    }
}

impl WriteJson for Results<'_> {
    fn write_json(&self, out: &mut Out) {
        out.raw("{\"hits\":");
        out.array(&self.hits);
        out.raw(",\"total\":");
        out.u64(self.total as u64);
        out.raw(",\"facets\":");
        out.serde(&self.facets);
        out.raw(",\"took_ms\":");
        out.serde(&self.took_ms);
        out.raw("}");
    }
}

impl WriteJson for Hit<'_> {
    fn write_json(&self, out: &mut Out) {
        out.raw("{\"user\":");
        self.user.write_json(out);
        out.raw(",\"score\":");
        out.serde(&self.score);
        out.raw(",\"highlights\":{");
        for (i, (field, text)) in self.highlights.0.iter().enumerate() {
            if i > 0 {
                out.raw(",");
            }
            out.str(field);
            out.raw(":");
            out.str(text);
        }
        out.raw("}}");
    }
}

/// Search users: typo-tolerant, as-you-type, filtered, faceted.
#[utoipa::path(
    get, path = "/api/v1/users/search", operation_id = "searchUsers", tag = "search",
    params(
        ("q" = Option<String>, Query, max_length = 512, description = "Words to find in email, username, name; the last one as a prefix."),
        ("status" = Option<crate::domain::Status>, Query, description = "Only users with this status."),
        ("role" = Option<Vec<crate::domain::Role>>, Query, style = Form, explode, description = "Only users with any of these roles (their own, not those groups grant); repeat the key for several."),
        ("group" = Option<Vec<String>>, Query, style = Form, explode, description = "Only members of any of these groups, each by id or name (an unknown name is a 400); repeat the key for several."),
        ("created_after" = Option<OffsetDateTime>, Query, description = "Only users created after this RFC 3339 time."),
        ("created_before" = Option<OffsetDateTime>, Query, description = "Only users created before this RFC 3339 time."),
        ("email_verified" = Option<bool>, Query, description = "Only users whose email is (or is not) verified."),
        ("mfa_enabled" = Option<bool>, Query, description = "Only users with (or without) a second factor."),
        ("facets" = Option<String>, Query, description = "Comma-separated facets to count: `status`, `roles`, `mfa_enabled`, `groups` (by group name; the 50 groups with most matches)."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Page size (default 20)."),
        ("offset" = Option<u32>, Query, minimum = 0, maximum = 10000, description = "Hits to skip (default 0)."),
        ("sort" = Option<crate::domain::SearchSort>, Query, description = "Order (default `relevance`)."),
        ("consistent" = Option<bool>, Query, description = "Wait until the index has every change made so far."),
    ),
    responses((status = 200, description = "The matching users.", body = Results), (status = 400, response = doc::BadRequest), doc::Authorized, (status = 503, response = doc::Unavailable)),
)]
pub async fn search(
    State(st): State<AppState>,
    caller: Caller,
    query: QueryPairs,
) -> Result<Response, Problem> {
    let results = st.search().search(&caller, search_query(&query)?).await?;

    let hits: Vec<Hit> = results
        .hits
        .iter()
        .map(|h| Hit {
            user: UserDto::from(&h.user),
            score: h.score,
            highlights: Highlights(&h.highlights),
        })
        .collect();
    let facets: Map<String, Value> = results
        .facets
        .iter()
        .map(|(name, counts)| {
            let counts: Map<String, Value> = counts
                .iter()
                .map(|(k, n)| (k.to_string(), Value::from(*n)))
                .collect();
            ((*name).to_owned(), Value::Object(counts))
        })
        .collect();
    // About 500 bytes per hit, twice that with highlights.
    let size = 256 + hits.len() * 1024;
    Ok(super::json::response(
        &Results {
            hits,
            total: results.total,
            facets,
            took_ms: (results.took_ms * 1000.0).round() / 1000.0,
        },
        size,
    ))
}

/// The query string as a [`SearchQuery`]: every key known, every value in
/// range, or a 400 naming the first that is not.
fn search_query(query: &QueryPairs) -> Result<SearchQuery, Problem> {
    query.only(&KEYS)?;
    let text = query.one("q")?.unwrap_or("");
    if text.chars().count() > SearchQuery::TEXT_MAX {
        return Err(bad(format!(
            "q must be at most {} characters",
            SearchQuery::TEXT_MAX
        )));
    }
    let mut search = SearchQuery {
        text: text.to_owned(),
        status: query.status()?,
        roles: query.roles()?,
        created_after: query.time("created_after")?,
        created_before: query.time("created_before")?,
        email_verified: query.boolean("email_verified")?,
        mfa_enabled: query.boolean("mfa_enabled")?,
        groups: query.all("group").map(str::to_owned).collect(),
        sort: match query.one("sort")? {
            None | Some("relevance") => SearchSort::Relevance,
            Some("created_at") => SearchSort::CreatedAsc,
            Some("-created_at") => SearchSort::CreatedDesc,
            Some("name") => SearchSort::Name,
            Some(v) => {
                return Err(bad(format!(
                    "sort must be relevance, created_at, -created_at or name; not {v:?}"
                )));
            }
        },
        limit: query.number(
            "limit",
            SearchQuery::LIMIT_DEFAULT,
            1..=SearchQuery::LIMIT_MAX,
        )?,
        offset: query.number("offset", 0, 0..=SearchQuery::OFFSET_MAX)?,
        consistent: query.boolean("consistent")?.unwrap_or(false),
        ..Default::default()
    };
    for facet in query
        .one("facets")?
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
    {
        match facet {
            "status" => search.facet_status = true,
            "roles" => search.facet_roles = true,
            "mfa_enabled" => search.facet_mfa = true,
            "groups" => search.facet_groups = true,
            other => {
                return Err(bad(format!(
                    "facets may be status, roles, mfa_enabled and groups, not {other:?}"
                )));
            }
        }
    }
    Ok(search)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    #[test]
    fn results_are_written_as_serde_json_writes_them() {
        let users = super::super::users::tests::odd_users();
        let highlights: Vec<Vec<Highlight>> = vec![
            vec![],
            vec![
                (Cow::Borrowed("email"), "<mark>zo&quot;</mark>\"".to_owned()),
                (Cow::Owned("attributes.te\"am".to_owned()), "é\n".to_owned()),
            ],
            vec![(
                Cow::Borrowed("name"),
                "<mark>Grace</mark> Hopper".to_owned(),
            )],
        ];
        let mut facets = Map::new();
        facets.insert(
            "status".into(),
            serde_json::json!({"active": 2, "disabled": 1}),
        );
        for (total, took_ms) in [(0, 0.0), (3, 1.234), (1 << 40, 1e-7)] {
            let results = Results {
                hits: users
                    .iter()
                    .zip(&highlights)
                    .zip([160.2358f32, 0.0, f32::NAN])
                    .map(|((u, h), score)| Hit {
                        user: UserDto::from(u),
                        score,
                        highlights: Highlights(h),
                    })
                    .collect(),
                total,
                facets: facets.clone(),
                took_ms,
            };
            let (ours, serde) = super::super::json::tests::both(&results);
            assert_eq!(ours, serde);
        }
    }
}
