//! The use cases: the rules of creating, reading, changing, listing and
//! deleting users. The only module that uses the store (and, later, search);
//! it knows nothing of HTTP.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::domain::{Role, Status, User, UserDraft, UserId, merge_patch};
use crate::error::Error;
use crate::store::{Order, Position, Scan, Store, StoreError, micros};

/// Most entries one list page may examine; see [`Scan::budget`].
const SCAN_BUDGET: usize = 10_000;
pub const LIST_LIMIT_DEFAULT: usize = 50;
pub const LIST_LIMIT_MAX: usize = 500;

#[derive(Clone)]
pub struct Users {
    store: Store,
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
    fn check(self, current: u64) -> Result<(), Error> {
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
    pub sort: Option<String>,
    pub roles: Vec<Role>,
    pub status: Option<Status>,
    pub created_after: Option<OffsetDateTime>,
    pub created_before: Option<OffsetDateTime>,
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
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub async fn create(&self, body: Map<String, Value>) -> Result<User, Error> {
        let draft = UserDraft::from_json(body).map_err(Error::Validation)?;
        let user = User::from_draft(UserId::new(), draft, now());
        self.store
            .write(move |tx| {
                tx.insert_user(&user)?;
                Ok::<_, Error>(user.clone())
            })
            .await
    }

    pub fn get(&self, id: UserId) -> Result<User, Error> {
        self.store.read(|r| r.get_user(id))?.ok_or(Error::NotFound)
    }

    /// Applies an RFC 7396 merge patch to the user's writable fields.
    pub async fn patch(
        &self,
        id: UserId,
        patch: Map<String, Value>,
        pre: Precondition,
    ) -> Result<User, Error> {
        let patch = Value::Object(patch);
        let now = now();
        self.store
            .write(move |tx| {
                let current = tx.get_user(id)?.ok_or(Error::NotFound)?;
                pre.check(current.version)?;
                let mut body = Value::Object(current.writable_json());
                merge_patch(&mut body, &patch);
                let Value::Object(body) = body else {
                    unreachable!("merging an object patch into an object gives an object")
                };
                let draft = UserDraft::from_json(body).map_err(Error::Validation)?;
                let next = current.replaced(draft, now);
                tx.update_user(&current, &next)?;
                Ok(next)
            })
            .await
    }

    /// Replaces every writable field; absent ones take their defaults.
    pub async fn replace(
        &self,
        id: UserId,
        body: Map<String, Value>,
        pre: Precondition,
    ) -> Result<User, Error> {
        let draft = UserDraft::from_json(body).map_err(Error::Validation)?;
        let now = now();
        self.store
            .write(move |tx| {
                let current = tx.get_user(id)?.ok_or(Error::NotFound)?;
                pre.check(current.version)?;
                let next = current.replaced(draft.clone(), now);
                tx.update_user(&current, &next)?;
                Ok(next)
            })
            .await
    }

    pub async fn delete(&self, id: UserId, pre: Precondition) -> Result<(), Error> {
        self.store
            .write(move |tx| {
                let current = tx.get_user(id)?.ok_or(Error::NotFound)?;
                pre.check(current.version)?;
                tx.delete_user(&current)?;
                Ok(())
            })
            .await
    }

    pub async fn list(&self, params: ListParams) -> Result<Page, Error> {
        let (order, sort_code) = match params.sort.as_deref() {
            None | Some("created_at") => (Order::CreatedAsc, 0),
            Some("-created_at") => (Order::CreatedDesc, 1),
            Some("email") => (Order::EmailAsc, 2),
            Some(other) => {
                return Err(Error::BadRequest(format!(
                    "sort must be one of created_at, -created_at, email; not {other:?}"
                )));
            }
        };
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
            let created_after = params.created_after.map(micros);
            let created_before = params.created_before.map(micros);
            let filter = |u: &User| {
                (params.roles.is_empty() || params.roles.iter().any(|r| u.roles.contains(r)))
                    && params.status.is_none_or(|s| u.status == s)
                    && created_after.is_none_or(|t| micros(u.created_at) > t)
                    && created_before.is_none_or(|t| micros(u.created_at) < t)
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

    /// Checks that the store is open and its writer alive.
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    pub fn count(&self) -> Result<u64, Error> {
        Ok(self.store.read(|r| r.count_users())?)
    }
}

fn now() -> OffsetDateTime {
    // Microsecond precision: what the store keeps, so a returned user equals
    // the same user read back.
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000)
        .expect("rounding down nanoseconds stays in range")
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
