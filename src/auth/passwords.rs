//! argon2id password hashing on a bounded pool of blocking threads.
//!
//! At most `workers` hashes run at once (one per core by default), so logins
//! can saturate the CPU but never starve the async workers; at most
//! `max_queue` more wait, and past that a request is refused at once
//! (`Busy`, a 503) instead of queueing without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;

/// OWASP's minimum for argon2id: 19 MiB, 2 iterations, 1 lane.
pub const MIN_MEMORY_KIB: u32 = 19_456;
pub const MIN_ITERATIONS: u32 = 2;
pub const MIN_PARALLELISM: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        Self {
            memory_kib: MIN_MEMORY_KIB,
            iterations: MIN_ITERATIONS,
            parallelism: MIN_PARALLELISM,
        }
    }
}

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
    /// A hash of a random password, verified when the user is unknown so
    /// that an unknown login costs the same as a wrong password.
    dummy: Arc<String>,
}

impl Hasher {
    pub fn new(p: HashParams, workers: usize, max_queue: usize) -> Result<Self, HashError> {
        let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None)
            .map_err(|e| HashError::Failed(e.to_string()))?;
        let dummy = hash_with(&params, &crate::auth::secrets::random_token())?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(workers.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_queue,
            dummy: Arc::new(dummy),
        })
    }

    /// Hashes a password (argon2id, PHC string, fresh salt).
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let params = self.params.clone();
        let password = password.to_owned();
        self.run(move || hash_with(&params, &password)).await?
    }

    /// Checks `password` against `phc`; with `None` (unknown user) it checks
    /// against a dummy hash and answers `No`, at the same cost.
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> Result<Verified, HashError> {
        let known = phc.is_some();
        let phc = phc.map_or_else(|| (*self.dummy).clone(), str::to_owned);
        let password = password.to_owned();
        let params = self.params.clone();
        self.run(move || {
            let ok = verify_with(&password, &phc);
            if !ok || !known {
                return Ok(Verified::No);
            }
            if needs_rehash(&phc, &params) {
                return hash_with(&params, &password).map(Verified::YesRehashed);
            }
            Ok(Verified::Yes)
        })
        .await?
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(HashError::Busy);
        }
        let permit = self.permits.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let permit = permit.map_err(|_| HashError::Failed("pool closed".into()))?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _enter = span.enter();
            f()
        })
        .await
        .map_err(|e| HashError::Failed(e.to_string()))
    }
}

fn hash_with(params: &Params, password: &str) -> Result<String, HashError> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError::Failed(e.to_string()))
}

/// Verifies an argon2 PHC string (the parameters come from the string).
fn verify_with(password: &str, phc: &str) -> bool {
    if is_bcrypt(phc) {
        // Imported from another system; re-hashed to argon2id on success
        // (`needs_rehash` is true for anything not argon2id).
        return bcrypt::verify(password, phc).unwrap_or(false);
    }
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
}

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
        let h = Hasher::new(HashParams::default(), 2, 16).unwrap();
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
}
