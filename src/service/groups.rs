//! The use cases of groups: creating, changing and deleting them, and who
//! belongs to them. Every façade (REST, SCIM, the console) comes through
//! here, so audit, the change log, search and events follow from one path.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use crate::auth::policy::{Action, Caller};
use crate::domain::{
    FieldError, Group, GroupDraft, GroupId, GroupPatch, MEMBERS_PER_REQUEST, Timestamp, User,
    UserId,
};
use crate::error::Error;
use crate::store::{Store, Tx};

use super::users::Precondition;
use super::{Audit, allow};

pub const GROUP_LIMIT_DEFAULT: usize = 50;
pub const GROUP_LIMIT_MAX: usize = 500;
/// Most groups a store may hold: group search reads them all.
pub const MAX_GROUPS: u64 = 100_000;

#[derive(Clone)]
pub struct Groups {
    store: Store,
}

/// What [`Groups::change`] does to a group.
#[derive(Clone, Default)]
pub struct GroupChange {
    /// Its new writable fields, made from the group as the transaction
    /// reads it.
    pub draft: Option<DraftOf>,
    /// Its members become exactly these.
    pub set_members: Option<Vec<UserId>>,
    pub remove: Vec<UserId>,
    pub add: Vec<UserId>,
}

/// The new writable fields of a group, given the current ones.
pub type DraftOf = Arc<dyn Fn(&Group) -> Result<GroupDraft, Error> + Send + Sync>;

impl GroupChange {
    /// A change of the fields to `draft`, whatever they are now.
    pub fn fields(draft: GroupDraft) -> Self {
        Self {
            draft: Some(Arc::new(move |_| Ok(draft.clone()))),
            ..Default::default()
        }
    }
}

/// A 422 naming the users of `users` that do not exist, if any.
fn all_known(tx: &Tx<'_>, users: &[UserId], field: &str) -> Result<(), Error> {
    let mut unknown = Vec::new();
    for u in users {
        if tx.get_user(*u)?.is_none() {
            unknown.push(u.to_string());
        }
    }
    if unknown.is_empty() {
        return Ok(());
    }
    Err(Error::Validation(vec![FieldError::new(
        field,
        format!("no such user: {}", unknown.join(", ")),
    )]))
}

fn check_count(users: &[UserId], field: &str) -> Result<(), Error> {
    if users.len() > MEMBERS_PER_REQUEST {
        return Err(Error::Validation(vec![FieldError::new(
            field,
            format!("may name at most {MEMBERS_PER_REQUEST} users"),
        )]));
    }
    Ok(())
}

/// A page of groups or of members, and the id the next one starts after.
pub struct IdCursorPage<T> {
    pub items: Vec<T>,
    pub next_after: Option<u128>,
}

impl Groups {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub async fn create(&self, caller: &Caller, draft: GroupDraft) -> Result<Group, Error> {
        self.create_with_members(caller, draft, Vec::new()).await
    }

    /// Creates a group with its first members, in one transaction; unknown
    /// users are a 422 and nothing is created.
    pub async fn create_with_members(
        &self,
        caller: &Caller,
        draft: GroupDraft,
        members: Vec<UserId>,
    ) -> Result<Group, Error> {
        allow(caller, Action::ManageGroups)?;
        let group = Group::from_draft(GroupId::new(), draft, Timestamp::now());
        let audit = Audit::by(caller, "group.create")
            .target(group.id)
            .detail(group.name.as_str());
        let at = super::now();
        self.store
            .write(move |tx| {
                if tx.count_groups()? >= MAX_GROUPS {
                    return Err(Error::StateConflict(
                        "the store holds the most groups it may",
                    ));
                }
                tx.insert_group(&group)?;
                audit.write(tx, at)?;
                all_known(tx, &members, "members")?;
                let (group, _) = tx.add_members(&group, &members, Timestamp::from_datetime(at))?;
                Ok(group)
            })
            .await
    }

    pub fn get(&self, caller: &Caller, id: GroupId) -> Result<Group, Error> {
        allow(caller, Action::ReadGroups)?;
        self.store.read(|r| r.get_group(id))?.ok_or(Error::NotFound)
    }

    /// The group named `name` (without regard to case).
    pub fn find_by_name(&self, caller: &Caller, name: &str) -> Result<Option<Group>, Error> {
        allow(caller, Action::ReadGroups)?;
        Ok(self
            .store
            .read(|r| r.find_group_by_name(&name.trim().to_lowercase()))?)
    }

    pub async fn patch(
        &self,
        caller: &Caller,
        id: GroupId,
        patch: GroupPatch,
        pre: Precondition,
    ) -> Result<Group, Error> {
        self.update(caller, id, pre, move |g| {
            patch.apply(g).map_err(Error::Validation)
        })
        .await
    }

    pub async fn replace(
        &self,
        caller: &Caller,
        id: GroupId,
        draft: GroupDraft,
        pre: Precondition,
    ) -> Result<Group, Error> {
        self.update(caller, id, pre, move |_| Ok(draft.clone()))
            .await
    }

    async fn update(
        &self,
        caller: &Caller,
        id: GroupId,
        pre: Precondition,
        draft: impl Fn(&Group) -> Result<GroupDraft, Error> + Send + Sync + 'static,
    ) -> Result<Group, Error> {
        let change = GroupChange {
            draft: Some(Arc::new(draft)),
            ..Default::default()
        };
        Ok(self.change(caller, id, pre, change).await?.0)
    }

    /// Deletes the group and, in the same transaction, its memberships.
    pub async fn delete(
        &self,
        caller: &Caller,
        id: GroupId,
        pre: Precondition,
    ) -> Result<(), Error> {
        allow(caller, Action::ManageGroups)?;
        let audit = Audit::by(caller, "group.delete").target(id);
        let at = super::now();
        self.store
            .write(move |tx| {
                let current = tx.get_group(id)?.ok_or(Error::NotFound)?;
                pre.check(current.version)?;
                tx.delete_group(&current)?;
                audit
                    .clone()
                    .detail(format!(
                        "{} ({} members)",
                        current.name.as_str(),
                        current.member_count
                    ))
                    .write(tx, at)
            })
            .await
    }

    /// Up to `limit` groups after `after`, in creation order.
    pub fn list(
        &self,
        caller: &Caller,
        after: Option<u128>,
        limit: usize,
    ) -> Result<IdCursorPage<Group>, Error> {
        allow(caller, Action::ReadGroups)?;
        let (items, more) = self.store.read(|r| r.groups_page(after, limit))?;
        let next_after = more.then(|| items.last().map(|g| g.id.as_u128())).flatten();
        Ok(IdCursorPage { items, next_after })
    }

    /// Every group, for search and the SCIM façade's filters (at most
    /// [`MAX_GROUPS`]).
    pub fn all(&self, caller: &Caller) -> Result<Vec<Group>, Error> {
        allow(caller, Action::ReadGroups)?;
        Ok(self.store.read(|r| {
            let mut out = Vec::new();
            r.for_each_group(|g| {
                out.push(g);
                Ok(())
            })?;
            Ok(out)
        })?)
    }

    /// Up to `limit` members of `id` after user `after`, in id order.
    pub fn members(
        &self,
        caller: &Caller,
        id: GroupId,
        after: Option<u128>,
        limit: usize,
    ) -> Result<IdCursorPage<User>, Error> {
        allow(caller, Action::ReadGroups)?;
        self.store.read(|r| {
            if r.get_group(id)?.is_none() {
                return Ok(Err(Error::NotFound));
            }
            let page = r.members_page(id, after, limit)?;
            let mut items = Vec::with_capacity(page.ids.len());
            for uid in &page.ids {
                if let Some(u) = r.get_user(UserId::from_u128(*uid))? {
                    items.push(u);
                }
            }
            let next_after = page.more.then(|| page.ids.last().copied()).flatten();
            Ok(Ok(IdCursorPage { items, next_after }))
        })?
    }

    /// Adds users to the group; unknown ids are a 422 naming them and add
    /// no one. Returns the group and how many were new members.
    pub async fn add_members(
        &self,
        caller: &Caller,
        id: GroupId,
        users: Vec<UserId>,
        pre: Precondition,
    ) -> Result<(Group, u64), Error> {
        check_count(&users, "user_ids")?;
        let change = GroupChange {
            add: users,
            ..Default::default()
        };
        let (g, added, _) = self.change(caller, id, pre, change).await?;
        Ok((g, added))
    }

    /// Removes users from the group (ids that are not members are ignored).
    pub async fn remove_members(
        &self,
        caller: &Caller,
        id: GroupId,
        users: Vec<UserId>,
        pre: Precondition,
    ) -> Result<(Group, u64), Error> {
        check_count(&users, "user_ids")?;
        let change = GroupChange {
            remove: users,
            ..Default::default()
        };
        let (g, _, removed) = self.change(caller, id, pre, change).await?;
        Ok((g, removed))
    }

    /// Changes a group's fields and members at once, in one transaction
    /// (a SCIM PATCH may do both): the draft first, then `set_members`
    /// (the members become exactly these), then removals, then additions.
    /// Unknown users to add are a 422 naming them, and nothing changes.
    /// Returns the group and how many members were added and removed.
    pub async fn change(
        &self,
        caller: &Caller,
        id: GroupId,
        pre: Precondition,
        change: GroupChange,
    ) -> Result<(Group, u64, u64), Error> {
        allow(caller, Action::ManageGroups)?;
        let at = super::now();
        let by = caller.clone();
        self.store
            .write(move |tx| {
                let mut current = tx.get_group(id)?.ok_or(Error::NotFound)?;
                pre.check(current.version)?;
                let stamp = Timestamp::from_datetime(at);
                let draft = match &change.draft {
                    Some(make) => Some(make(&current)?),
                    None => None,
                };
                if let Some(draft) = draft
                    && draft != current.draft()
                {
                    let next = current.replaced(draft, stamp);
                    let mut audit = Audit::by(&by, "group.update").target(id);
                    if next.roles != current.roles {
                        let roles: Vec<&str> = next.roles.iter().map(|r| r.as_str()).collect();
                        audit = audit.detail(format!("roles: {}", roles.join(",")));
                    }
                    audit.write(tx, at)?;
                    tx.update_group(&current, &next)?;
                    current = next;
                }
                let mut add = change.add.clone();
                let mut remove = change.remove.clone();
                if let Some(wanted) = &change.set_members {
                    let now = tx.member_ids(id)?;
                    remove.extend(now.iter().filter(|u| !wanted.contains(u)));
                    add.extend(wanted.iter().filter(|u| !now.contains(u)));
                }
                all_known(tx, &add, "user_ids")?;
                let (g, removed) = tx.remove_members(&current, &remove, stamp)?;
                let (g, added) = tx.add_members(&g, &add, stamp)?;
                for (n, action, users) in [
                    (added, "group.members.add", &add),
                    (removed, "group.members.remove", &remove),
                ] {
                    if n > 0 {
                        let detail = match users.as_slice() {
                            [one] => one.to_string(),
                            _ => format!("{n} users"),
                        };
                        Audit::by(&by, action)
                            .target(id)
                            .detail(detail)
                            .write(tx, at)?;
                    }
                }
                Ok((g, added, removed))
            })
            .await
    }

    /// Every member's id, in id order (SCIM shows a group with its members).
    pub fn member_ids(&self, caller: &Caller, id: GroupId) -> Result<Vec<UserId>, Error> {
        allow(caller, Action::ReadGroups)?;
        Ok(self.store.read(|r| {
            let mut out = Vec::new();
            let mut after = None;
            loop {
                let page = r.members_page(id, after, 10_000)?;
                out.extend(page.ids.iter().map(|u| UserId::from_u128(*u)));
                if !page.more {
                    return Ok(out);
                }
                after = page.ids.last().copied();
            }
        })?)
    }

    /// The groups `user` belongs to.
    pub fn groups_of(&self, caller: &Caller, user: UserId) -> Result<Vec<Group>, Error> {
        allow(caller, Action::ReadUserGroups(user))?;
        self.store.read(|r| {
            if r.get_user(user)?.is_none() {
                return Ok(Err(Error::NotFound));
            }
            let mut out = Vec::new();
            for g in r.groups_of(user)? {
                out.extend(r.get_group(g)?);
            }
            Ok(Ok(out))
        })?
    }
}

impl Groups {
    /// The groups of each of `users`, in one read (GraphQL's data loader
    /// batches a page's worth); users that do not exist map to none.
    pub fn groups_of_many(
        &self,
        caller: &Caller,
        users: &[UserId],
    ) -> Result<HashMap<UserId, Vec<Group>>, Error> {
        for u in users {
            allow(caller, Action::ReadUserGroups(*u))?;
        }
        Ok(self.store.read(|r| {
            let mut known: HashMap<GroupId, Option<Group>> = HashMap::new();
            let mut out = HashMap::with_capacity(users.len());
            for u in users {
                let mut groups = Vec::new();
                for g in r.groups_of(*u)? {
                    if let Entry::Vacant(slot) = known.entry(g) {
                        slot.insert(r.get_group(g)?);
                    }
                    groups.extend(known[&g].clone());
                }
                out.insert(*u, groups);
            }
            Ok(out)
        })?)
    }
}

/// A group found by [`Groups::search`], with how well it matched.
pub struct GroupHit {
    pub group: Group,
    pub score: f32,
}

impl Groups {
    /// Groups whose name or description holds every word of `q` — the
    /// word itself, a word it begins, or (words of four letters or more)
    /// one letter off — best first: name before description, whole words
    /// before prefixes before typos; ties by name. An empty `q` lists them
    /// by name. Returns one page and how many match in all.
    ///
    /// A scan of every group (at most [`MAX_GROUPS`]): directories hold
    /// thousands of groups, not millions, and a scan of them takes
    /// milliseconds, so groups need no index of their own.
    pub fn search(
        &self,
        caller: &Caller,
        q: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<GroupHit>, usize), Error> {
        let words = words(q);
        let mut hits: Vec<GroupHit> = self
            .all(caller)?
            .into_iter()
            .filter_map(|group| {
                let score = match_score(&words, &group)?;
                Some(GroupHit { group, score })
            })
            .collect();
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.group.name.folded().cmp(&b.group.name.folded()))
        });
        let total = hits.len();
        Ok((hits.into_iter().skip(offset).take(limit).collect(), total))
    }
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// `None` if a word of the query matches nothing of the group.
fn match_score(query: &[String], g: &Group) -> Option<f32> {
    if query.is_empty() {
        return Some(0.0);
    }
    let name = words(g.name.as_str());
    let description = g.description.as_deref().map(words).unwrap_or_default();
    let mut score = 0.0;
    for q in query {
        let in_name = best(q, &name) * 2.0;
        let in_description = best(q, &description);
        let s = in_name.max(in_description);
        if s == 0.0 {
            return None;
        }
        score += s;
    }
    if words(g.name.as_str()) == query {
        score += 10.0;
    }
    Some(score)
}

/// 3 for the word itself, 2 for a prefix, 1 for one edit away, else 0.
fn best(q: &str, words: &[String]) -> f32 {
    let mut best: f32 = 0.0;
    for w in words {
        let s = if w == q {
            3.0
        } else if w.starts_with(q) {
            2.0
        } else if q.chars().count() >= 4 && one_edit_apart(q, w) {
            1.0
        } else {
            0.0
        };
        best = best.max(s);
    }
    best
}

/// Whether `a` becomes `b` by one insertion, deletion, substitution or
/// swap of neighbours.
fn one_edit_apart(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (la, lb) = (a.len(), b.len());
    if la.abs_diff(lb) > 1 {
        return false;
    }
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if la == lb {
        if prefix == la {
            return true;
        }
        let (ra, rb) = (&a[prefix + 1..], &b[prefix + 1..]);
        ra == rb
            || (prefix + 1 < la
                && a[prefix] == b[prefix + 1]
                && a[prefix + 1] == b[prefix]
                && a[prefix + 2..] == b[prefix + 2..])
    } else if la > lb {
        a[prefix + 1..] == b[prefix..]
    } else {
        a[prefix..] == b[prefix + 1..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_edit() {
        assert!(one_edit_apart("enginering", "engineering"));
        assert!(one_edit_apart("engineerign", "engineering"));
        assert!(one_edit_apart("enginxering", "engineering"));
        assert!(!one_edit_apart("engnering", "engineering"));
        assert!(!one_edit_apart("ops", "dev"));
        assert!(one_edit_apart("same", "same"));
    }

    #[test]
    fn names_before_descriptions_and_every_word_must_match() {
        let g = |name: &str, description: Option<&str>| {
            let mut obj = serde_json::Map::new();
            obj.insert("name".into(), name.into());
            if let Some(d) = description {
                obj.insert("description".into(), d.into());
            }
            Group::from_draft(
                GroupId::new(),
                GroupDraft::from_json(obj).unwrap(),
                Timestamp::from_micros(0),
            )
        };
        let q = words("Platform eng");
        let a = match_score(&q, &g("Platform Engineering", None)).unwrap();
        let b = match_score(&q, &g("SRE", Some("the platform engineers"))).unwrap();
        assert!(a > b);
        assert!(match_score(&q, &g("Platform", None)).is_none());
        assert!(match_score(&words("platfrom"), &g("Platform", None)).is_some());
        let exact = match_score(&words("sre"), &g("SRE", None)).unwrap();
        assert!(exact > match_score(&words("sre"), &g("SRE team", None)).unwrap());
    }
}
