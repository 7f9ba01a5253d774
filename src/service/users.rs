//! The use cases: the rules of creating, reading, changing, listing and
//! deleting users. The only module that uses the store (and, later, search);
//! it knows nothing of HTTP.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;

use crate::auth::passwords::Hasher;
use crate::auth::policy::{Action, Caller};
use crate::domain::{
    ListOrder, NewUser, Role, Status, Timestamp, User, UserDraft, UserId, UserPatch,
};
use crate::error::Error;
use crate::store::{Order, Position, Scan, Store, StoreError, Tx};

use super::hash_error;
use super::{Audit, allow, now};

/// Most entries one list page may examine; see [`Scan::budget`].
const SCAN_BUDGET: usize = 10_000;
pub const LIST_LIMIT_DEFAULT: usize = 50;
pub const LIST_LIMIT_MAX: usize = 500;

#[derive(Clone)]
pub struct Users {
    store: Store,
    hasher: Hasher,
}

/// A precondition on the version a write applies to (`If-Match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    None,
    /// `If-Match: *`: the user must exist.
    Exists,
    Version(u64),
    /// A tag that can never match (weak, or not one of ours).
    Never,
}

impl Precondition {
    pub(crate) fn check(self, current: u64) -> Result<(), Error> {
        match self {
            Precondition::Version(v) if v != current => Err(Error::PreconditionFailed { current }),
            Precondition::Never => Err(Error::PreconditionFailed { current }),
            _ => Ok(()),
        }
    }
}

/// A list request, already parsed from the query string.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub limit: Option<usize>,
    pub cursor: Option<String>,
    pub sort: ListOrder,
    pub roles: Vec<Role>,
    pub status: Option<Status>,
    pub created_after: Option<Timestamp>,
    pub created_before: Option<Timestamp>,
}

pub struct Page {
    pub items: Vec<User>,
    pub next_cursor: Option<String>,
}

/// What an opaque cursor holds: the sort it belongs to and where it stopped.
#[derive(serde::Serialize, serde::Deserialize)]
struct Cursor {
    sort: u8,
    at: Position,
}

impl Users {
    pub fn new(store: Store, hasher: Hasher) -> Self {
        Self { store, hasher }
    }

    /// Creates a user, with its first password if one is given.
    pub async fn create(&self, caller: &Caller, new: NewUser) -> Result<User, Error> {
        allow(caller, Action::CreateUser)?;
        let NewUser { draft, password } = new;
        let phc = match password {
            Some(p) => Some(self.hasher.hash(p.expose()).await.map_err(hash_error)?),
            None => None,
        };
        let at = now();
        let user = User::from_draft(UserId::new(), draft, at);
        let audit = Audit::by(caller, "user.create").target(user.id);
        self.store
            .write(move |tx| {
                tx.insert_user(&user)?;
                if let Some(phc) = &phc {
                    tx.set_password_hash(user.id, phc)?;
                }
                audit.write(tx, at)?;
                Ok::<_, Error>(user.clone())
            })
            .await
    }

    pub fn get(&self, caller: &Caller, id: UserId) -> Result<User, Error> {
        allow(caller, Action::ReadUser(id))?;
        self.store.get_user(id)?.ok_or(Error::NotFound)
    }

    /// Applies an RFC 7396 merge patch to the user's writable fields.
    pub async fn patch(
        &self,
        caller: &Caller,
        id: UserId,
        patch: UserPatch,
        pre: Precondition,
    ) -> Result<User, Error> {
        self.update(caller, id, pre, move |current| {
            patch.apply(current).map_err(Error::Validation)
        })
        .await
    }

    /// Replaces every writable field; absent ones take their defaults.
    pub async fn replace(
        &self,
        caller: &Caller,
        id: UserId,
        draft: UserDraft,
        pre: Precondition,
    ) -> Result<User, Error> {
        self.update(caller, id, pre, move |_| Ok(draft.clone()))
            .await
    }

    /// Replaces the writable fields of user `id` by what `draft` makes of
    /// the current user, under the precondition and the policy.
    async fn update(
        &self,
        caller: &Caller,
        id: UserId,
        pre: Precondition,
        draft: impl Fn(&User) -> Result<UserDraft, Error> + Send + 'static,
    ) -> Result<User, Error> {
        // Checked before reading, so that a plain user learns nothing about
        // other users; whether the change is privileged is checked once the
        // current user is known.
        allow(
            caller,
            Action::UpdateUser {
                id,
                privileged: false,
            },
        )?;
        let caller = caller.clone();
        let at = now();
        self.store
            .write(move |tx| {
                let current = tx.get_user(id)?.ok_or(Error::NotFound)?;
                pre.check(current.version)?;
                let next = current.replaced(draft(&current)?, at);
                apply_update(tx, &caller, &current, next, at)
            })
            .await
    }

    pub async fn delete(
        &self,
        caller: &Caller,
        id: UserId,
        pre: Precondition,
    ) -> Result<(), Error> {
        allow(caller, Action::DeleteUser(id))?;
        let audit = Audit::by(caller, "user.delete").target(id);
        let at = now();
        self.store
            .write(move |tx| {
                let current = tx.get_user(id)?.ok_or(Error::NotFound)?;
                pre.check(current.version)?;
                tx.delete_user(&current)?;
                audit.write(tx, at)
            })
            .await
    }

    pub async fn list(&self, caller: &Caller, params: ListParams) -> Result<Page, Error> {
        allow(caller, Action::ListUsers)?;
        let (order, sort_code) = order_of(params.sort);
        let limit = params.limit.unwrap_or(LIST_LIMIT_DEFAULT);
        if !(1..=LIST_LIMIT_MAX).contains(&limit) {
            return Err(Error::BadRequest(format!(
                "limit must be between 1 and {LIST_LIMIT_MAX}"
            )));
        }
        let after = match &params.cursor {
            None => None,
            Some(c) => {
                let cursor = decode_cursor(c)?;
                if cursor.sort != sort_code {
                    return Err(Error::BadRequest(
                        "the cursor belongs to another sort order".into(),
                    ));
                }
                Some(cursor.at)
            }
        };
        let store = self.store.clone();
        let page = tokio::task::spawn_blocking(move || {
            let (created_after, created_before) = (params.created_after, params.created_before);
            let filter = |u: &User| {
                (params.roles.is_empty() || params.roles.iter().any(|r| u.roles.contains(r)))
                    && params.status.is_none_or(|s| u.status == s)
                    && created_after.is_none_or(|t| Timestamp::from_datetime(u.created_at) > t)
                    && created_before.is_none_or(|t| Timestamp::from_datetime(u.created_at) < t)
            };
            store.read(|r| {
                r.scan(&Scan {
                    order,
                    after,
                    created_after,
                    created_before,
                    limit,
                    budget: SCAN_BUDGET,
                    filter: &filter,
                })
            })
        })
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("list task failed: {e}")))??;
        Ok(Page {
            items: page.items,
            next_cursor: page.next.map(|at| {
                encode_cursor(&Cursor {
                    sort: sort_code,
                    at,
                })
            }),
        })
    }

    /// The cursor of the page that starts right after `user` in `sort`
    /// (GraphQL gives every edge of a connection its own cursor).
    pub fn cursor_after(sort: ListOrder, user: &User) -> String {
        let (order, sort_code) = order_of(sort);
        encode_cursor(&Cursor {
            sort: sort_code,
            at: Position::of(order, user),
        })
    }

    /// Users in creation order after skipping `offset`, and how many there
    /// are in all (SCIM's `startIndex` pages).
    pub fn page_by_creation(
        &self,
        caller: &Caller,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<User>, u64), Error> {
        allow(caller, Action::ListUsers)?;
        let items = self.store.users_by_creation(false, offset, limit)?;
        let total = self.store.read(|r| r.count_users())?;
        Ok((items, total))
    }

    /// The user whose email or username, folded, is `login` folded.
    pub fn find_by_login(&self, caller: &Caller, login: &str) -> Result<Option<User>, Error> {
        allow(caller, Action::ListUsers)?;
        let folded = crate::domain::fold(login);
        Ok(self.store.read(|r| r.find_user_by_login(&folded))?)
    }

    /// The users an identity provider knows by `external_id` (SCIM's
    /// `externalId`, exactly).
    pub fn find_by_external_id(
        &self,
        caller: &Caller,
        external_id: &str,
    ) -> Result<Vec<User>, Error> {
        allow(caller, Action::ListUsers)?;
        Ok(self.store.read(|r| r.users_by_external_id(external_id))?)
    }

    /// Every user, if there are at most `max` (for a filter no index
    /// serves); `None` beyond, so that no request reads a large store.
    pub fn all_up_to(&self, caller: &Caller, max: u64) -> Result<Option<Vec<User>>, Error> {
        allow(caller, Action::ListUsers)?;
        Ok(self.store.read(|r| {
            if r.count_users()? > max {
                return Ok(None);
            }
            let mut out = Vec::new();
            r.for_each_user(|u| {
                out.push(u);
                Ok(())
            })?;
            Ok(Some(out))
        })?)
    }

    /// May `caller` use the provisioning (SCIM) façade?
    pub fn may_provision(&self, caller: &Caller) -> Result<(), Error> {
        allow(caller, Action::Provision)
    }

    /// A bulk importer acting for `caller` (admins only).
    pub fn importer(&self, caller: &Caller) -> Result<super::Importer, Error> {
        super::Importer::new(self.store.clone(), self.hasher.clone(), caller.clone())
    }

    /// Streams every user to `out` (blocking; admins only).
    pub fn export(
        &self,
        caller: &Caller,
        format: super::Format,
        out: impl std::io::Write,
    ) -> Result<u64, Error> {
        super::export(&self.store, caller, format, false, out)
    }

    /// Streams a backup of the whole store to `out` (blocking; admins only).
    pub fn backup(&self, caller: &Caller, out: impl std::io::Write) -> Result<u64, Error> {
        super::backup(&self.store, caller, out)
    }

    /// How many users there are (dashboard).
    pub fn count(&self, caller: &Caller) -> Result<u64, Error> {
        allow(caller, Action::ReadStats)?;
        Ok(self.store.read(|r| r.count_users())?)
    }

    /// Bytes the store takes on disk (metrics).
    pub fn store_size_bytes(&self) -> u64 {
        self.store.file_size()
    }

    /// Checks that the store is open and its writer alive.
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }
}

/// Writes `next` over `current` after the policy check that needs both:
/// whether the change is privileged (roles, status, verification). Disabling
/// a user revokes its sessions; role and status changes are audited.
fn apply_update(
    tx: &mut Tx<'_>,
    caller: &Caller,
    current: &User,
    mut next: User,
    at: OffsetDateTime,
) -> Result<User, Error> {
    // What an identity provider wrote is its own, not the user's.
    let privileged = next.roles != current.roles
        || next.status != current.status
        || next.email_verified != current.email_verified
        || next.provisioned() != current.provisioned();
    allow(
        caller,
        Action::UpdateUser {
            id: current.id,
            privileged,
        },
    )?;
    if next.email.folded() != current.email.folded() && !caller.is_admin() {
        // A new address is unverified until proven otherwise.
        next.email_verified = false;
    }
    tx.update_user(current, &next)?;
    if next.status == Status::Disabled && current.status != Status::Disabled {
        let n = tx.revoke_user_sessions(current.id)?;
        Audit::by(caller, "user.disable")
            .target(current.id)
            .detail(format!("{n} sessions revoked"))
            .write(tx, at)?;
    } else if next.status != current.status {
        Audit::by(caller, "user.enable")
            .target(current.id)
            .write(tx, at)?;
    }
    if next.roles != current.roles {
        let roles: Vec<&str> = next.roles.iter().map(|r| r.as_str()).collect();
        Audit::by(caller, "user.roles")
            .target(current.id)
            .detail(roles.join(","))
            .write(tx, at)?;
    }
    Ok(next)
}

/// The store's order for `sort`, and the code its cursors carry.
fn order_of(sort: ListOrder) -> (Order, u8) {
    match sort {
        ListOrder::CreatedAsc => (Order::CreatedAsc, 0),
        ListOrder::CreatedDesc => (Order::CreatedDesc, 1),
        ListOrder::Email => (Order::EmailAsc, 2),
    }
}

fn encode_cursor(c: &Cursor) -> String {
    let bytes = postcard::to_stdvec(c).expect("a cursor always serialises");
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_cursor(s: &str) -> Result<Cursor, Error> {
    let bad = || Error::BadRequest("cursor is not one this server issued".into());
    if s.len() > 2048 {
        return Err(bad());
    }
    let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
    postcard::from_bytes(&bytes).map_err(|_| bad())
}
