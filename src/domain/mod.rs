//! The crate's vocabulary, valid by construction: users and their parts,
//! credentials and sessions, times, and the commands the service accepts.
//! Depends on nothing else in the crate; everything else may depend on it.

mod commands;
mod credentials;
mod event;
mod field;
mod group;
mod mfa;
mod oauth;
mod outbox;
mod patch;
mod record;
mod search;
mod time;
mod user;
mod values;
mod webhook;

pub use commands::{NewUser, Signup, UserPatch};
pub use credentials::{ApiKey, AuditEntry, NewApiKey, Outcome, Password, Scope, Session};
pub use event::{Event, EventType, Subject, type_wanted};
pub use field::Field;
pub use group::{
    GROUP_DESCRIPTION_MAX, GROUP_NAME_MAX, Group, GroupDraft, GroupFields, GroupName, GroupPatch,
    MEMBERS_PER_REQUEST, effective_roles,
};
pub use mfa::{AuthMethod, Factors, Passkey, PendingTotp, PublicKey, TotpFactor};
pub use oauth::{
    AuthCode, ClientFields, ClientKind, GrantType, IdTokenAlg, MAX_CLIENTS, NewOAuthClient,
    OAuthClient, OAuthClientPatch, OAuthGrant, OidcScope, redirect_uri_problem,
};
pub use outbox::{Job, JobKind, OneTimeToken, OutgoingMail, TokenPurpose};
pub use patch::merge_patch;
pub use record::ImportRecord;
pub use search::{ListOrder, SearchQuery, SearchSort};
pub use time::Timestamp;
pub use user::{PROVISIONED, User, UserDraft, UserFields};
pub use values::*;
pub use webhook::{
    Delivery, DeliveryStatus, MAX_WEBHOOKS, NewWebhook, SigningKey, Webhook, WebhookPatch,
};

/// One invalid field of a request, as shown in problem+json `errors`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's name in the request body (or query).
    pub field: String,
    /// What is wrong with it, such as `is required`.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests;
