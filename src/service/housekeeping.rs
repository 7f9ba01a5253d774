//! Housekeeping, in the background and in small transactions so writers
//! never wait long behind it: when API keys were last used is saved (at
//! most once a minute per key, from memory), sessions past their expiry
//! go, with the refresh-token hashes and OAuth grants that pointed at them
//! (and authorization codes past their minute), and password
//! hashing memory no login used for a tick is given back.

use std::time::Duration;

use tokio::sync::watch;

use crate::domain::Timestamp;
use crate::error::Error;
use crate::store::Store;

use super::Auth;

/// Sessions or token hashes looked at per transaction.
const CHUNK: usize = 1000;

/// Expired sessions are swept every this many ticks (key use is saved at
/// every tick).
const SWEEP_EVERY_TICKS: u32 = 10;

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub sessions: usize,
    pub refresh_tokens: usize,
    /// Authorization codes past their minute.
    pub codes: usize,
    /// OAuth grants whose session was swept.
    pub grants: usize,
}

/// Runs until `stop`, a tick every `every` (a minute in production); the
/// key use noted since the last tick is saved once more on the way out.
pub async fn run(store: Store, auth: Auth, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = 0u32;
    loop {
        if let Err(e) = auth.save_key_use().await {
            tracing::warn!(error = %e, "cannot save API key use; retried later");
        }
        auth.release_idle_memory(every);
        if tick.is_multiple_of(SWEEP_EVERY_TICKS) {
            match sweep(&store).await {
                Ok(s) if s != Swept::default() => {
                    tracing::info!(
                        sessions = s.sessions,
                        refresh_tokens = s.refresh_tokens,
                        codes = s.codes,
                        grants = s.grants,
                        "expired sessions removed"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "session sweep failed; retried later"),
            }
        }
        tick = tick.wrapping_add(1);
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    if let Err(e) = auth.save_key_use().await {
        tracing::warn!(error = %e, "cannot save API key use");
    }
}

/// Removes the sessions that have expired, then the refresh-token hashes
/// left pointing nowhere.
pub async fn sweep(store: &Store) -> Result<Swept, Error> {
    let now = Timestamp::now();
    let mut swept = Swept::default();
    let mut after = 0u128;
    loop {
        let (n, next) = store
            .write(move |tx| tx.prune_sessions(now, after, CHUNK))
            .await?;
        swept.sessions += n;
        match next {
            Some(k) => after = k,
            None => break,
        }
    }
    let mut after: Option<Vec<u8>> = None;
    loop {
        let from = after.take();
        let (n, next) = store
            .write(move |tx| tx.prune_refresh_tokens(from.as_deref(), CHUNK))
            .await?;
        swept.refresh_tokens += n;
        match next {
            Some(k) => after = Some(k),
            None => break,
        }
    }
    swept.codes = store.write(move |tx| tx.oauth()?.prune_codes(now)).await?;
    swept.grants = store
        .write(move |tx| {
            let held: Vec<_> = tx
                .oauth()?
                .grants()?
                .into_iter()
                .map(|(sid, _)| sid)
                .collect();
            let mut gone = 0;
            for sid in held {
                if tx.session(sid)?.is_none() {
                    tx.oauth()?.remove_grant(sid)?;
                    gone += 1;
                }
            }
            Ok::<_, Error>(gone)
        })
        .await?;
    Ok(swept)
}
