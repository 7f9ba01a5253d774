//! [`SearchQuery`]: a search of users as the service accepts it, whichever
//! façade it came through. The API parses a query string into one; the
//! service turns it into the index's own request.

use super::{Role, Status, Timestamp};

/// The order of search hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, utoipa::ToSchema)]
pub enum SearchSort {
    #[default]
    #[schema(rename = "relevance")]
    Relevance,
    #[schema(rename = "created_at")]
    CreatedAsc,
    #[schema(rename = "-created_at")]
    CreatedDesc,
    #[schema(rename = "name")]
    Name,
}

/// The orders of a list of users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, utoipa::ToSchema)]
#[schema(as = ListSort)]
pub enum ListOrder {
    #[default]
    #[schema(rename = "created_at")]
    CreatedAsc,
    #[schema(rename = "-created_at")]
    CreatedDesc,
    #[schema(rename = "email")]
    Email,
}

impl ListOrder {
    /// The order a `sort` parameter names.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "created_at" => Some(Self::CreatedAsc),
            "-created_at" => Some(Self::CreatedDesc),
            "email" => Some(Self::Email),
            _ => None,
        }
    }
}

/// A search: words, filters, facets and a page.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchQuery {
    /// What the person typed, at most [`SearchQuery::TEXT_MAX`] characters.
    pub text: String,
    pub status: Option<Status>,
    /// Any of these roles.
    pub roles: Vec<Role>,
    /// Exclusive bounds on the creation time.
    pub created_after: Option<Timestamp>,
    pub created_before: Option<Timestamp>,
    pub email_verified: Option<bool>,
    pub mfa_enabled: Option<bool>,
    /// Members of any of these groups, by id or name as the caller gave
    /// them (the service resolves them).
    pub groups: Vec<String>,
    /// Count matches per group.
    pub facet_groups: bool,
    /// Count matches per status.
    pub facet_status: bool,
    /// Count matches per role.
    pub facet_roles: bool,
    /// Count matches with and without a second factor.
    pub facet_mfa: bool,
    pub sort: SearchSort,
    /// 1 to [`SearchQuery::LIMIT_MAX`].
    pub limit: usize,
    /// 0 to [`SearchQuery::OFFSET_MAX`].
    pub offset: usize,
    /// Wait until the index holds every change made so far.
    pub consistent: bool,
}

impl SearchQuery {
    pub const TEXT_MAX: usize = 512;
    pub const LIMIT_DEFAULT: usize = 20;
    pub const LIMIT_MAX: usize = 200;
    pub const OFFSET_MAX: usize = 10_000;
}
