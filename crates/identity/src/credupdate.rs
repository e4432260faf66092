//! Credential update sessions, Kanidm's model: a session is opened either by someone allowed
//! to change an account's credentials (the holder in a privileged session, or an account
//! manager) or by exchanging a reset (intent) token; changes are staged in it and take effect
//! together at commit, or not at all.
//!
//! The session token reaches only these operations. At commit everything is checked again
//! against the database as it is then: the account live and valid, the opener still allowed
//! (or the intent token still pending, for the same memberships, from an issuer still
//! allowed). A committed password ends the account's other sessions and lifts a soft-lock.

use crate::IdmServer;
use crate::account::{self, Window, memberships};
use crate::credentials::{detail, end_sessions, set_password_mods, token_hash};
use crate::password::{self, random_password};
use crate::sessions::visible_account;
use idm_core::credential::IntentToken;
use idm_core::entry::StoredEntry;
use idm_core::modify::{Modify, ModifyList};
use idm_core::proto::credupdate::{
    CUCredState, CUExtPortal, CURegState, CURegWarning, CURequest, CUSessionToken, CUStatus,
};
use idm_core::server::QueryServerTransaction;
use idm_core::value::{Credential, Value};
use idm_core::{OperationError, Result};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};
use tracing::info;
use uuid::Uuid;

/// How long a credential update session lasts.
pub const CU_SESSION_LIFETIME: Duration = Duration::minutes(15);
/// Sessions open at once; the oldest goes first when full.
const MAX_CU_SESSIONS: usize = 4096;
const INTENT: &str = "credential_update_intent_token";

/// Who opened a session, which decides what commit re-checks.
#[derive(Clone, Debug)]
enum Source {
    /// An account allowed to change the credential (checked again at commit).
    Caller { by: Uuid, session: Option<Uuid> },
    /// A reset token, still to be pending and valid at commit.
    Intent(IntentToken),
}

#[derive(Clone, Debug)]
enum Staged {
    Password(Credential),
    RemovePrimary,
}

#[derive(Clone, Debug)]
struct CuSession {
    account: Uuid,
    source: Source,
    opened: OffsetDateTime,
    staged: Option<Staged>,
}

#[derive(Default)]
pub struct CuSessions {
    map: Mutex<HashMap<String, CuSession>>,
}

impl CuSessions {
    fn open(&self, s: CuSession, now: OffsetDateTime) -> Result<CUSessionToken> {
        let token = random_password(48)?;
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|_, v| now - v.opened < CU_SESSION_LIFETIME);
        if m.len() >= MAX_CU_SESSIONS
            && let Some(oldest) = m.iter().min_by_key(|(_, v)| v.opened).map(|(k, _)| k.clone())
        {
            m.remove(&oldest);
        }
        m.insert(token_hash(&token), s);
        Ok(CUSessionToken { token })
    }

    fn get(&self, token: &CUSessionToken, now: OffsetDateTime) -> Result<CuSession> {
        let m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&token_hash(&token.token)).filter(|s| now - s.opened < CU_SESSION_LIFETIME).cloned().ok_or_else(ended)
    }

    fn stage(&self, token: &CUSessionToken, staged: Option<Staged>) {
        if let Some(s) = self.map.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&token_hash(&token.token)) {
            s.staged = staged;
        }
    }

    fn take(&self, token: &CUSessionToken, now: OffsetDateTime) -> Result<CuSession> {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        m.remove(&token_hash(&token.token)).filter(|s| now - s.opened < CU_SESSION_LIFETIME).ok_or_else(ended)
    }
}

fn ended() -> OperationError {
    OperationError::InvalidRequest(
        "this credential update session has ended (committed, cancelled or timed out); start a new one".into(),
    )
}

fn gone() -> OperationError {
    OperationError::InvalidRequest("the account no longer exists".into())
}

/// Why an intent token cannot be used now, if it cannot.
fn intent_problem(
    txn: &mut impl QueryServerTransaction,
    acct: &StoredEntry,
    intent: &IntentToken,
    now: OffsetDateTime,
) -> Result<Option<&'static str>> {
    let pending = matches!(acct.first(INTENT), Some(Value::Intent(t)) if **t == *intent);
    Ok(if !pending {
        Some("the reset token is not valid (it may have been used or replaced)")
    } else if intent.expiry <= now {
        Some("the reset token has expired; ask for a new one")
    } else if intent.memberships != memberships(acct) {
        Some("the account's group memberships changed since the reset token was issued; ask for a new one")
    } else if Window::of(acct).problem(now).is_some() {
        Some("the account has expired or is not valid yet; ask an administrator")
    } else if !IdmServer::may_set_password(txn, intent.issued_by, acct, now)? {
        Some("the reset token's issuer may no longer reset this account's password; ask for a new one")
    } else {
        None
    })
}

impl IdmServer {
    /// Opens a credential update session for the account `id` on behalf of the caller, who
    /// needs the right to change its credential and a session that may make changes.
    pub fn cu_begin(&self, token: &str, id: &str) -> Result<(CUSessionToken, CUStatus)> {
        let now = self.now();
        let (account, session, by, status) = self.read_as(token, |r, ident| {
            ident.require_write()?;
            let acct = visible_account(r, ident, id)?;
            let full = r.entry_by_uuid(acct.uuid().unwrap_or_default())?.ok_or(OperationError::NoMatchingEntries)?;
            if let Some(access) = r.caller_access(ident)? {
                let probe = ModifyList::new(set_password_mods(Credential::Password { phc: String::new() }));
                access.check_modify(&full, &probe)?;
            }
            let by = ident.uuid().unwrap_or_default();
            Ok((full.uuid().unwrap_or_default(), ident.session, by, status_of(&full, None)))
        })?;
        let s = CuSession { account, source: Source::Caller { by, session }, opened: now, staged: None };
        let token = self.cu.open(s, now)?;
        info!(%account, %by, "credential update session opened");
        Ok((token, status))
    }

    /// Opens a credential update session with a reset token (no login: the token is the
    /// proof). The token is consumed when the session commits.
    pub fn cu_exchange_intent(&self, secret: &str) -> Result<(CUSessionToken, CUStatus)> {
        let now = self.now();
        let mut r = self.qs.read()?;
        let (acct, intent) = Self::reset_target(&mut r, secret)?;
        if let Some(why) = intent_problem(&mut r, &acct, &intent, now)? {
            drop(r);
            // It can never be used again: drop it, so the credential status says so too.
            let mut w = self.qs.write()?;
            let ml = ModifyList::new(vec![Modify::Purged(INTENT.into())]);
            w.internal_modify(&account::filter_for(acct.uuid().unwrap_or_default()), &ml)?;
            w.commit()?;
            info!(account = %acct.label(), "reset token refused and dropped: {why}");
            return Err(OperationError::InvalidRequest(why.into()));
        }
        let status = status_of(&acct, None);
        let account = acct.uuid().unwrap_or_default();
        let token =
            self.cu.open(CuSession { account, source: Source::Intent(intent), opened: now, staged: None }, now)?;
        info!(%account, "credential update session opened with a reset token");
        Ok((token, status))
    }

    /// The state of a session.
    pub fn cu_status(&self, cu: &CUSessionToken) -> Result<CUStatus> {
        let s = self.cu.get(cu, self.now())?;
        let mut r = self.qs.read()?;
        let acct = account::by_uuid(&mut r, s.account)?.ok_or_else(gone)?;
        Ok(status_of(&acct, s.staged.as_ref()))
    }

    /// Stages one change in a session and returns its new state. A password is checked
    /// against the policy and hashed now, so commit cannot fail on it.
    pub fn cu_update(&self, cu: &CUSessionToken, req: CURequest) -> Result<CUStatus> {
        let s = self.cu.get(cu, self.now())?;
        let mut r = self.qs.read()?;
        let acct = account::by_uuid(&mut r, s.account)?.ok_or_else(gone)?;
        let staged = match req {
            CURequest::Password(pw) => {
                password::check_policy(&mut r, &acct, &pw)?;
                drop(r);
                Some(Staged::Password(self.hashing.hash(&pw, &self.params, false)?))
            }
            CURequest::PasswordQualityCheck(pw) => {
                password::check_policy(&mut r, &acct, &pw)?;
                s.staged.clone()
            }
            CURequest::PrimaryRemove => Some(Staged::RemovePrimary),
            CURequest::CancelMfaReg => s.staged.clone(),
        };
        self.cu.stage(cu, staged.clone());
        Ok(status_of(&acct, staged.as_ref()))
    }

    /// Sets the account's password in one call, as the 2022 API did
    /// (`PUT /v1/account/{id}/_credential/primary`): a credential update session opened,
    /// staged and committed, with every check the three steps make.
    pub fn set_password_now(&self, token: &str, id: &str, password: &str) -> Result<()> {
        let (cu, _) = self.cu_begin(token, id)?;
        if let Err(e) = self.cu_update(&cu, CURequest::Password(password.to_string())) {
            self.cu_cancel(&cu)?;
            return Err(e);
        }
        self.cu_commit(&cu)
    }

    /// [`Self::set_password_now`] for the caller's own account.
    pub fn set_own_password_now(&self, token: &str, password: &str) -> Result<()> {
        let me = self.read_as(token, |_, ident| ident.uuid().ok_or(OperationError::NotAuthenticated))?;
        self.set_password_now(token, &me.to_string(), password)
    }

    /// Sets a password the server generates and returns it (shown once), as the 2022 API's
    /// `generatepassword` did.
    pub fn set_generated_password_now(&self, token: &str, id: &str) -> Result<String> {
        let pw = password::random_password(password::GENERATED_PASSWORD_LEN)?;
        self.set_password_now(token, id, &pw)?;
        Ok(pw)
    }

    /// Commits a session's changes, all at once, after checking again that it may.
    pub fn cu_commit(&self, cu: &CUSessionToken) -> Result<()> {
        let now = self.now();
        let s = self.cu.take(cu, now)?;
        let mut w = self.qs.write()?;
        let acct = account::by_uuid(&mut w, s.account)?.ok_or_else(gone)?;
        if let Some(why) = Window::of(&acct).problem(now) {
            return Err(OperationError::InvalidRequest(format!("the {why}; nothing was changed")));
        }
        let keep = match &s.source {
            Source::Caller { by, session } => {
                if !Self::may_set_password(&mut w, *by, &acct, now)? {
                    return Err(OperationError::AccessDeniedReason(
                        "you may no longer change this account's credentials; nothing was changed".into(),
                    ));
                }
                session.filter(|_| *by == s.account)
            }
            Source::Intent(intent) => {
                if let Some(why) = intent_problem(&mut w, &acct, intent, now)? {
                    return Err(OperationError::InvalidRequest(format!("{why}; nothing was changed")));
                }
                None
            }
        };
        if matches!(s.staged, Some(Staged::RemovePrimary)) {
            return Err(OperationError::InvalidRequest(
                "the account would be left without any credential; set a new password instead; nothing was changed"
                    .into(),
            ));
        }
        let mut mods = match &s.staged {
            Some(Staged::Password(c)) => set_password_mods(c.clone()),
            Some(Staged::RemovePrimary) => vec![Modify::Purged("primary_credential".into())],
            None => Vec::new(),
        };
        if s.staged.is_some() {
            mods.extend(["softlock_until", "softlock_level"].into_iter().map(|a| Modify::Purged(a.into())));
        }
        if matches!(s.source, Source::Intent(_)) {
            mods.push(Modify::Purged(INTENT.into()));
        }
        if !mods.is_empty() {
            w.internal_modify(&account::filter_for(s.account), &ModifyList::new(mods))?;
        }
        let ended = if s.staged.is_some() { end_sessions(&mut w, s.account, keep)? } else { 0 };
        w.commit()?;
        self.softlock.clear(s.account);
        info!(account = %acct.label(), changed = s.staged.is_some(), sessions_ended = ended, "credential update committed");
        Ok(())
    }

    /// Ends a session without changing anything.
    pub fn cu_cancel(&self, cu: &CUSessionToken) -> Result<()> {
        self.cu.take(cu, self.now()).map(drop)
    }
}

/// The status Kanidm's clients read: the primary credential as it would be after commit;
/// passkeys, the unix password and SSH keys are not offered by this server yet.
fn status_of(acct: &StoredEntry, staged: Option<&Staged>) -> CUStatus {
    let current = match acct.first("primary_credential") {
        Some(Value::Credential(c)) => Some(detail(c)),
        _ => None,
    };
    let primary = match staged {
        Some(Staged::Password(c)) => Some(detail(c)),
        Some(Staged::RemovePrimary) => None,
        None => current,
    };
    let warnings = if primary.is_none() { vec![CURegWarning::NoValidCredentials] } else { Vec::new() };
    CUStatus {
        spn: acct.first("spn").map(Value::to_proto_string).unwrap_or_default(),
        displayname: acct.first_str("displayname").unwrap_or_default().to_string(),
        ext_cred_portal: CUExtPortal::None,
        mfaregstate: CURegState::None,
        can_commit: primary.is_some(),
        warnings,
        dirty: staged.is_some(),
        primary,
        primary_state: CUCredState::Modifiable,
        passkeys: Vec::new(),
        passkeys_state: CUCredState::PolicyDeny,
        attested_passkeys: Vec::new(),
        attested_passkeys_state: CUCredState::PolicyDeny,
        attested_passkeys_allowed_devices: Vec::new(),
        unixcred: None,
        unixcred_state: CUCredState::PolicyDeny,
        sshkeys: BTreeMap::new(),
        sshkeys_state: CUCredState::PolicyDeny,
    }
}
