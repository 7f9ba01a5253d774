//! The use cases of groups: creating, changing and deleting them, and who
//! belongs to them. Every façade (REST, SCIM, the console) comes through
//! here, so audit, the change log, search and events follow from one path.

use crate::auth::policy::{Action, Caller};
use crate::domain::{
    FieldError, Group, GroupDraft, GroupId, GroupPatch, MEMBERS_PER_REQUEST, Timestamp, User,
    UserId,
};
use crate::error::Error;
use crate::store::Store;

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
                Ok(group.clone())
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
        draft: impl Fn(&Group) -> Result<GroupDraft, Error> + Send + 'static,
    ) -> Result<Group, Error> {
        allow(caller, Action::ManageGroups)?;
        let audit = Audit::by(caller, "group.update").target(id);
        let at = super::now();
        self.store
            .write(move |tx| {
                let current = tx.get_group(id)?.ok_or(Error::NotFound)?;
                pre.check(current.version)?;
                let next = current.replaced(draft(&current)?, Timestamp::from_datetime(at));
                if next.roles != current.roles {
                    let roles: Vec<&str> = next.roles.iter().map(|r| r.as_str()).collect();
                    audit
                        .clone()
                        .detail(format!("roles: {}", roles.join(",")))
                        .write(tx, at)?;
                } else {
                    audit.write(tx, at)?;
                }
                tx.update_group(&current, &next)?;
                Ok(next)
            })
            .await
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
        self.change_members(caller, id, users, pre, true).await
    }

    /// Removes users from the group (ids that are not members are ignored).
    pub async fn remove_members(
        &self,
        caller: &Caller,
        id: GroupId,
        users: Vec<UserId>,
        pre: Precondition,
    ) -> Result<(Group, u64), Error> {
        self.change_members(caller, id, users, pre, false).await
    }

    async fn change_members(
        &self,
        caller: &Caller,
        id: GroupId,
        users: Vec<UserId>,
        pre: Precondition,
        add: bool,
    ) -> Result<(Group, u64), Error> {
        allow(caller, Action::ManageGroups)?;
        if users.len() > MEMBERS_PER_REQUEST {
            return Err(Error::Validation(vec![FieldError::new(
                "user_ids",
                format!("may name at most {MEMBERS_PER_REQUEST} users"),
            )]));
        }
        let action = if add {
            "group.members.add"
        } else {
            "group.members.remove"
        };
        let audit = Audit::by(caller, action).target(id);
        let at = super::now();
        self.store
            .write(move |tx| {
                let current = tx.get_group(id)?.ok_or(Error::NotFound)?;
                pre.check(current.version)?;
                let (next, n) = if add {
                    let mut unknown = Vec::new();
                    for u in &users {
                        if tx.get_user(*u)?.is_none() {
                            unknown.push(u.to_string());
                        }
                    }
                    if !unknown.is_empty() {
                        return Err(Error::Validation(vec![FieldError::new(
                            "user_ids",
                            format!("no such user: {}", unknown.join(", ")),
                        )]));
                    }
                    tx.add_members(&current, &users, Timestamp::from_datetime(at))?
                } else {
                    tx.remove_members(&current, &users, Timestamp::from_datetime(at))?
                };
                if n > 0 {
                    let detail = match users.as_slice() {
                        [one] => one.to_string(),
                        _ => format!("{n} users"),
                    };
                    audit.clone().detail(detail).write(tx, at)?;
                }
                Ok((next, n))
            })
            .await
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
