//! roster as an OpenID Connect provider: the clients an admin registers
//! (this file), and the flows they drive (`flow`): authorization codes
//! with PKCE, token exchange, refresh, userinfo, revocation. Every flow is
//! a use case over the same store as the REST API, audited the same way.

mod apps;
mod flow;
mod introspect;
mod keys;
mod machine;
mod token;

pub use apps::SignedInApp;
pub use flow::{Authorization, AuthorizeRequest, BrowserSignIn, ConsentNeeded};
pub use introspect::Introspection;
pub use token::{OAuthError, TokenRequest, TokenResponse, UserInfo};

use std::sync::Arc;

use uuid::Uuid;

use crate::auth::policy::{Action, Caller};
use crate::auth::secrets;
use crate::domain::{
    ClientKind, FieldError, MAX_CLIENTS, NewOAuthClient, OAuthClient, OAuthClientPatch, Timestamp,
};
use crate::error::Error;
use crate::store::Store;

use super::auth::Auth;
use super::{Audit, allow, now};

/// Prefix of a client secret, so a leaked one is recognisable.
const SECRET_PREFIX: &str = "rcs_";

/// A client with its secret, in the answer to its creation or a rotation.
pub struct ClientCreated {
    pub client: OAuthClient,
    /// Confidential clients only.
    pub secret: Option<String>,
}

#[derive(Clone)]
pub struct OAuth(Arc<Inner>);

struct Inner {
    store: Store,
    auth: Auth,
    keys: keys::IdTokenKeys,
}

impl OAuth {
    pub fn new(store: Store, auth: Auth) -> Result<Self, Error> {
        let keys = keys::IdTokenKeys::load(&store)?;
        Ok(Self(Arc::new(Inner { store, auth, keys })))
    }

    /// The issuer: the server's public address.
    pub fn issuer(&self) -> String {
        self.0.auth.base_url().trim_end_matches('/').to_owned()
    }

    /// The keys that verify ID tokens (and access tokens).
    pub fn jwk_set(&self) -> crate::auth::tokens::JwkSet {
        let mut set = self.0.auth.jwk_set();
        set.keys.extend(self.0.keys.jwks());
        set
    }

    pub async fn create_client(
        &self,
        caller: &Caller,
        new: NewOAuthClient,
    ) -> Result<ClientCreated, Error> {
        allow(caller, Action::ManageOAuthClients)?;
        // The ID-token keys exist before any client could get an ID token, so
        // a relying party's first fetch of the JWKS already holds it.
        self.0.keys.ensure(&self.0.store).await?;
        let secret = (new.kind == ClientKind::Confidential)
            .then(|| format!("{SECRET_PREFIX}{}", secrets::random_token()));
        let at = now();
        let client = OAuthClient {
            id: Uuid::now_v7(),
            name: new.name,
            kind: new.kind,
            redirect_uris: new.redirect_uris,
            post_logout_redirect_uris: new.post_logout_redirect_uris,
            scopes: new.scopes,
            grant_types: new.grant_types,
            id_token_alg: new.id_token_alg,
            skip_consent: new.skip_consent,
            secret_hash: secret.as_deref().map(secrets::sha256),
            secret_prefix: secret.as_deref().map(prefix),
            created_at: Timestamp::from_datetime(at),
            updated_at: Timestamp::from_datetime(at),
        };
        let audit = Audit::by(caller, "oauth_client.create")
            .target(client.id)
            .detail(client.name.clone());
        let c = client.clone();
        self.0
            .store
            .write(move |tx| {
                if tx.oauth()?.clients()?.len() >= MAX_CLIENTS {
                    return Err(Error::Validation(vec![FieldError::new(
                        "name",
                        format!("is one too many: a server holds at most {MAX_CLIENTS} clients"),
                    )]));
                }
                tx.oauth()?.put_client(&c)?;
                audit.write(tx, at)
            })
            .await?;
        Ok(ClientCreated { client, secret })
    }

    pub fn clients(&self, caller: &Caller) -> Result<Vec<OAuthClient>, Error> {
        allow(caller, Action::ManageOAuthClients)?;
        Ok(self.0.store.read_oauth(|_, o| o.clients())?)
    }

    pub fn client(&self, caller: &Caller, id: Uuid) -> Result<OAuthClient, Error> {
        allow(caller, Action::ManageOAuthClients)?;
        self.0
            .store
            .read_oauth(|_, o| o.client(id))?
            .ok_or(Error::NotFound)
    }

    pub async fn update_client(
        &self,
        caller: &Caller,
        id: Uuid,
        patch: OAuthClientPatch,
    ) -> Result<OAuthClient, Error> {
        allow(caller, Action::ManageOAuthClients)?;
        let at = now();
        let audit = Audit::by(caller, "oauth_client.update").target(id);
        self.0
            .store
            .write(move |tx| {
                let mut c = tx.oauth()?.client(id)?.ok_or(Error::NotFound)?;
                patch.clone().apply(&mut c).map_err(Error::Validation)?;
                c.updated_at = Timestamp::from_datetime(at);
                tx.oauth()?.put_client(&c)?;
                audit.write(tx, at)?;
                Ok(c)
            })
            .await
    }

    /// A new secret for a confidential client; the old one stops working.
    pub async fn rotate_secret(&self, caller: &Caller, id: Uuid) -> Result<ClientCreated, Error> {
        allow(caller, Action::ManageOAuthClients)?;
        let secret = format!("{SECRET_PREFIX}{}", secrets::random_token());
        let (hash, shown) = (secrets::sha256(&secret), prefix(&secret));
        let at = now();
        let audit = Audit::by(caller, "oauth_client.rotate_secret").target(id);
        let client = self
            .0
            .store
            .write(move |tx| {
                let mut c = tx.oauth()?.client(id)?.ok_or(Error::NotFound)?;
                if c.kind == ClientKind::Public {
                    return Err(Error::StateConflict(
                        "A public client has no secret; it proves itself with PKCE.",
                    ));
                }
                c.secret_hash = Some(hash);
                c.secret_prefix = Some(shown.clone());
                c.updated_at = Timestamp::from_datetime(at);
                tx.oauth()?.put_client(&c)?;
                audit.write(tx, at)?;
                Ok(c)
            })
            .await?;
        Ok(ClientCreated {
            client,
            secret: Some(secret),
        })
    }

    /// Removes a client: its codes and consents go, and every session it
    /// holds is revoked.
    pub async fn delete_client(&self, caller: &Caller, id: Uuid) -> Result<(), Error> {
        allow(caller, Action::ManageOAuthClients)?;
        let at = now();
        let audit = Audit::by(caller, "oauth_client.delete").target(id);
        self.0
            .store
            .write(move |tx| {
                let held: Vec<Uuid> = tx
                    .oauth()?
                    .grants()?
                    .into_iter()
                    .filter(|(_, g)| g.client == id)
                    .map(|(sid, _)| sid)
                    .collect();
                if !tx.oauth()?.delete_client(id)? {
                    return Err(Error::NotFound);
                }
                for sid in &held {
                    tx.revoke_session(*sid)?;
                    tx.oauth()?.remove_grant(*sid)?;
                }
                audit
                    .clone()
                    .detail(format!("{} sessions revoked", held.len()))
                    .write(tx, at)
            })
            .await
    }
}

impl OAuth {
    /// Whether `uri` is one of `client_id`'s registered addresses to return
    /// to after a sign-out.
    pub fn may_return_after_logout(&self, client_id: &str, uri: &str) -> Result<bool, Error> {
        let Ok(id) = Uuid::try_parse(client_id) else {
            return Ok(false);
        };
        let client = self.0.store.read_oauth(|_, o| o.client(id))?;
        Ok(client.is_some_and(|c| c.post_logout_redirect_uris.iter().any(|u| u == uri)))
    }
}

fn prefix(secret: &str) -> String {
    secret.chars().take(SECRET_PREFIX.len() + 6).collect()
}
