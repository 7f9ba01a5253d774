//! The apps a user is signed in to through roster: listed and revocable
//! by the user (its Security page) and by admins. Revoking an app ends its
//! sessions and forgets the user's consent, so the next sign-in asks again.

use uuid::Uuid;

use crate::auth::policy::{Action, Caller};
use crate::domain::{OidcScope, Timestamp, UserId};
use crate::error::Error;

use super::super::{Audit, allow, now};
use super::OAuth;

/// One app holding live sessions of a user.
pub struct SignedInApp {
    pub client_id: Uuid,
    pub name: String,
    pub scopes: Vec<OidcScope>,
    /// When the oldest of its live sessions began.
    pub since: Timestamp,
    pub last_used_at: Timestamp,
    pub sessions: usize,
}

impl OAuth {
    pub fn apps(&self, caller: &Caller, user: UserId) -> Result<Vec<SignedInApp>, Error> {
        allow(caller, Action::ManageSessions(user))?;
        let now = Timestamp::now();
        let (exists, apps) = self.0.store.read_oauth(|r, o| {
            let mut apps: Vec<SignedInApp> = Vec::new();
            for (sid, g) in o.grants()? {
                if g.user != user.0 {
                    continue;
                }
                let Some(s) = r.session(sid)?.filter(|s| !s.revoked && s.expires_at > now) else {
                    continue;
                };
                if let Some(a) = apps.iter_mut().find(|a| a.client_id == g.client) {
                    a.sessions += 1;
                    a.since = a.since.min(s.created_at);
                    a.last_used_at = a.last_used_at.max(s.last_used_at);
                    for sc in g.scopes {
                        if !a.scopes.contains(&sc) {
                            a.scopes.push(sc);
                        }
                    }
                    continue;
                }
                let name = o.client(g.client)?.map(|c| c.name).unwrap_or_default();
                apps.push(SignedInApp {
                    client_id: g.client,
                    name,
                    scopes: g.scopes,
                    since: s.created_at,
                    last_used_at: s.last_used_at,
                    sessions: 1,
                });
            }
            Ok((r.get_user(user)?.is_some(), apps))
        })?;
        if !exists {
            return Err(Error::NotFound);
        }
        Ok(apps)
    }

    /// Signs `user` out of `client`: its sessions end, its consent goes.
    pub async fn revoke_app(
        &self,
        caller: &Caller,
        user: UserId,
        client: Uuid,
    ) -> Result<(), Error> {
        allow(caller, Action::ManageSessions(user))?;
        let at = now();
        let audit = Audit::by(caller, "oauth.app_revoke").target(user);
        self.0
            .store
            .write(move |tx| {
                tx.get_user(user)?.ok_or(Error::NotFound)?;
                let held: Vec<Uuid> = tx
                    .oauth()?
                    .grants()?
                    .into_iter()
                    .filter(|(_, g)| g.user == user.0 && g.client == client)
                    .map(|(sid, _)| sid)
                    .collect();
                let consented = tx.oauth()?.remove_consent(user.0, client)?;
                if held.is_empty() && !consented {
                    return Err(Error::NotFound);
                }
                for sid in &held {
                    tx.revoke_session(*sid)?;
                    tx.oauth()?.remove_grant(*sid)?;
                }
                audit
                    .clone()
                    .detail(format!("client {client}: {} sessions revoked", held.len()))
                    .write(tx, at)
            })
            .await
    }
}
