//! Events: what the outside world is told about committed changes. Each one
//! is a change-log entry seen from outside, so an event exists if and only
//! if its change committed, and its id is the change's sequence number.

use serde::{Deserialize, Serialize};

use super::{Group, GroupId, Timestamp, User, UserId};

/// The kinds of event. Stored in the change log by position (postcard):
/// new kinds go at the end, none is ever removed or reordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventType {
    #[serde(rename = "user.created")]
    UserCreated,
    #[serde(rename = "user.updated")]
    UserUpdated,
    #[serde(rename = "user.deleted")]
    UserDeleted,
    #[serde(rename = "user.password_changed")]
    UserPasswordChanged,
    #[serde(rename = "user.sessions_revoked")]
    UserSessionsRevoked,
    #[serde(rename = "group.created")]
    GroupCreated,
    /// Its fields or its members changed (`changed_fields` says which).
    #[serde(rename = "group.updated")]
    GroupUpdated,
    #[serde(rename = "group.deleted")]
    GroupDeleted,
}

impl EventType {
    pub const ALL: [EventType; 8] = [
        EventType::UserCreated,
        EventType::UserUpdated,
        EventType::UserDeleted,
        EventType::UserPasswordChanged,
        EventType::UserSessionsRevoked,
        EventType::GroupCreated,
        EventType::GroupUpdated,
        EventType::GroupDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::UserCreated => "user.created",
            EventType::UserUpdated => "user.updated",
            EventType::UserDeleted => "user.deleted",
            EventType::UserPasswordChanged => "user.password_changed",
            EventType::UserSessionsRevoked => "user.sessions_revoked",
            EventType::GroupCreated => "group.created",
            EventType::GroupUpdated => "group.updated",
            EventType::GroupDeleted => "group.deleted",
        }
    }

    /// Whether the change is of a group (else of a user).
    pub fn is_group(self) -> bool {
        matches!(
            self,
            EventType::GroupCreated | EventType::GroupUpdated | EventType::GroupDeleted
        )
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// A comma-separated list of types (`?types=`); the unknown name is the error.
    pub fn parse_list(s: &str) -> Result<Vec<Self>, String> {
        let mut out = Vec::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let t = Self::parse(name).ok_or_else(|| format!("unknown event type {name:?}"))?;
            if !out.contains(&t) {
                out.push(t);
            }
        }
        Ok(out)
    }
}

/// One event, as read back from the change log.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The change's sequence number: strictly increasing, never reused.
    pub id: u64,
    pub kind: EventType,
    /// When the change committed; `None` for entries written before the
    /// change log kept times.
    pub occurred_at: Option<Timestamp>,
    /// What changed: a user or a group.
    pub subject: Subject,
    /// For `user.updated` and `group.updated`: the fields that changed, by
    /// their API names (`groups` for a user whose memberships changed,
    /// `members` for a group).
    pub changed_fields: Vec<String>,
}

/// The user or group an event is about, as the change left it (as it was,
/// for a deletion); `None` only for an old entry whose user is gone.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    User(UserId, Option<User>),
    Group(GroupId, Option<Group>),
}

/// Whether an event of type `t` passes a filter (an empty filter passes all).
pub fn type_wanted(filter: &[EventType], t: EventType) -> bool {
    filter.is_empty() || filter.contains(&t)
}
