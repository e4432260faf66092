//! Changing credentials: setting a password (on behalf of a caller, or by recovery), credential
//! reset tokens, and what an account's credential status shows.
//!
//! Hashes are computed outside the write transaction, between a read that checks the caller
//! may make the change and the write that makes it (where the check is repeated).

use crate::IdmServer;
use crate::account::{self, memberships};
use crate::password::{self, random_password};
use crate::sessions::visible_account as visible;
use idm_core::credential::IntentToken;
use idm_core::entry::StoredEntry;
use idm_core::filter::Filter;
use idm_core::modify::{Modify, ModifyList};
use idm_core::server::{QueryServerTransaction, QueryServerWriteTransaction};
use idm_core::value::{Credential, Value, format_datetime};
use idm_core::{OperationError, Result};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::time::Duration;
use tracing::info;

/// Bounds on how long a reset token may stay valid, whatever is asked for.
pub const MIN_RESET_TTL: Duration = Duration::from_secs(60);
pub const MAX_RESET_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
pub const DEFAULT_RESET_TTL: Duration = Duration::from_secs(3600);
const INTENT: &str = "credential_update_intent_token";

fn token_hash(token: &str) -> String {
    sha2::Sha256::digest(token.trim().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn set_password_mods(cred: Credential) -> Vec<Modify> {
    vec![
        Modify::Purged("primary_credential".into()),
        Modify::Present("primary_credential".into(), Value::Credential(cred)),
    ]
}

/// A pending reset token as the credential status shows it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PendingReset {
    pub issued_at: String,
    pub expiry: String,
    pub issued_by: String,
}

/// What an account's credentials are, without any secret.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CredentialStatus {
    /// `password`, `generated password`, or `none`.
    pub password: String,
    pub reset_token: Option<PendingReset>,
    /// Password attempts are refused until then.
    pub softlocked_until: Option<String>,
    pub sessions: usize,
}

impl IdmServer {
    /// Sets the password of the account `id` on behalf of the caller, who needs the right to
    /// change its credential (their own, in a privileged session, or as an account manager).
    /// The account's other sessions end.
    pub fn set_password(&self, token: &str, id: &str, pw: &str) -> Result<()> {
        let target = self.read_as(token, |r, ident| {
            ident.require_write()?;
            let acct = visible(r, ident, id)?;
            let u = acct.uuid().ok_or(OperationError::NoMatchingEntries)?;
            let full = r.entry_by_uuid(u)?.ok_or(OperationError::NoMatchingEntries)?;
            // Refused before hashing if the caller may not make the change at all.
            if let Some(access) = r.caller_access(ident)? {
                let probe = Credential::Password { phc: String::new() };
                access.check_modify(&full, &ModifyList::new(set_password_mods(probe)))?;
            }
            password::check_policy(r, &full, pw)?;
            Ok(u)
        })?;
        let cred = self.hashing.hash(pw, &self.params, false)?;
        self.write_as(token, |w, ident| {
            w.modify_as(ident, &account::filter_for(target), &ModifyList::new(set_password_mods(cred)))?;
            // A new password lifts a recorded soft-lock (the change itself needed the right).
            let unlock =
                ModifyList::new(vec![Modify::Purged("softlock_until".into()), Modify::Purged("softlock_level".into())]);
            w.internal_modify(&account::filter_for(target), &unlock)?;
            // Whoever held the old password is signed out: every session but the one that
            // made the change (when the holder changed it themselves).
            let keep = if ident.uuid() == Some(target) { ident.session } else { None };
            let ended = end_sessions(w, target, keep)?;
            info!(account = %target, by = ?ident.uuid(), sessions_ended = ended, "password set");
            Ok(())
        })?;
        self.softlock.clear(target);
        Ok(())
    }

    /// Creates a one-time reset token for the account `id`, valid for `ttl` (clamped to
    /// [`MIN_RESET_TTL`]..[`MAX_RESET_TTL`]), on behalf of the caller, who needs the right to
    /// set the account's reset token. A new token replaces a pending one. Returns the token
    /// and how long it is valid.
    pub fn create_reset_token(&self, token: &str, id: &str, ttl: Option<Duration>) -> Result<(String, Duration)> {
        let ttl = ttl.unwrap_or(DEFAULT_RESET_TTL).clamp(MIN_RESET_TTL, MAX_RESET_TTL);
        let secret = random_password(32)?;
        self.write_as(token, |w, ident| {
            let acct = visible(w, ident, id)?;
            let u = acct.uuid().ok_or(OperationError::NoMatchingEntries)?;
            let full = w.entry_by_uuid(u)?.ok_or(OperationError::NoMatchingEntries)?;
            let now = self.now();
            let intent = IntentToken {
                hash: token_hash(&secret),
                issued_at: now,
                expiry: now + ttl,
                issued_by: ident.uuid().unwrap_or_default(),
                memberships: memberships(&full),
            };
            let ml = ModifyList::new(vec![
                Modify::Purged(INTENT.into()),
                Modify::Present(INTENT.into(), Value::Intent(Box::new(intent))),
            ]);
            w.modify_as(ident, &account::filter_for(u), &ml)?;
            info!(account = %full.label(), by = ?ident.uuid(), "credential reset token created");
            Ok(())
        })?;
        Ok((secret, ttl))
    }

    /// The live account holding the pending reset token `secret`, and the token.
    fn reset_target(txn: &mut impl QueryServerTransaction, secret: &str) -> Result<(StoredEntry, IntentToken)> {
        let invalid = || {
            OperationError::InvalidRequest("the reset token is not valid (it may have been used or replaced)".into())
        };
        let mut found = txn.internal_search(&Filter::eq(INTENT, token_hash(secret)))?;
        found.retain(|e| account::is_live_account(e));
        let acct = found.pop().filter(|_| found.is_empty()).ok_or_else(invalid)?;
        let Some(Value::Intent(t)) = acct.first(INTENT).cloned() else { return Err(invalid()) };
        Ok((acct, *t))
    }

    /// Whether the account that issued `intent` is live and may still set `target`'s password.
    fn issuer_may_still_reset(
        w: &mut QueryServerWriteTransaction<'_>,
        intent: &IntentToken,
        target: &StoredEntry,
    ) -> Result<bool> {
        let Some(issuer) = account::by_uuid(w, intent.issued_by)? else { return Ok(false) };
        if account::Window::of(&issuer).problem(w.now()).is_some() {
            return Ok(false);
        }
        let access = match w.access_for(&issuer) {
            Ok(a) => a,
            Err(OperationError::NotAuthenticated) => return Ok(false),
            Err(e) => return Err(e),
        };
        let probe = ModifyList::new(set_password_mods(Credential::Password { phc: String::new() }));
        Ok(access.check_modify(target, &probe).is_ok())
    }

    /// Sets a new password with a reset token, which then stops working; no login needed, the
    /// token is the proof. Refused once it has expired, or when the account's group
    /// memberships changed since it was issued. Returns the account's name.
    pub fn redeem_reset_token(&self, secret: &str, pw: &str) -> Result<String> {
        let now = self.now();
        let mut r = self.qs.read()?;
        let (acct, intent) = Self::reset_target(&mut r, secret)?;
        if intent.expiry <= now {
            return Err(OperationError::InvalidRequest("the reset token has expired; ask for a new one".into()));
        }
        if let Some(why) = account::Window::of(&acct).problem(now) {
            return Err(OperationError::InvalidRequest(format!("the {why}; ask an administrator")));
        }
        if intent.memberships != memberships(&acct) {
            drop(r);
            // It can never be used again: drop it.
            let mut w = self.qs.write()?;
            let ml = ModifyList::new(vec![Modify::Purged(INTENT.into())]);
            w.internal_modify(&account::filter_for(acct.uuid().unwrap_or_default()), &ml)?;
            w.commit()?;
            info!(account = %acct.label(), "reset token refused and dropped: the account's privileges changed");
            return Err(OperationError::InvalidRequest(
                "the account's group memberships changed since the reset token was issued; ask for a new one".into(),
            ));
        }
        password::check_policy(&mut r, &acct, pw)?;
        drop(r);
        let cred = self.hashing.hash(pw, &self.params, false)?;
        let mut w = self.qs.write()?;
        // Found again: it may have been used, replaced or revoked while hashing.
        let (acct2, intent2) = Self::reset_target(&mut w, secret)?;
        if acct2.id != acct.id
            || intent2 != intent
            || intent.memberships != memberships(&acct2)
            || account::Window::of(&acct2).problem(now).is_some()
        {
            return Err(OperationError::InvalidRequest(
                "the reset token is not valid any more; ask for a new one".into(),
            ));
        }
        let u = acct.uuid().unwrap_or_default();
        // A token carries its issuer's authority, so it is only as good as that authority is
        // now: the issuer must still be a live account allowed to set this account's password.
        if !Self::issuer_may_still_reset(&mut w, &intent, &acct2)? {
            drop(w);
            let mut w = self.qs.write()?;
            w.internal_modify(&account::filter_for(u), &ModifyList::new(vec![Modify::Purged(INTENT.into())]))?;
            w.commit()?;
            info!(account = %acct.label(), "reset token refused and dropped: its issuer may no longer reset it");
            return Err(OperationError::InvalidRequest(
                "the reset token's issuer may no longer reset this account's password; ask for a new one".into(),
            ));
        }
        let mut mods = set_password_mods(cred);
        mods.extend([INTENT, "softlock_until", "softlock_level"].into_iter().map(|a| Modify::Purged(a.into())));
        w.internal_modify(&account::filter_for(u), &ModifyList::new(mods))?;
        end_sessions(&mut w, u, None)?;
        w.commit()?;
        self.softlock.clear(u);
        info!(account = %acct.label(), "password set with a reset token");
        Ok(acct.label())
    }

    /// The credential status of the account `id`, as far as the caller may read it.
    pub fn credential_status(&self, token: &str, id: &str) -> Result<CredentialStatus> {
        self.read_as(token, |r, ident| {
            let acct = visible(r, ident, id)?;
            let password = match acct.first("primary_credential") {
                Some(Value::Credential(Credential::Password { .. })) => "password",
                Some(Value::Credential(Credential::GeneratedPassword { .. })) => "generated password",
                _ => "none",
            };
            let reset_token = match acct.first(INTENT) {
                Some(Value::Intent(t)) if t.expiry > self.now() => Some(PendingReset {
                    issued_at: format_datetime(&t.issued_at),
                    expiry: format_datetime(&t.expiry),
                    issued_by: r.display_name(t.issued_by)?,
                }),
                _ => None,
            };
            let softlocked_until =
                account::stored_lock(&acct).filter(|(u, _)| *u > self.now()).map(|(u, _)| format_datetime(&u));
            let sessions = acct.get("user_auth_session").map(|s| s.len()).unwrap_or(0);
            Ok(CredentialStatus { password: password.into(), reset_token, softlocked_until, sessions })
        })
    }
}

/// Gives the account `name` a new generated password, printed once by `recover_account`; its
/// next login may make changes at once. Also clears a soft-lock and any pending reset token,
/// and ends the sessions the old password opened.
pub fn recover_account(
    w: &mut QueryServerWriteTransaction<'_>,
    name: &str,
    params: &password::PasswordParams,
) -> Result<String> {
    let acct =
        account::find(w, name)?.ok_or_else(|| OperationError::InvalidRequest(format!("no account named '{name}'")))?;
    let pw = random_password(24)?;
    let mut mods = set_password_mods(password::hash(&pw, params, true)?);
    mods.extend([INTENT, "softlock_until", "softlock_level"].into_iter().map(|a| Modify::Purged(a.into())));
    let u = acct.uuid().unwrap_or_default();
    w.internal_modify(&account::filter_for(u), &ModifyList::new(mods))?;
    end_sessions(w, u, None)?;
    Ok(pw)
}

/// Ends every session of `account` except `keep`, as a consequence of a credential change.
/// Returns how many ended.
fn end_sessions(
    w: &mut QueryServerWriteTransaction<'_>,
    account: uuid::Uuid,
    keep: Option<uuid::Uuid>,
) -> Result<usize> {
    let Some(e) = w.entry_by_uuid(account)? else { return Ok(0) };
    let ended: Vec<Modify> = e
        .get("user_auth_session")
        .into_iter()
        .flatten()
        .filter(|v| matches!(v, Value::Session(s) if Some(s.id) != keep))
        .map(|v| Modify::Removed("user_auth_session".into(), v.clone()))
        .collect();
    let n = ended.len();
    if n > 0 {
        w.internal_modify(&account::filter_for(account), &ModifyList::new(ended))?;
    }
    Ok(n)
}
