//! Mail: what the account flows send, and the outbox worker that sends it.
//!
//! A flow renders its mail and writes it as an outbox [`Job`] in the same
//! transaction as the token the mail carries ([`Mail::job`]); after the
//! commit it wakes the worker ([`Mail::wake`]). The worker (`outbox`) sends
//! due jobs, records each outcome (sent: the job is deleted; failed: the
//! next attempt, with backoff), and gives up after a day. A crash between a
//! send and its record means one more send after restart (at least once);
//! a recorded send is never repeated.

mod outbox;
mod templates;
mod transport;

pub use outbox::{MAIL_RETRY_FOR, Outbox};
pub use templates::{KINDS, MailValues, Templates};
pub use transport::Transport;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use lettre::message::Mailbox;
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::config::{ByLink, MailConfig};
use crate::domain::{Job, JobKind, OutgoingMail, Timestamp, TokenPurpose, User};
use crate::error::Error;

/// Templates, links and the wake-up of the worker; cheap to clone.
#[derive(Clone)]
pub struct Mail(Arc<Inner>);

struct Inner {
    templates: Templates,
    from: Mailbox,
    cfg: MailConfig,
    product: String,
    /// The server's own address, for links when `public_url` is unset
    /// (known once the listener is bound).
    own_url: OnceLock<String>,
    wake: Notify,
    transport: Transport,
}

impl Mail {
    /// Loads the templates, checks the sender and builds the transport: a
    /// mistake in any of them stops the start.
    pub fn new(cfg: &MailConfig, product: &str) -> Result<Self, String> {
        let templates = Templates::load(cfg.templates_dir.as_deref())?;
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e| format!("setting `mail_from` (--mail-from / ROSTER_MAIL_FROM): {e}"))?;
        let transport = Transport::from_config(cfg)?;
        Ok(Self(Arc::new(Inner {
            templates,
            from,
            cfg: cfg.clone(),
            product: product.to_owned(),
            own_url: OnceLock::new(),
            wake: Notify::new(),
            transport,
        })))
    }

    /// Where links point when `--public-url` is not set.
    pub fn set_own_url(&self, url: String) {
        let _ = self.0.own_url.set(url);
    }

    /// The server's public address: `--public-url`, else where it listens.
    pub fn base_url(&self) -> &str {
        self.0
            .cfg
            .public_url
            .as_deref()
            .or(self.0.own_url.get().map(String::as_str))
            .unwrap_or("http://localhost:8080")
    }

    pub fn config(&self) -> &MailConfig {
        &self.0.cfg
    }

    /// True when mail only goes to the log.
    pub fn logs_only(&self) -> bool {
        self.0.transport.is_log()
    }

    /// How long a token for `purpose` lives.
    pub fn ttl(&self, purpose: TokenPurpose) -> Duration {
        *of(&self.0.cfg.ttl, purpose)
    }

    /// The link for a token: the app's own page if a template is set, else
    /// roster's `/account/…` page.
    pub fn link(&self, purpose: TokenPurpose, token: &str) -> String {
        let page = *of(
            &ByLink {
                verify: "verify",
                reset: "reset",
                magic: "magic",
                email: "email",
            },
            purpose,
        );
        match of(&self.0.cfg.link_templates, purpose) {
            Some(t) => t.replace("{token}", token),
            None => format!("{}/account/{page}?token={token}", self.base_url()),
        }
    }

    /// The mail carrying `token` for `purpose`, to `to`, as an outbox job.
    /// Without a `user` (an address with no account), the same work is
    /// done for nothing, so that the answer takes as long either way.
    pub fn token_job(
        &self,
        purpose: TokenPurpose,
        user: Option<&User>,
        to: &str,
        token: &str,
        at: Timestamp,
    ) -> Result<Job, Error> {
        let values = MailValues {
            link: self.link(purpose, token),
            expires: in_words(self.ttl(purpose)),
            email: to.to_owned(),
            ..match user {
                Some(user) => self.values(user),
                None => MailValues {
                    product: self.0.product.clone(),
                    name: to.to_owned(),
                    ..Default::default()
                },
            }
        };
        self.job(purpose.as_str(), to, &values, at)
    }

    /// A notice (no link) to `user`'s address as it is now.
    pub fn notice_job(
        &self,
        kind: &str,
        user: &User,
        new_email: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<Job, Error> {
        let to = user.email.as_str();
        let values = MailValues {
            email: to.to_owned(),
            new_email: new_email.unwrap_or_default().to_owned(),
            ..self.values(user)
        };
        self.job(kind, to, &values, Timestamp::from_datetime(at))
    }

    /// The notice that a sign-in factor of `user` changed: `change` says
    /// what, as a sentence without its full stop.
    pub fn factor_notice(
        &self,
        user: &User,
        change: &str,
        at: OffsetDateTime,
    ) -> Result<Job, Error> {
        let to = user.email.as_str();
        let values = MailValues {
            email: to.to_owned(),
            change: change.to_owned(),
            ..self.values(user)
        };
        self.job("factor-changed", to, &values, Timestamp::from_datetime(at))
    }

    fn values(&self, user: &User) -> MailValues {
        MailValues {
            product: self.0.product.clone(),
            name: user
                .name
                .as_ref()
                .map_or_else(|| user.email.as_str().to_owned(), |n| n.as_str().to_owned()),
            ..Default::default()
        }
    }

    fn job(&self, kind: &str, to: &str, values: &MailValues, at: Timestamp) -> Result<Job, Error> {
        let r = self
            .0
            .templates
            .render(kind, values)
            .map_err(|e| Error::Internal(anyhow::anyhow!(e)))?;
        let mail = OutgoingMail {
            to: to.to_owned(),
            subject: r.subject,
            text: r.text,
            html: r.html,
            template: kind.to_owned(),
        };
        let payload = postcard::to_stdvec(&mail).map_err(|e| Error::Internal(e.into()))?;
        Ok(Job::new(JobKind::Mail, payload, at))
    }

    /// Tells the worker that jobs were committed.
    pub fn wake(&self) {
        self.0.wake.notify_one();
    }
}

/// The value of `by` for the link of `purpose`.
fn of<T>(by: &ByLink<T>, purpose: TokenPurpose) -> &T {
    match purpose {
        TokenPurpose::VerifyEmail => &by.verify,
        TokenPurpose::ResetPassword => &by.reset,
        TokenPurpose::MagicLink => &by.magic,
        TokenPurpose::ChangeEmail => &by.email,
    }
}

/// "30 minutes", "24 hours", "1 hour".
fn in_words(d: Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = if s >= 3600 && s.is_multiple_of(3600) {
        (s / 3600, "hour")
    } else if s >= 60 {
        (s.div_ceil(60), "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}
