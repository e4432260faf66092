//! Password credentials: argon2id hashing and verification, and random passwords for
//! account recovery.

use crate::value::Credential;
use crate::{OperationError, Result};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};

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

impl Credential {
    pub fn from_password(password: &str, params: &PasswordParams) -> Result<Credential> {
        let p = argon2::Params::new(params.memory_kib, params.iterations, params.parallelism, None)
            .map_err(|e| OperationError::InvalidRequest(format!("invalid argon2 parameters: {e}")))?;
        let hash = Argon2::from(p)
            .hash_password(password.as_bytes())
            .map_err(|e| OperationError::InvalidState(format!("password hashing failed: {e}")))?;
        Ok(Credential::Password { phc: hash.to_string() })
    }

    /// Whether `password` matches. The parameters come from the stored hash.
    pub fn verify_password(&self, password: &str) -> bool {
        match self {
            Credential::Password { phc } => {
                Argon2::default().verify_password(password.as_bytes(), phc.as_str()).is_ok()
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let c = Credential::from_password("correct horse", &PasswordParams::insecure_fast()).unwrap();
        let Credential::Password { phc } = &c;
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(c.verify_password("correct horse"));
        assert!(!c.verify_password("wrong horse"));
        let a = random_password(32).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_password(32).unwrap());
    }
}
