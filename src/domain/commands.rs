//! What the service is asked to do with users, whichever façade asked: create
//! one ([`NewUser`]), patch one ([`UserPatch`]), or sign one up with a
//! password ([`Signup`]).

use serde_json::{Map, Value};

use super::{Field, FieldError, Password, User, UserDraft, UserFields};

/// A user to create: its writable fields and, optionally, a first password.
#[derive(Debug)]
pub struct NewUser {
    pub draft: UserDraft,
    pub password: Option<Password>,
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
    pub password: Password,
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
            Password::parse(password).map_err(|m| vec![FieldError::new("password", m)])?;
        Ok(Self { draft, password })
    }
}
