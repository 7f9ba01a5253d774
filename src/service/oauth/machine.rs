//! Machine clients: the `client_credentials` grant (RFC 6749 §4.4). A
//! confidential client acting for itself gets an access token whose
//! subject is the client; no user, no session, no ID token, no refresh
//! token. Its resource servers check it by introspection.

use uuid::Uuid;

use crate::domain::{GrantType, OAuthClient};
use crate::error::Error;

use super::super::{Audit, now};
use super::OAuth;
use super::introspect::Introspection;
use super::token::{AccessClaims, TokenResponse};

impl OAuth {
    pub(super) async fn client_credentials(
        &self,
        client: &OAuthClient,
        ip: Option<String>,
    ) -> Result<TokenResponse, Error> {
        debug_assert!(client.allows(GrantType::ClientCredentials));
        let at = now();
        let ttl = self.0.auth.access_token_ttl().as_secs();
        let claims = AccessClaims {
            iss: self.issuer(),
            sub: client.client_id(),
            aud: client.client_id(),
            client_id: client.client_id(),
            scope: String::new(),
            sid: String::new(),
            iat: at.unix_timestamp(),
            exp: at.unix_timestamp() + ttl as i64,
            jti: Uuid::now_v7().to_string(),
        };
        let access_token = self.0.auth.sign_ed(&claims)?;
        let audit = Audit {
            action: "oauth.token",
            actor: Some(format!("client:{}", client.id)),
            target: Some(client.id.to_string()),
            ip,
            success: true,
            detail: Some("client_credentials".into()),
        };
        self.0.store.write(move |tx| audit.write(tx, at)).await?;
        Ok(TokenResponse {
            access_token,
            expires_in: ttl,
            refresh_token: None,
            id_token: None,
            scope: String::new(),
        })
    }

    /// Introspection of a machine token: active while the client that got
    /// it still exists (deleting the client ends its tokens).
    pub(super) fn machine_introspection(
        &self,
        client: &OAuthClient,
        token: &str,
    ) -> Result<Option<Introspection>, Error> {
        let Some(c) = self
            .0
            .auth
            .verify_ed::<AccessClaims>(token, &self.issuer())
            .filter(|c| c.sid.is_empty() && c.sub == c.client_id)
        else {
            return Ok(None);
        };
        if c.client_id != client.client_id() {
            return Ok(None);
        }
        let exists = self
            .0
            .store
            .read_oauth(|_, o| o.client(client.id))?
            .is_some();
        Ok(exists.then_some(Introspection {
            active: true,
            scope: c.scope,
            client_id: c.client_id,
            sub: c.sub,
            exp: c.exp,
            iat: c.iat,
            token_type: "access_token",
            iss: c.iss,
        }))
    }
}
