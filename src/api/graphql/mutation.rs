//! The `Mutation` root: the same commands as REST, with `expectedVersion`
//! in the place of `If-Match`.

use async_graphql::{Context, ID, Object, Result};

use crate::service::Precondition;

use super::inputs::{CreateGroupInput, CreateUserInput, UpdateUserInput};
use super::types::{GroupNode, context, group_id, user_id};
use super::user::UserNode;

pub struct Mutation;

/// `expectedVersion` as a precondition: the write applies only to it.
fn precondition(expected: Option<u64>) -> Precondition {
    expected.map_or(Precondition::None, Precondition::Version)
}

/// Member ids: at most 1000 at once, all of them users' ids.
fn member_ids(ids: &[ID]) -> Result<Vec<crate::domain::UserId>> {
    ids.iter().map(user_id).collect()
}

#[Object]
impl Mutation {
    /// Create a user.
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> Result<UserNode> {
        let (st, caller) = context(ctx);
        let user = st.users().create(caller, input.try_into()?).await?;
        Ok(UserNode::of(user))
    }

    /// Change a user's fields (a merge patch: fields left out stay).
    /// With `expectedVersion`, only if the user is still at that version.
    async fn update_user(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateUserInput,
        expected_version: Option<u64>,
    ) -> Result<UserNode> {
        let (st, caller) = context(ctx);
        let id = user_id(&id)?;
        let patch = input.try_into()?;
        let user = st
            .users()
            .patch(caller, id, patch, precondition(expected_version))
            .await?;
        Ok(UserNode::of(user))
    }

    /// Delete a user; returns its id.
    async fn delete_user(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: Option<u64>,
    ) -> Result<ID> {
        let (st, caller) = context(ctx);
        let uid = user_id(&id)?;
        st.users()
            .delete(caller, uid, precondition(expected_version))
            .await?;
        Ok(id)
    }

    /// Create a group.
    async fn create_group(&self, ctx: &Context<'_>, input: CreateGroupInput) -> Result<GroupNode> {
        let (st, caller) = context(ctx);
        let group = st.groups().create(caller, input.try_into()?).await?;
        Ok(GroupNode(group))
    }

    /// Delete a group (its memberships go with it); returns its id.
    async fn delete_group(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: Option<u64>,
    ) -> Result<ID> {
        let (st, caller) = context(ctx);
        let gid = group_id(&id)?;
        st.groups()
            .delete(caller, gid, precondition(expected_version))
            .await?;
        Ok(id)
    }

    /// Add users to a group (all or none: an unknown id adds no one).
    async fn add_group_members(
        &self,
        ctx: &Context<'_>,
        group_id: ID,
        #[graphql(validator(min_items = 1, max_items = 1000))] user_ids: Vec<ID>,
        expected_version: Option<u64>,
    ) -> Result<GroupNode> {
        let (st, caller) = context(ctx);
        let gid = super::types::group_id(&group_id)?;
        let users = member_ids(&user_ids)?;
        let (group, _) = st
            .groups()
            .add_members(caller, gid, users, precondition(expected_version))
            .await?;
        Ok(GroupNode(group))
    }

    /// Remove users from a group (ids that are not members are ignored).
    async fn remove_group_members(
        &self,
        ctx: &Context<'_>,
        group_id: ID,
        #[graphql(validator(min_items = 1, max_items = 1000))] user_ids: Vec<ID>,
        expected_version: Option<u64>,
    ) -> Result<GroupNode> {
        let (st, caller) = context(ctx);
        let gid = super::types::group_id(&group_id)?;
        let users = member_ids(&user_ids)?;
        let (group, _) = st
            .groups()
            .remove_members(caller, gid, users, precondition(expected_version))
            .await?;
        Ok(GroupNode(group))
    }
}
