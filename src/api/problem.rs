//! RFC 9457 problem details: the one error format of the API.
//!
//! [`Problem`] is rendered once, here. Service errors become problems through
//! `From<Error>`; internal causes are logged inside the request's span and
//! never sent. A stable table of kinds keeps `type` and `title` consistent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::FieldError;
use crate::error::Error;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// The kinds of problem the API reports: (slug, status, title).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    BadRequest,
    MalformedJson,
    Unauthorized,
    Forbidden,
    EmailUnverified,
    MfaEnrolmentRequired,
    InvalidToken,
    Validation,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PreconditionFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    TooManyRequests,
    Timeout,
    Unavailable,
    Internal,
    /// Any other status, rendered with its canonical reason.
    Other(StatusCode),
}

impl Kind {
    /// Its type slug, status and title: one row a kind.
    #[rustfmt::skip]
    fn describe(self) -> (&'static str, StatusCode, &'static str) {
        use StatusCode as S;
        match self {
            Kind::BadRequest => ("bad-request", S::BAD_REQUEST, "Bad request"),
            Kind::MalformedJson => ("malformed-json", S::BAD_REQUEST, "Malformed JSON body"),
            Kind::Unauthorized => ("unauthorized", S::UNAUTHORIZED, "Authentication required"),
            Kind::Forbidden => ("forbidden", S::FORBIDDEN, "Forbidden"),
            Kind::EmailUnverified => ("email-unverified", S::FORBIDDEN, "Email address not verified"),
            Kind::MfaEnrolmentRequired => ("mfa-enrollment-required", S::FORBIDDEN, "Second factor enrolment required"),
            Kind::InvalidToken => ("invalid-token", S::BAD_REQUEST, "Invalid or expired link"),
            Kind::Validation => ("validation", S::UNPROCESSABLE_ENTITY, "Validation failed"),
            Kind::NotFound => ("not-found", S::NOT_FOUND, "Not found"),
            Kind::MethodNotAllowed => ("method-not-allowed", S::METHOD_NOT_ALLOWED, "Method not allowed"),
            Kind::Conflict => ("conflict", S::CONFLICT, "Conflict"),
            Kind::PreconditionFailed => ("precondition-failed", S::PRECONDITION_FAILED, "Precondition failed"),
            Kind::PayloadTooLarge => ("payload-too-large", S::PAYLOAD_TOO_LARGE, "Request body too large"),
            Kind::UnsupportedMediaType => ("unsupported-media-type", S::UNSUPPORTED_MEDIA_TYPE, "Unsupported media type"),
            Kind::TooManyRequests => ("too-many-requests", S::TOO_MANY_REQUESTS, "Too many requests"),
            Kind::Timeout => ("timeout", S::REQUEST_TIMEOUT, "Request timeout"),
            Kind::Unavailable => ("unavailable", S::SERVICE_UNAVAILABLE, "Service unavailable"),
            Kind::Internal => ("internal", S::INTERNAL_SERVER_ERROR, "Internal server error"),
            Kind::Other(s) => ("http", s, s.canonical_reason().unwrap_or("Error")),
        }
    }

    pub fn from_status(status: StatusCode) -> Self {
        use StatusCode as S;
        match status {
            S::BAD_REQUEST => Kind::BadRequest,
            S::UNAUTHORIZED => Kind::Unauthorized,
            S::FORBIDDEN => Kind::Forbidden,
            S::NOT_FOUND => Kind::NotFound,
            S::METHOD_NOT_ALLOWED => Kind::MethodNotAllowed,
            S::PAYLOAD_TOO_LARGE => Kind::PayloadTooLarge,
            S::UNSUPPORTED_MEDIA_TYPE => Kind::UnsupportedMediaType,
            S::TOO_MANY_REQUESTS => Kind::TooManyRequests,
            S::REQUEST_TIMEOUT => Kind::Timeout,
            S::SERVICE_UNAVAILABLE => Kind::Unavailable,
            S::INTERNAL_SERVER_ERROR => Kind::Internal,
            other => Kind::Other(other),
        }
    }
}

#[derive(Debug)]
pub struct Problem {
    pub kind: Kind,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Extra response headers (`WWW-Authenticate`, `Retry-After`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

/// The body of every error answer (RFC 9457), as `application/problem+json`.
/// The OpenAPI `Problem` schema is derived from this very type.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub(super) struct Body<'a> {
    /// A URN naming the kind of problem, such as `urn:roster:problem:not-found`.
    #[serde(rename = "type")]
    #[schema(value_type = String, format = "uri")]
    type_: String,
    /// The kind's fixed, human-readable title.
    #[schema(value_type = String)]
    title: &'a str,
    /// The HTTP status, repeated.
    #[schema(minimum = 400, maximum = 599)]
    status: u16,
    /// What went wrong in this case.
    #[schema(value_type = String)]
    detail: &'a str,
    /// The invalid fields (validation and conflicts only).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    #[schema(value_type = Vec<FieldError>, required = false)]
    errors: &'a [FieldError],
}

impl Problem {
    pub fn new(kind: Kind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn unauthorized(detail: &str) -> Self {
        let mut p = Problem::new(Kind::Unauthorized, detail);
        p.headers
            .push((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        p
    }

    pub fn too_many(retry_after: u64) -> Self {
        let mut p = Problem::new(
            Kind::TooManyRequests,
            format!("Too many attempts; try again in {retry_after} s."),
        );
        p.headers
            .push((header::RETRY_AFTER, HeaderValue::from(retry_after)));
        p
    }

    pub fn status(&self) -> StatusCode {
        self.kind.describe().1
    }

    /// Its `type`: a URN naming the kind.
    pub fn type_uri(&self) -> String {
        format!("urn:roster:problem:{}", self.kind.describe().0)
    }

    pub fn title(&self) -> &'static str {
        self.kind.describe().2
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let (slug, status, title) = self.kind.describe();
        let body = Body {
            type_: format!("urn:roster:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail: &self.detail,
            errors: &self.errors,
        };
        let bytes = serde_json::to_vec(&body).expect("a problem always serialises");
        let mut res = (status, bytes).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        for (k, v) in self.headers {
            res.headers_mut().insert(k, v);
        }
        res
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        match e {
            Error::Validation(errors) => Problem::new(
                Kind::Validation,
                "The request body has invalid fields; see `errors`.",
            )
            .with_errors(errors),
            Error::Unauthorized(detail) => Problem::unauthorized(detail),
            Error::Forbidden => Problem::new(Kind::Forbidden, "You are not allowed to do this."),
            Error::MfaEnrolmentRequired => Problem::new(
                Kind::MfaEnrolmentRequired,
                "Your account needs a second factor: set up TOTP (POST /api/v1/auth/mfa/totp/setup) first.",
            ),
            Error::Disabled(detail) => Problem::new(Kind::Forbidden, detail),
            Error::EmailUnverified => Problem::new(
                Kind::EmailUnverified,
                "Verify your email address first: open the link mailed to you, or ask for a new one.",
            ),
            Error::InvalidToken => Problem::new(
                Kind::InvalidToken,
                "This link is invalid, has expired or was already used; ask for a new one.",
            ),
            Error::TooManyRequests { retry_after } => Problem::too_many(retry_after),
            Error::BadRequest(detail) => Problem::new(Kind::BadRequest, detail),
            Error::NotFound => Problem::new(Kind::NotFound, "No such resource."),
            Error::Conflict { field: "admin" } => {
                Problem::new(Kind::Conflict, "An admin already exists; sign in instead.")
            }
            Error::Conflict { field } => Problem::new(
                Kind::Conflict,
                format!("Another record already has this {field}."),
            )
            .with_errors(vec![FieldError::new(field, "is already taken")]),
            Error::StateConflict(detail) => Problem::new(Kind::Conflict, detail),
            Error::PreconditionFailed { current } => Problem::new(
                Kind::PreconditionFailed,
                format!("If-Match does not match the current version (\"{current}\")."),
            ),
            Error::SearchUnavailable(detail) => Problem::new(Kind::Unavailable, detail),
            Error::Unavailable => Problem::new(
                Kind::Unavailable,
                "The store cannot take this request now; try again later.",
            ),
            Error::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                Problem::new(
                    Kind::Internal,
                    "Something went wrong on our side; it has been logged.",
                )
            }
        }
    }
}
