//! A user, and its writable fields: [`UserDraft`] (validated) and
//! [`UserFields`] (as a body gave them). [`UserDraft::from_fields`] checks a
//! whole body at once, collecting every field error.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{Attributes, Email, Field, FieldError, Name, Role, Status, UserId, Username};

/// Declares a struct with its own fields followed by the writable fields of
/// a user: one list for [`User`] and [`UserDraft`], so that a new field is
/// added once.
macro_rules! with_writable_fields {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            pub email: Email,
            pub username: Option<Username>,
            pub name: Option<Name>,
            pub roles: Vec<Role>,
            pub status: Status,
            pub email_verified: bool,
            pub attributes: Attributes,
        }
    };
}

with_writable_fields! {
    /// A stored user. Built only from a [`UserDraft`] by the service, or
    /// decoded from the store.
    #[derive(Debug, Clone, PartialEq)]
    pub struct User {
        pub id: UserId,
        pub created_at: OffsetDateTime,
        pub updated_at: OffsetDateTime,
        pub version: u64,
        /// A second factor (TOTP or a passkey) is enrolled. The server's:
        /// set by enrolment, cleared by removing the last factor.
        pub mfa_enabled: bool,
    }
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
            mfa_enabled: false,
        }
    }

    /// Its writable fields, to change some and [`replace`](Self::replaced).
    pub fn draft(&self) -> UserDraft {
        UserDraft {
            email: self.email.clone(),
            username: self.username.clone(),
            name: self.name.clone(),
            roles: self.roles.clone(),
            status: self.status,
            email_verified: self.email_verified,
            attributes: self.attributes.clone(),
        }
    }

    /// The user with its writable fields replaced by `draft`, one version on.
    pub fn replaced(&self, draft: UserDraft, now: OffsetDateTime) -> Self {
        Self {
            updated_at: now,
            version: self.version + 1,
            mfa_enabled: self.mfa_enabled,
            ..Self::from_draft(self.id, draft, self.created_at)
        }
    }

    /// What an identity provider wrote of the user (`attributes.scim`):
    /// the provider's, so not the user's own to change.
    pub fn provisioned(&self) -> Option<&Value> {
        self.attributes.as_map().get(PROVISIONED)
    }

    /// The id an identity provider gave the user: SCIM's `externalId`,
    /// kept in `attributes.scim` with the rest of what the provider wrote.
    pub fn external_id(&self) -> Option<&str> {
        self.provisioned()?
            .get("externalId")?
            .as_str()
            .filter(|s| !s.is_empty())
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

with_writable_fields! {
    /// The writable fields of a user, validated.
    #[derive(Debug, Clone, PartialEq)]
    pub struct UserDraft {}
}

/// The attribute that holds what an identity provider wrote (SCIM).
pub const PROVISIONED: &str = "scim";

/// Fields the server sets; a body may not write them.
const READ_ONLY: [&str; 5] = ["id", "version", "created_at", "updated_at", "mfa_enabled"];
const MAX_ROLES: usize = 16;

/// The writable fields of a user as a body gave them: each read on its own
/// (see [`Field`]), with the keys that are not writable fields left over.
#[derive(Debug, Default)]
pub struct UserFields {
    pub email: Field<String>,
    pub username: Field<String>,
    pub name: Field<String>,
    pub roles: Field<Vec<Value>>,
    pub status: Field<String>,
    pub email_verified: Field<bool>,
    pub attributes: Field<Value>,
    /// Every other key of the body: each is an error.
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
    /// as absent. Returns every field error found, in field order and then
    /// the unknown keys by name, not just the first.
    pub fn from_fields(f: UserFields) -> Result<Self, Vec<FieldError>> {
        const STRING: &str = "must be a string";
        const STATUS: &str = "must be \"active\" or \"disabled\"";
        let mut errors = Vec::new();
        let email = keep(
            &mut errors,
            "email",
            f.email.parse(
                || Err("is required".to_owned()),
                |s| Email::parse(&s),
                STRING,
            ),
        );
        let username = keep(
            &mut errors,
            "username",
            f.username
                .parse(|| Ok(None), |s| Username::parse(&s).map(Some), STRING),
        );
        let name = keep(
            &mut errors,
            "name",
            f.name.parse(|| Ok(None), |s| Name::parse(&s), STRING),
        );
        let roles = keep(
            &mut errors,
            "roles",
            f.roles.parse(
                || Ok(vec![Role::User]),
                |items| parse_roles(&items),
                "must be an array of role names",
            ),
        );
        let status = keep(
            &mut errors,
            "status",
            f.status.parse(
                || Ok(Status::Active),
                |s| Status::parse(&s).ok_or_else(|| STATUS.to_owned()),
                STATUS,
            ),
        );
        let email_verified = keep(
            &mut errors,
            "email_verified",
            f.email_verified
                .parse(|| Ok(false), Ok, "must be true or false"),
        );
        let attributes = keep(
            &mut errors,
            "attributes",
            f.attributes
                .parse(|| Ok(Attributes::default()), Attributes::parse, ""),
        );
        let mut rest: Vec<&String> = f.other.keys().collect();
        rest.sort();
        for key in rest {
            let message = match READ_ONLY.contains(&key.as_str()) {
                true => "is read-only",
                false => "is not a known field",
            };
            errors.push(FieldError::new(key.as_str(), message));
        }
        let draft = || {
            Some(Self {
                email: email?,
                username: username?,
                name: name?,
                roles: roles?,
                status: status?,
                email_verified: email_verified?,
                attributes: attributes?,
            })
        };
        match draft() {
            Some(draft) if errors.is_empty() => Ok(draft),
            _ => Err(errors),
        }
    }
}

/// `r`'s value, or `None` with its message recorded against `field`.
pub(super) fn keep<T>(
    errors: &mut Vec<FieldError>,
    field: &str,
    r: Result<T, String>,
) -> Option<T> {
    r.map_err(|m| errors.push(FieldError::new(field, m))).ok()
}

pub(super) fn parse_roles(items: &[Value]) -> Result<Vec<Role>, String> {
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
