//! Accounts made through authentication: the first admin (a one-time setup
//! token, or `ROSTER_ADMIN_*` at start) and self sign-up.

use super::*;

impl Auth {
    /// Makes sure there is an admin. Returns a one-time setup token to print
    /// when there is none and none was configured.
    pub async fn bootstrap(&self) -> Result<Option<String>, Error> {
        if self.0.store.read(|r| r.admin_exists())? {
            return Ok(None);
        }
        if let Some((email, password)) = self.0.cfg.bootstrap_admin.clone() {
            let signup = Signup::of_email(&email, &password).map_err(Error::Validation)?;
            self.create_admin(signup, &Caller::system(), None).await?;
            tracing::info!("created the first admin from ROSTER_ADMIN_EMAIL");
            return Ok(None);
        }
        let token = secrets::random_token();
        let hash = secrets::sha256(&token);
        self.0
            .store
            .write(move |tx| {
                tx.set_meta(SETUP_TOKEN, &hash)?;
                Ok::<_, Error>(())
            })
            .await?;
        Ok(Some(token))
    }

    /// Creates an admin with a password, if (and only if) no admin exists
    /// yet, and — with `setup_token` — only if the token is the one issued.
    pub async fn create_admin(
        &self,
        signup: Signup,
        caller: &Caller,
        setup_token: Option<&str>,
    ) -> Result<User, Error> {
        let Signup {
            mut draft,
            password,
        } = signup;
        draft.roles = vec![Role::Admin, Role::User];
        // The operator vouches for the address (and with verification
        // required, an unverified first admin could never sign in).
        draft.email_verified = true;
        let phc = self
            .0
            .hasher
            .hash(password.expose())
            .await
            .map_err(hash_error)?;
        let token_hash = setup_token.map(secrets::sha256);
        let at = now();
        let user = User::from_draft(UserId::new(), draft, at);
        let caller = caller.clone();
        self.0
            .store
            .write(move |tx| {
                if tx.admin_exists()? {
                    return Err(Error::Conflict { field: "admin" });
                }
                if let Some(hash) = &token_hash {
                    let stored = tx.meta(SETUP_TOKEN)?;
                    if stored.as_deref() != Some(hash.as_slice()) {
                        return Err(Error::Unauthorized(
                            "The setup token is not valid (it is single-use).",
                        ));
                    }
                    tx.delete_meta(SETUP_TOKEN)?;
                }
                tx.insert_user(&user)?;
                tx.set_password_hash(user.id, &phc)?;
                Audit::by(&caller, "admin.create")
                    .target(user.id)
                    .write(tx, at)?;
                Ok(user.clone())
            })
            .await
    }

    /// Self sign-up, when enabled: a plain user with a password.
    pub async fn register(&self, signup: Signup, ip: Option<String>) -> Result<User, Error> {
        if !self.0.cfg.allow_registration {
            return Err(Error::Forbidden);
        }
        let Signup { draft, password } = signup;
        if draft
            .attributes
            .as_map()
            .contains_key(crate::domain::PROVISIONED)
        {
            return Err(Error::Validation(vec![FieldError::new(
                "attributes",
                format!(
                    "may not hold `{}`: it is written by provisioning (SCIM)",
                    crate::domain::PROVISIONED
                ),
            )]));
        }
        self.throttle(&format!("register:{}", draft.email.folded()), ip.as_deref())?;
        let phc = self
            .0
            .hasher
            .hash(password.expose())
            .await
            .map_err(hash_error)?;
        let at = now();
        let user = User::from_draft(UserId::new(), draft, at);
        // With verification required, the link goes out with the account.
        let verify = match self.0.mail.config().require_email_verification {
            true => Some(self.link_plan(
                TokenPurpose::VerifyEmail,
                user.clone(),
                user.email.as_str().to_owned(),
                Timestamp::from_datetime(at),
            )?),
            false => None,
        };
        let sends = verify.is_some();
        let user = self
            .0
            .store
            .write(move |tx| {
                tx.insert_user(&user)?;
                tx.set_password_hash(user.id, &phc)?;
                if let Some(plan) = &verify {
                    plan.write(tx)?;
                }
                Audit {
                    action: "register",
                    actor: Some(format!("user:{}", user.id)),
                    target: Some(user.id.to_string()),
                    ip: ip.clone(),
                    success: true,
                    detail: None,
                }
                .write(tx, at)?;
                Ok::<_, Error>(user.clone())
            })
            .await?;
        if sends {
            self.0.mail.wake();
        }
        Ok(user)
    }
}
