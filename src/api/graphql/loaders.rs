//! Data loaders: fields that would read the store once per parent are
//! collected and read once per batch. A page of 100 users with their groups
//! is one read for the page and one for every user's groups.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use crate::auth::policy::Caller;
use crate::domain::{Group, UserId};
use crate::service::Groups;

/// The groups of users, for `User.groups`. One per request: it reads as
/// the request's caller.
pub struct GroupsOfUsers {
    pub groups: Groups,
    pub caller: Caller,
}

impl Loader<UserId> for GroupsOfUsers {
    type Value = Vec<Group>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, Vec<Group>>, Self::Error> {
        Ok(self.groups.groups_of_many(&self.caller, keys)?)
    }
}
