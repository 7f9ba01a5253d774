//! The outbox worker: sends due mail jobs a few at a time, records every
//! outcome in one transaction per batch, retries failures with exponential
//! backoff and jitter, and gives up (with an audit entry) after
//! [`MAIL_RETRY_FOR`] or at once on a permanent refusal.

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream;
use rand::Rng;
use tokio::sync::watch;

use crate::domain::{AuditEntry, Job, JobKind, OutgoingMail, Timestamp};
use crate::store::{Store, StoreError};

use super::Mail;
use super::transport::SendError;

/// How long a mail is retried before it is given up.
pub const MAIL_RETRY_FOR: Duration = Duration::from_secs(24 * 3600);
/// Jobs taken per pass, sent this many at once (over as many pooled SMTP
/// connections). Each message costs a round trip
/// or two of idle waiting (lettre writes a message's end apart from its
/// body, which meets the server's delayed ACK: about 40 ms on Linux), so
/// the rate comes from sending several at once.
const BATCH: usize = 64;
pub(super) const CONCURRENCY: usize = 16;
/// Most jobs looked at per pass (jobs in backoff are skipped over).
const SCAN_BUDGET: usize = 10_000;
/// The first retry waits about this long, doubling up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Without a wake-up, look again this often (tokens are purged then too).
const IDLE_POLL: Duration = Duration::from_secs(30);

pub struct Outbox {
    store: Store,
    mail: Mail,
}

/// What became of one job in a pass.
enum Outcome {
    Sent,
    Retry(Job),
    GaveUp { job: Job, reason: String },
}

impl Outbox {
    pub fn new(store: Store, mail: Mail) -> Self {
        Self { store, mail }
    }

    /// Runs until `stop` turns true; a pass in progress finishes first, so
    /// every send it made is recorded.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            let wait = match self.pass().await {
                Ok(true) => continue,
                Ok(false) => self.idle_wait(),
                Err(e) => {
                    tracing::warn!(error = %e, "outbox pass failed; retrying shortly");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                () = self.mail.0.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// How long to sleep with nothing due: until the next job's time, at
    /// most `IDLE_POLL`.
    fn idle_wait(&self) -> Duration {
        let next = self
            .store
            .read(|r| r.next_job_at(SCAN_BUDGET))
            .ok()
            .flatten();
        let now = Timestamp::now();
        match next {
            Some(at) if at > now => at.duration_since(now).min(IDLE_POLL),
            Some(_) => Duration::from_millis(50),
            None => IDLE_POLL,
        }
    }

    /// One batch of due jobs; true if there may be more due at once.
    async fn pass(&self) -> Result<bool, StoreError> {
        let now = Timestamp::now();
        let (due, pending) = self
            .store
            .read(|r| Ok((r.due_jobs(now, BATCH, SCAN_BUDGET)?, r.count_jobs()?)))?;
        metrics::gauge!("roster_outbox_pending").set(pending as f64);
        if due.is_empty() {
            self.purge_tokens(now).await;
            return Ok(false);
        }
        let full = due.len() == BATCH;
        let outcomes: Vec<Outcome> = stream::iter(due)
            .map(|job| self.attempt(job))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let at = Timestamp::now();
        self.store
            .write(move |tx| {
                for o in &outcomes {
                    match o {
                        Outcome::Sent => {}
                        Outcome::Retry(job) => {
                            tx.update_job(job)?;
                        }
                        Outcome::GaveUp { job, reason } => {
                            tx.delete_job(job.id)?;
                            tx.append_audit(&gave_up_entry(job, reason, at))?;
                        }
                    }
                }
                Ok::<_, StoreError>(())
            })
            .await?;
        let pending = self.store.read(|r| r.count_jobs())?;
        metrics::gauge!("roster_outbox_pending").set(pending as f64);
        Ok(full)
    }

    /// Sends one job. A sent job is deleted at once, in a write of its own
    /// shared with the rest of the batch by the store's group commit, so a
    /// crash later in the batch cannot send it again.
    async fn attempt(&self, job: Job) -> Outcome {
        let result = match job.kind {
            JobKind::Mail => match postcard::from_bytes::<OutgoingMail>(&job.payload) {
                Ok(mail) => self.mail.0.transport.send(&self.mail.0.from, &mail).await,
                Err(e) => Err(SendError {
                    permanent: true,
                    reason: format!("unreadable job: {e}"),
                }),
            },
        };
        match result {
            Ok(()) => {
                let id = job.id;
                match self.store.write(move |tx| tx.delete_job(id)).await {
                    Ok(_) => {
                        metrics::counter!("roster_mail_sent_total", "outcome" => "sent")
                            .increment(1);
                        Outcome::Sent
                    }
                    // Sent but not recorded: it will be sent again (at least
                    // once); nothing else to do.
                    Err(e) => {
                        tracing::warn!(job = %id, error = %e, "a sent mail could not be recorded");
                        Outcome::Sent
                    }
                }
            }
            Err(e) => {
                let now = Timestamp::now();
                let age = now.duration_since(job.created_at);
                if e.permanent || age >= MAIL_RETRY_FOR {
                    metrics::counter!("roster_mail_sent_total", "outcome" => "failed").increment(1);
                    tracing::warn!(job = %job.id, attempts = job.attempts + 1, reason = %e.reason, "mail given up");
                    Outcome::GaveUp {
                        job,
                        reason: e.reason,
                    }
                } else {
                    metrics::counter!("roster_mail_sent_total", "outcome" => "retry").increment(1);
                    tracing::info!(job = %job.id, attempts = job.attempts + 1, reason = %e.reason, "mail will be retried");
                    let attempts = job.attempts + 1;
                    Outcome::Retry(Job {
                        attempts,
                        not_before: now.after(backoff(attempts)),
                        last_error: Some(e.reason),
                        ..job
                    })
                }
            }
        }
    }

    async fn purge_tokens(&self, now: Timestamp) {
        if let Err(e) = self
            .store
            .write(move |tx| {
                tx.purge_expired_tokens(now)?;
                // Sign-ins waiting for a second factor expire alike.
                tx.purge_expired_challenges(now)
            })
            .await
        {
            tracing::warn!(error = %e, "expired tokens could not be purged");
        }
    }
}

/// Exponential from `FIRST_BACKOFF`, capped at `MAX_BACKOFF`, with ±25 %
/// jitter so that mail failing together does not retry together.
fn backoff(attempts: u32) -> Duration {
    let base = FIRST_BACKOFF.saturating_mul(1 << attempts.saturating_sub(1).min(16));
    let base = base.min(MAX_BACKOFF).as_secs_f64();
    let jitter = rand::rng().random_range(0.75..1.25);
    Duration::from_secs_f64(base * jitter)
}

fn gave_up_entry(job: &Job, reason: &str, at: Timestamp) -> AuditEntry {
    let to = postcard::from_bytes::<OutgoingMail>(&job.payload)
        .map(|m| format!("{} to {}", m.template, m.to))
        .unwrap_or_else(|_| "mail".into());
    AuditEntry {
        id: uuid::Uuid::now_v7(),
        at,
        action: "mail.gave_up".into(),
        actor: Some("system".into()),
        target: Some(job.id.to_string()),
        ip: None,
        outcome: crate::domain::Outcome::Failure,
        detail: Some(format!(
            "{to}: {} attempts over {} s; last: {reason}",
            job.attempts + 1,
            at.duration_since(job.created_at).as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for attempts in 1..40 {
            let expected = FIRST_BACKOFF
                .saturating_mul(1 << (attempts - 1).min(16))
                .min(MAX_BACKOFF)
                .as_secs_f64();
            let got = backoff(attempts).as_secs_f64();
            assert!(
                got >= expected * 0.75 && got <= expected * 1.25,
                "{attempts}: {got}"
            );
        }
    }
}
