//! A user's password and sessions: change or reset the password (which ends
//! every session), list and revoke sessions.

use super::*;

impl Auth {
    /// Sets a password and revokes every session of the user. A user changing
    /// its own password must give the current one; an admin resetting another
    /// user's need not.
    pub async fn change_password(
        &self,
        caller: &Caller,
        id: UserId,
        current: Option<String>,
        new: &str,
    ) -> Result<(), Error> {
        allow(caller, Action::ChangePassword(id))?;
        let new = Password::parse(new)
            .map_err(|m| Error::Validation(vec![FieldError::new("new_password", m)]))?;
        let is_self = matches!(&caller.principal, Principal::User { id: me, .. } if *me == id);
        let (user, stored_hash) = self
            .0
            .store
            .read(|r| Ok((r.get_user(id)?, r.password_hash(id)?)))?;
        user.ok_or(Error::NotFound)?;
        if is_self {
            let current = current.ok_or_else(|| {
                Error::Validation(vec![FieldError::new("current_password", "is required")])
            })?;
            let ok = self
                .0
                .hasher
                .verify(&current, stored_hash.as_deref())
                .await
                .map_err(hash_error)?;
            if ok == Verified::No {
                return Err(Error::Validation(vec![FieldError::new(
                    "current_password",
                    "is not correct",
                )]));
            }
        }
        let phc = self.0.hasher.hash(new.expose()).await.map_err(hash_error)?;
        let at = now();
        let audit = Audit::by(caller, "password.change").target(id);
        self.0
            .store
            .write(move |tx| {
                tx.get_user(id)?.ok_or(Error::NotFound)?;
                tx.change_password(id, &phc)?;
                let n = tx.revoke_user_sessions(id)?;
                audit
                    .clone()
                    .detail(format!("{n} sessions revoked"))
                    .write(tx, at)
            })
            .await
    }

    /// How many sessions are live now (dashboard).
    pub async fn live_session_count(&self, caller: &Caller) -> Result<u64, Error> {
        allow(caller, Action::ReadStats)?;
        let store = self.0.store.clone();
        let now = Timestamp::now();
        tokio::task::spawn_blocking(move || store.read(|r| r.count_live_sessions(now)))
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("session count task failed: {e}")))?
            .map_err(Error::from)
    }

    pub fn sessions(&self, caller: &Caller, id: UserId) -> Result<Vec<SessionView>, Error> {
        allow(caller, Action::ManageSessions(id))?;
        let now = Timestamp::now();
        let (user, sessions) = self
            .0
            .store
            .read(|r| Ok((r.get_user(id)?, r.user_sessions(id)?)))?;
        user.ok_or(Error::NotFound)?;
        let current = match &caller.principal {
            Principal::User { session, .. } => Some(*session),
            _ => None,
        };
        let mut out: Vec<SessionView> = sessions
            .into_iter()
            .filter(|s| !s.revoked && s.expires_at > now)
            .map(|s| SessionView {
                current: Some(s.id) == current,
                session: s,
            })
            .collect();
        out.sort_by_key(|v| std::cmp::Reverse(v.session.created_at));
        Ok(out)
    }

    /// Revokes one session of the user, or all of them with `None`.
    pub async fn revoke_sessions(
        &self,
        caller: &Caller,
        id: UserId,
        sid: Option<Uuid>,
    ) -> Result<(), Error> {
        allow(caller, Action::ManageSessions(id))?;
        let audit = Audit::by(caller, "session.revoke").target(id);
        let at = now();
        self.0
            .store
            .write(move |tx| {
                tx.get_user(id)?.ok_or(Error::NotFound)?;
                let detail = match sid {
                    Some(sid) => {
                        match tx.session(sid)? {
                            Some(s) if s.user_id == id.0 && !s.revoked => {}
                            _ => return Err(Error::NotFound),
                        }
                        tx.revoke_session(sid)?;
                        format!("session {sid}")
                    }
                    None => format!("{} sessions", tx.revoke_user_sessions(id)?),
                };
                audit.clone().detail(detail).write(tx, at)
            })
            .await
    }
}
