//! Passwords: argon2id hashing and checking, the password policy, random passwords, and a bound
//! on how many hashes run at once.
//!
//! A hash costs tens of megabytes and milliseconds of a core; unbounded, concurrent logins
//! would exhaust memory before anyone authenticated. Every hash here waits for a slot.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use idm_core::builtins::UUID_SYSTEM_CONFIG;
use idm_core::entry::Entry;
use idm_core::server::QueryServerTransaction;
use idm_core::value::{Credential, Value};
use idm_core::{OperationError, Result};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// argon2id cost parameters. The default follows current OWASP guidance (19 MiB, 2 passes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordParams {
    fn default() -> Self {
        PasswordParams { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 }
    }
}

impl PasswordParams {
    /// Deliberately weak parameters for tests only.
    pub fn insecure_fast() -> Self {
        PasswordParams { memory_kib: 64, iterations: 1, parallelism: 1 }
    }
}

/// The shortest password accepted unless `system_config` says otherwise.
pub const DEFAULT_PASSWORD_MIN_LENGTH: u32 = 10;
/// Longer passwords are refused: hashing unbounded input is a denial-of-service lever.
pub const PASSWORD_MAX_LENGTH: usize = idm_core::credential::MAX_PASSWORD_CHARS as usize;
/// Length of the passwords the server generates (recovery, the 2022 `generatepassword`).
pub const GENERATED_PASSWORD_LEN: usize = 24;

/// Hashes `password` as a credential (`generated`: the server chose it).
pub fn hash(password: &str, params: &PasswordParams, generated: bool) -> Result<Credential> {
    let p = argon2::Params::new(params.memory_kib, params.iterations, params.parallelism, None)
        .map_err(|e| OperationError::InvalidRequest(format!("invalid argon2 parameters: {e}")))?;
    let phc = Argon2::from(p)
        .hash_password(password.as_bytes())
        .map_err(|e| OperationError::InvalidState(format!("password hashing failed: {e}")))?
        .to_string();
    Ok(if generated { Credential::GeneratedPassword { phc } } else { Credential::Password { phc } })
}

/// Whether `password` matches. The parameters come from the stored hash.
pub fn verify(credential: &Credential, password: &str) -> bool {
    if password.len() > PASSWORD_MAX_LENGTH * 4 {
        return false;
    }
    Argon2::default().verify_password(password.as_bytes(), credential.phc()).is_ok()
}

/// A random password from an alphabet without look-alike characters.
pub fn random_password(len: usize) -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|e| OperationError::InvalidState(format!("no randomness available: {e}")))?;
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - 256 % ALPHABET.len();
        for b in buf {
            if (b as usize) < limit && out.len() < len {
                out.push(ALPHABET[b as usize % ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}

fn rejected(why: String) -> OperationError {
    OperationError::InvalidRequest(format!("password rejected: {why}"))
}

/// The shortest password `account` may have now, in characters: the server's minimum, or
/// an account policy's when it asks for more (never less).
pub fn min_length(txn: &mut impl QueryServerTransaction, account: &Entry) -> Result<u32> {
    let config = txn.entry_by_uuid(UUID_SYSTEM_CONFIG)?;
    let server_min = match config.as_ref().and_then(|c| c.first("password_min_length")) {
        Some(Value::Uint32(n)) => *n,
        _ => DEFAULT_PASSWORD_MIN_LENGTH,
    };
    Ok(server_min.max(crate::policy::evaluate(txn, account)?.password_min_length.unwrap_or(0)))
}

/// Checks a new password for `account` against the policy in `system_config`; the error says
/// why it fails.
pub fn check_policy(txn: &mut impl QueryServerTransaction, account: &Entry, password: &str) -> Result<()> {
    let config = txn.entry_by_uuid(UUID_SYSTEM_CONFIG)?;
    let min = min_length(txn, account)?;
    let chars = password.chars().count();
    if chars < min as usize {
        return Err(rejected(format!("it has {chars} characters; at least {min} are required")));
    }
    if chars > PASSWORD_MAX_LENGTH {
        return Err(rejected(format!("it is longer than {PASSWORD_MAX_LENGTH} characters")));
    }
    let lower = password.to_lowercase();
    if config
        .as_ref()
        .is_some_and(|c| c.get("badlist_password").is_some_and(|b| b.contains(&Value::Iutf8(lower.clone()))))
    {
        return Err(rejected("it is on the list of common passwords that are refused".into()));
    }
    for attr in ["name", "displayname"] {
        if let Some(v) = account.first_str(attr)
            && v.chars().count() >= 3
            && lower.contains(&v.to_lowercase())
        {
            return Err(rejected(format!("it contains the account's {attr}")));
        }
    }
    Ok(())
}

/// Bounds concurrent password hashing to `slots`, with at most `queue` callers waiting (each
/// at most `wait`); beyond that a caller is refused at once. Waiting callers hold threads, so
/// the queue is kept short: a flood of password attempts must not occupy every worker.
pub struct HashLimiter {
    state: Mutex<(usize, usize)>,
    freed: Condvar,
    queue: usize,
    wait: Duration,
}

/// A slot, given back when dropped.
pub struct HashSlot<'a>(&'a HashLimiter);

impl Drop for HashSlot<'_> {
    fn drop(&mut self) {
        self.0.state.lock().unwrap_or_else(|p| p.into_inner()).0 += 1;
        self.0.freed.notify_one();
    }
}

fn busy() -> OperationError {
    OperationError::ResourceLimit("the server is busy checking other passwords; try again shortly".into())
}

impl HashLimiter {
    pub fn new(slots: usize, queue: usize, wait: Duration) -> HashLimiter {
        HashLimiter { state: Mutex::new((slots.max(1), 0)), freed: Condvar::new(), queue, wait }
    }

    /// One slot per core (more would only queue inside the CPU scheduler with their memory
    /// held), and a few waiting per slot.
    pub fn per_core() -> HashLimiter {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        HashLimiter::new(cores, cores * 16, Duration::from_secs(5))
    }

    pub fn acquire(&self) -> Result<HashSlot<'_>> {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if guard.0 == 0 {
            if guard.1 >= self.queue {
                return Err(busy());
            }
            guard.1 += 1;
            let (g, timeout) = self
                .freed
                .wait_timeout_while(guard, self.wait, |(free, _)| *free == 0)
                .unwrap_or_else(|p| p.into_inner());
            guard = g;
            guard.1 -= 1;
            if timeout.timed_out() && guard.0 == 0 {
                return Err(busy());
            }
        }
        guard.0 -= 1;
        Ok(HashSlot(self))
    }

    /// Hashes within a slot.
    pub fn hash(&self, password: &str, params: &PasswordParams, generated: bool) -> Result<Credential> {
        let _slot = self.acquire()?;
        hash(password, params, generated)
    }

    /// Checks within a slot.
    pub fn verify(&self, credential: &Credential, password: &str) -> Result<bool> {
        let _slot = self.acquire()?;
        Ok(verify(credential, password))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let c = hash("correct horse", &PasswordParams::insecure_fast(), false).unwrap();
        let Credential::Password { phc } = &c else { panic!("{c:?}") };
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify(&c, "correct horse"));
        assert!(!verify(&c, "wrong horse"));
        assert!(matches!(
            hash("x", &PasswordParams::insecure_fast(), true).unwrap(),
            Credential::GeneratedPassword { .. }
        ));
        let a = random_password(32).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_password(32).unwrap());
    }

    #[test]
    fn the_limiter_bounds_concurrency() {
        let l = std::sync::Arc::new(HashLimiter::new(2, 1, Duration::from_millis(300)));
        let a = l.acquire().unwrap();
        let _b = l.acquire().unwrap();
        assert!(l.acquire().is_err(), "a third waits, then is refused");
        // One may wait while another is refused at once; the waiter gets the freed slot.
        let waiter = {
            let l = l.clone();
            std::thread::spawn(move || l.acquire().map(drop).is_ok())
        };
        std::thread::sleep(Duration::from_millis(50));
        let t = std::time::Instant::now();
        assert!(l.acquire().is_err());
        assert!(t.elapsed() < Duration::from_millis(100), "refused without waiting: the queue is full");
        drop(a);
        assert!(waiter.join().unwrap());
        assert!(l.acquire().is_ok());
    }
}
