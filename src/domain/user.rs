//! A user and its parts, valid by construction.
//!
//! Every value that reaches the store went through a `parse` here; after that
//! nobody re-validates. [`UserDraft::from_json`] turns a JSON object (the
//! result of applying a merge patch, or an imported line) into the writable
//! fields of a user, collecting every field error at once.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use serde::Deserialize;

use super::{Field, FieldError};

/// A user id: a UUIDv7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(pub Uuid);

impl UserId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// Parses the canonical hyphenated form (other UUID spellings are accepted
    /// too, as the uuid crate does).
    pub fn parse(s: &str) -> Option<Self> {
        Uuid::try_parse(s).ok().map(Self)
    }

    pub fn as_u128(self) -> u128 {
        self.0.as_u128()
    }

    pub fn from_u128(v: u128) -> Self {
        Self(Uuid::from_u128(v))
    }
}

impl Default for UserId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// An email address, NFC-normalised. Syntax follows the WHATWG definition of
/// a valid email address, widened to non-ASCII letters and digits so that
/// internationalised addresses (RFC 6531) are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

const EMAIL_MAX: usize = 254;
const LOCAL_MAX: usize = 64;

impl Email {
    pub fn parse(input: &str) -> Result<Self, String> {
        let s: String = input.trim().nfc().collect();
        if s.is_empty() {
            return Err("is required".into());
        }
        if s.chars().count() > EMAIL_MAX {
            return Err(format!("must be at most {EMAIL_MAX} characters"));
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err("must be an email address such as ada@example.com".into());
        };
        let local_ok = !local.is_empty()
            && local.chars().count() <= LOCAL_MAX
            && local.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || "!#$%&'*+-/=?^_`{|}~.".contains(c)
                    || (!c.is_ascii() && c.is_alphanumeric())
            })
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        let domain_ok = !domain.is_empty()
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.chars().count() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| {
                        c.is_ascii_alphanumeric()
                            || c == '-'
                            || (!c.is_ascii() && c.is_alphanumeric())
                    })
            });
        if !local_ok || !domain_ok {
            return Err("must be an email address such as ada@example.com".into());
        }
        Ok(Self(s))
    }

    /// Rebuilds an email read back from the store, which only holds parsed values.
    pub(crate) fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The uniqueness key: case-folded after NFC normalisation.
    pub fn folded(&self) -> String {
        fold(&self.0)
    }
}

/// A username: 1–64 of ASCII letters, digits, `.`, `_`, `-`, starting with a
/// letter or digit. ASCII only, so look-alike characters cannot be used to
/// impersonate another user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

const USERNAME_MAX: usize = 64;

impl Username {
    pub fn parse(input: &str) -> Result<Self, String> {
        let s = input.trim();
        if s.is_empty() || s.len() > USERNAME_MAX {
            return Err(format!("must be 1 to {USERNAME_MAX} characters"));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err("may contain only letters a-z, digits, '.', '_' and '-'".into());
        }
        if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err("must start with a letter or a digit".into());
        }
        // A username that parses as an email or a UUID would make `login`
        // and path look-ups ambiguous; the character set already rules out
        // '@', and a UUID is refused here.
        if Uuid::try_parse(s).is_ok() {
            return Err("must not be a UUID".into());
        }
        Ok(Self(s.to_owned()))
    }

    pub(crate) fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn folded(&self) -> String {
        fold(&self.0)
    }
}

/// Case-folding used for every uniqueness key: NFC, then lower case.
pub fn fold(s: &str) -> String {
    s.nfc().collect::<String>().to_lowercase()
}

/// A display name: at most 200 characters, NFC, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

const NAME_MAX: usize = 200;

impl Name {
    /// `Ok(None)` for a blank name.
    pub fn parse(input: &str) -> Result<Option<Self>, String> {
        let s: String = input.trim().nfc().collect();
        if s.is_empty() {
            return Ok(None);
        }
        if s.chars().count() > NAME_MAX {
            return Err(format!("must be at most {NAME_MAX} characters"));
        }
        if s.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Some(Self(s)))
    }

    pub(crate) fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The known roles. `admin` may do everything; `user` is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, utoipa::ToSchema)]
#[schema(as = RoleName, rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

impl Role {
    pub const ALL: [Role; 2] = [Role::Admin, Role::User];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Role::Admin => 1,
            Role::User => 2,
        }
    }

    pub fn from_code(c: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == c)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, utoipa::ToSchema)]
#[schema(as = StatusName, rename_all = "lowercase")]
pub enum Status {
    #[default]
    Active,
    Disabled,
}

impl Status {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Status::Active),
            "disabled" => Some(Status::Disabled),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Disabled => "disabled",
        }
    }
}

/// Free-form attributes: a JSON object of at most 16 KiB when serialised.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attributes(Map<String, Value>);

pub const ATTRIBUTES_MAX_BYTES: usize = 16 * 1024;

impl Attributes {
    pub fn parse(value: Value) -> Result<Self, String> {
        let Value::Object(map) = value else {
            return Err("must be a JSON object".into());
        };
        let size = serde_json::to_vec(&map)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > ATTRIBUTES_MAX_BYTES {
            return Err(format!(
                "must be at most {ATTRIBUTES_MAX_BYTES} bytes as JSON, not {size}"
            ));
        }
        Ok(Self(map))
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub(crate) fn from_stored(map: Map<String, Value>) -> Self {
        Self(map)
    }
}

/// A stored user. Built only from a [`UserDraft`] by the service, or decoded
/// from the store.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub username: Option<Username>,
    pub name: Option<Name>,
    pub roles: Vec<Role>,
    pub status: Status,
    pub email_verified: bool,
    pub attributes: Attributes,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: u64,
}

impl User {
    pub fn from_draft(id: UserId, draft: UserDraft, now: OffsetDateTime) -> Self {
        Self {
            id,
            email: draft.email,
            username: draft.username,
            name: draft.name,
            roles: draft.roles,
            status: draft.status,
            email_verified: draft.email_verified,
            attributes: draft.attributes,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// The user with its writable fields replaced by `draft`, one version on.
    pub fn replaced(&self, draft: UserDraft, now: OffsetDateTime) -> Self {
        Self {
            updated_at: now,
            version: self.version + 1,
            ..Self::from_draft(self.id, draft, self.created_at)
        }
    }

    /// The writable fields as a JSON object: what a merge patch applies to.
    pub fn writable_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("email".into(), self.email.as_str().into());
        if let Some(u) = &self.username {
            m.insert("username".into(), u.as_str().into());
        }
        if let Some(n) = &self.name {
            m.insert("name".into(), n.as_str().into());
        }
        m.insert(
            "roles".into(),
            self.roles.iter().map(|r| Value::from(r.as_str())).collect(),
        );
        m.insert("status".into(), self.status.as_str().into());
        m.insert("email_verified".into(), self.email_verified.into());
        m.insert(
            "attributes".into(),
            Value::Object(self.attributes.as_map().clone()),
        );
        m
    }
}

/// The writable fields of a user, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct UserDraft {
    pub email: Email,
    pub username: Option<Username>,
    pub name: Option<Name>,
    pub roles: Vec<Role>,
    pub status: Status,
    pub email_verified: bool,
    pub attributes: Attributes,
}

/// Fields the server sets; a body may not write them.
const READ_ONLY: [&str; 4] = ["id", "version", "created_at", "updated_at"];
const MAX_ROLES: usize = 16;

/// The writable fields of a user as a body gave them: each read on its own
/// (see [`Field`]), with the keys that are not writable fields left over.
#[derive(Debug, Default, Deserialize)]
pub struct UserFields {
    #[serde(default)]
    pub email: Field<String>,
    #[serde(default)]
    pub username: Field<String>,
    #[serde(default)]
    pub name: Field<String>,
    #[serde(default)]
    pub roles: Field<Vec<Value>>,
    #[serde(default)]
    pub status: Field<String>,
    #[serde(default)]
    pub email_verified: Field<bool>,
    #[serde(default)]
    pub attributes: Field<Value>,
    /// Every other key of the body: each is an error.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl UserFields {
    /// The fields of `obj`, taken out one by one; what is left is `other`.
    pub fn from_map(mut obj: Map<String, Value>) -> Self {
        Self {
            email: Field::take(&mut obj, "email"),
            username: Field::take(&mut obj, "username"),
            name: Field::take(&mut obj, "name"),
            roles: Field::take(&mut obj, "roles"),
            status: Field::take(&mut obj, "status"),
            email_verified: Field::take(&mut obj, "email_verified"),
            attributes: Field::take(&mut obj, "attributes"),
            other: obj,
        }
    }
}

impl UserDraft {
    /// Validates a whole user body given as a JSON object (a merge patch's
    /// result, an imported line): see [`UserDraft::from_fields`].
    pub fn from_json(obj: Map<String, Value>) -> Result<Self, Vec<FieldError>> {
        Self::from_fields(UserFields::from_map(obj))
    }

    /// Validates a whole user body. Absent optional fields take their
    /// defaults (`roles: ["user"]`, `status: "active"`, …); `null` is the same
    /// as absent. Returns every field error found, not just the first.
    pub fn from_fields(f: UserFields) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        const STRING: &str = "must be a string";
        const STATUS: &str = "must be \"active\" or \"disabled\"";
        let email = f.email.parse(
            || Err("is required".to_owned()),
            |s| Email::parse(&s),
            STRING,
        );
        let username = f
            .username
            .parse(|| Ok(None), |s| Username::parse(&s).map(Some), STRING);
        let name = f.name.parse(|| Ok(None), |s| Name::parse(&s), STRING);
        let roles = f.roles.parse(
            || Ok(vec![Role::User]),
            |items| parse_roles(&items),
            "must be an array of role names",
        );
        let status = f.status.parse(
            || Ok(Status::Active),
            |s| Status::parse(&s).ok_or_else(|| STATUS.to_owned()),
            STATUS,
        );
        let email_verified = f
            .email_verified
            .parse(|| Ok(false), Ok, "must be true or false");
        let attributes = f
            .attributes
            .parse(|| Ok(Attributes::default()), Attributes::parse, "");

        let mut check = |field: &str, r: Result<(), String>| {
            if let Err(m) = r {
                errors.push(FieldError::new(field, m));
            }
        };
        check("email", email.as_ref().map(|_| ()).map_err(Clone::clone));
        check(
            "username",
            username.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        check("name", name.as_ref().map(|_| ()).map_err(Clone::clone));
        check("roles", roles.as_ref().map(|_| ()).map_err(Clone::clone));
        check("status", status.as_ref().map(|_| ()).map_err(Clone::clone));
        check(
            "email_verified",
            email_verified.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        check(
            "attributes",
            attributes.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        let mut rest: Vec<&String> = f.other.keys().collect();
        rest.sort();
        for key in rest {
            let message = if READ_ONLY.contains(&key.as_str()) {
                "is read-only"
            } else {
                "is not a known field"
            };
            errors.push(FieldError::new(key.as_str(), message));
        }

        match (
            email,
            username,
            name,
            roles,
            status,
            email_verified,
            attributes,
        ) {
            (
                Ok(email),
                Ok(username),
                Ok(name),
                Ok(roles),
                Ok(status),
                Ok(email_verified),
                Ok(attributes),
            ) if errors.is_empty() => Ok(Self {
                email,
                username,
                name,
                roles,
                status,
                email_verified,
                attributes,
            }),
            _ => Err(errors),
        }
    }
}

fn parse_roles(items: &[Value]) -> Result<Vec<Role>, String> {
    if items.len() > MAX_ROLES {
        return Err(format!("may hold at most {MAX_ROLES} roles"));
    }
    let mut roles = Vec::with_capacity(items.len());
    for item in items {
        let role = item.as_str().and_then(Role::parse).ok_or_else(|| {
            let known: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            format!("must hold only known roles: {}", known.join(", "))
        })?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    Ok(roles)
}

/// A user to create: its writable fields and, optionally, a first password.
#[derive(Debug)]
pub struct NewUser {
    pub draft: UserDraft,
    pub password: Option<super::Password>,
}

/// An RFC 7396 merge patch of a user's writable fields. It is a JSON object
/// without `password` (that changes through its own use case); whether the
/// patched user is valid depends on the current one, so [`UserPatch::apply`]
/// validates the result as a whole draft.
#[derive(Debug, Clone)]
pub struct UserPatch(Value);

impl UserPatch {
    /// The patch in `obj`; refuses a patch that sets the password.
    pub fn parse(obj: Map<String, Value>) -> Result<Self, FieldError> {
        if obj.contains_key("password") {
            return Err(FieldError::new(
                "password",
                "is changed with POST /api/v1/users/{id}/password",
            ));
        }
        Ok(Self(Value::Object(obj)))
    }

    /// The writable fields of `current` with this patch applied.
    pub fn apply(&self, current: &User) -> Result<UserDraft, Vec<FieldError>> {
        let mut body = Value::Object(current.writable_json());
        super::merge_patch(&mut body, &self.0);
        let Value::Object(body) = body else {
            unreachable!("merging an object patch into an object gives an object")
        };
        UserDraft::from_json(body)
    }
}

/// An account with a password, made by its holder (self sign-up) or by the
/// first-admin setup: only profile fields, never what the server decides.
#[derive(Debug)]
pub struct Signup {
    pub draft: UserDraft,
    pub password: super::Password,
}

impl Signup {
    /// An account of just an email address and a password (the first admin
    /// from `ROSTER_ADMIN_*` or `roster admin create`).
    pub fn of_email(email: &str, password: &str) -> Result<Self, Vec<FieldError>> {
        let draft = UserDraft::from_fields(UserFields {
            email: Field::Given(email.to_owned()),
            ..Default::default()
        })?;
        let password =
            super::Password::parse(password).map_err(|m| vec![FieldError::new("password", m)])?;
        Ok(Self { draft, password })
    }
}
