//! Token → Identity: the one path every front end takes, on every request.
//!
//! A request's token must carry a valid signature from a key that is still accepted, be
//! unexpired, name a session still recorded on its account (anonymous sessions excepted:
//! they are never stored), and the account must be live and inside its validity window
//! now. The scope follows the token's privilege window and the session's own scope.
//!
//! Two caches make this cost microseconds: verified tokens (so a signature is checked once per
//! token) and resolved accounts (policy, compiled access profiles and recorded sessions, one
//! per account however many sessions it has, so anonymous logins cannot multiply them). A
//! resolved account is trusted only while no commit has touched the entries it was worked out
//! from (the account, its groups, the server settings) and the access profiles are unchanged;
//! the time checks run on every request regardless.
//!
//! Server rights come with any session that may become privileged; the operations that change
//! something with them also require the privilege window (`require_write`).

use crate::account::{self, Window};
use crate::keys::KeySet;
use crate::policy;
use crate::token_form;
use idm_core::builtins::UUID_ANONYMOUS;
use idm_core::identity::{AccessScope, Identity};
use idm_core::proto::{TokenForm, UserAuthToken};
use idm_core::server::{QueryServer, QueryServerTransaction};
use idm_core::session::{Session, SessionScope};
use idm_core::value::Value;
use idm_core::{OperationError, Result};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use time::OffsetDateTime;
use tracing::debug;
use uuid::Uuid;

/// Entries kept in each cache before it starts afresh (only verified tokens get in).
const CACHE_MAX: usize = 16_384;

/// A token whose signature was checked.
#[derive(Debug)]
pub struct Verified {
    /// The payload in today's form, whichever form the token was written in.
    pub uat: UserAuthToken,
    pub form: TokenForm,
    /// The payload as signed: what `/v1/self` shows its holder.
    pub payload: serde_json::Value,
    pub kid: String,
}

/// An account worked out from the database at one generation.
struct Resolved {
    generation: u64,
    sources: Vec<Uuid>,
    /// Read-only, without rights or a session: those are set per request.
    identity: Identity,
    /// The server rights a privilege-capable session of the account holds.
    rights: Vec<idm_core::identity::ServerRight>,
    /// The recorded sessions: scope and expiry by id.
    sessions: HashMap<Uuid, (SessionScope, Option<OffsetDateTime>)>,
    window: Window,
}

#[derive(Default)]
pub struct IdentityCache {
    tokens: RwLock<HashMap<String, Arc<Verified>>>,
    accounts: RwLock<HashMap<Uuid, Arc<Resolved>>>,
    /// Sessions that are not stored (anonymous) but were logged out, with their token's expiry.
    ended: RwLock<HashMap<Uuid, Option<i64>>>,
}

fn insert_bounded<K: std::hash::Hash + Eq, V>(m: &RwLock<HashMap<K, V>>, k: K, v: V) {
    let mut m = m.write().unwrap_or_else(|p| p.into_inner());
    if m.len() >= CACHE_MAX {
        m.clear();
    }
    m.insert(k, v);
}

fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

/// The session `id` recorded on `account`.
pub fn recorded_session(account: &idm_core::entry::Entry, id: Uuid) -> Option<&Session> {
    account.get("user_auth_session").into_iter().flatten().find_map(|v| match v {
        Value::Session(s) if s.id == id => Some(&**s),
        _ => None,
    })
}

impl IdentityCache {
    /// Whether `token` was verified before and its key still verifies: a check that needs
    /// neither cryptography nor the database.
    pub fn known(&self, keys: &KeySet, token: &str, now: OffsetDateTime) -> bool {
        self.tokens
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(token.trim())
            .is_some_and(|v| keys.verifies(&v.kid, now))
    }

    /// Checks a token's signature (once per token) and parses its payload.
    pub fn verify(&self, keys: &KeySet, token: &str, now: OffsetDateTime) -> Result<Arc<Verified>> {
        let token = token.trim();
        if let Some(v) = self.tokens.read().unwrap_or_else(|p| p.into_inner()).get(token)
            && keys.verifies(&v.kid, now)
        {
            return Ok(v.clone());
        }
        let (kid, payload) = keys.verify(token, now).map_err(|why| {
            debug!("token refused: {why}");
            OperationError::NotAuthenticated
        })?;
        let (uat, form) = token_form::decode(&payload).ok_or(OperationError::NotAuthenticated)?;
        let payload = serde_json::from_slice(&payload).map_err(|_| OperationError::NotAuthenticated)?;
        let v = Arc::new(Verified { uat, form, payload, kid });
        insert_bounded(&self.tokens, token.to_string(), v.clone());
        Ok(v)
    }

    /// Ends a session that is not stored (an anonymous one): its token is refused from now on.
    pub fn end_unstored(&self, uat: &UserAuthToken) {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut ended = self.ended.write().unwrap_or_else(|p| p.into_inner());
        if ended.len() >= CACHE_MAX {
            ended.retain(|_, exp| exp.is_none_or(|e| e > now));
            if ended.len() >= CACHE_MAX {
                // Full of live entries: forget the ones closest to expiring on their own.
                let mut by_expiry: Vec<(Uuid, Option<i64>)> = ended.iter().map(|(k, v)| (*k, *v)).collect();
                by_expiry.sort_by_key(|(_, e)| e.unwrap_or(i64::MAX));
                for (k, _) in by_expiry.into_iter().take(CACHE_MAX / 4) {
                    ended.remove(&k);
                }
            }
        }
        ended.insert(uat.session_id, uat.expiry);
    }

    /// The caller a verified token stands for at `now`, as of `txn`'s snapshot.
    pub fn identify<T: QueryServerTransaction>(
        &self,
        qs: &QueryServer,
        txn: &mut T,
        v: &Verified,
        now: OffsetDateTime,
    ) -> Result<Identity> {
        let uat = &v.uat;
        if uat.expiry.is_some_and(|e| e <= unix(now)) {
            return Err(OperationError::SessionExpired);
        }
        let r = self.resolved(qs, txn, uat.uuid)?;
        if let Some(why) = r.window.problem(now) {
            debug!(account = %uat.uuid, "session ended: {why}");
            return Err(OperationError::SessionExpired);
        }
        let (scope, session_expiry) = if uat.uuid == UUID_ANONYMOUS {
            if self.ended.read().unwrap_or_else(|p| p.into_inner()).contains_key(&uat.session_id) {
                return Err(OperationError::NotAuthenticated);
            }
            // Anonymous sessions are not stored (one entry would grow with every visitor);
            // they read only, and end with their token or with the anonymous account.
            (SessionScope::ReadOnly, None)
        } else {
            *r.sessions.get(&uat.session_id).ok_or_else(|| {
                debug!(account = %uat.uuid, session = %uat.session_id, "session refused: not recorded (revoked)");
                OperationError::NotAuthenticated
            })?
        };
        if session_expiry.is_some_and(|e| e <= now) {
            return Err(OperationError::SessionExpired);
        }
        let mut ident = r.identity.clone();
        ident.session = Some(uat.session_id);
        match scope {
            SessionScope::PrivilegeCapable => {
                ident.rights.clone_from(&r.rights);
                if uat.privileged_at(unix(now)) {
                    ident.scope = AccessScope::ReadWrite;
                }
            }
            // Issued read-write (an API token): no window, but still ended by revocation, the
            // account's expiry or the token's own.
            SessionScope::ReadWrite => {
                ident.rights.clone_from(&r.rights);
                ident.scope = AccessScope::ReadWrite;
            }
            SessionScope::ReadOnly => {}
        }
        Ok(ident)
    }

    fn resolved<T: QueryServerTransaction>(
        &self,
        qs: &QueryServer,
        txn: &mut T,
        account: Uuid,
    ) -> Result<Arc<Resolved>> {
        let (generation, access_generation) = (txn.state().generation, txn.state().access_generation);
        if let Some(r) = self.accounts.read().unwrap_or_else(|p| p.into_inner()).get(&account)
            && r.generation <= generation
            && r.generation >= access_generation
            && qs.last_change(r.sources.iter().copied()) <= r.generation
        {
            return Ok(r.clone());
        }
        // A deleted account is not found here, by uuid or otherwise.
        let entry = account::by_uuid(txn, account)?.ok_or(OperationError::NotAuthenticated)?;
        let sessions = entry
            .get("user_auth_session")
            .into_iter()
            .flatten()
            .filter_map(|v| match v {
                Value::Session(s) => Some((s.id, (s.scope, s.expiry))),
                _ => None,
            })
            .collect();
        let policy = policy::evaluate(txn, &entry)?;
        let access = txn.access_for(&entry)?;
        let mut identity = Identity::user(account, policy.limits).with_access(access);
        identity.scope = AccessScope::ReadOnly;
        let r = Arc::new(Resolved {
            generation,
            sources: policy.sources,
            identity,
            rights: policy.rights,
            sessions,
            window: Window::of(&entry),
        });
        insert_bounded(&self.accounts, account, r.clone());
        Ok(r)
    }
}
