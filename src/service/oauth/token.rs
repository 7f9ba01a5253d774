//! The app's half: client authentication, the token endpoint (code
//! exchange with PKCE, refresh with rotation and reuse detection), ID
//! tokens, userinfo, revocation (RFC 7009) and introspection (RFC 7662).
//!
//! An app's access token is not an API token: its audience is the app
//! (`client_id`), so the REST API refuses it (a user signing in to an app
//! does not hand that app the user's powers over roster). It is good for
//! userinfo and for introspection.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::auth::secrets;
use crate::domain::{
    AuthCode, ClientKind, GrantType, IdTokenAlg, OAuthClient, OAuthGrant, OidcScope, Status,
    Timestamp, User, UserId,
};
use crate::error::Error;
use crate::store::{ReadOAuth, ReadTx, StoreError};

use super::super::{Audit, now};
use super::OAuth;

/// An OAuth error (RFC 6749 §5.2): `invalid_client` is a 401, the rest 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    fn grant(description: &str) -> Self {
        Self::new("invalid_grant", description)
    }
}

/// A token request's parameters, as sent (form body, and the client's
/// Basic credentials if it used them).
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// From `Authorization: Basic` (already form-decoded).
    pub basic: Option<(String, String)>,
}

pub struct TokenResponse {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub scope: String,
}

/// What `userinfo` and the ID token say of a user, by scope.
#[derive(Debug, Clone, Serialize)]
pub struct UserInfo {
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

/// An app's access token.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

#[derive(Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    aud: String,
    azp: String,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    amr: Vec<&'static str>,
    at_hash: String,
    sid: String,
    /// `sub` and the claims the scopes allow.
    #[serde(flatten)]
    info: UserInfo,
}

/// A live grant: the session is live and its user active.
pub(super) struct LiveGrant {
    pub grant: OAuthGrant,
    pub user: User,
    pub groups: Vec<String>,
    pub roles: Vec<String>,
}

impl LiveGrant {
    fn info(&self) -> UserInfo {
        user_info(&self.user, &self.grant.scopes, &self.groups, &self.roles)
    }
}

/// What an exchange produced, for the tokens.
struct CodeGrant {
    user: User,
    groups: Vec<String>,
    roles: Vec<String>,
    grant: OAuthGrant,
    session: Uuid,
    nonce: Option<String>,
    amr: Vec<&'static str>,
    refresh: Option<String>,
}

/// The user's claims for `scopes`.
fn user_info(u: &User, scopes: &[OidcScope], groups: &[String], roles: &[String]) -> UserInfo {
    let has = |s| scopes.contains(&s);
    UserInfo {
        sub: u.id.to_string(),
        email: has(OidcScope::Email).then(|| u.email.as_str().to_owned()),
        email_verified: has(OidcScope::Email).then_some(u.email_verified),
        name: if has(OidcScope::Profile) {
            u.name.as_ref().map(|n| n.as_str().to_owned())
        } else {
            None
        },
        preferred_username: if has(OidcScope::Profile) {
            u.username.as_ref().map(|n| n.as_str().to_owned())
        } else {
            None
        },
        groups: has(OidcScope::Groups).then(|| groups.to_vec()),
        roles: has(OidcScope::Roles).then(|| roles.to_vec()),
    }
}

/// The names of `user`'s groups and its roles (its own and its groups').
fn memberships(r: &ReadTx, u: &User) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let mut groups = Vec::new();
    for id in r.groups_of(u.id)? {
        if let Some(g) = r.get_group(id)? {
            groups.push(g.name.as_str().to_owned());
        }
    }
    let granted = r.granted_roles(u.id)?;
    let roles = crate::domain::effective_roles(&u.roles, [granted.as_slice()]);
    Ok((
        groups,
        roles.iter().map(|r| r.as_str().to_owned()).collect(),
    ))
}

fn pkce_matches(challenge: &str, verifier: &str) -> bool {
    let ok_len = (43..=128).contains(&verifier.len());
    let ok_chars = verifier
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let computed = URL_SAFE_NO_PAD.encode(secrets::sha256(verifier));
    ok_len && ok_chars && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

impl OAuth {
    /// The client a token request authenticates as (RFC 6749 §2.3): Basic
    /// or form secret for a confidential client, the bare `client_id` for
    /// a public one. One method per request.
    pub fn authenticate_client(&self, req: &TokenRequest) -> Result<OAuthClient, OAuthError> {
        let bad = || OAuthError::new("invalid_client", "client authentication failed");
        let (id, secret) = match (&req.basic, &req.client_secret) {
            (Some(_), Some(_)) => {
                return Err(OAuthError::new(
                    "invalid_request",
                    "use one client authentication method",
                ));
            }
            (Some((id, s)), None) => {
                if req.client_id.as_ref().is_some_and(|c| c != id) {
                    return Err(bad());
                }
                (id.clone(), Some(s.clone()))
            }
            (None, s) => (req.client_id.clone().ok_or_else(bad)?, s.clone()),
        };
        let client = Uuid::try_parse(&id)
            .ok()
            .and_then(|id| self.0.store.read_oauth(|_, o| o.client(id)).ok().flatten())
            .ok_or_else(bad)?;
        match (client.kind, secret, client.secret_hash) {
            (ClientKind::Public, None, _) => Ok(client),
            (ClientKind::Confidential, Some(s), Some(h))
                if s.len() <= 256 && bool::from(secrets::sha256(&s).ct_eq(&h)) =>
            {
                Ok(client)
            }
            _ => Err(bad()),
        }
    }

    /// The token endpoint.
    pub async fn token(
        &self,
        req: TokenRequest,
        ip: Option<String>,
    ) -> Result<Result<TokenResponse, OAuthError>, Error> {
        let client = match self.authenticate_client(&req) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let grant_type = req.grant_type.as_deref().unwrap_or("");
        let Some(g) = GrantType::parse(grant_type) else {
            return Ok(Err(OAuthError::new(
                "unsupported_grant_type",
                "grant_type must be authorization_code, refresh_token or client_credentials",
            )));
        };
        if !client.allows(g) {
            return Ok(Err(OAuthError::new(
                "unauthorized_client",
                "this client may not use that grant type",
            )));
        }
        let granted = match g {
            GrantType::AuthorizationCode => self.exchange_code(&client, &req, ip).await?,
            GrantType::RefreshToken => self.refresh(&client, &req, ip).await?,
            GrantType::ClientCredentials => {
                return self.client_credentials(&client, ip).await.map(Ok);
            }
        };
        match granted {
            Ok(cg) => self.tokens(&client, cg).map(Ok),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn exchange_code(
        &self,
        client: &OAuthClient,
        req: &TokenRequest,
        ip: Option<String>,
    ) -> Result<Result<CodeGrant, OAuthError>, Error> {
        let Some(code) = req.code.as_deref().filter(|c| c.len() <= 128) else {
            return Ok(Err(OAuthError::new("invalid_request", "code is required")));
        };
        let hash = secrets::sha256(code);
        let at = now();
        let stamp = Timestamp::from_datetime(at);
        let client_id = client.id;
        let redirect_uri = req.redirect_uri.clone();
        let verifier = req.code_verifier.clone();
        let wants_refresh = client.allows(GrantType::RefreshToken);
        let (session, refresh, refresh_hash) =
            self.0
                .auth
                .client_session(UserId(Uuid::nil()), Vec::new(), &ip, None, at);
        let audit_ip = ip.clone();
        let outcome = self
            .0
            .store
            .write(move |tx| {
                let Some(mut c) = tx.oauth()?.code(&hash)? else {
                    return Ok(Err(OAuthError::grant("the code is not valid")));
                };
                if let Some(sid) = c.exchanged {
                    // A second use: whoever holds the code may be an
                    // attacker, so what the first use issued is revoked.
                    tx.revoke_session(sid)?;
                    tx.oauth()?.remove_grant(sid)?;
                    Audit {
                        action: "oauth.code_reuse",
                        actor: Some(format!("client:{client_id}")),
                        target: Some(c.user.to_string()),
                        ip: audit_ip.clone(),
                        success: false,
                        detail: Some(format!("session {sid} revoked")),
                    }
                    .write(tx, at)?;
                    return Ok(Err(OAuthError::grant(
                        "the code was already used; what it issued is revoked",
                    )));
                }
                if let Some(e) = code_problem(&c, client_id, &redirect_uri, &verifier, stamp) {
                    return Ok(Err(OAuthError::grant(e)));
                }
                let user = match tx.get_user(UserId(c.user))? {
                    Some(u) if u.status == Status::Active => u,
                    _ => return Ok(Err(OAuthError::grant("the user cannot sign in"))),
                };
                let mut s = session.clone();
                s.user_id = c.user;
                s.amr = c.amr.clone();
                tx.insert_session(&s, &refresh_hash)?;
                let grant = OAuthGrant {
                    client: client_id,
                    user: c.user,
                    scopes: c.scopes.clone(),
                    auth_time: c.auth_time,
                    created_at: stamp,
                };
                tx.oauth()?.put_grant(s.id, &grant)?;
                c.exchanged = Some(s.id);
                tx.oauth()?.put_code(&hash, &c)?;
                Audit::for_user(&user, "oauth.token", audit_ip.clone())
                    .detail(format!("client {client_id}: code exchanged"))
                    .write(tx, at)?;
                Ok::<_, Error>(Ok((user, grant, s.id, c.nonce.clone(), c.amr.clone())))
            })
            .await?;
        let (user, grant, sid, nonce, amr) = match outcome {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let (groups, roles) = self.0.store.read(|r| memberships(r, &user))?;
        Ok(Ok(CodeGrant {
            user,
            groups,
            roles,
            grant,
            session: sid,
            nonce,
            amr: amr.iter().map(|m| m.as_str()).collect(),
            refresh: wants_refresh.then_some(refresh),
        }))
    }

    async fn refresh(
        &self,
        client: &OAuthClient,
        req: &TokenRequest,
        ip: Option<String>,
    ) -> Result<Result<CodeGrant, OAuthError>, Error> {
        let Some(token) = req.refresh_token.as_deref().filter(|t| t.len() <= 128) else {
            return Ok(Err(OAuthError::new(
                "invalid_request",
                "refresh_token is required",
            )));
        };
        let hash = secrets::sha256(token);
        let held = self.0.store.read_oauth(|r, o| {
            Ok(match r.refresh_token(&hash)? {
                Some((sid, _)) => o.grant(sid)?.map(|g| (sid, g)),
                None => None,
            })
        })?;
        let Some((_, grant)) = held.filter(|(_, g)| g.client == client.id) else {
            return Ok(Err(OAuthError::grant("the refresh token is not valid")));
        };
        if let Some(asked) = req.scope.as_deref() {
            let narrower = asked
                .split_ascii_whitespace()
                .all(|s| OidcScope::parse(s).is_some_and(|x| grant.scopes.contains(&x)));
            if !narrower {
                return Ok(Err(OAuthError::new(
                    "invalid_scope",
                    "a refresh cannot widen the scopes granted",
                )));
            }
        }
        let (user, session, next) = match self
            .0
            .auth
            .rotate_refresh(token, Some(client.id), ip, now())
            .await
        {
            Ok(v) => v,
            Err(Error::Unauthorized(m)) => return Ok(Err(OAuthError::grant(m))),
            Err(e) => return Err(e),
        };
        let (groups, roles) = self.0.store.read(|r| memberships(r, &user))?;
        Ok(Ok(CodeGrant {
            user,
            groups,
            roles,
            grant,
            session: session.id,
            nonce: None,
            amr: session.amr.iter().map(|m| m.as_str()).collect(),
            refresh: Some(next),
        }))
    }

    /// The access token and ID token for a grant.
    fn tokens(&self, client: &OAuthClient, g: CodeGrant) -> Result<TokenResponse, Error> {
        let at = now().unix_timestamp();
        let ttl = self.0.auth.access_token_ttl().as_secs();
        let iss = self.issuer();
        let scope = OidcScope::join(&g.grant.scopes);
        let access = AccessClaims {
            iss: iss.clone(),
            sub: g.user.id.to_string(),
            aud: client.client_id(),
            client_id: client.client_id(),
            scope: scope.clone(),
            sid: g.session.to_string(),
            iat: at,
            exp: at + ttl as i64,
            jti: Uuid::now_v7().to_string(),
        };
        let access_token = self.0.auth.sign_ed(&access)?;
        let digest = secrets::sha256(&access_token);
        let id = IdClaims {
            iss: &iss,
            aud: client.client_id(),
            azp: client.client_id(),
            exp: at + ttl as i64,
            iat: at,
            auth_time: g.grant.auth_time.micros() / 1_000_000,
            nonce: g.nonce.as_deref(),
            amr: g.amr,
            at_hash: URL_SAFE_NO_PAD.encode(&digest[..16]),
            sid: g.session.to_string(),
            info: user_info(&g.user, &g.grant.scopes, &g.groups, &g.roles),
        };
        let keys = || {
            self.0
                .keys
                .get()
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("no ID-token keys")))
        };
        let internal = |e| Error::Internal(anyhow::anyhow!("{e}"));
        let id_token = match client.id_token_alg {
            IdTokenAlg::EdDSA => self.0.auth.sign_ed(&id)?,
            IdTokenAlg::RS256 => keys()?.rsa.sign(&id).map_err(internal)?,
            IdTokenAlg::ES256 => keys()?.ec.sign(&id).map_err(internal)?,
        };
        Ok(TokenResponse {
            access_token,
            expires_in: ttl,
            refresh_token: g.refresh,
            id_token: Some(id_token),
            scope,
        })
    }

    /// The live grant behind an app's access token, with its claims.
    pub(super) fn access_grant(
        &self,
        token: &str,
    ) -> Result<Option<(AccessClaims, LiveGrant)>, Error> {
        if token.len() > 4096 {
            return Ok(None);
        }
        let Some(claims) = self.0.auth.verify_ed::<AccessClaims>(token, &self.issuer()) else {
            return Ok(None);
        };
        let Ok(sid) = Uuid::try_parse(&claims.sid) else {
            return Ok(None);
        };
        let found = self.0.store.read_oauth(|r, o| live_grant(r, o, sid))?;
        Ok(found.and_then(|g| {
            (g.grant.client.to_string() == claims.client_id && g.user.id.to_string() == claims.sub)
                .then_some((claims, g))
        }))
    }

    /// `userinfo`: the claims an app's access token was granted.
    pub fn userinfo(&self, token: &str) -> Result<Option<UserInfo>, Error> {
        Ok(self.access_grant(token)?.map(|(_, g)| g.info()))
    }
}

/// A session's grant, if the session is live and its user active.
pub(super) fn live_grant(
    r: &ReadTx,
    o: &ReadOAuth,
    sid: Uuid,
) -> Result<Option<LiveGrant>, StoreError> {
    let Some(grant) = o.grant(sid)? else {
        return Ok(None);
    };
    let live = r
        .session(sid)?
        .is_some_and(|s| !s.revoked && s.expires_at > Timestamp::now());
    match r.get_user(UserId(grant.user))? {
        Some(user) if live && user.status == Status::Active => {
            let (groups, roles) = memberships(r, &user)?;
            Ok(Some(LiveGrant {
                grant,
                user,
                groups,
                roles,
            }))
        }
        _ => Ok(None),
    }
}

/// Why a code cannot be exchanged by this request, if it cannot.
fn code_problem(
    c: &AuthCode,
    client: Uuid,
    redirect_uri: &Option<String>,
    verifier: &Option<String>,
    now: Timestamp,
) -> Option<&'static str> {
    if c.expires_at <= now {
        return Some("the code has expired");
    }
    if c.client != client {
        return Some("the code was issued to another client");
    }
    if redirect_uri.as_deref() != Some(c.redirect_uri.as_str()) {
        return Some("redirect_uri does not match the authorization request");
    }
    match (&c.code_challenge, verifier) {
        (Some(ch), Some(v)) if pkce_matches(ch, v) => None,
        (Some(_), _) => Some("the PKCE code_verifier is missing or wrong"),
        (None, Some(_)) => Some("a code_verifier was sent but the request had no challenge"),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_an_independent_computation() {
        // Python: base64.urlsafe_b64encode(hashlib.sha256(v).digest()).
        let verifier = "dBjftJeZ4CVP-mJ92K8qVSfd2yeRF-UhFQWS_4aWkYk";
        let challenge = "1HGuU87BKiCPqwyoFVRcRIen0NT6njPtfPuCm1Z7zPM";
        assert!(pkce_matches(challenge, verifier));
        assert!(!pkce_matches(
            challenge,
            "dBjftJeZ4CVP-mJ92K8qVSfd2yeRF-UhFQWS_4aWkYj"
        ));
        assert!(!pkce_matches(challenge, "short"), "43 characters at least");
    }

    #[test]
    fn a_code_is_refused_once_expired_or_elsewhere() {
        let now = Timestamp::now();
        let client = Uuid::now_v7();
        let code = AuthCode {
            client,
            user: Uuid::now_v7(),
            redirect_uri: "https://app.example/cb".into(),
            scopes: vec![OidcScope::Openid],
            nonce: None,
            code_challenge: None,
            auth_time: now,
            amr: Vec::new(),
            expires_at: now.after(std::time::Duration::from_secs(60)),
            exchanged: None,
        };
        let uri = Some("https://app.example/cb".to_owned());
        assert_eq!(code_problem(&code, client, &uri, &None, now), None);
        let later = now.after(std::time::Duration::from_secs(61));
        assert_eq!(
            code_problem(&code, client, &uri, &None, later),
            Some("the code has expired")
        );
        assert!(code_problem(&code, Uuid::now_v7(), &uri, &None, now).is_some());
        assert!(code_problem(&code, client, &None, &None, now).is_some());
        let sneaky = Some("x".repeat(43));
        assert!(
            code_problem(&code, client, &uri, &sneaky, now).is_some(),
            "a verifier without a challenge"
        );
    }
}
