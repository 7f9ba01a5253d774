//! How a mail leaves: SMTP through lettre (rustls, no OpenSSL), or, when no
//! SMTP server is configured, the log (for a laptop; not for production).

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::MailConfig;
use crate::domain::OutgoingMail;

/// Why a send failed. Permanent failures (the server refused the message
/// or the address for good) are not retried.
#[derive(Debug)]
pub struct SendError {
    pub permanent: bool,
    /// Safe to log and store: the server's reply or the I/O error, never
    /// credentials or the message.
    pub reason: String,
}

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Log,
}

/// A connection, a command or a whole message that takes longer is a failed
/// attempt (retried later).
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

impl Transport {
    /// The transport `--smtp-url` describes: `smtp://` (plain), `smtps://`
    /// (TLS from the start) or `smtp+starttls://` (upgraded); user and
    /// password from the URL, the password from `ROSTER_SMTP_PASSWORD` in
    /// preference.
    pub fn from_config(cfg: &MailConfig) -> Result<Self, String> {
        let Some(raw) = &cfg.smtp_url else {
            return Ok(Transport::Log);
        };
        let url = url::Url::parse(raw).map_err(|_| "smtp_url is not a URL".to_owned())?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let tls_error = |e: lettre::transport::smtp::Error| format!("smtp_url: {e}");
        let builder = match url.scheme() {
            "smtp" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
                .port(url.port().unwrap_or(25)),
            "smtps" => AsyncSmtpTransport::<Tokio1Executor>::relay(&host)
                .map_err(tls_error)?
                .port(url.port().unwrap_or(465)),
            _ => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host)
                .map_err(tls_error)?
                .port(url.port().unwrap_or(587)),
        };
        let user = percent_decode(url.username());
        let password = cfg
            .smtp_password
            .clone()
            .or_else(|| url.password().map(percent_decode));
        let builder = match (user.is_empty(), password) {
            (false, Some(password)) => builder.credentials(Credentials::new(user, password)),
            (false, None) => {
                return Err("smtp_url names a user but no password is given (in the URL or ROSTER_SMTP_PASSWORD)".into());
            }
            (true, _) => builder,
        };
        let pool = PoolConfig::new().max_size(super::outbox::CONCURRENCY as u32);
        Ok(Transport::Smtp(
            builder
                .timeout(Some(SMTP_TIMEOUT))
                .pool_config(pool)
                .build(),
        ))
    }

    pub fn is_log(&self) -> bool {
        matches!(self, Transport::Log)
    }

    pub async fn send(&self, from: &Mailbox, mail: &OutgoingMail) -> Result<(), SendError> {
        // RFC 2606: nothing under .invalid exists (SCIM users provisioned
        // without an address get one there).
        if mail
            .to
            .rsplit_once('@')
            .is_some_and(|(_, d)| d.to_ascii_lowercase().ends_with(".invalid"))
        {
            return Err(SendError {
                permanent: true,
                reason: "the address is under .invalid, which receives no mail".into(),
            });
        }
        match self {
            Transport::Log => {
                tracing::info!(
                    to = %mail.to,
                    subject = %mail.subject,
                    template = %mail.template,
                    "mail not sent (no SMTP server configured; not for production):\n{}",
                    mail.text
                );
                Ok(())
            }
            Transport::Smtp(smtp) => {
                let to: Mailbox = mail.to.parse().map_err(|e| SendError {
                    permanent: true,
                    reason: format!("bad recipient: {e}"),
                })?;
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(&mail.subject)
                    .multipart(MultiPart::alternative_plain_html(
                        mail.text.clone(),
                        mail.html.clone(),
                    ))
                    .map_err(|e| SendError {
                        permanent: true,
                        reason: format!("cannot build the message: {e}"),
                    })?;
                smtp.send(message).await.map(|_| ()).map_err(|e| SendError {
                    permanent: e.is_permanent(),
                    reason: e.to_string(),
                })
            }
        }
    }
}

fn percent_decode(s: &str) -> String {
    // Userinfo is percent-encoded, where `+` is itself.
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
