//! OAuth 2.0 / OpenID Connect clients: the apps that sign their users in
//! through roster. A client is registered by an admin; its secret (for a
//! confidential client) is shown once and only its SHA-256 is kept.
//!
//! Redirect URIs are compared exactly (RFC 9700 §2.1): no wildcard, no
//! prefix match, so a registration cannot be stretched into an open
//! redirect.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{AuthMethod, Field, FieldError, Timestamp};

/// Most clients a store holds.
pub const MAX_CLIENTS: usize = 1000;
/// Most redirect URIs one client registers (each kind).
pub const MAX_REDIRECT_URIS: usize = 20;
pub const MAX_CLIENT_NAME: usize = 100;
/// Longest redirect URI accepted.
pub const MAX_REDIRECT_URI: usize = 2048;

/// Whether the client can keep a secret (a server) or not (a browser or
/// native app, which must use PKCE instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    Confidential,
    Public,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    /// A machine client acting for itself (confidential clients only).
    ClientCredentials,
}

impl GrantType {
    pub const ALL: [GrantType; 3] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// How the client's ID tokens are signed. RS256 is OpenID Connect's
/// default, which every relying party supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum IdTokenAlg {
    RS256,
    EdDSA,
    ES256,
}

impl IdTokenAlg {
    pub const ALL: [IdTokenAlg; 3] = [IdTokenAlg::RS256, IdTokenAlg::EdDSA, IdTokenAlg::ES256];

    pub fn as_str(self) -> &'static str {
        match self {
            IdTokenAlg::RS256 => "RS256",
            IdTokenAlg::EdDSA => "EdDSA",
            IdTokenAlg::ES256 => "ES256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// What a client may ask to know of a user (OpenID Connect scopes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OidcScope {
    Openid,
    Profile,
    Email,
    Groups,
    Roles,
    /// A refresh token that outlives the user's presence (OIDC Core §11).
    OfflineAccess,
}

impl OidcScope {
    pub const ALL: [OidcScope; 6] = [
        OidcScope::Openid,
        OidcScope::Profile,
        OidcScope::Email,
        OidcScope::Groups,
        OidcScope::Roles,
        OidcScope::OfflineAccess,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OidcScope::Openid => "openid",
            OidcScope::Profile => "profile",
            OidcScope::Email => "email",
            OidcScope::Groups => "groups",
            OidcScope::Roles => "roles",
            OidcScope::OfflineAccess => "offline_access",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// What the consent page says this scope shares.
    pub fn describe(self) -> &'static str {
        match self {
            OidcScope::Openid => "that you signed in, and your account id",
            OidcScope::Profile => "your name and username",
            OidcScope::Email => "your email address",
            OidcScope::Groups => "the groups you belong to",
            OidcScope::Roles => "your roles",
            OidcScope::OfflineAccess => "access while you are away (a long-lived token)",
        }
    }

    /// A space-separated scope string.
    pub fn join(scopes: &[OidcScope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthClient {
    /// Also its `client_id`.
    pub id: Uuid,
    pub name: String,
    pub kind: ClientKind,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// The scopes it may ask for.
    pub scopes: Vec<OidcScope>,
    pub grant_types: Vec<GrantType>,
    pub id_token_alg: IdTokenAlg,
    /// A first-party app: its users are not asked to consent.
    pub skip_consent: bool,
    /// SHA-256 of the secret (confidential clients).
    pub secret_hash: Option<[u8; 32]>,
    /// The secret's first characters, to recognise it.
    pub secret_prefix: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl OAuthClient {
    pub fn client_id(&self) -> String {
        self.id.to_string()
    }

    pub fn allows(&self, g: GrantType) -> bool {
        self.grant_types.contains(&g)
    }

    /// Whether `uri` is one of its redirect URIs, byte for byte.
    pub fn redirects_to(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|u| u == uri)
    }
}

/// A client as validated from a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOAuthClient {
    pub name: String,
    pub kind: ClientKind,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<OidcScope>,
    pub grant_types: Vec<GrantType>,
    pub id_token_alg: IdTokenAlg,
    pub skip_consent: bool,
}

/// Changes to a client; `None` leaves a field as it is. Its kind is fixed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OAuthClientPatch {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<OidcScope>>,
    pub grant_types: Option<Vec<GrantType>>,
    pub id_token_alg: Option<IdTokenAlg>,
    pub skip_consent: Option<bool>,
}

/// The fields of a client request, as sent.
#[derive(Debug, Default)]
pub struct ClientFields {
    pub name: Field<String>,
    pub kind: Field<String>,
    pub redirect_uris: Field<Vec<serde_json::Value>>,
    pub post_logout_redirect_uris: Field<Vec<serde_json::Value>>,
    pub scopes: Field<Vec<serde_json::Value>>,
    pub grant_types: Field<Vec<serde_json::Value>>,
    pub id_token_alg: Field<String>,
    pub skip_consent: Field<bool>,
}

impl NewOAuthClient {
    pub fn parse(f: ClientFields) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut fields = f;
        let kind = match std::mem::take(&mut fields.kind) {
            Field::Absent => Some(ClientKind::Confidential),
            Field::Given(s) if s == "confidential" => Some(ClientKind::Confidential),
            Field::Given(s) if s == "public" => Some(ClientKind::Public),
            _ => {
                errors.push(FieldError::new(
                    "kind",
                    "must be `confidential` or `public`",
                ));
                None
            }
        };
        let patch = match OAuthClientPatch::parse(fields) {
            Ok(p) => Some(p),
            Err(e) => {
                errors.extend(e);
                None
            }
        };
        let (Some(kind), Some(p)) = (kind, patch) else {
            return Err(errors);
        };
        if p.name.is_none() {
            errors.push(FieldError::new("name", "is required"));
        }
        let new = Self {
            name: p.name.unwrap_or_default(),
            kind,
            redirect_uris: p.redirect_uris.unwrap_or_default(),
            post_logout_redirect_uris: p.post_logout_redirect_uris.unwrap_or_default(),
            scopes: p.scopes.unwrap_or_else(|| OidcScope::ALL.to_vec()),
            grant_types: p
                .grant_types
                .unwrap_or_else(|| vec![GrantType::AuthorizationCode, GrantType::RefreshToken]),
            id_token_alg: p.id_token_alg.unwrap_or(IdTokenAlg::RS256),
            skip_consent: p.skip_consent.unwrap_or(false),
        };
        errors.extend(consistency(
            kind,
            &new.grant_types,
            &new.redirect_uris,
            &new.scopes,
        ));
        if errors.is_empty() {
            Ok(new)
        } else {
            Err(errors)
        }
    }
}

impl OAuthClientPatch {
    pub fn parse(f: ClientFields) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut out = Self::default();
        if f.kind.is_given() {
            errors.push(FieldError::new(
                "kind",
                "cannot change; register a new client instead",
            ));
        }
        match f.name {
            Field::Absent => {}
            Field::Given(s)
                if !s.trim().is_empty() && s.trim().chars().count() <= MAX_CLIENT_NAME =>
            {
                out.name = Some(s.trim().to_owned());
            }
            _ => errors.push(FieldError::new(
                "name",
                format!("must be a string of 1 to {MAX_CLIENT_NAME} characters"),
            )),
        }
        match uris(f.redirect_uris, "redirect_uris") {
            Ok(v) => out.redirect_uris = v,
            Err(e) => errors.push(e),
        }
        match uris(f.post_logout_redirect_uris, "post_logout_redirect_uris") {
            Ok(v) => out.post_logout_redirect_uris = v,
            Err(e) => errors.push(e),
        }
        let names = OidcScope::ALL.map(OidcScope::as_str).join(", ");
        match list(f.scopes, OidcScope::parse) {
            Ok(v) => out.scopes = v,
            Err(()) => errors.push(FieldError::new(
                "scopes",
                format!("must be an array of: {names}"),
            )),
        }
        let names = GrantType::ALL.map(GrantType::as_str).join(", ");
        match list(f.grant_types, GrantType::parse) {
            Ok(v) => out.grant_types = v,
            Err(()) => errors.push(FieldError::new(
                "grant_types",
                format!("must be an array of: {names}"),
            )),
        }
        match f.id_token_alg {
            Field::Absent => {}
            Field::Given(s) if IdTokenAlg::parse(&s).is_some() => {
                out.id_token_alg = IdTokenAlg::parse(&s);
            }
            _ => errors.push(FieldError::new(
                "id_token_alg",
                "must be `RS256`, `ES256` or `EdDSA`",
            )),
        }
        match f.skip_consent {
            Field::Absent => {}
            Field::Given(b) => out.skip_consent = Some(b),
            Field::WrongType => {
                errors.push(FieldError::new("skip_consent", "must be true or false"))
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    /// Applies the patch, checking the client as a whole after it.
    pub fn apply(self, c: &mut OAuthClient) -> Result<(), Vec<FieldError>> {
        let mut next = c.clone();
        if let Some(v) = self.name {
            next.name = v;
        }
        if let Some(v) = self.redirect_uris {
            next.redirect_uris = v;
        }
        if let Some(v) = self.post_logout_redirect_uris {
            next.post_logout_redirect_uris = v;
        }
        if let Some(v) = self.scopes {
            next.scopes = v;
        }
        if let Some(v) = self.grant_types {
            next.grant_types = v;
        }
        if let Some(v) = self.id_token_alg {
            next.id_token_alg = v;
        }
        if let Some(v) = self.skip_consent {
            next.skip_consent = v;
        }
        let errors = consistency(
            next.kind,
            &next.grant_types,
            &next.redirect_uris,
            &next.scopes,
        );
        if !errors.is_empty() {
            return Err(errors);
        }
        *c = next;
        Ok(())
    }
}

/// The rules that join fields: a public client cannot use
/// `client_credentials`; a sign-in flow needs a redirect URI and `openid`.
fn consistency(
    kind: ClientKind,
    grants: &[GrantType],
    redirects: &[String],
    scopes: &[OidcScope],
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if grants.is_empty() {
        errors.push(FieldError::new("grant_types", "must not be empty"));
    }
    if kind == ClientKind::Public && grants.contains(&GrantType::ClientCredentials) {
        errors.push(FieldError::new(
            "grant_types",
            "cannot hold `client_credentials` for a public client (it has no secret)",
        ));
    }
    if grants.contains(&GrantType::AuthorizationCode) {
        if redirects.is_empty() {
            errors.push(FieldError::new(
                "redirect_uris",
                "must hold at least one URI for `authorization_code`",
            ));
        }
        if !scopes.contains(&OidcScope::Openid) {
            errors.push(FieldError::new(
                "scopes",
                "must hold `openid` for `authorization_code`",
            ));
        }
    }
    errors
}

/// Each item parsed, duplicates dropped, in the order given.
fn list<T: PartialEq>(
    f: Field<Vec<serde_json::Value>>,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<Vec<T>>, ()> {
    match f {
        Field::Absent => Ok(None),
        Field::WrongType => Err(()),
        Field::Given(items) => {
            let mut out = Vec::new();
            for item in &items {
                let v = item.as_str().and_then(parse).ok_or(())?;
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            Ok(Some(out))
        }
    }
}

fn uris(f: Field<Vec<serde_json::Value>>, field: &str) -> Result<Option<Vec<String>>, FieldError> {
    let err = |m: String| FieldError::new(field, m);
    let items = match f {
        Field::Absent => return Ok(None),
        Field::WrongType => return Err(err("must be an array of URIs".into())),
        Field::Given(items) => items,
    };
    if items.len() > MAX_REDIRECT_URIS {
        return Err(err(format!("must hold at most {MAX_REDIRECT_URIS} URIs")));
    }
    let mut out: Vec<String> = Vec::new();
    for item in &items {
        let s = item
            .as_str()
            .ok_or_else(|| err("must be an array of URIs".into()))?;
        let why = redirect_uri_problem(s);
        if let Some(why) = why {
            return Err(err(format!(
                "`{}` {why}",
                s.chars().take(80).collect::<String>()
            )));
        }
        if !out.iter().any(|u| u == s) {
            out.push(s.to_owned());
        }
    }
    Ok(Some(out))
}

/// Why `s` cannot be a redirect URI, if it cannot: it must be absolute,
/// `https` (or `http` on a loopback host, for native apps and tests, RFC
/// 8252 §7.3), without a fragment or credentials.
pub fn redirect_uri_problem(s: &str) -> Option<&'static str> {
    if s.len() > MAX_REDIRECT_URI {
        return Some("is too long");
    }
    let Ok(url) = url::Url::parse(s) else {
        return Some("is not an absolute URI");
    };
    if url.fragment().is_some() {
        return Some("must not have a fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Some("must not carry credentials");
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Some("must have a host"),
    };
    match url.scheme() {
        "https" => None,
        "http" if loopback => None,
        "http" => Some("must use https (http only on a loopback host)"),
        _ => Some("must use https"),
    }
}

/// An authorization code as stored under its SHA-256: what the user
/// granted, for the one exchange that may follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthCode {
    pub client: Uuid,
    pub user: Uuid,
    pub redirect_uri: String,
    pub scopes: Vec<OidcScope>,
    pub nonce: Option<String>,
    /// The PKCE `S256` challenge, if the request had one.
    pub code_challenge: Option<String>,
    /// When the user signed in (`auth_time`), and how.
    pub auth_time: Timestamp,
    pub amr: Vec<AuthMethod>,
    pub expires_at: Timestamp,
    /// The session its exchange made; a second exchange revokes it.
    pub exchanged: Option<Uuid>,
}

/// A session a client holds for a user (made by a code exchange): what
/// its refreshes may carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthGrant {
    pub client: Uuid,
    pub user: Uuid,
    pub scopes: Vec<OidcScope>,
    pub auth_time: Timestamp,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: serde_json::Value) -> ClientFields {
        let mut m = v.as_object().cloned().unwrap();
        ClientFields {
            name: Field::take(&mut m, "name"),
            kind: Field::take(&mut m, "kind"),
            redirect_uris: Field::take(&mut m, "redirect_uris"),
            post_logout_redirect_uris: Field::take(&mut m, "post_logout_redirect_uris"),
            scopes: Field::take(&mut m, "scopes"),
            grant_types: Field::take(&mut m, "grant_types"),
            id_token_alg: Field::take(&mut m, "id_token_alg"),
            skip_consent: Field::take(&mut m, "skip_consent"),
        }
    }

    #[test]
    fn redirect_uris_must_be_https_or_loopback() {
        assert_eq!(redirect_uri_problem("https://app.example/cb"), None);
        assert_eq!(redirect_uri_problem("http://127.0.0.1:8080/cb"), None);
        assert_eq!(redirect_uri_problem("http://[::1]/cb"), None);
        assert_eq!(redirect_uri_problem("http://localhost/cb"), None);
        assert!(redirect_uri_problem("http://app.example/cb").is_some());
        assert!(redirect_uri_problem("https://app.example/cb#x").is_some());
        assert!(redirect_uri_problem("https://u:p@app.example/cb").is_some());
        assert!(redirect_uri_problem("/relative").is_some());
        assert!(redirect_uri_problem("javascript:alert(1)").is_some());
    }

    #[test]
    fn a_new_client_gets_defaults_and_is_checked_whole() {
        let c = NewOAuthClient::parse(fields(json!({
            "name": " Wiki ", "redirect_uris": ["https://wiki.example/cb"]
        })))
        .unwrap();
        assert_eq!(c.name, "Wiki");
        assert_eq!(c.kind, ClientKind::Confidential);
        assert_eq!(c.id_token_alg, IdTokenAlg::RS256);
        assert_eq!(
            c.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        let errs = NewOAuthClient::parse(fields(json!({
            "kind": "public", "grant_types": ["client_credentials"], "scopes": ["nope"]
        })))
        .unwrap_err();
        let named: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert!(named.contains(&"scopes"), "{errs:?}");
        let errs = NewOAuthClient::parse(fields(json!({
            "name": "x", "kind": "public", "grant_types": ["client_credentials"]
        })))
        .unwrap_err();
        assert_eq!(errs[0].field, "grant_types", "{errs:?}");
        let errs = NewOAuthClient::parse(fields(json!({"name": "x"}))).unwrap_err();
        assert_eq!(errs[0].field, "redirect_uris", "{errs:?}");
    }
}
