//! The browser's half of a sign-in through roster: the authorization
//! request checked (client, exact redirect URI, PKCE, scopes), the user's
//! session with roster itself (a cookie), consent, and the one-time code
//! handed back to the app.
//!
//! Errors the app may hear of go back to its redirect URI; errors that
//! make the redirect URI itself untrustworthy (unknown client, URI not
//! registered) are shown to the user instead, never redirected (RFC 6749
//! §4.1.2.1): that is what keeps this from being an open redirect.

use std::time::Duration;

use uuid::Uuid;

use crate::auth::secrets;
use crate::domain::{
    AuthCode, ClientKind, GrantType, OAuthClient, OidcScope, Session, Status, Timestamp, User,
};
use crate::error::Error;
use crate::service::{LoginResult, SecondStep, SignIn};

use super::super::{Audit, now};
use super::OAuth;

/// How long an authorization code may wait for its exchange.
const CODE_TTL: Duration = Duration::from_secs(60);
/// Longest `state` or `nonce` carried.
const MAX_ECHO: usize = 512;

/// An authorization request's parameters, as sent.
#[derive(Debug, Clone, Default)]
pub struct AuthorizeRequest {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub response_mode: Option<String>,
}

/// What the browser is to be shown or sent to.
#[derive(Debug)]
pub enum Authorization {
    /// The request cannot be trusted to redirect: show this to the user.
    Invalid(&'static str),
    /// Send the browser here (the code, or an error, for the app).
    Redirect(String),
    /// The user must sign in (again) first.
    Login { client_name: String },
    /// The user must agree to share these scopes first.
    Consent(ConsentNeeded),
}

#[derive(Debug)]
pub struct ConsentNeeded {
    pub client_name: String,
    pub scopes: Vec<OidcScope>,
    pub user_label: String,
}

/// The first step of a browser sign-in.
pub enum BrowserSignIn {
    /// Signed in: the session token for the cookie.
    Done(String),
    /// A second factor is due: the challenge to answer.
    SecondFactor { mfa_token: String },
}

/// A request that passed every check.
struct Checked {
    client: OAuthClient,
    redirect_uri: String,
    scopes: Vec<OidcScope>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    prompt_none: bool,
    prompt_login: bool,
    prompt_consent: bool,
    max_age: Option<u64>,
}

/// A URL with parameters added to its query.
fn with_params(base: &str, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(base).expect("redirect URIs are parsed at registration");
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}

impl OAuth {
    /// The error for the app, at its redirect URI.
    fn error_redirect(&self, c: &Checked, error: &str, description: &str) -> Authorization {
        let mut p = vec![("error", error), ("error_description", description)];
        let iss = self.issuer();
        if let Some(s) = &c.state {
            p.push(("state", s));
        }
        p.push(("iss", &iss));
        Authorization::Redirect(with_params(&c.redirect_uri, &p))
    }

    /// Checks a request: first what makes the redirect URI trustworthy
    /// (else `Err(Invalid)`), then the rest (else an error redirect).
    fn check(&self, req: &AuthorizeRequest) -> Result<Checked, Authorization> {
        let client_id = req.client_id.as_deref().unwrap_or("");
        let client = Uuid::try_parse(client_id)
            .ok()
            .and_then(|id| self.0.store.read_oauth(|_, o| o.client(id)).ok().flatten())
            .ok_or(Authorization::Invalid(
                "The app that sent you here is not registered with this server.",
            ))?;
        // Required, as OpenID Connect has it (OAuth alone would let a client
        // with one URI leave it out).
        let redirect_uri = match req.redirect_uri.as_deref() {
            Some(u) if client.redirects_to(u) => u.to_owned(),
            _ => {
                return Err(Authorization::Invalid(
                    "The app asked to send you back to an address it has not registered.",
                ));
            }
        };
        let state = req.state.clone().filter(|s| !s.is_empty());
        let mut c = Checked {
            client,
            redirect_uri,
            scopes: Vec::new(),
            state,
            nonce: req.nonce.clone().filter(|s| !s.is_empty()),
            code_challenge: None,
            prompt_none: false,
            prompt_login: false,
            prompt_consent: false,
            max_age: None,
        };
        let fail = |c: &Checked, e: &str, d: &str| Err(self.error_redirect(c, e, d));
        if c.state.as_ref().is_some_and(|s| s.len() > MAX_ECHO)
            || c.nonce.as_ref().is_some_and(|s| s.len() > MAX_ECHO)
        {
            c.state = None;
            return fail(&c, "invalid_request", "state or nonce is too long");
        }
        if req.response_type.as_deref() != Some("code") {
            return fail(
                &c,
                "unsupported_response_type",
                "only response_type=code is supported",
            );
        }
        if req.response_mode.as_deref().is_some_and(|m| m != "query") {
            return fail(
                &c,
                "invalid_request",
                "only response_mode=query is supported",
            );
        }
        if !c.client.allows(GrantType::AuthorizationCode) {
            return fail(
                &c,
                "unauthorized_client",
                "this client may not use the authorization code flow",
            );
        }
        let mut scopes = Vec::new();
        for s in req.scope.as_deref().unwrap_or("").split_ascii_whitespace() {
            match OidcScope::parse(s) {
                Some(x) if c.client.scopes.contains(&x) => {
                    if !scopes.contains(&x) {
                        scopes.push(x);
                    }
                }
                _ => return fail(&c, "invalid_scope", "a scope is unknown or not allowed"),
            }
        }
        if !scopes.contains(&OidcScope::Openid) {
            return fail(&c, "invalid_scope", "the openid scope is required");
        }
        scopes.sort();
        c.scopes = scopes;
        match (
            req.code_challenge.as_deref(),
            req.code_challenge_method.as_deref(),
        ) {
            (Some(ch), Some("S256")) if is_challenge(ch) => c.code_challenge = Some(ch.to_owned()),
            (Some(_), Some("S256")) => {
                return fail(&c, "invalid_request", "code_challenge is malformed");
            }
            (Some(_), _) => {
                return fail(&c, "invalid_request", "code_challenge_method must be S256");
            }
            (None, _) if c.client.kind == ClientKind::Public => {
                return fail(
                    &c,
                    "invalid_request",
                    "PKCE (S256) is required for this client",
                );
            }
            (None, _) => {}
        }
        for p in req.prompt.as_deref().unwrap_or("").split_ascii_whitespace() {
            match p {
                "none" => c.prompt_none = true,
                "login" => c.prompt_login = true,
                "consent" => c.prompt_consent = true,
                "select_account" => {}
                _ => return fail(&c, "invalid_request", "prompt has an unknown value"),
            }
        }
        if c.prompt_none && (c.prompt_login || c.prompt_consent) {
            return fail(
                &c,
                "invalid_request",
                "prompt=none goes with no other value",
            );
        }
        if let Some(m) = req.max_age.as_deref() {
            match m.parse::<u64>() {
                Ok(n) => c.max_age = Some(n),
                Err(_) => return fail(&c, "invalid_request", "max_age must be a whole number"),
            }
        }
        Ok(c)
    }

    /// Decides an authorization request for the browser whose session
    /// token is `session` (its cookie), if it has one.
    pub async fn authorize(
        &self,
        req: &AuthorizeRequest,
        session: Option<&str>,
    ) -> Result<Authorization, Error> {
        let c = match self.check(req) {
            Ok(c) => c,
            Err(a) => return Ok(a),
        };
        let signed_in = match session {
            Some(t) => self.0.auth.browser_session(t)?,
            None => None,
        };
        let now_ts = Timestamp::now();
        let fresh = |s: &Session| {
            c.max_age
                .is_none_or(|m| now_ts.duration_since(s.created_at) <= Duration::from_secs(m))
        };
        let (user, session) = match signed_in {
            Some((u, s)) if !c.prompt_login && fresh(&s) => (u, s),
            _ if c.prompt_none => {
                return Ok(self.error_redirect(&c, "login_required", "the user is not signed in"));
            }
            _ => {
                return Ok(Authorization::Login {
                    client_name: c.client.name.clone(),
                });
            }
        };
        let consented = self
            .0
            .store
            .read_oauth(|_, o| o.consent(user.id.0, c.client.id))?;
        let covered = c.client.skip_consent || c.scopes.iter().all(|s| consented.contains(s));
        if !covered || c.prompt_consent {
            if c.prompt_none {
                return Ok(self.error_redirect(
                    &c,
                    "consent_required",
                    "the user has not agreed to share this",
                ));
            }
            return Ok(Authorization::Consent(ConsentNeeded {
                client_name: c.client.name.clone(),
                scopes: c.scopes.clone(),
                user_label: user.email.as_str().to_owned(),
            }));
        }
        self.issue_code(&c, &user, &session).await
    }

    /// The user's answer on the consent page.
    pub async fn consent(
        &self,
        req: &AuthorizeRequest,
        session: Option<&str>,
        approve: bool,
        ip: Option<String>,
    ) -> Result<Authorization, Error> {
        let c = match self.check(req) {
            Ok(c) => c,
            Err(a) => return Ok(a),
        };
        let Some((user, session)) = session
            .map(|t| self.0.auth.browser_session(t))
            .transpose()?
            .flatten()
        else {
            return Ok(Authorization::Login {
                client_name: c.client.name.clone(),
            });
        };
        let at = now();
        let (uid, cid, scopes) = (user.id.0, c.client.id, c.scopes.clone());
        let mut audit = Audit::for_user(&user, "oauth.consent", ip)
            .detail(format!("client {cid}: {}", OidcScope::join(&scopes)));
        if !approve {
            audit = audit.failed(format!("client {cid}: declined"));
        }
        self.0
            .store
            .write(move |tx| {
                if approve {
                    let mut all = tx.oauth()?.consent(uid, cid)?;
                    for s in &scopes {
                        if !all.contains(s) {
                            all.push(*s);
                        }
                    }
                    tx.oauth()?.set_consent(uid, cid, &all)?;
                }
                audit.write(tx, at)
            })
            .await?;
        if !approve {
            return Ok(self.error_redirect(&c, "access_denied", "the user declined"));
        }
        self.issue_code(&c, &user, &session).await
    }

    /// Stores a code for the request and sends the browser back with it.
    async fn issue_code(
        &self,
        c: &Checked,
        user: &User,
        session: &Session,
    ) -> Result<Authorization, Error> {
        if user.status != Status::Active {
            return Ok(self.error_redirect(c, "access_denied", "the account is disabled"));
        }
        let code = secrets::random_token();
        let hash = secrets::sha256(&code);
        let at = now();
        let record = AuthCode {
            client: c.client.id,
            user: user.id.0,
            redirect_uri: c.redirect_uri.clone(),
            scopes: c.scopes.clone(),
            nonce: c.nonce.clone(),
            code_challenge: c.code_challenge.clone(),
            auth_time: session.created_at,
            amr: session.amr.clone(),
            expires_at: Timestamp::from_datetime(at).after(CODE_TTL),
            exchanged: None,
        };
        let audit = Audit::for_user(user, "oauth.authorize", None)
            .detail(format!("client {}", c.client.id));
        self.0
            .store
            .write(move |tx| {
                tx.oauth()?.put_code(&hash, &record)?;
                audit.write(tx, at)
            })
            .await?;
        let iss = self.issuer();
        let mut p = vec![("code", code.as_str())];
        if let Some(s) = &c.state {
            p.push(("state", s));
        }
        p.push(("iss", &iss));
        Ok(Authorization::Redirect(with_params(&c.redirect_uri, &p)))
    }

    /// A sign-in on roster's own page: the session token for the cookie,
    /// or the challenge of a second factor.
    pub async fn browser_login(
        &self,
        login: &str,
        password: &str,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> Result<BrowserSignIn, Error> {
        match self.0.auth.login(login, password, ip, user_agent).await? {
            SignIn::Done(r) => Ok(BrowserSignIn::Done(cookie_token(*r))),
            SignIn::SecondFactorDue(due) => Ok(BrowserSignIn::SecondFactor {
                mfa_token: due.mfa_token,
            }),
        }
    }

    /// The second step of a sign-in on roster's page: a TOTP code or a
    /// recovery code.
    pub async fn browser_second_factor(
        &self,
        mfa_token: &str,
        code: &str,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> Result<String, Error> {
        let code = code.trim();
        let step = if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
            SecondStep::Totp(code.to_owned())
        } else {
            SecondStep::Recovery(code.to_owned())
        };
        let r = self
            .0
            .auth
            .verify_second_factor(mfa_token, step, ip, user_agent)
            .await?;
        Ok(cookie_token(r))
    }

    /// Whether `token` is a live session of an active user that a browser
    /// may hold as its cookie (a sign-in's, not an app's).
    pub fn is_browser_session(&self, token: &str) -> Result<bool, Error> {
        Ok(self.0.auth.browser_session(token)?.is_some())
    }

    /// Ends the browser's session with roster (not the apps' sessions).
    pub async fn browser_logout(&self, session: &str) -> Result<(), Error> {
        let Some((user, s)) = self.0.auth.browser_session(session)? else {
            return Ok(());
        };
        let at = now();
        let audit = Audit::for_user(&user, "logout", None).detail("browser session");
        self.0
            .store
            .write(move |tx| {
                tx.revoke_session(s.id)?;
                audit.write(tx, at)
            })
            .await
    }
}

/// The browser keeps the session's refresh token in its cookie; the access
/// token is not needed and dropped.
fn cookie_token(r: LoginResult) -> String {
    r.refresh_token
}

/// A PKCE challenge: base64url of a SHA-256 (43 characters).
fn is_challenge(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
