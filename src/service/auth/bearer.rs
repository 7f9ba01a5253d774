//! Who is calling: a bearer access token (signature cached) or an API key,
//! checked against the store on every request.

use super::*;

impl Auth {
    /// Who is calling: from an access token or an API key. The session and
    /// the user are read from the store, so logout, revocation, disabling
    /// and role changes take effect at once.
    pub fn authenticate(&self, bearer: &str, ip: Option<String>) -> Result<Caller, Error> {
        let at = Timestamp::now();
        if let Some(rest) = bearer.strip_prefix(API_KEY_PREFIX) {
            if rest.len() > 128 {
                return Err(Error::Unauthorized("The API key is not valid."));
            }
            let hash = secrets::sha256(bearer);
            let key = self.0.store.api_key_by_hash(&hash)?;
            return match key {
                Some(k) if k.expires_at.is_none_or(|e| e > at) => {
                    self.note_key_use(&k, at);
                    Ok(Caller {
                        principal: Principal::ApiKey {
                            id: k.id,
                            scopes: k.scopes,
                            rate_limit: k.rate_limit,
                        },
                        ip,
                    })
                }
                _ => Err(Error::Unauthorized("The API key is not valid.")),
            };
        }
        if bearer.len() > 4096 {
            return Err(Error::Unauthorized("The access token is not valid."));
        }
        let claims = self.verified_claims(bearer, at.micros() / 1_000_000)?;
        let (Some(uid), Ok(sid)) = (UserId::parse(&claims.sub), Uuid::try_parse(&claims.sid))
        else {
            return Err(Error::Unauthorized("The access token is not valid."));
        };
        let (user, session) = self.0.store.user_and_session(uid, sid)?;
        match (user, session) {
            (Some(u), Some(s))
                if u.status == Status::Active && !s.revoked && s.user_id == uid.0 =>
            {
                let must_enrol_mfa = !u.mfa_enabled && self.mfa_required_for(&u.roles);
                Ok(Caller {
                    principal: Principal::User {
                        id: uid,
                        roles: u.roles,
                        session: sid,
                        must_enrol_mfa,
                    },
                    ip,
                })
            }
            _ => Err(Error::Unauthorized("The session has ended; sign in again.")),
        }
    }

    /// The claims of a valid access token, from the cache when it was seen.
    fn verified_claims(&self, token: &str, now_secs: i64) -> Result<Arc<Claims>, Error> {
        let cached = self
            .0
            .verified
            .read()
            .ok()
            .and_then(|m| m.get(token).cloned());
        if let Some(c) = cached {
            // The cache skips only the signature check, never expiry.
            if c.exp > now_secs {
                return Ok(c);
            }
            return Err(Error::Unauthorized("The access token is not valid."));
        }
        let claims = Arc::new(
            self.0
                .tokens
                .verify(token)
                .map_err(|_| Error::Unauthorized("The access token is not valid."))?,
        );
        if let Ok(mut m) = self.0.verified.write() {
            if m.len() >= VERIFIED_CACHE {
                m.clear();
            }
            m.insert(token.to_owned(), claims.clone());
        }
        Ok(claims)
    }
}
