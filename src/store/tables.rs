//! The store's tables: their names and key and value types, which are the
//! on-disk format, and their creation in a new (or older) file.
//!
//! A table's name and types may never change once a release has written it:
//! a file from that release would no longer open. Record encoding is
//! `codec`'s business, not this module's.

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::StoreError;

pub(crate) const USERS: TableDefinition<u128, &[u8]> = TableDefinition::new("users");
pub(crate) const USERS_BY_EMAIL: TableDefinition<&str, u128> =
    TableDefinition::new("users_by_email");
pub(crate) const USERS_BY_USERNAME: TableDefinition<&str, u128> =
    TableDefinition::new("users_by_username");
pub(crate) const USERS_BY_CREATED: TableDefinition<(i64, u128), ()> =
    TableDefinition::new("users_by_created");
pub(crate) const USERS_BY_ROLE: TableDefinition<(u8, u128), ()> =
    TableDefinition::new("users_by_role");
pub(crate) const CHANGES: TableDefinition<u64, &[u8]> = TableDefinition::new("changes");
/// user id → argon2id PHC string. Kept apart from the user record so that a
/// hash can never travel with a user by accident.
pub(crate) const CREDENTIALS: TableDefinition<u128, &str> = TableDefinition::new("credentials");
pub(crate) const SESSIONS: TableDefinition<u128, &[u8]> = TableDefinition::new("sessions");
pub(crate) const SESSIONS_BY_USER: TableDefinition<(u128, u128), ()> =
    TableDefinition::new("sessions_by_user");
/// SHA-256 of a refresh token → (session id, generation it was issued at).
pub(crate) const REFRESH_TOKENS: TableDefinition<&[u8], (u128, u32)> =
    TableDefinition::new("refresh_tokens");
pub(crate) const API_KEYS: TableDefinition<u128, &[u8]> = TableDefinition::new("api_keys");
pub(crate) const API_KEYS_BY_HASH: TableDefinition<&[u8], u128> =
    TableDefinition::new("api_keys_by_hash");
/// UUIDv7 (time-ordered) → audit entry.
pub(crate) const AUDIT: TableDefinition<u128, &[u8]> = TableDefinition::new("audit");
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// UUIDv7 (time-ordered) → outbox job: work to do after a commit (a mail).
/// Not in backups: a restored store must not send old mail again.
pub(crate) const JOBS: TableDefinition<u128, &[u8]> = TableDefinition::new("jobs");
/// SHA-256 of a one-time token (mailed links) → what it is good for. Not in
/// backups either: the links are short-lived and tied to sent mail.
pub(crate) const ONE_TIME_TOKENS: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("one_time_tokens");
/// UUIDv7 → webhook endpoint, with its cursor in the change log.
pub(crate) const WEBHOOKS: TableDefinition<u128, &[u8]> = TableDefinition::new("webhooks");
/// (endpoint, event id) → that event's delivery to that endpoint.
pub(crate) const WEBHOOK_DELIVERIES: TableDefinition<(u128, u64), &[u8]> =
    TableDefinition::new("webhook_deliveries");
/// user id → that user's second factors (TOTP secret, recovery-code hashes).
pub(crate) const MFA: TableDefinition<u128, &[u8]> = TableDefinition::new("mfa");
/// SHA-256 of an `mfa_token` → the sign-in waiting for its second factor.
/// Not in backups: minutes-long, like one-time tokens.
pub(crate) const MFA_CHALLENGES: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("mfa_challenges");
/// user id → that user's passkeys (credential ids and public keys).
pub(crate) const PASSKEYS: TableDefinition<u128, &[u8]> = TableDefinition::new("passkeys");
/// SHA-256 of a credential id → its user: a passkey sign-in names no user.
pub(crate) const PASSKEYS_BY_ID: TableDefinition<&[u8], u128> =
    TableDefinition::new("passkeys_by_id");
/// SHA-256 of a WebAuthn challenge → the ceremony it was handed out for.
/// Not in backups: minutes-long, like `mfa_challenges`.
pub(crate) const WEBAUTHN_CHALLENGES: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("webauthn_challenges");

/// (`externalId` of the user — a keyed hash when encrypted —, user id):
/// the users an identity provider knows by that id (SCIM lookups).
pub(crate) const USERS_BY_EXTERNAL_ID: TableDefinition<(&str, u128), ()> =
    TableDefinition::new("users_by_external_id");
/// group id → group record.
pub(crate) const GROUPS: TableDefinition<u128, &[u8]> = TableDefinition::new("groups");
/// Folded group name (a keyed hash when encrypted) → group id.
pub(crate) const GROUPS_BY_NAME: TableDefinition<&str, u128> =
    TableDefinition::new("groups_by_name");
/// (group id, user id): a group's members.
pub(crate) const GROUP_MEMBERS: TableDefinition<(u128, u128), ()> =
    TableDefinition::new("group_members");
/// (user id, group id): a user's groups.
pub(crate) const USER_GROUPS: TableDefinition<(u128, u128), ()> =
    TableDefinition::new("user_groups");
/// UUIDv7 → OAuth client (its secret only as a hash).
pub(crate) const OAUTH_CLIENTS: TableDefinition<u128, &[u8]> =
    TableDefinition::new("oauth_clients");
/// SHA-256 of an authorization code → what it grants. Not in backups:
/// a minute long.
pub(crate) const OAUTH_CODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("oauth_codes");
/// session id → the client holding that session and what it was granted.
pub(crate) const OAUTH_GRANTS: TableDefinition<u128, &[u8]> = TableDefinition::new("oauth_grants");
/// (user id, client id) → the scopes the user consented to.
pub(crate) const OAUTH_CONSENTS: TableDefinition<(u128, u128), &[u8]> =
    TableDefinition::new("oauth_consents");

/// Creates missing tables; returns the last change sequence.
pub(super) fn init_tables(db: &Database) -> Result<u64, StoreError> {
    let txn = db.begin_write()?;
    {
        txn.open_table(USERS)?;
        txn.open_table(USERS_BY_EMAIL)?;
        txn.open_table(USERS_BY_USERNAME)?;
        txn.open_table(USERS_BY_CREATED)?;
        txn.open_table(USERS_BY_ROLE)?;
        txn.open_table(CHANGES)?;
        txn.open_table(CREDENTIALS)?;
        txn.open_table(SESSIONS)?;
        txn.open_table(SESSIONS_BY_USER)?;
        txn.open_table(REFRESH_TOKENS)?;
        txn.open_table(API_KEYS)?;
        txn.open_table(API_KEYS_BY_HASH)?;
        txn.open_table(AUDIT)?;
        txn.open_table(META)?;
        txn.open_table(JOBS)?;
        txn.open_table(ONE_TIME_TOKENS)?;
        txn.open_table(WEBHOOKS)?;
        txn.open_table(WEBHOOK_DELIVERIES)?;
        txn.open_table(MFA)?;
        txn.open_table(MFA_CHALLENGES)?;
        txn.open_table(PASSKEYS)?;
        txn.open_table(PASSKEYS_BY_ID)?;
        txn.open_table(WEBAUTHN_CHALLENGES)?;
        txn.open_table(GROUPS)?;
        txn.open_table(GROUPS_BY_NAME)?;
        txn.open_table(GROUP_MEMBERS)?;
        txn.open_table(USER_GROUPS)?;
        txn.open_table(USERS_BY_EXTERNAL_ID)?;
        txn.open_table(OAUTH_CLIENTS)?;
        txn.open_table(OAUTH_CODES)?;
        txn.open_table(OAUTH_GRANTS)?;
        txn.open_table(OAUTH_CONSENTS)?;
    }
    txn.commit()?;
    let read = db.begin_read()?;
    let changes = read.open_table(CHANGES)?;
    let last = changes.last()?.map(|(k, _)| k.value()).unwrap_or(0);
    Ok(last)
}
