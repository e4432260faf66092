//! The identity layer: everything between a credential and an [`Identity`].
//!
//! It owns, for every front end alike (the HTTPS API today; the web UI, OAuth2 and LDAP binds
//! next): the login state machine and its soft-lock, password checks and the password policy,
//! the keys that sign session tokens and the tokens themselves, the sessions recorded on
//! accounts, credential resets, and account policy (limits, rights, session and privilege
//! lifetimes) evaluated from groups. [`IdmServer::identify`] is the single path from a token to
//! an identity, and it re-checks the account and session on every call.
//!
//! It must never know about a transport: no HTTP types, headers or status codes, no sockets.
//! Front ends parse their wire form, call this layer, and render its answer. It changes the
//! database only through the engine's transactions, so access control and every invariant
//! apply to what it does on a caller's behalf.

pub mod account;
pub mod api_tokens;
mod auth;
pub mod authsession;
mod credentials;
pub mod credupdate;
pub mod identify;
pub mod keys;
pub mod oauth2;
pub mod passkeys;
pub mod password;
pub mod policy;
pub mod profile;
pub mod second_factor;
mod sessions;
pub mod softlock;
pub mod token_form;

pub use credentials::{CredentialStatus, MAX_RESET_TTL, MIN_RESET_TTL, PendingReset, recover_account};
pub use sessions::SessionInfo;

use idm_core::identity::Identity;
use idm_core::server::{QueryServer, QueryServerReadTransaction, QueryServerTransaction, QueryServerWriteTransaction};
use idm_core::{OperationError, Result};
use password::{HashLimiter, PasswordParams};
use std::sync::Arc;
use time::OffsetDateTime;

/// Where the layer reads the time: the real clock, or one a test controls.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

pub struct IdmServer {
    qs: Arc<QueryServer>,
    params: PasswordParams,
    hashing: HashLimiter,
    auth: authsession::AuthSessions,
    softlock: softlock::SoftLocks,
    keys: keys::SigningKeys,
    cache: identify::IdentityCache,
    cu: credupdate::CuSessions,
    clock: Clock,
    /// A hash nobody's password matches, checked for accounts that have none.
    stand_in: std::sync::OnceLock<idm_core::value::Credential>,
    /// The WebAuthn relying party, once the origin is known ([`IdmServer::with_origin`]).
    passkeys: Option<passkeys::Passkeys>,
}

impl IdmServer {
    /// The identity layer over `qs`, hashing new passwords with `params`. Creates the first
    /// signing key if there is none.
    pub fn new(qs: Arc<QueryServer>, params: PasswordParams) -> Result<IdmServer> {
        let idm = IdmServer {
            qs,
            params,
            hashing: HashLimiter::per_core(),
            auth: Default::default(),
            softlock: Default::default(),
            keys: Default::default(),
            cache: Default::default(),
            cu: Default::default(),
            clock: Arc::new(OffsetDateTime::now_utc),
            stand_in: std::sync::OnceLock::new(),
            passkeys: None,
        };
        {
            let mut w = idm.qs.write()?;
            if keys::ensure_active(&mut w)? {
                w.commit()?;
            }
        }
        Ok(idm)
    }

    /// Replaces the clock (tests that cross expiry times without waiting).
    /// Serves passkeys for the domain at `origin` (the URL people's browsers use).
    pub fn with_origin(mut self, origin: &str) -> Result<IdmServer> {
        let domain = {
            let r = self.qs.read()?;
            r.domain_name().ok_or_else(|| OperationError::InvalidState("the domain is not initialised".into()))?
        };
        self.passkeys = Some(passkeys::Passkeys::new(&domain, origin)?);
        Ok(self)
    }

    /// The relying party, or why passkeys cannot be used.
    pub(crate) fn relying_party(&self) -> Result<&passkeys::Passkeys> {
        self.passkeys.as_ref().ok_or_else(|| {
            OperationError::InvalidRequest("passkeys are not available: the server has no origin configured".into())
        })
    }

    pub fn with_clock(mut self, clock: Clock) -> IdmServer {
        self.clock = clock;
        self
    }

    pub fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }

    pub fn qs(&self) -> &Arc<QueryServer> {
        &self.qs
    }

    pub fn password_params(&self) -> PasswordParams {
        self.params
    }

    /// The hashing slots every password check and hash takes (tests hold one to pause logins
    /// between their check and their write).
    pub fn hashing(&self) -> &HashLimiter {
        &self.hashing
    }

    /// A stand-in credential with the production cost, made once.
    fn stand_in(&self) -> Result<idm_core::value::Credential> {
        if let Some(c) = self.stand_in.get() {
            return Ok(c.clone());
        }
        let c = password::hash(&password::random_password(32)?, &self.params, false)?;
        Ok(self.stand_in.get_or_init(|| c).clone())
    }

    /// The caller `token` stands for, checked against `txn`'s snapshot: signature and key,
    /// expiry, the session still recorded, the account live and inside its validity window.
    pub fn identify<T: QueryServerTransaction>(&self, txn: &mut T, token: &str) -> Result<Identity> {
        Ok(self.identify_token(txn, token)?.0)
    }

    fn identify_token<T: QueryServerTransaction>(
        &self,
        txn: &mut T,
        token: &str,
    ) -> Result<(Identity, Arc<identify::Verified>)> {
        let now = self.now();
        let keys = self.keys.current(&self.qs, txn)?;
        let v = self.cache.verify(&keys, token, now)?;
        let ident = self.cache.identify(&self.qs, txn, &v, now)?;
        Ok((ident, v))
    }

    /// Whether `token` is known to carry a valid signature, decided from memory alone (no
    /// database, no cryptography): the cheap gate a front end may use before it reads a large
    /// request body. `false` means "not known", not "invalid": ask [`Self::check_signature`].
    pub fn signature_known(&self, token: &str) -> bool {
        self.keys.cached(&self.qs).is_some_and(|keys| self.cache.known(&keys, token, self.now()))
    }

    /// Checks `token`'s signature and key (no session or account checks): whether a request
    /// is worth reading at all.
    pub fn check_signature(&self, token: &str) -> Result<()> {
        let mut r = self.qs.read()?;
        let keys = self.keys.current(&self.qs, &mut r)?;
        self.cache.verify(&keys, token, self.now()).map(drop)
    }

    /// Runs `f` in a read transaction as the caller `token` stands for.
    pub fn read_as<T>(
        &self,
        token: &str,
        f: impl FnOnce(&mut QueryServerReadTransaction<'_>, &Identity) -> Result<T>,
    ) -> Result<T> {
        let mut r = self.qs.read()?;
        let ident = self.identify(&mut r, token)?;
        f(&mut r, &ident)
    }

    /// Like [`Self::read_as`], also handing `f` the token's payload as signed (in the form it
    /// was issued in): what `/v1/self` shows as `uat`.
    pub fn read_as_with_token<T>(
        &self,
        token: &str,
        f: impl FnOnce(&mut QueryServerReadTransaction<'_>, &Identity, &serde_json::Value) -> Result<T>,
    ) -> Result<T> {
        let mut r = self.qs.read()?;
        let (ident, v) = self.identify_token(&mut r, token)?;
        f(&mut r, &ident, &v.payload)
    }

    /// Runs `f` in the write transaction as the caller `token` stands for, and commits it if
    /// `f` succeeds. The caller is checked inside the transaction, so no commit can slip
    /// between the check and the change.
    pub fn write_as<T>(
        &self,
        token: &str,
        f: impl FnOnce(&mut QueryServerWriteTransaction<'_>, &Identity) -> Result<T>,
    ) -> Result<T> {
        let mut w = self.qs.write()?;
        let ident = self.identify(&mut w, token)?;
        let out = f(&mut w, &ident)?;
        w.commit()?;
        Ok(out)
    }

    /// The public JWK of a session signing key that still verifies (no authentication: a
    /// public key is public).
    pub fn public_jwk(&self, kid: &str) -> Result<serde_json::Value> {
        if kid.len() > 64 {
            return Err(idm_core::OperationError::NoMatchingEntries);
        }
        let mut r = self.qs.read()?;
        let keys = self.keys.current(&self.qs, &mut r)?;
        keys.jwk(kid, self.now()).ok_or(idm_core::OperationError::NoMatchingEntries)
    }

    /// Lists the session signing keys (needs the `signing_keys` right).
    pub fn list_keys(&self, token: &str) -> Result<Vec<keys::KeyInfo>> {
        self.read_as(token, |r, ident| keys::list(r, ident))
    }

    /// Makes a new signing key active; the old one verifies until the sessions it signed can
    /// no longer be alive. Returns the new key id.
    pub fn rotate_key(&self, token: &str) -> Result<String> {
        self.write_as(token, |w, ident| {
            ident.require_right(idm_core::identity::ServerRight::SigningKeys)?;
            ident.require_write()?;
            let retire_for = policy::longest_session(w, self.now())?;
            keys::rotate(w, retire_for)
        })
    }

    /// Revokes a retired signing key: every token it signed stops working at once.
    pub fn revoke_key(&self, token: &str, kid: &str) -> Result<()> {
        self.write_as(token, |w, ident| {
            ident.require_right(idm_core::identity::ServerRight::SigningKeys)?;
            ident.require_write()?;
            keys::revoke(w, kid)
        })
    }

    /// Periodic housekeeping: removes retired keys whose tokens have all expired.
    pub fn purge_expired(&self) -> Result<usize> {
        let mut w = self.qs.write()?;
        let n = keys::purge_retired(&mut w)?;
        if n > 0 {
            w.commit()?;
        }
        Ok(n)
    }
}
