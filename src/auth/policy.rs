//! Who may do what: the one place where authorization is decided.
//!
//! Every use case in the service asks [`authorize`] before it acts. An admin
//! (role `admin`, or an API key with scope `admin`) may do everything; a
//! plain user may read itself, change its own profile (never its roles,
//! status or verification flag), its password and its sessions; API keys
//! may do what their scopes say.
//!
//! A user whose roles require a second factor (`--require-mfa-for`) and who
//! has none may, until it enrols one, only read itself, enrol, change its
//! password and end its sessions, whatever its roles.

use uuid::Uuid;

use crate::domain::{Role, Scope, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A person signed in with an access token of session `session`.
    User {
        id: UserId,
        roles: Vec<Role>,
        session: Uuid,
        /// Its roles require a second factor and it has none yet.
        must_enrol_mfa: bool,
    },
    ApiKey {
        id: Uuid,
        scopes: Vec<Scope>,
        /// Its own request limit, if it has one.
        rate_limit: Option<u32>,
    },
    /// The server itself (bootstrap, offline commands).
    System,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub principal: Principal,
    pub ip: Option<String>,
}

impl Caller {
    pub fn system() -> Self {
        Self {
            principal: Principal::System,
            ip: None,
        }
    }

    pub fn is_admin(&self) -> bool {
        match &self.principal {
            Principal::User { roles, .. } => roles.contains(&Role::Admin),
            Principal::ApiKey { scopes, .. } => scopes.contains(&Scope::Admin),
            Principal::System => true,
        }
    }

    /// Whether an API key carries `scope`; `scim` carries users' read and
    /// write (what provisioning does).
    fn has_scope(&self, scope: Scope) -> bool {
        matches!(&self.principal, Principal::ApiKey { scopes, .. }
            if scopes.contains(&scope)
                || (scopes.contains(&Scope::Scim)
                    && matches!(scope, Scope::UsersRead | Scope::UsersWrite)))
    }

    fn is_user(&self, id: UserId) -> bool {
        matches!(&self.principal, Principal::User { id: me, .. } if *me == id)
    }

    /// How the audit log names this caller.
    pub fn actor(&self) -> String {
        match &self.principal {
            Principal::User { id, .. } => format!("user:{id}"),
            Principal::ApiKey { id, .. } => format!("key:{id}"),
            Principal::System => "system".into(),
        }
    }
}

/// What a caller wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ListUsers,
    ReadUser(UserId),
    CreateUser,
    /// `privileged`: the change touches roles, status or email_verified.
    UpdateUser {
        id: UserId,
        privileged: bool,
    },
    DeleteUser(UserId),
    ChangePassword(UserId),
    ManageSessions(UserId),
    ManageApiKeys,
    ReadAudit,
    /// Counts and health for the dashboard.
    ReadStats,
    /// Bulk import, export and backup.
    Transfer,
    /// Follow the change stream: every user's changes, as they happen.
    ReadEvents,
    ManageWebhooks,
    /// Set up or remove one's own second factors.
    ManageOwnMfa(UserId),
    /// Remove a user's second factors (an admin's help for a lost phone).
    ResetMfa(UserId),
    /// Read groups and their members.
    ReadGroups,
    /// Create, change and delete groups, and change who belongs to them
    /// (which grants roles: as privileged as changing a user's roles).
    ManageGroups,
    /// Read the groups a user belongs to.
    ReadUserGroups(UserId),
    /// Use the SCIM façade (an identity provider keeping users in sync).
    Provision,
    /// Register, change and remove OAuth / OpenID Connect clients.
    ManageOAuthClients,
}

/// Why the caller may not do this (403).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("not allowed")]
    NotAllowed,
    #[error("a second factor must be enrolled first")]
    MfaEnrolmentRequired,
}

pub fn authorize(caller: &Caller, action: Action) -> Result<(), Denied> {
    if let Principal::User {
        id,
        must_enrol_mfa: true,
        ..
    } = &caller.principal
    {
        return match action {
            Action::ReadUser(x)
            | Action::ManageOwnMfa(x)
            | Action::ChangePassword(x)
            | Action::ManageSessions(x)
                if x == *id =>
            {
                Ok(())
            }
            _ => Err(Denied::MfaEnrolmentRequired),
        };
    }
    if caller.is_admin() {
        return Ok(());
    }
    let allowed = match action {
        Action::ListUsers => {
            caller.has_scope(Scope::UsersRead) || caller.has_scope(Scope::UsersWrite)
        }
        Action::ReadUser(id) => {
            caller.is_user(id)
                || caller.has_scope(Scope::UsersRead)
                || caller.has_scope(Scope::UsersWrite)
        }
        Action::CreateUser | Action::DeleteUser(_) => caller.has_scope(Scope::UsersWrite),
        Action::UpdateUser { id, privileged } => {
            caller.has_scope(Scope::UsersWrite) || (caller.is_user(id) && !privileged)
        }
        // An identity provider may push passwords (Okta's password sync).
        Action::ChangePassword(id) => caller.is_user(id) || caller.has_scope(Scope::Scim),
        Action::ManageSessions(id) | Action::ManageOwnMfa(id) => caller.is_user(id),
        Action::Provision => caller.has_scope(Scope::Scim),
        Action::ReadEvents | Action::ReadGroups => {
            caller.has_scope(Scope::UsersRead) || caller.has_scope(Scope::UsersWrite)
        }
        Action::ManageGroups => caller.has_scope(Scope::UsersWrite),
        Action::ReadUserGroups(id) => {
            caller.is_user(id)
                || caller.has_scope(Scope::UsersRead)
                || caller.has_scope(Scope::UsersWrite)
        }
        Action::ManageApiKeys
        | Action::ReadAudit
        | Action::ReadStats
        | Action::Transfer
        | Action::ManageWebhooks
        | Action::ManageOAuthClients
        | Action::ResetMfa(_) => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(Denied::NotAllowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: UserId, roles: &[Role]) -> Caller {
        Caller {
            principal: Principal::User {
                id,
                roles: roles.to_vec(),
                session: Uuid::nil(),
                must_enrol_mfa: false,
            },
            ip: None,
        }
    }

    fn key(scopes: &[Scope]) -> Caller {
        Caller {
            principal: Principal::ApiKey {
                id: Uuid::nil(),
                scopes: scopes.to_vec(),
                rate_limit: None,
            },
            ip: None,
        }
    }

    #[test]
    fn the_policy_table() {
        let (me, other) = (UserId::new(), UserId::new());
        let plain = user(me, &[Role::User]);
        let admin = user(me, &[Role::Admin]);
        let reader = key(&[Scope::UsersRead]);
        let writer = key(&[Scope::UsersWrite]);
        let root = key(&[Scope::Admin]);
        use Action::*;
        let cases = [
            (ListUsers, [false, true, true, true, true]),
            (ReadUser(me), [true, true, true, true, true]),
            (ReadUser(other), [false, true, true, true, true]),
            (CreateUser, [false, true, false, true, true]),
            (
                UpdateUser {
                    id: me,
                    privileged: false,
                },
                [true, true, false, true, true],
            ),
            (
                UpdateUser {
                    id: me,
                    privileged: true,
                },
                [false, true, false, true, true],
            ),
            (
                UpdateUser {
                    id: other,
                    privileged: false,
                },
                [false, true, false, true, true],
            ),
            (DeleteUser(me), [false, true, false, true, true]),
            (ChangePassword(me), [true, true, false, false, true]),
            (ChangePassword(other), [false, true, false, false, true]),
            (ManageSessions(other), [false, true, false, false, true]),
            (ManageApiKeys, [false, true, false, false, true]),
            (ReadAudit, [false, true, false, false, true]),
            (ReadStats, [false, true, false, false, true]),
            (Transfer, [false, true, false, false, true]),
            (ReadEvents, [false, true, true, true, true]),
            (ManageWebhooks, [false, true, false, false, true]),
            (ManageOAuthClients, [false, true, false, false, true]),
            (ManageOwnMfa(me), [true, true, false, false, true]),
            (ManageOwnMfa(other), [false, true, false, false, true]),
            (ResetMfa(other), [false, true, false, false, true]),
        ];
        for (action, expected) in cases {
            let got: Vec<bool> = [&plain, &admin, &reader, &writer, &root]
                .iter()
                .map(|c| authorize(c, action).is_ok())
                .collect();
            assert_eq!(got, expected, "{action:?}");
        }
    }

    #[test]
    fn an_admin_without_the_required_factor_may_only_enrol() {
        let me = UserId::new();
        let mut admin = user(me, &[Role::Admin]);
        if let Principal::User { must_enrol_mfa, .. } = &mut admin.principal {
            *must_enrol_mfa = true;
        }
        use Action::*;
        for ok in [
            ReadUser(me),
            ManageOwnMfa(me),
            ChangePassword(me),
            ManageSessions(me),
        ] {
            assert_eq!(authorize(&admin, ok), Ok(()), "{ok:?}");
        }
        let other = UserId::new();
        for no in [
            ListUsers,
            ReadUser(other),
            CreateUser,
            ReadAudit,
            ResetMfa(other),
        ] {
            assert_eq!(
                authorize(&admin, no),
                Err(Denied::MfaEnrolmentRequired),
                "{no:?}"
            );
        }
    }
}
