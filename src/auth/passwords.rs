//! argon2id password hashing on a bounded pool of threads of its own.
//!
//! At most `workers` hashes run at once (one per core by default); at most
//! `max_queue` more wait, and past that a request is refused at once
//! (`Busy`, a 503) instead of queueing without bound.
//!
//! The hashing threads run under Linux's `SCHED_IDLE` policy. A hash is
//! ~30 ms of pure CPU: at the requests' priority, eight clients logging in
//! kept both cores busy and a read waited behind them for a time slice
//! (`GET` p99 5.5 ms against 0.6 ms alone). Nice +10 was not enough: the
//! scheduler still lets a running task finish its slice before a woken
//! one runs (p99 3.4 ms). A `SCHED_IDLE` thread is preempted as soon as
//! any other thread wakes, so a read runs at once, and logins take every
//! cycle the requests leave. The trade is deliberate: when reads alone
//! keep every core busy, logins slow down, and past the queue bound they
//! are refused (`Busy`) rather than slowing the reads. The same holds
//! against other processes, which is why it can be turned off
//! (`--argon2-idle-priority false`) on a machine where a busy neighbour
//! would starve logins. The offline commands (import, bootstrap) hash at
//! the normal priority: they serve no requests.
//!
//! argon2's working memory (19 MiB at the default parameters) is one buffer
//! per worker, kept between hashes. Allocating it for every hash, as
//! argon2's `PasswordHasher` does, made glibc raise its mmap threshold and
//! keep each freed buffer in its heaps: eight clients logging in for ten
//! seconds grew the process by 600 MiB. Reused buffers also skip 19 MiB of
//! page faults per hash. A buffer no hash used for a while is freed
//! ([`Hasher::release_idle_memory`], from housekeeping), so a server at
//! rest does not hold a worker's worth of it per core.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use rayon::{ThreadPool, ThreadPoolBuilder};
use tokio::sync::{Semaphore, oneshot};

/// The parameters are settings, so they are defined with the others.
pub use crate::config::{HashParams, MIN_ITERATIONS, MIN_MEMORY_KIB, MIN_PARALLELISM};

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("the password hashing pool is full")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// The outcome of checking a password.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, and here is a new hash with the current parameters (the
    /// stored one used weaker or different ones).
    YesRehashed(String),
}

#[derive(Clone)]
pub struct Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_queue: usize,
    threads: Arc<ThreadPool>,
    memory: Arc<Memory>,
    /// A hash of a random password, verified when the user is unknown so
    /// that an unknown login costs the same as a wrong password.
    dummy: Arc<String>,
}

impl Hasher {
    /// A pool of `workers` hashing threads, under `SCHED_IDLE` when
    /// `idle` (see the module documentation).
    pub fn new(
        p: HashParams,
        workers: usize,
        max_queue: usize,
        idle: bool,
    ) -> Result<Self, HashError> {
        let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None)
            .map_err(|e| HashError::Failed(e.to_string()))?;
        let memory = Arc::new(Memory {
            free: Mutex::new(Vec::new()),
            blocks: params.block_count(),
        });
        // Its buffer is not kept: a server that has not hashed holds none.
        let dummy = hash_with(
            &params,
            &crate::auth::secrets::random_token(),
            &mut Vec::new(),
        )?;
        let workers = workers.max(1);
        let threads = ThreadPoolBuilder::new()
            .num_threads(workers)
            .thread_name(|i| format!("argon2-{i}"))
            .start_handler(move |_| {
                if idle {
                    lower_priority();
                }
            })
            .panic_handler(|_| tracing::error!("a password hash panicked"))
            .build()
            .map_err(|e| HashError::Failed(e.to_string()))?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(workers)),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_queue,
            threads: Arc::new(threads),
            memory,
            dummy: Arc::new(dummy),
        })
    }

    /// Hashes a password (argon2id, PHC string, fresh salt).
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let params = self.params.clone();
        let password = password.to_owned();
        self.run(move |m| hash_with(&params, &password, m)).await?
    }

    /// Checks `password` against `phc`; with `None` (unknown user) it checks
    /// against a dummy hash and answers `No`, at the same cost.
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> Result<Verified, HashError> {
        let known = phc.is_some();
        let phc = phc.map_or_else(|| (*self.dummy).clone(), str::to_owned);
        let password = password.to_owned();
        let params = self.params.clone();
        self.run(move |m| {
            let ok = verify_with(&password, &phc, m);
            if !ok || !known {
                return Ok(Verified::No);
            }
            if needs_rehash(&phc, &params) {
                return hash_with(&params, &password, m).map(Verified::YesRehashed);
            }
            Ok(Verified::Yes)
        })
        .await?
    }

    /// Frees the working memories no hash has used for `idle`; how many.
    pub fn release_idle_memory(&self, idle: Duration) -> usize {
        self.memory.release_idle(idle)
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(HashError::Busy);
        }
        let permit = self.permits.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let permit = permit.map_err(|_| HashError::Failed("pool closed".into()))?;
        let span = tracing::Span::current();
        let memory = self.memory.clone();
        let (done, result) = oneshot::channel();
        self.threads.spawn(move || {
            let _permit = permit;
            let _enter = span.enter();
            // The caller may have gone (its request was cancelled).
            let _ = done.send(memory.with(f));
        });
        result
            .await
            .map_err(|_| HashError::Failed("the hash did not finish".into()))
    }
}

/// Puts the calling thread under `SCHED_IDLE` (see the module
/// documentation). Linux schedules threads, not processes, so this leaves
/// the others alone.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::ThreadPriority;
        use thread_priority::unix::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
            thread_native_id,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        if let Err(e) =
            set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle)
        {
            tracing::warn!(error = ?e, "the hashing threads run at the requests' priority");
        }
    }
}

/// Free argon2 working memories. Every hash runs under a pool permit, so
/// there are at most as many as workers; a buffer grown for a stronger
/// imported hash is not kept.
struct Memory {
    /// Each with when a hash last gave it back. The last given back is
    /// taken first, so the ones a quieter load no longer needs age.
    free: Mutex<Vec<(Vec<Block>, Instant)>>,
    blocks: usize,
}

impl Memory {
    fn free(&self) -> std::sync::MutexGuard<'_, Vec<(Vec<Block>, Instant)>> {
        self.free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Vec<Block>) -> T) -> T {
        let mut m = self.free().pop().map(|(m, _)| m).unwrap_or_default();
        let out = f(&mut m);
        if m.len() <= self.blocks {
            self.free().push((m, Instant::now()));
        }
        out
    }

    /// The buffers are dropped after the lock is let go.
    fn release_idle(&self, idle: Duration) -> usize {
        let released: Vec<_> = self
            .free()
            .extract_if(.., |(_, at)| at.elapsed() >= idle)
            .collect();
        released.len()
    }
}

/// The first `n` blocks of `memory`, growing it if needed.
fn blocks(memory: &mut Vec<Block>, n: usize) -> &mut [Block] {
    if memory.len() < n {
        memory.resize(n, Block::new());
    }
    &mut memory[..n]
}

/// argon2id of `password` with a fresh 128-bit salt, as a PHC string.
fn hash_with(
    params: &Params,
    password: &str,
    memory: &mut Vec<Block>,
) -> Result<String, HashError> {
    let failed = |e: &dyn std::fmt::Display| HashError::Failed(e.to_string());
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt,
            &mut out,
            blocks(memory, params.block_count()),
        )
        .map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

/// Verifies an argon2 PHC string (the parameters come from the string) or
/// an imported bcrypt hash.
fn verify_with(password: &str, phc: &str, memory: &mut Vec<Block>) -> bool {
    if is_bcrypt(phc) {
        // Imported from another system; re-hashed to argon2id on success
        // (`needs_rehash` is true for anything not argon2id).
        return bcrypt::verify(password, phc).unwrap_or(false);
    }
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
        return false;
    };
    let Ok(version) = hash
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let computed = Argon2::new(algorithm, version, params.clone()).hash_password_into_with_memory(
        password.as_bytes(),
        salt.as_ref(),
        &mut out,
        blocks(memory, params.block_count()),
    );
    // `Output`'s equality is constant-time.
    computed.is_ok() && Output::new(&out).is_ok_and(|o| &o == expected)
}

fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
}

/// The strongest argon2 memory cost accepted from an import: each login of
/// such a user takes this much memory until it is re-hashed.
const MAX_IMPORTED_MEMORY_KIB: u32 = 256 * 1024;

/// Checks a password hash brought by an import: a PHC string of argon2
/// (id, i or d), or a bcrypt hash (`$2a$`/`$2b$`/`$2y$`, cost 4–16).
pub fn check_imported_hash(hash: &str) -> Result<(), &'static str> {
    if hash.len() > 512 {
        return Err("is too long");
    }
    if is_bcrypt(hash) {
        return match hash.parse::<bcrypt::HashParts>() {
            Ok(parts) if (4..=16).contains(&parts.get_cost()) => Ok(()),
            Ok(_) => Err("has a bcrypt cost outside 4 to 16"),
            Err(_) => Err("is not a valid bcrypt hash"),
        };
    }
    match PasswordHash::new(hash) {
        Ok(h) if ["argon2id", "argon2i", "argon2d"].contains(&h.algorithm.as_str()) => {
            match Params::try_from(&h) {
                Ok(p) if p.m_cost() > MAX_IMPORTED_MEMORY_KIB || p.t_cost() > 64 => {
                    Err("asks for more than 256 MiB or 64 passes of argon2")
                }
                Ok(_) if h.hash.is_some() && h.salt.is_some() => Ok(()),
                _ => Err("is not a complete argon2 hash"),
            }
        }
        Ok(_) => Err("uses an unsupported algorithm (argon2 or bcrypt only)"),
        Err(_) => Err("is not a PHC string (argon2) or a bcrypt hash"),
    }
}

fn needs_rehash(phc: &str, current: &Params) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return true;
    };
    if hash.algorithm.as_str() != "argon2id" {
        return true;
    }
    match Params::try_from(&hash) {
        Ok(p) => {
            p.m_cost() != current.m_cost()
                || p.t_cost() != current.t_cost()
                || p.p_cost() != current.p_cost()
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_old_parameters_are_upgraded() {
        let h = Hasher::new(HashParams::default(), 2, 16, true).unwrap();
        let phc = h.hash("correct horse").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert_eq!(
            h.verify("correct horse", Some(&phc)).await.unwrap(),
            Verified::Yes
        );
        assert_eq!(
            h.verify("wrong horse", Some(&phc)).await.unwrap(),
            Verified::No
        );
        assert_eq!(h.verify("correct horse", None).await.unwrap(), Verified::No);

        let stronger = Hasher::new(
            HashParams {
                memory_kib: MIN_MEMORY_KIB * 2,
                ..HashParams::default()
            },
            2,
            16,
            true,
        )
        .unwrap();
        match stronger.verify("correct horse", Some(&phc)).await.unwrap() {
            Verified::YesRehashed(new) => {
                assert!(new.contains("m=38912"), "{new}");
                assert_eq!(
                    stronger.verify("correct horse", Some(&new)).await.unwrap(),
                    Verified::Yes
                );
            }
            other => panic!("expected a rehash, got {other:?}"),
        }
        assert_eq!(
            h.verify("x", Some("not a phc string")).await.unwrap(),
            Verified::No
        );
    }

    #[tokio::test]
    async fn hashes_agree_with_the_argon2_reference() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let h = Hasher::new(HashParams::default(), 2, 16, true).unwrap();
        // Ours verify with the crate's own verifier…
        let ours = h.hash("tr0ub4dor").await.unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"tr0ub4dor", ours.as_str())
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"tr0ub4dor!", ours.as_str())
                .is_err()
        );
        // …and the crate's hashes, of every argon2 variant, verify with ours.
        for algorithm in [Algorithm::Argon2id, Algorithm::Argon2i, Algorithm::Argon2d] {
            let params = Params::new(1024, 3, 2, Some(24)).unwrap();
            let theirs = Argon2::new(algorithm, Version::V0x13, params)
                .hash_password(b"tr0ub4dor")
                .unwrap()
                .to_string();
            // Correct, and upgraded to the current argon2id parameters.
            let v = h.verify("tr0ub4dor", Some(&theirs)).await.unwrap();
            assert!(matches!(v, Verified::YesRehashed(_)), "{theirs}: {v:?}");
            assert_eq!(
                h.verify("tr0ub4do", Some(&theirs)).await.unwrap(),
                Verified::No
            );
            // One changed character of the hash: no.
            let mut tampered = theirs.clone().into_bytes();
            let last = tampered.len() - 2;
            tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(tampered).unwrap();
            assert_eq!(
                h.verify("tr0ub4dor", Some(&tampered)).await.unwrap(),
                Verified::No
            );
        }
    }

    /// The hashing threads yield to the request path; nothing else is
    /// lowered with them.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashes_run_only_when_nothing_else_would() {
        use thread_priority::unix::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, thread_schedule_policy,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        let policy = || thread_schedule_policy().unwrap();
        let h = Hasher::new(HashParams::default(), 2, 16, true).unwrap();
        let ours = policy();
        assert_ne!(ours, idle);
        for _ in 0..4 {
            assert_eq!(h.run(move |_| policy()).await.unwrap(), idle);
        }
        assert!(h.hash("a password").await.is_ok());
        assert_eq!(policy(), ours);
        assert_eq!(tokio::task::spawn_blocking(policy).await.unwrap(), ours);
        // Turned off (`--argon2-idle-priority false`), they hash as the
        // rest of the process runs.
        let normal = Hasher::new(HashParams::default(), 1, 4, false).unwrap();
        assert_eq!(normal.run(move |_| policy()).await.unwrap(), ours);
    }

    #[tokio::test]
    async fn working_memory_is_one_buffer_per_worker_while_used() {
        let h = Hasher::new(HashParams::default(), 2, 64, true).unwrap();
        let free =
            |h: &Hasher| -> Vec<usize> { h.memory.free().iter().map(|(m, _)| m.len()).collect() };
        assert_eq!(
            free(&h),
            Vec::<usize>::new(),
            "the dummy hash's is not kept"
        );
        let phc = h.hash("correct horse").await.unwrap();
        let checks: Vec<_> = (0..12)
            .map(|_| {
                let h = h.clone();
                let phc = phc.clone();
                tokio::spawn(async move { h.verify("correct horse", Some(&phc)).await.unwrap() })
            })
            .collect();
        for c in checks {
            assert_eq!(c.await.unwrap(), Verified::Yes);
        }
        let blocks = Params::default().block_count();
        let kept = free(&h);
        assert!(!kept.is_empty() && kept.len() <= 2, "{kept:?}");
        assert!(kept.iter().all(|&n| n == blocks), "{kept:?}");
        // A stronger imported hash needs a bigger buffer, which is not kept.
        let strong = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(MIN_MEMORY_KIB * 2, 1, 1, None).unwrap(),
        );
        let strong = argon2::PasswordHasher::hash_password(&strong, b"pw")
            .unwrap()
            .to_string();
        assert!(matches!(
            h.verify("pw", Some(&strong)).await.unwrap(),
            Verified::YesRehashed(_)
        ));
        assert!(free(&h).iter().all(|&n| n == blocks), "{:?}", free(&h));
        // Idle buffers are freed; one given back just now is not (yet).
        assert_eq!(h.release_idle_memory(Duration::from_secs(60)), 0);
        let kept = free(&h).len();
        assert_eq!(h.release_idle_memory(Duration::ZERO), kept);
        assert!(free(&h).is_empty());
        assert_eq!(
            h.verify("correct horse", Some(&phc)).await.unwrap(),
            Verified::Yes
        );
        assert_eq!(free(&h), vec![blocks]);
    }

    #[test]
    fn imported_hashes_are_bounded() {
        let salt = "c2FsdHNhbHRzYWx0c2FsdA";
        let out = "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY";
        let phc = |m: u32, t: u32| format!("$argon2id$v=19$m={m},t={t},p=1${salt}${out}");
        assert_eq!(check_imported_hash(&phc(19_456, 2)), Ok(()));
        assert_eq!(
            check_imported_hash(&phc(MAX_IMPORTED_MEMORY_KIB, 64)),
            Ok(())
        );
        assert!(check_imported_hash(&phc(MAX_IMPORTED_MEMORY_KIB + 1, 2)).is_err());
        assert!(check_imported_hash(&phc(19_456, 65)).is_err());
    }
}
