//! What the OpenID Connect provider (`service::oauth`) borrows from
//! authentication: sessions, the refresh rotation, the Ed25519 signer and
//! the throttle, so that a sign-in through an app and a sign-in to the API
//! are one mechanism.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::*;

impl Auth {
    /// A new session for `user` proven by `amr`, with its first refresh
    /// token and that token's hash (the caller stores both).
    pub(crate) fn client_session(
        &self,
        user: UserId,
        amr: Vec<AuthMethod>,
        ip: &Option<String>,
        user_agent: Option<String>,
        at: OffsetDateTime,
    ) -> (Session, String, [u8; 32]) {
        let (mut s, refresh, hash) = self.new_session(user, ip, user_agent, at);
        s.amr = amr;
        (s, refresh, hash)
    }

    pub(crate) fn access_token_ttl(&self) -> std::time::Duration {
        self.0.cfg.access_token_ttl
    }

    pub(crate) fn sign_ed<T: Serialize>(&self, claims: &T) -> Result<String, Error> {
        self.0
            .tokens
            .sign_any(claims)
            .map_err(|e| Error::Internal(anyhow::anyhow!(e)))
    }

    pub(crate) fn verify_ed<T: DeserializeOwned>(&self, token: &str, issuer: &str) -> Option<T> {
        self.0.tokens.verify_any(token, issuer).ok()
    }

    /// The live session and active user a browser's session token (a
    /// refresh token kept in a cookie, never rotated) stands for; not a
    /// session an OAuth client holds.
    pub(crate) fn browser_session(&self, token: &str) -> Result<Option<(User, Session)>, Error> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let hash = secrets::sha256(token);
        let now = Timestamp::now();
        Ok(self.0.store.read_oauth(|r, o| {
            let Some((sid, generation)) = r.refresh_token(&hash)? else {
                return Ok(None);
            };
            // An app's session is the app's: never a browser's session
            // with roster (which could sign in to other apps).
            if o.grant(sid)?.is_some() {
                return Ok(None);
            }
            let Some(s) = r.session(sid)? else {
                return Ok(None);
            };
            if s.revoked || s.expires_at <= now || s.generation != generation {
                return Ok(None);
            }
            match r.get_user(UserId(s.user_id))? {
                Some(u) if u.status == Status::Active => Ok(Some((u, s))),
                _ => Ok(None),
            }
        })?)
    }
}
