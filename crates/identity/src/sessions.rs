//! Sessions recorded on accounts: created by a login, listed and revoked by their holder or by
//! whoever the access profiles let manage the account, ended all at once by a lock.
//!
//! Listing needs the right to read `user_auth_session` on the account, revoking the right to
//! remove it, and a lock the right to set `account_expire` as well: the same profiles that
//! govern the raw API decide, so there is no second rulebook.

use crate::IdmServer;
use crate::account;
use idm_core::entry::{Entry, StoredEntry};
use idm_core::identity::Identity;
use idm_core::modify::{Modify, ModifyList};
use idm_core::server::{QueryServerTransaction, QueryServerWriteTransaction, name_filter};
use idm_core::session::Session;
use idm_core::value::{Value, format_datetime};
use idm_core::{OperationError, Result};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::info;
use uuid::Uuid;

/// Sessions kept per account; the oldest go first when a login would exceed it.
pub const MAX_SESSIONS_PER_ACCOUNT: usize = 256;
const SESSIONS: &str = "user_auth_session";

/// A session as listed: what an administrator needs to decide whether to revoke it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub session_id: Uuid,
    pub issued_at: String,
    pub expiry: Option<String>,
    pub mechanism: String,
    pub scope: String,
    pub issued_by: Uuid,
    pub client: Option<String>,
}

impl From<&Session> for SessionInfo {
    fn from(s: &Session) -> Self {
        SessionInfo {
            session_id: s.id,
            issued_at: format_datetime(&s.issued_at),
            expiry: s.expiry.as_ref().map(format_datetime),
            mechanism: s.mech.to_string(),
            scope: s.scope.name().into(),
            issued_by: s.issued_by,
            client: s.client.clone(),
        }
    }
}

pub(crate) fn sessions_of(e: &Entry) -> impl Iterator<Item = &Session> {
    e.get(SESSIONS).into_iter().flatten().filter_map(|v| match v {
        Value::Session(s) => Some(&**s),
        _ => None,
    })
}

/// The one account `id` names that `ident` may see, with only what it may read.
pub(crate) fn visible_account(
    txn: &mut impl QueryServerTransaction,
    ident: &Identity,
    id: &str,
) -> Result<StoredEntry> {
    let pf = idm_core::proto::Filter::And(vec![
        idm_core::proto::Filter::Eq("class".into(), "account".into()),
        name_filter(id),
    ]);
    let mut found = txn.search(ident, &pf)?;
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(OperationError::NoMatchingEntries),
        _ => Err(OperationError::InvalidRequest(format!("'{id}' names several accounts"))),
    }
}

impl IdmServer {
    /// Adds a login's session to its account, dropping expired ones (and the oldest beyond
    /// the cap) and any recorded soft-lock, in `w`.
    pub(crate) fn record_session(
        &self,
        w: &mut QueryServerWriteTransaction<'_>,
        acct: &StoredEntry,
        session: Session,
        now: OffsetDateTime,
    ) -> Result<()> {
        let live: Vec<Session> = sessions_of(acct).filter(|s| !s.expired(now)).cloned().collect();
        // API tokens are issued on purpose and never evicted; logins beyond the cap are, oldest
        // first.
        let (tokens, mut logins): (Vec<Session>, Vec<Session>) =
            live.into_iter().partition(|s| s.mech == idm_core::session::AuthMech::ApiToken);
        logins.sort_by_key(|s| s.issued_at);
        let excess = (tokens.len() + logins.len() + 1).saturating_sub(MAX_SESSIONS_PER_ACCOUNT).min(logins.len());
        logins.drain(..excess);
        let mut mods = vec![Modify::Purged(SESSIONS.into())];
        mods.extend(
            tokens
                .into_iter()
                .chain(logins)
                .chain([session])
                .map(|s| Modify::Present(SESSIONS.into(), Value::Session(Box::new(s)))),
        );
        mods.extend([Modify::Purged("softlock_until".into()), Modify::Purged("softlock_level".into())]);
        let u = acct.uuid().ok_or(OperationError::NotAuthenticated)?;
        w.internal_modify(&account::filter_for(u), &ModifyList::new(mods)).map(drop)
    }

    /// Removes a recorded soft-lock after a successful authentication.
    pub(crate) fn clear_stored_lock(&self, w: &mut QueryServerWriteTransaction<'_>, acct: &StoredEntry) -> Result<()> {
        if account::stored_lock(acct).is_none() {
            return Ok(());
        }
        let u = acct.uuid().ok_or(OperationError::NotAuthenticated)?;
        let ml =
            ModifyList::new(vec![Modify::Purged("softlock_until".into()), Modify::Purged("softlock_level".into())]);
        w.internal_modify(&account::filter_for(u), &ml).map(drop)
    }

    /// The sessions of the account `id`, as the caller may see them.
    pub fn list_sessions(&self, token: &str, id: &str) -> Result<Vec<SessionInfo>> {
        self.read_as(token, |r, ident| {
            let acct = visible_account(r, ident, id)?;
            let mut out: Vec<SessionInfo> = sessions_of(&acct).map(SessionInfo::from).collect();
            out.sort_by(|a, b| a.issued_at.cmp(&b.issued_at));
            Ok(out)
        })
    }

    /// Revokes one session of the account `id` (or all of them with `None`) on the caller's
    /// behalf. Returns how many were revoked.
    pub fn revoke_sessions(&self, token: &str, id: &str, which: Option<Uuid>) -> Result<usize> {
        self.write_as(token, |w, ident| self.revoke_in(w, ident, id, which))
    }

    /// Revokes one of the caller's own sessions, under the same rules as [`Self::revoke_sessions`]
    /// (the caller's session must be one that may make changes).
    pub fn revoke_own_session(&self, token: &str, which: Uuid) -> Result<usize> {
        self.write_as(token, |w, ident| {
            let me = ident.uuid().ok_or(OperationError::NotAuthenticated)?;
            self.revoke_in(w, ident, &me.to_string(), Some(which))
        })
    }

    fn revoke_in(
        &self,
        w: &mut QueryServerWriteTransaction<'_>,
        ident: &Identity,
        id: &str,
        which: Option<Uuid>,
    ) -> Result<usize> {
        let acct = visible_account(w, ident, id)?;
        let full = w.entry_by_uuid(acct.uuid().unwrap_or_default())?.ok_or(OperationError::NoMatchingEntries)?;
        // The right comes first: whether a session exists is not told to someone who may
        // not revoke it.
        if let Some(access) = w.caller_access(ident)? {
            access.check_modify(&full, &ModifyList::new(vec![Modify::Purged(SESSIONS.into())]))?;
        }
        let present: Vec<&Session> = sessions_of(&full).filter(|s| which.is_none_or(|w| s.id == w)).collect();
        if let Some(s) = which
            && present.is_empty()
        {
            return Err(OperationError::InvalidRequest(format!("'{id}' has no session {s}")));
        }
        let n = present.len();
        let mods = match which {
            None => vec![Modify::Purged(SESSIONS.into())],
            Some(_) => present
                .into_iter()
                .map(|s| Modify::Removed(SESSIONS.into(), Value::Session(Box::new(s.clone()))))
                .collect(),
        };
        w.modify_as(ident, &account::filter_for(full.uuid().unwrap_or_default()), &ModifyList::new(mods))?;
        info!(account = %full.label(), by = ?ident.uuid(), revoked = n, "sessions revoked");
        Ok(n)
    }

    /// Ends the session `token` belongs to. Any session may end itself, read-only or not.
    pub fn logout(&self, token: &str) -> Result<()> {
        // Checked first under a read: a token that is not ours never waits for the writer.
        {
            let mut r = self.qs.read()?;
            self.identify_token(&mut r, token)?;
        }
        let mut w = self.qs.write()?;
        let (ident, v) = self.identify_token(&mut w, token)?;
        let Some(u) = ident.uuid() else { return Ok(()) };
        let Some(acct) = w.entry_by_uuid(u)? else { return Ok(()) };
        let Some(s) = sessions_of(&acct).find(|s| s.id == v.uat.session_id).cloned() else {
            // Anonymous sessions are not stored: the token itself is refused from now on (for
            // as long as this server runs; it expires anyway).
            self.cache.end_unstored(&v.uat);
            return Ok(());
        };
        let ml = ModifyList::new(vec![Modify::Removed(SESSIONS.into(), Value::Session(Box::new(s)))]);
        w.internal_modify(&account::filter_for(u), &ml)?;
        w.commit()
    }

    /// After a sign-in in a browser that held the session `old`, which `new` replaces: ends
    /// `old`, unless `new` is the same session (a re-authentication) or `old` had ended
    /// already. So signing in as someone else never leaves the first session behind.
    pub fn end_replaced_session(&self, old: &str, new: &str) -> Result<()> {
        let (old_session, new_session) = {
            let mut r = self.qs.read()?;
            let Ok((_, o)) = self.identify_token(&mut r, old) else { return Ok(()) };
            let (_, n) = self.identify_token(&mut r, new)?;
            (o.uat.session_id, n.uat.session_id)
        };
        if old_session == new_session { Ok(()) } else { self.logout(old) }
    }

    /// Locks the account `id`: it expires now, every session it holds is revoked and a pending
    /// reset token is dropped, in one change the caller must be allowed to make.
    pub fn lock_account(&self, token: &str, id: &str) -> Result<()> {
        self.write_as(token, |w, ident| {
            let acct = visible_account(w, ident, id)?;
            let u = acct.uuid().unwrap_or_default();
            let ml = ModifyList::new(vec![
                Modify::Purged("account_expire".into()),
                Modify::Present("account_expire".into(), Value::DateTime(self.now())),
                Modify::Purged(SESSIONS.into()),
                // A reset token handed out earlier must not be a way back in.
                Modify::Purged("credential_update_intent_token".into()),
            ]);
            w.modify_as(ident, &account::filter_for(u), &ml)?;
            info!(account = %acct.label(), by = ?ident.uuid(), "account locked");
            Ok(())
        })
    }

    /// Unlocks the account `id`: its expiry is removed, and a soft-lock with it.
    pub fn unlock_account(&self, token: &str, id: &str) -> Result<()> {
        self.write_as(token, |w, ident| {
            let acct = visible_account(w, ident, id)?;
            let u = acct.uuid().unwrap_or_default();
            w.modify_as(
                ident,
                &account::filter_for(u),
                &ModifyList::new(vec![Modify::Purged("account_expire".into())]),
            )?;
            let full = w.entry_by_uuid(u)?.ok_or(OperationError::NoMatchingEntries)?;
            self.clear_stored_lock(w, &full)?;
            self.softlock.clear(u);
            info!(account = %acct.label(), by = ?ident.uuid(), "account unlocked");
            Ok(())
        })
    }
}
