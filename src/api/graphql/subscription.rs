//! The `Subscription` root: the change stream over WebSocket
//! (`graphql-transport-ws`), read from the change log as the SSE stream is,
//! so a subscriber that resumes with `after` misses nothing and sees
//! nothing twice.

use async_graphql::{Context, ID, Result, Subscription as SubscriptionRoot};
use futures_util::{Stream, StreamExt};

use crate::domain::EventType;

use super::super::events::{Followed, follow};
use super::bad;
use super::types::{ChangeEvent, StreamReset, context};

pub struct Subscription;

#[SubscriptionRoot]
impl Subscription {
    /// Changes to users and groups as they commit, in order (admins, or
    /// API keys with scope `users:read` or `users:write`). With `after` (an event's `id`), every
    /// change after it first; without, new changes only. If the log no
    /// longer holds that position, a `reset` event comes first. `types`
    /// keeps only those event types, such as `user.created` (default all).
    async fn events(
        &self,
        ctx: &Context<'_>,
        after: Option<ID>,
        #[graphql(validator(max_items = 32))] types: Option<Vec<String>>,
    ) -> Result<impl Stream<Item = ChangeEvent> + use<>> {
        let (st, caller) = context(ctx);
        let events = st.events().clone();
        events.authorize(caller)?;
        let types = match types {
            Some(t) if !t.is_empty() => EventType::parse_list(&t.join(",")).map_err(bad)?,
            _ => Vec::new(),
        };
        let after = after
            .map(|a| {
                a.parse::<u64>()
                    .map_err(|_| bad("after must be an event id"))
            })
            .transpose()?;
        Ok(follow(events, types, after)?.map(|f| match f {
            Followed::Event(e) => ChangeEvent::Change(e),
            Followed::Reset { reason, last } => ChangeEvent::Reset(StreamReset {
                reason: reason.to_owned(),
                last_id: ID(last.to_string()),
            }),
        }))
    }
}
