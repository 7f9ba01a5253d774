//! Groups and memberships.
//!
//! A group is a sealed record under its id, with a unique index on its
//! folded name (a keyed hash on an encrypted store, like emails). Each
//! membership is two plain keys, `(group, user)` to page through a group's
//! members and `(user, group)` to find a user's groups (and so its
//! effective roles) with one short range read; ids say nothing a user
//! record would not. A membership change is logged twice: `group.updated`
//! (`members`) for the group, whose version and count move, and
//! `user.updated` (`groups`) for the user, so the search index and the
//! event stream follow it as they follow any user change.

use redb::{ReadOnlyTable, ReadableTable, Table};
use serde::{Deserialize, Serialize};

use crate::domain::{Attributes, EventType, Group, GroupId, GroupName, Role, Timestamp, UserId};

use super::StoreError;
use super::sealed::{HashedIndex, Sealed};
use super::users::{ReadTx, Tx};

const GROUP_V1: u8 = 1;

#[derive(Serialize, Deserialize)]
struct GroupRecordV1 {
    name: String,
    description: Option<String>,
    roles: Vec<u8>,
    attributes: String,
    member_count: u64,
    created_at: i64,
    updated_at: i64,
    version: u64,
}

pub(crate) fn encode_group(g: &Group) -> Vec<u8> {
    let rec = GroupRecordV1 {
        name: g.name.as_str().to_owned(),
        description: g.description.clone(),
        roles: g.roles.iter().map(|r| r.code()).collect(),
        attributes: serde_json::to_string(g.attributes.as_map())
            .expect("a JSON map always serialises"),
        member_count: g.member_count,
        created_at: g.created_at.micros(),
        updated_at: g.updated_at.micros(),
        version: g.version,
    };
    let mut out = vec![GROUP_V1];
    postcard::to_io(&rec, &mut out).expect("writing to a Vec cannot fail");
    out
}

/// Decodes a group record. Never panics, whatever the bytes.
pub(crate) fn decode_group(id: u128, bytes: &[u8]) -> Result<Group, StoreError> {
    let corrupt =
        |why: String| StoreError::Corrupt(format!("group {}: {why}", GroupId::from_u128(id)));
    let (&version, body) = bytes
        .split_first()
        .ok_or_else(|| corrupt("empty record".into()))?;
    if version != GROUP_V1 {
        return Err(corrupt(format!("unknown record version {version}")));
    }
    let rec: GroupRecordV1 = postcard::from_bytes(body).map_err(|e| corrupt(e.to_string()))?;
    let roles = rec
        .roles
        .iter()
        .map(|&c| Role::from_code(c).ok_or_else(|| corrupt(format!("unknown role code {c}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let attributes = serde_json::from_str(&rec.attributes).map_err(|e| corrupt(e.to_string()))?;
    Ok(Group {
        id: GroupId::from_u128(id),
        name: GroupName::from_stored(rec.name),
        description: rec.description,
        roles,
        attributes: Attributes::from_stored(attributes),
        member_count: rec.member_count,
        created_at: Timestamp::from_micros(rec.created_at),
        updated_at: Timestamp::from_micros(rec.updated_at),
        version: rec.version,
    })
}

pub(crate) struct GroupTables<G, N, M> {
    pub groups: Sealed<u128, G>,
    pub by_name: HashedIndex<N>,
    /// `(group, user)`: a group's members in id order.
    pub members: M,
    /// `(user, group)`: a user's groups.
    pub of_user: M,
}

pub(crate) type WriteGroups<'t> = GroupTables<
    Table<'t, u128, &'static [u8]>,
    Table<'t, &'static str, u128>,
    Table<'t, (u128, u128), ()>,
>;

pub(crate) type ReadGroups = GroupTables<
    ReadOnlyTable<u128, &'static [u8]>,
    ReadOnlyTable<&'static str, u128>,
    ReadOnlyTable<(u128, u128), ()>,
>;

/// Opens the group tables in a read or a write transaction.
macro_rules! open_group_tables {
    ($txn:expr, $sealer:expr) => {
        $crate::store::groups::GroupTables {
            groups: $crate::store::sealed::Sealed::new(
                $txn.open_table($crate::store::GROUPS)?,
                "groups",
                $sealer,
            ),
            by_name: $crate::store::sealed::HashedIndex::new(
                $txn.open_table($crate::store::GROUPS_BY_NAME)?,
                $sealer,
            ),
            members: $txn.open_table($crate::store::GROUP_MEMBERS)?,
            of_user: $txn.open_table($crate::store::USER_GROUPS)?,
        }
    };
}
pub(crate) use open_group_tables;

/// Opens the tables in a write transaction (on first use: see `lazy`).
pub(super) fn open_write<'t>(
    txn: &'t redb::WriteTransaction,
    sealer: &super::sealed::SealerRef,
) -> Result<WriteGroups<'t>, StoreError> {
    Ok(open_group_tables!(txn, sealer))
}

/// One page of ids in id order, and whether more follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdPage {
    pub ids: Vec<u128>,
    pub more: bool,
}

impl<G, N, M> GroupTables<G, N, M>
where
    G: ReadableTable<u128, &'static [u8]>,
    N: ReadableTable<&'static str, u128>,
    M: ReadableTable<(u128, u128), ()>,
{
    fn get(&self, id: GroupId) -> Result<Option<Group>, StoreError> {
        let key = id.as_u128();
        match self.groups.get(key)? {
            Some(v) => decode_group(key, v.value()).map(Some),
            None => Ok(None),
        }
    }

    fn by_name(&self, folded: &str) -> Result<Option<Group>, StoreError> {
        match self.by_name.get(folded)? {
            Some(id) => self.get(GroupId::from_u128(id)),
            None => Ok(None),
        }
    }

    fn groups_of(&self, user: UserId) -> Result<Vec<GroupId>, StoreError> {
        let u = user.as_u128();
        let mut out = Vec::new();
        for entry in self.of_user.range((u, 0)..=(u, u128::MAX))? {
            out.push(GroupId::from_u128(entry?.0.value().1));
        }
        Ok(out)
    }

    fn is_member(&self, group: GroupId, user: UserId) -> Result<bool, StoreError> {
        Ok(self
            .members
            .get((group.as_u128(), user.as_u128()))?
            .is_some())
    }

    /// The roles the user's groups grant it (each once).
    fn granted_roles(&self, user: UserId) -> Result<Vec<Role>, StoreError> {
        let mut out: Vec<Role> = Vec::new();
        for g in self.groups_of(user)? {
            if let Some(group) = self.get(g)? {
                for r in group.roles {
                    if !out.contains(&r) {
                        out.push(r);
                    }
                }
            }
        }
        Ok(out)
    }
}

impl ReadTx {
    pub fn get_group(&self, id: GroupId) -> Result<Option<Group>, StoreError> {
        self.groups.get(id)
    }

    pub fn find_group_by_name(&self, folded: &str) -> Result<Option<Group>, StoreError> {
        self.groups.by_name(folded)
    }

    /// The ids of the groups `user` belongs to, in id order.
    pub fn groups_of(&self, user: UserId) -> Result<Vec<GroupId>, StoreError> {
        self.groups.groups_of(user)
    }

    /// The roles `user`'s groups grant it.
    pub fn granted_roles(&self, user: UserId) -> Result<Vec<Role>, StoreError> {
        self.groups.granted_roles(user)
    }

    /// Up to `limit` groups after `after`, in id (creation) order.
    pub fn groups_page(
        &self,
        after: Option<u128>,
        limit: usize,
    ) -> Result<(Vec<Group>, bool), StoreError> {
        let start = after.map_or(0, |a| a.saturating_add(1));
        let mut out = Vec::new();
        if after == Some(u128::MAX) {
            return Ok((out, false));
        }
        for entry in self.groups.groups.range(start..)? {
            let (k, v) = entry?;
            if out.len() == limit {
                return Ok((out, true));
            }
            out.push(decode_group(k.value(), v.value())?);
        }
        Ok((out, false))
    }

    /// Calls `f` with every group, in id order.
    pub fn for_each_group(
        &self,
        mut f: impl FnMut(Group) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for entry in self.groups.groups.iter()? {
            let (k, v) = entry?;
            f(decode_group(k.value(), v.value())?)?;
        }
        Ok(())
    }

    pub fn count_groups(&self) -> Result<u64, StoreError> {
        self.groups.groups.len()
    }

    /// Up to `limit` member ids of `group` after `after`, in id order.
    pub fn members_page(
        &self,
        group: GroupId,
        after: Option<u128>,
        limit: usize,
    ) -> Result<IdPage, StoreError> {
        let g = group.as_u128();
        let mut ids = Vec::new();
        let lo = match after {
            Some(u128::MAX) => return Ok(IdPage { ids, more: false }),
            Some(a) => a + 1,
            None => 0,
        };
        for entry in self.groups.members.range((g, lo)..=(g, u128::MAX))? {
            if ids.len() == limit {
                return Ok(IdPage { ids, more: true });
            }
            ids.push(entry?.0.value().1);
        }
        Ok(IdPage { ids, more: false })
    }
}

impl Tx<'_> {
    pub fn get_group(&mut self, id: GroupId) -> Result<Option<Group>, StoreError> {
        self.lazy.groups.get()?.get(id)
    }

    pub fn count_groups(&mut self) -> Result<u64, StoreError> {
        self.lazy.groups.get()?.groups.len()
    }

    /// Inserts a new group. `Conflict` on `name` if another has it.
    pub fn insert_group(&mut self, g: &Group) -> Result<(), StoreError> {
        let id = g.id.as_u128();
        let t = self.lazy.groups.get()?;
        if t.groups.get(id)?.is_some() {
            return Err(StoreError::Conflict { field: "id" });
        }
        if t.by_name.get(&g.name.folded())?.is_some() {
            return Err(StoreError::Conflict { field: "name" });
        }
        t.by_name.insert(&g.name.folded(), id)?;
        self.put_group(EventType::GroupCreated, g, &[])
    }

    /// Replaces `old` (as read in this transaction) by `new`.
    pub fn update_group(&mut self, old: &Group, new: &Group) -> Result<(), StoreError> {
        let id = new.id.as_u128();
        let (old_name, new_name) = (old.name.folded(), new.name.folded());
        if old_name != new_name {
            let t = self.lazy.groups.get()?;
            if let Some(owner) = t.by_name.get(&new_name)?
                && owner != id
            {
                return Err(StoreError::Conflict { field: "name" });
            }
            t.by_name.remove(&old_name)?;
            t.by_name.insert(&new_name, id)?;
        }
        let mut fields = Vec::new();
        let mut check = |name, differs: bool| {
            if differs {
                fields.push(name);
            }
        };
        check("name", old.name != new.name);
        check("description", old.description != new.description);
        check("roles", old.roles != new.roles);
        check("attributes", old.attributes != new.attributes);
        self.put_group(EventType::GroupUpdated, new, &fields)?;
        if old.roles != new.roles {
            // What the members may do changed: their documents and streams
            // hear of it like of any change of theirs.
            for user in self.member_ids(old.id)? {
                self.log_user_event_with(EventType::UserUpdated, user, &["roles"])?;
            }
        }
        Ok(())
    }

    /// Removes `g` and every membership in it.
    pub fn delete_group(&mut self, g: &Group) -> Result<(), StoreError> {
        let members = self.member_ids(g.id)?;
        for user in &members {
            self.unlink(g.id, *user)?;
            self.log_user_event_with(EventType::UserUpdated, *user, &["groups"])?;
        }
        let id = g.id.as_u128();
        let record = encode_group(g);
        let t = self.lazy.groups.get()?;
        t.groups.remove(id)?;
        t.by_name.remove(&g.name.folded())?;
        self.append_change(EventType::GroupDeleted, id, g.version, &record, &[])
    }

    /// Adds `users` (each known to exist) to `g`; returns the group as it
    /// now is and how many were not members yet.
    pub fn add_members(
        &mut self,
        g: &Group,
        users: &[UserId],
        now: Timestamp,
    ) -> Result<(Group, u64), StoreError> {
        let mut added = 0;
        for &user in users {
            let t = self.lazy.groups.get()?;
            if t.is_member(g.id, user)? {
                continue;
            }
            t.members.insert((g.id.as_u128(), user.as_u128()), ())?;
            t.of_user.insert((user.as_u128(), g.id.as_u128()), ())?;
            self.log_user_event_with(EventType::UserUpdated, user, &["groups"])?;
            added += 1;
        }
        let next = self.recount(g, added as i64, now)?;
        Ok((next, added))
    }

    /// Removes `users` from `g`; returns the group as it now is and how
    /// many were members.
    pub fn remove_members(
        &mut self,
        g: &Group,
        users: &[UserId],
        now: Timestamp,
    ) -> Result<(Group, u64), StoreError> {
        let mut removed = 0;
        for &user in users {
            if !self.lazy.groups.get()?.is_member(g.id, user)? {
                continue;
            }
            self.unlink(g.id, user)?;
            self.log_user_event_with(EventType::UserUpdated, user, &["groups"])?;
            removed += 1;
        }
        let next = self.recount(g, -(removed as i64), now)?;
        Ok((next, removed))
    }

    /// Takes a user being deleted out of its groups.
    pub(super) fn leave_all_groups(&mut self, user: UserId) -> Result<(), StoreError> {
        let now = self.now();
        for gid in self.lazy.groups.get()?.groups_of(user)? {
            self.unlink(gid, user)?;
            if let Some(g) = self.lazy.groups.get()?.get(gid)? {
                self.recount(&g, -1, now)?;
            }
        }
        Ok(())
    }

    fn unlink(&mut self, group: GroupId, user: UserId) -> Result<(), StoreError> {
        let t = self.lazy.groups.get()?;
        t.members.remove((group.as_u128(), user.as_u128()))?;
        t.of_user.remove((user.as_u128(), group.as_u128()))?;
        Ok(())
    }

    /// `g` with `delta` members more, one version on, written and logged
    /// (`members`); unchanged when `delta` is 0.
    fn recount(&mut self, g: &Group, delta: i64, now: Timestamp) -> Result<Group, StoreError> {
        if delta == 0 {
            return Ok(g.clone());
        }
        let next = Group {
            member_count: g.member_count.saturating_add_signed(delta),
            version: g.version + 1,
            updated_at: now,
            ..g.clone()
        };
        self.put_group(EventType::GroupUpdated, &next, &["members"])?;
        Ok(next)
    }

    /// Every member of `group`, in id order.
    pub fn member_ids(&mut self, group: GroupId) -> Result<Vec<UserId>, StoreError> {
        let g = group.as_u128();
        let mut out = Vec::new();
        for entry in self
            .lazy
            .groups
            .get()?
            .members
            .range((g, 0)..=(g, u128::MAX))?
        {
            out.push(UserId::from_u128(entry?.0.value().1));
        }
        Ok(out)
    }

    fn put_group(
        &mut self,
        kind: EventType,
        g: &Group,
        fields: &[&'static str],
    ) -> Result<(), StoreError> {
        let record = encode_group(g);
        self.lazy
            .groups
            .get()?
            .groups
            .insert(g.id.as_u128(), record.as_slice())?;
        self.append_change(kind, g.id.as_u128(), g.version, &record, fields)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::GroupDraft;

    #[test]
    fn group_records_round_trip_and_garbage_is_an_error() {
        let draft = GroupDraft::from_json(
            json!({"name": "Ops", "description": "on call", "roles": ["admin"],
                   "attributes": {"cost_centre": 42}})
            .as_object()
            .unwrap()
            .clone(),
        )
        .unwrap();
        let mut g = Group::from_draft(GroupId::new(), draft, Timestamp::from_micros(7));
        g.member_count = 3;
        let bytes = encode_group(&g);
        assert_eq!(decode_group(g.id.as_u128(), &bytes).unwrap(), g);
        assert!(decode_group(1, &[]).is_err());
        assert!(decode_group(1, &[2, 0]).is_err());
        assert!(decode_group(1, &bytes[..bytes.len() - 1]).is_err());
    }
}
