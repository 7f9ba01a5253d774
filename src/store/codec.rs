//! Record encoding: one schema-version byte, then postcard.
//!
//! postcard is not self-describing, so free-form JSON (user attributes) is
//! kept as a JSON string inside the record. A new record shape gets a new
//! version byte and a decoder arm here; old records keep decoding.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::{
    Attributes, Email, EventType, Name, Role, Status, Timestamp, User, UserId, Username,
};

use super::StoreError;

const USER_V1: u8 = 1;
const CHANGE_V1: u8 = 1;
const CHANGE_V2: u8 = 2;

#[derive(Serialize, Deserialize)]
struct UserRecordV1 {
    email: String,
    username: Option<String>,
    name: Option<String>,
    roles: Vec<u8>,
    disabled: bool,
    email_verified: bool,
    attributes: String,
    created_at: i64,
    updated_at: i64,
    version: u64,
}

pub(crate) fn encode_user(u: &User) -> Vec<u8> {
    let rec = UserRecordV1 {
        email: u.email.as_str().to_owned(),
        username: u.username.as_ref().map(|x| x.as_str().to_owned()),
        name: u.name.as_ref().map(|x| x.as_str().to_owned()),
        roles: u.roles.iter().map(|r| r.code()).collect(),
        disabled: u.status == Status::Disabled,
        email_verified: u.email_verified,
        attributes: serde_json::to_string(u.attributes.as_map())
            .expect("a JSON map always serialises"),
        created_at: micros(u.created_at),
        updated_at: micros(u.updated_at),
        version: u.version,
    };
    let mut out = vec![USER_V1];
    postcard::to_io(&rec, &mut out).expect("writing to a Vec cannot fail");
    // What users gained later follows the record, only when set: records
    // without it read as before, and older binaries read the record and
    // ignore what follows.
    if u.mfa_enabled {
        postcard::to_io(&UserTail { mfa_enabled: true }, &mut out)
            .expect("writing to a Vec cannot fail");
    }
    out
}

/// The fields after a [`UserRecordV1`], in the order they were added.
#[derive(Serialize, Deserialize)]
struct UserTail {
    mfa_enabled: bool,
}

/// Decodes a user record. Never panics, whatever the bytes.
pub(crate) fn decode_user(id: u128, bytes: &[u8]) -> Result<User, StoreError> {
    let corrupt =
        |why: String| StoreError::Corrupt(format!("user {}: {why}", UserId::from_u128(id)));
    let (&version, body) = bytes
        .split_first()
        .ok_or_else(|| corrupt("empty record".into()))?;
    if version != USER_V1 {
        return Err(corrupt(format!("unknown record version {version}")));
    }
    let (rec, tail) =
        postcard::take_from_bytes::<UserRecordV1>(body).map_err(|e| corrupt(e.to_string()))?;
    let tail = match tail {
        [] => UserTail { mfa_enabled: false },
        rest => postcard::from_bytes(rest).map_err(|e| corrupt(e.to_string()))?,
    };
    let roles = rec
        .roles
        .iter()
        .map(|&c| Role::from_code(c).ok_or_else(|| corrupt(format!("unknown role code {c}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let attributes = serde_json::from_str(&rec.attributes).map_err(|e| corrupt(e.to_string()))?;
    Ok(User {
        id: UserId::from_u128(id),
        email: Email::from_stored(rec.email),
        username: rec.username.map(Username::from_stored),
        name: rec.name.map(Name::from_stored),
        roles,
        status: if rec.disabled {
            Status::Disabled
        } else {
            Status::Active
        },
        email_verified: rec.email_verified,
        attributes: Attributes::from_stored(attributes),
        created_at: from_micros(rec.created_at).ok_or_else(|| corrupt("bad created_at".into()))?,
        updated_at: from_micros(rec.updated_at).ok_or_else(|| corrupt("bad updated_at".into()))?,
        version: rec.version,
        mfa_enabled: tail.mfa_enabled,
    })
}

/// [`encode_user`], reachable from outside the crate for the fuzz targets
/// (`tests/fuzz`) and their regression tests. Not an API.
#[doc(hidden)]
pub fn encode_user_record(u: &User) -> Vec<u8> {
    encode_user(u)
}

/// [`decode_user`], reachable from outside the crate for the fuzz targets
/// (`tests/fuzz`) and their regression tests. Not an API.
#[doc(hidden)]
pub fn decode_user_record(id: u128, bytes: &[u8]) -> Result<User, StoreError> {
    decode_user(id, bytes)
}

/// What a write did, as recorded in the change log: the event it is seen
/// as from outside, and the user as the change left it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub kind: EventType,
    pub id: u128,
    /// The user's version after the change (its last one, for a deletion).
    pub version: u64,
    /// When it committed; `None` in entries from before times were kept.
    pub at: Option<Timestamp>,
    /// For an update: the fields that changed, by their API names.
    pub fields: Vec<String>,
    /// The user record (this module's encoding) after the change, or
    /// before a deletion. `None` in old entries.
    pub snapshot: Option<Vec<u8>>,
}

impl Change {
    pub fn is_delete(&self) -> bool {
        self.kind == EventType::UserDeleted
    }

    /// The user this change recorded, decoded from its snapshot (`None`
    /// for a change of a group).
    pub fn user(&self) -> Result<Option<User>, StoreError> {
        if self.kind.is_group() {
            return Ok(None);
        }
        self.snapshot
            .as_deref()
            .map(|b| decode_user(self.id, b))
            .transpose()
    }

    /// The group this change recorded (`None` for a change of a user).
    pub fn group(&self) -> Result<Option<crate::domain::Group>, StoreError> {
        if !self.kind.is_group() {
            return Ok(None);
        }
        self.snapshot
            .as_deref()
            .map(|b| super::groups::decode_group(self.id, b))
            .transpose()
    }
}

/// A change as written (borrowing its snapshot, which the write has just
/// encoded for the `users` table).
#[derive(Serialize)]
pub(crate) struct ChangeOut<'a> {
    pub kind: EventType,
    pub id: u128,
    pub version: u64,
    pub at: i64,
    pub fields: &'a [&'static str],
    pub snapshot: &'a [u8],
}

/// [`ChangeOut`] as read back: the same fields in the same order.
#[derive(Deserialize)]
struct ChangeRecordV2 {
    kind: EventType,
    id: u128,
    version: u64,
    at: i64,
    fields: Vec<String>,
    snapshot: Vec<u8>,
}

/// The first change-log format: an upsert or a deletion, without time or
/// content.
#[derive(Deserialize)]
enum ChangeV1 {
    UserUpsert { id: u128, version: u64 },
    UserDelete { id: u128 },
}

pub(crate) fn encode_change(c: &ChangeOut<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + c.snapshot.len());
    out.push(CHANGE_V2);
    postcard::to_io(c, &mut out).expect("writing to a Vec cannot fail");
    out
}

pub(crate) fn decode_change(seq: u64, bytes: &[u8]) -> Result<Change, StoreError> {
    let corrupt = |e: postcard::Error| StoreError::Corrupt(format!("change {seq}: {e}"));
    match bytes.split_first() {
        Some((&CHANGE_V2, body)) => {
            let r: ChangeRecordV2 = postcard::from_bytes(body).map_err(corrupt)?;
            Ok(Change {
                kind: r.kind,
                id: r.id,
                version: r.version,
                at: Some(Timestamp::from_micros(r.at)),
                fields: r.fields,
                snapshot: (!r.snapshot.is_empty()).then_some(r.snapshot),
            })
        }
        Some((&CHANGE_V1, body)) => {
            let (kind, id, version) = match postcard::from_bytes(body).map_err(corrupt)? {
                ChangeV1::UserUpsert { id, version: 1 } => (EventType::UserCreated, id, 1),
                ChangeV1::UserUpsert { id, version } => (EventType::UserUpdated, id, version),
                ChangeV1::UserDelete { id } => (EventType::UserDeleted, id, 0),
            };
            Ok(Change {
                kind,
                id,
                version,
                at: None,
                fields: Vec::new(),
                snapshot: None,
            })
        }
        _ => Err(StoreError::Corrupt(format!(
            "change {seq}: unknown version"
        ))),
    }
}

/// Microseconds since the Unix epoch: how the store keeps times, as
/// [`Timestamp`] defines them.
pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    Timestamp::from_datetime(t).micros()
}

/// The time `m` microseconds after the epoch; `None` out of range.
pub(crate) fn from_micros(m: i64) -> Option<OffsetDateTime> {
    Timestamp::from_micros(m).to_datetime()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserDraft;
    use serde_json::json;

    #[test]
    fn user_round_trips() {
        let draft = UserDraft::from_json(
            json!({"email": "ada@example.com", "username": "ada", "name": "Ada",
                   "roles": ["admin", "user"], "status": "disabled",
                   "attributes": {"team": "engines", "n": [1, {"x": null}]}})
            .as_object()
            .unwrap()
            .clone(),
        )
        .unwrap();
        let now = from_micros(micros(OffsetDateTime::now_utc())).unwrap();
        let u = User::from_draft(UserId::new(), draft, now);
        let back = decode_user(u.id.as_u128(), &encode_user(&u)).unwrap();
        assert_eq!(back, u);
        // With a second factor: the flag follows the record; the record
        // itself is unchanged, so an older binary still reads it.
        let with_mfa = User {
            mfa_enabled: true,
            ..u.clone()
        };
        let bytes = encode_user(&with_mfa);
        assert_eq!(decode_user(u.id.as_u128(), &bytes).unwrap(), with_mfa);
        assert!(bytes.starts_with(&encode_user(&u)));
        let older: UserRecordV1 = postcard::from_bytes(&bytes[1..]).unwrap();
        assert_eq!(older.email, "ada@example.com");
    }

    #[test]
    fn changes_carry_the_user_and_old_entries_still_decode() {
        let draft = UserDraft::from_json(
            json!({"email": "ada@example.com"})
                .as_object()
                .unwrap()
                .clone(),
        )
        .unwrap();
        let u = User::from_draft(
            UserId::new(),
            draft,
            from_micros(micros(OffsetDateTime::now_utc())).unwrap(),
        );
        let record = encode_user(&u);
        let out = ChangeOut {
            kind: EventType::UserUpdated,
            id: u.id.as_u128(),
            version: u.version,
            at: 42,
            fields: &["name", "roles"],
            snapshot: &record,
        };
        let c = decode_change(9, &encode_change(&out)).unwrap();
        assert_eq!(
            (c.kind, c.version, c.at),
            (
                EventType::UserUpdated,
                u.version,
                Some(Timestamp::from_micros(42))
            )
        );
        assert_eq!(c.fields, ["name", "roles"]);
        assert_eq!(c.user().unwrap(), Some(u));

        #[derive(Serialize)]
        enum V1 {
            UserUpsert { id: u128, version: u64 },
            UserDelete { id: u128 },
        }
        let v1 = |c: &V1| {
            let mut b = vec![CHANGE_V1];
            postcard::to_io(c, &mut b).unwrap();
            decode_change(1, &b).unwrap()
        };
        let c = v1(&V1::UserUpsert { id: 7, version: 3 });
        assert_eq!(
            (c.kind, c.id, c.version, c.at),
            (EventType::UserUpdated, 7, 3, None)
        );
        assert_eq!(c.user().unwrap(), None);
        assert_eq!(
            v1(&V1::UserUpsert { id: 7, version: 1 }).kind,
            EventType::UserCreated
        );
        assert_eq!(v1(&V1::UserDelete { id: 7 }).kind, EventType::UserDeleted);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [
            &[][..],
            &[9, 1, 2][..],
            &[USER_V1][..],
            &[USER_V1, 0xff, 0xff, 0xff][..],
        ] {
            assert!(decode_user(1, bytes).is_err());
        }
        assert!(decode_change(1, &[CHANGE_V1, 7]).is_err());
        assert!(decode_change(1, &[CHANGE_V2, 9]).is_err());
    }
}
