//! Revocation (RFC 7009) and introspection (RFC 7662): what a client may
//! do with the tokens it holds.

use serde::Serialize;
use uuid::Uuid;

use crate::auth::secrets;
use crate::domain::{ClientKind, OAuthClient, OidcScope};
use crate::error::Error;

use super::super::Audit;
use super::super::now;
use super::OAuth;
use super::token::{AccessClaims, live_grant};

/// What introspection says of an active token (RFC 7662 §2.2).
#[derive(Debug, Clone, Serialize)]
pub struct Introspection {
    pub active: bool,
    pub scope: String,
    pub client_id: String,
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub token_type: &'static str,
    pub iss: String,
}

impl OAuth {
    /// The session behind `token` (a refresh token or an access token),
    /// if `client` holds it.
    fn session_of(&self, client: &OAuthClient, token: &str) -> Result<Option<Uuid>, Error> {
        if token.is_empty() || token.len() > 4096 {
            return Ok(None);
        }
        let hash = secrets::sha256(token);
        let by_refresh = self.0.store.read_oauth(|r, o| {
            Ok(match r.refresh_token(&hash)? {
                Some((sid, _)) => o.grant(sid)?.filter(|g| g.client == client.id).map(|_| sid),
                None => None,
            })
        })?;
        if by_refresh.is_some() {
            return Ok(by_refresh);
        }
        Ok(self
            .0
            .auth
            .verify_ed::<AccessClaims>(token, &self.issuer())
            .filter(|c| c.client_id == client.client_id())
            .and_then(|c| Uuid::try_parse(&c.sid).ok()))
    }

    /// RFC 7009: ends the session behind a token the client holds (and so
    /// every token of it). An unknown token is not an error.
    pub async fn revoke(
        &self,
        client: &OAuthClient,
        token: &str,
        ip: Option<String>,
    ) -> Result<(), Error> {
        let Some(sid) = self.session_of(client, token)? else {
            return Ok(());
        };
        let at = now();
        let audit = Audit {
            action: "oauth.revoke",
            actor: Some(format!("client:{}", client.id)),
            target: Some(sid.to_string()),
            ip,
            success: true,
            detail: None,
        };
        self.0
            .store
            .write(move |tx| {
                tx.revoke_session(sid)?;
                tx.oauth()?.remove_grant(sid)?;
                audit.write(tx, at)
            })
            .await
    }

    /// RFC 7662, for confidential clients: whether a token of theirs is
    /// active, and what it carries. Other clients' tokens read as inactive.
    pub fn introspect(
        &self,
        client: &OAuthClient,
        token: &str,
    ) -> Result<Option<Introspection>, Error> {
        if client.kind != ClientKind::Confidential {
            return Ok(None);
        }
        if let Some(m) = self.machine_introspection(client, token)? {
            return Ok(Some(m));
        }
        if let Some((c, g)) = self.access_grant(token)? {
            return Ok((g.grant.client == client.id).then_some(Introspection {
                active: true,
                scope: c.scope,
                client_id: c.client_id,
                sub: c.sub,
                exp: c.exp,
                iat: c.iat,
                token_type: "access_token",
                iss: c.iss,
            }));
        }
        if token.len() > 128 {
            return Ok(None);
        }
        let hash = secrets::sha256(token);
        let found = self.0.store.read_oauth(|r, o| {
            let Some((sid, generation)) = r.refresh_token(&hash)? else {
                return Ok(None);
            };
            // A rotated (spent) refresh token is not active.
            let Some(s) = r.session(sid)?.filter(|s| s.generation == generation) else {
                return Ok(None);
            };
            Ok(live_grant(r, o, sid)?
                .filter(|g| g.grant.client == client.id)
                .map(|x| (x, s)))
        })?;
        Ok(found.map(|(g, s)| Introspection {
            active: true,
            scope: OidcScope::join(&g.grant.scopes),
            client_id: client.client_id(),
            sub: g.user.id.to_string(),
            exp: s.expires_at.micros() / 1_000_000,
            iat: s.last_used_at.micros() / 1_000_000,
            token_type: "refresh_token",
            iss: self.issuer(),
        }))
    }
}
