//! Login (`POST /v1/auth`: init → begin → cred) and bearer tokens.
//!
//! Tokens are `v1.<payload>.<signature>`: base64url JSON (account uuid, session id, issue and
//! expiry times) signed with HMAC-SHA512 under the domain's token key, so they survive a
//! restart. Repeated password failures lock the credential for a while.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha512;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a token is valid.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// How long a login may take between steps.
const AUTH_SESSION_LIFETIME: Duration = Duration::from_secs(300);
/// Failures before a credential is locked, and for how long.
const LOCK_AFTER: u32 = 5;
const LOCK_FOR: Duration = Duration::from_secs(60);

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// The account.
    pub uuid: Uuid,
    pub session: Uuid,
    /// Unix seconds.
    pub iat: i64,
    pub exp: i64,
    /// How the account authenticated.
    pub mech: String,
}

pub struct TokenSigner {
    key: Vec<u8>,
}

impl TokenSigner {
    pub fn new(key: &[u8]) -> Self {
        TokenSigner { key: key.to_vec() }
    }

    fn mac(&self) -> Hmac<Sha512> {
        // HMAC accepts keys of any length.
        <Hmac<Sha512> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("hmac takes any key length"))
    }

    pub fn sign(&self, claims: &TokenClaims) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        format!("v1.{payload}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    /// The claims of a valid, unexpired token.
    pub fn verify(&self, token: &str, now: i64) -> Result<TokenClaims, &'static str> {
        let mut parts = token.trim().split('.');
        let (Some("v1"), Some(payload), Some(sig), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("malformed token");
        };
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| "malformed token")?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&sig).map_err(|_| "token signature is not valid")?;
        let claims: TokenClaims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or("malformed token")?;
        if claims.exp <= now {
            return Err("token has expired");
        }
        Ok(claims)
    }
}

#[derive(Deserialize, Debug)]
pub struct AuthRequest {
    pub step: AuthStep,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "lowercase")]
pub enum AuthStep {
    Init(String),
    Begin(String),
    Cred(AuthCred),
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "lowercase")]
pub enum AuthCred {
    Anonymous,
    Password(String),
}

#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum AuthState {
    Choose(Vec<String>),
    Continue(Vec<String>),
    Success(String),
    Denied(String),
}

#[derive(Serialize, Debug)]
pub struct AuthResponse {
    pub sessionid: Uuid,
    pub state: AuthState,
}

/// A login in progress.
#[derive(Clone, Debug)]
pub struct AuthSession {
    pub account: Uuid,
    pub offered: Vec<String>,
    pub chosen: Option<String>,
    started: Instant,
}

/// In-memory login sessions and credential lockouts.
#[derive(Default)]
pub struct AuthSessions {
    sessions: Mutex<HashMap<Uuid, AuthSession>>,
    failures: Mutex<HashMap<Uuid, (u32, Option<Instant>)>>,
}

impl AuthSessions {
    pub fn start(&self, account: Uuid, offered: Vec<String>) -> Uuid {
        let id = Uuid::new_v4();
        let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        s.retain(|_, v| v.started.elapsed() < AUTH_SESSION_LIFETIME);
        s.insert(id, AuthSession { account, offered, chosen: None, started: Instant::now() });
        id
    }

    pub fn get(&self, id: Uuid) -> Option<AuthSession> {
        let s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        s.get(&id).filter(|v| v.started.elapsed() < AUTH_SESSION_LIFETIME).cloned()
    }

    pub fn choose(&self, id: Uuid, mech: &str) {
        if let Some(s) = self.sessions.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&id) {
            s.chosen = Some(mech.to_string());
        }
    }

    pub fn finish(&self, id: Uuid) {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }

    /// Seconds left on a lock of this account's credential, if locked.
    pub fn locked(&self, account: Uuid) -> Option<u64> {
        let f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let until = f.get(&account)?.1?;
        until.checked_duration_since(Instant::now()).map(|d| d.as_secs() + 1)
    }

    pub fn record(&self, account: Uuid, success: bool) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if success {
            f.remove(&account);
            return;
        }
        let entry = f.entry(account).or_insert((0, None));
        entry.0 += 1;
        if entry.0 >= LOCK_AFTER {
            entry.1 = Some(Instant::now() + LOCK_FOR);
            entry.0 = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_and_reject_tampering_and_expiry() {
        let signer = TokenSigner::new(b"key");
        let claims =
            TokenClaims { uuid: Uuid::nil(), session: Uuid::nil(), iat: 10, exp: 100, mech: "password".into() };
        let t = signer.sign(&claims);
        assert_eq!(signer.verify(&t, 50).unwrap(), claims);
        assert_eq!(signer.verify(&t, 100), Err("token has expired"));
        assert!(TokenSigner::new(b"other").verify(&t, 50).is_err());
        let mut forged = t.clone();
        forged.insert(5, 'x');
        assert!(signer.verify(&forged, 50).is_err());
        assert!(signer.verify("garbage", 50).is_err());
    }

    #[test]
    fn repeated_failures_lock_the_credential() {
        let s = AuthSessions::default();
        let a = Uuid::new_v4();
        for _ in 0..LOCK_AFTER - 1 {
            s.record(a, false);
        }
        assert!(s.locked(a).is_none());
        s.record(a, false);
        assert!(s.locked(a).is_some());
    }
}
