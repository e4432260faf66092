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
use crate::identify::recorded_session;
use crate::passkeys::{self, Passkeys};
use crate::password::{self, random_password};
use crate::policy;
use crate::second_factor;
use crate::sessions::visible_account;
use idm_core::credential::CredentialType;
use idm_core::credential::{IntentToken, PasskeyRecord, Totp, TotpAlgo};
use idm_core::entry::StoredEntry;
use idm_core::filter::Filter;
use idm_core::modify::{Modify, ModifyList};
use idm_core::proto::credupdate::{
    CUCredState, CUExtPortal, CURegState, CURegWarning, CURequest, CUSessionToken, CUStatus, PasskeyDetail,
    TotpAlgo as ProtoTotpAlgo, TotpSecret,
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
/// Sessions callers may have open at once for one account (a reset token has one of its own).
const MAX_CU_SESSIONS_PER_ACCOUNT: usize = 4;
const INTENT: &str = "credential_update_intent_token";

/// Who opened a session, which decides what commit re-checks.
#[derive(Clone, Debug)]
enum Source {
    /// An account allowed to change the credential (checked again at commit).
    Caller { by: Uuid, session: Option<Uuid> },
    /// A reset token, still to be pending and valid at commit.
    Intent(IntentToken),
}

/// What a session will do to the primary credential at commit.
#[derive(Clone, Debug, Default)]
enum Primary {
    #[default]
    Unchanged,
    Set(Credential),
    Removed,
}

/// A second factor being enrolled.
#[derive(Clone, Debug, Default)]
enum Reg {
    #[default]
    None,
    /// A TOTP secret handed out and waiting for a code from the authenticator.
    Totp(Totp, TotpCheck),
    /// A passkey creation challenge handed out, and the state to check the answer with.
    Passkey(serde_json::Value, Box<webauthn_rs::prelude::PasskeyRegistration>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TotpCheck {
    Waiting,
    WrongCode,
    BadLabel,
}

#[derive(Clone, Debug)]
struct CuSession {
    account: Uuid,
    source: Source,
    opened: OffsetDateTime,
    primary: Primary,
    /// The passkeys as they will be after commit (`None`: unchanged).
    passkeys: Option<Vec<PasskeyRecord>>,
    reg: Reg,
    /// Bumped by every change, so two changes racing on one session cannot both apply.
    version: u64,
    /// The account's credential when the session opened ([`credential_fingerprint`]): a
    /// commit is refused if it was changed elsewhere since, so nothing staged here can undo
    /// another change (a removed TOTP, new backup codes).
    base: String,
    /// How many characters the staged password has: commit checks it against the policy as
    /// it is then (the password itself is not kept, only its hash).
    password_chars: Option<usize>,
}

impl CuSession {
    fn new(acct: &StoredEntry, source: Source, now: OffsetDateTime) -> CuSession {
        CuSession {
            account: acct.uuid().unwrap_or_default(),
            source,
            opened: now,
            primary: Primary::Unchanged,
            passkeys: None,
            reg: Reg::None,
            version: 0,
            base: credential_fingerprint(acct),
            password_chars: None,
        }
    }

    fn changed(&self) -> bool {
        !matches!(self.primary, Primary::Unchanged) || self.passkeys.is_some()
    }

    /// The passkeys as they would be after commit.
    fn effective_passkeys(&self, acct: &StoredEntry) -> Vec<PasskeyRecord> {
        self.passkeys.clone().unwrap_or_else(|| passkeys::of(acct))
    }

    /// The primary credential as it would be after commit.
    fn effective(&self, acct: &StoredEntry) -> Option<Credential> {
        match &self.primary {
            Primary::Unchanged => match acct.first("primary_credential") {
                Some(Value::Credential(c)) => Some(c.clone()),
                _ => None,
            },
            Primary::Set(c) => Some(c.clone()),
            Primary::Removed => None,
        }
    }
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
        // A reset token opens one session at a time: exchanging it again (it can be, until it
        // is used) replaces the session it opened before, and never touches the sessions the
        // account's holder or managers opened themselves.
        if let Source::Intent(intent) = &s.source {
            m.retain(|_, v| !matches!(&v.source, Source::Intent(t) if t.hash == intent.hash));
        }
        // Those are bounded per account, pushing out only that account's oldest.
        let mine: Vec<(&String, OffsetDateTime)> = m
            .iter()
            .filter(|(_, v)| v.account == s.account && matches!(v.source, Source::Caller { .. }))
            .map(|(k, v)| (k, v.opened))
            .collect();
        if matches!(s.source, Source::Caller { .. })
            && mine.len() >= MAX_CU_SESSIONS_PER_ACCOUNT
            && let Some(oldest) = mine.iter().min_by_key(|(_, t)| *t).map(|(k, _)| (*k).clone())
        {
            m.remove(&oldest);
        }
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

    /// Stores a changed session, unless another change was stored since `next` was read.
    fn replace(&self, token: &CUSessionToken, mut next: CuSession) -> Result<()> {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let slot = m.get_mut(&token_hash(&token.token)).ok_or_else(ended)?;
        if slot.version != next.version {
            return Err(OperationError::InvalidRequest(
                "another change to this credential update session was made at the same time; check its status and try again"
                    .into(),
            ));
        }
        next.version += 1;
        *slot = next;
        Ok(())
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
        let (opened, status) = self.read_as(token, |r, ident| {
            ident.require_write()?;
            let acct = visible_account(r, ident, id)?;
            let full = r.entry_by_uuid(acct.uuid().unwrap_or_default())?.ok_or(OperationError::NoMatchingEntries)?;
            if let Some(access) = r.caller_access(ident)? {
                let probe = ModifyList::new(set_password_mods(Credential::Password { phc: String::new() }));
                access.check_modify(&full, &probe)?;
            }
            let by = ident.uuid().unwrap_or_default();
            let minimum = policy::evaluate(r, &full)?.credential_minimum;
            let opened = CuSession::new(&full, Source::Caller { by, session: ident.session }, now);
            let status = status_of(&full, &opened, minimum, self.passkeys.as_ref());
            Ok((opened, status))
        })?;
        let (account, by) = (opened.account, by_of(&opened));
        let token = self.cu.open(opened, now)?;
        info!(%account, %by, "credential update session opened");
        Ok((token, status))
    }

    /// Opens a credential update session for the caller's own account (the web UI's "change
    /// sign-in methods"), under the same rules as [`Self::cu_begin`].
    pub fn cu_begin_own(&self, token: &str) -> Result<(CUSessionToken, CUStatus)> {
        let me = self.read_as(token, |_, ident| ident.uuid().ok_or(OperationError::NotAuthenticated))?;
        self.cu_begin(token, &me.to_string())
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
        let session = CuSession::new(&acct, Source::Intent(intent), now);
        let account = session.account;
        let minimum = policy::evaluate(&mut r, &acct)?.credential_minimum;
        let status = status_of(&acct, &session, minimum, self.passkeys.as_ref());
        let token = self.cu.open(session, now)?;
        info!(%account, "credential update session opened with a reset token");
        Ok((token, status))
    }

    /// The state of a session.
    pub fn cu_status(&self, cu: &CUSessionToken) -> Result<CUStatus> {
        let s = self.cu.get(cu, self.now())?;
        let mut r = self.qs.read()?;
        let acct = account::by_uuid(&mut r, s.account)?.ok_or_else(gone)?;
        let minimum = policy::evaluate(&mut r, &acct)?.credential_minimum;
        Ok(status_of(&acct, &s, minimum, self.passkeys.as_ref()))
    }

    /// Stages one change in a session and returns its new state. A password is checked
    /// against the policy and hashed now, so commit cannot fail on it.
    pub fn cu_update(&self, cu: &CUSessionToken, req: CURequest) -> Result<CUStatus> {
        let now = self.now();
        let mut s = self.cu.get(cu, now)?;
        let mut r = self.qs.read()?;
        let acct = account::by_uuid(&mut r, s.account)?.ok_or_else(gone)?;
        let minimum = policy::evaluate(&mut r, &acct)?.credential_minimum;
        let mut shown_codes = None;
        match req {
            CURequest::Password(pw) => {
                password::check_policy(&mut r, &acct, &pw)?;
                drop(r);
                let hashed = self.hashing.hash(&pw, &self.params, false)?;
                // A new password keeps the second factors it had.
                let cred = match s.effective(&acct) {
                    Some(Credential::PasswordMfa { totp, backup_codes, .. }) => {
                        Credential::PasswordMfa { phc: hashed.phc().to_string(), totp, backup_codes }
                    }
                    _ => hashed,
                };
                s.primary = Primary::Set(cred);
                s.password_chars = Some(pw.chars().count());
            }
            CURequest::PasswordQualityCheck(pw) => password::check_policy(&mut r, &acct, &pw)?,
            CURequest::PrimaryRemove => s.primary = Primary::Removed,
            CURequest::CancelMfaReg => s.reg = Reg::None,
            CURequest::TotpGenerate => {
                match s.effective(&acct) {
                    Some(Credential::PasswordMfa { totp, .. }) if totp.len() >= second_factor::MAX_TOTPS => {
                        return Err(OperationError::InvalidRequest(format!(
                            "the account has {} TOTPs already, the most it may hold; remove one first",
                            second_factor::MAX_TOTPS
                        )));
                    }
                    Some(Credential::Password { .. } | Credential::PasswordMfa { .. }) => {}
                    Some(Credential::GeneratedPassword { .. }) => {
                        return Err(OperationError::InvalidRequest(
                            "choose your own password before adding a TOTP: the generated one is for recovery only"
                                .into(),
                        ));
                    }
                    None => {
                        return Err(OperationError::InvalidRequest(
                            "set a password first: a TOTP is a second factor to a password".into(),
                        ));
                    }
                }
                s.reg = Reg::Totp(second_factor::generate_totp(now)?, TotpCheck::Waiting);
            }
            CURequest::TotpVerify(code, label) => {
                let Reg::Totp(mut totp, _) = s.reg.clone() else {
                    return Err(OperationError::InvalidRequest(
                        "no TOTP is being enrolled in this session; generate one first".into(),
                    ));
                };
                let current = s.effective(&acct);
                let label = second_factor::totp_label(&label).ok().filter(|l| match &current {
                    Some(Credential::PasswordMfa { totp, .. }) => !totp.contains_key(l),
                    _ => true,
                });
                s.reg = match (label, second_factor::check_totp(&totp, code, now)) {
                    (None, _) => Reg::Totp(totp, TotpCheck::BadLabel),
                    (Some(_), Err(_)) => Reg::Totp(totp, TotpCheck::WrongCode),
                    (Some(label), Ok(step)) => {
                        // The code that proved the enrolment cannot also sign in.
                        totp.last_step = step;
                        s.primary = Primary::Set(match current {
                            Some(Credential::PasswordMfa { phc, totp: mut all, backup_codes }) => {
                                all.insert(label, totp);
                                Credential::PasswordMfa { phc, totp: all, backup_codes }
                            }
                            Some(Credential::Password { phc }) => {
                                Credential::PasswordMfa { phc, totp: [(label, totp)].into(), backup_codes: None }
                            }
                            _ => {
                                return Err(OperationError::InvalidRequest(
                                    "the password was removed in this session; set one before adding a TOTP".into(),
                                ));
                            }
                        });
                        Reg::None
                    }
                };
            }
            CURequest::TotpAcceptSha1 => {
                return Err(OperationError::InvalidRequest(
                    "nothing to accept: this server's TOTP secrets use SHA-1 already".into(),
                ));
            }
            CURequest::TotpRemove(label) => {
                let Some(Credential::PasswordMfa { phc, mut totp, backup_codes }) = s.effective(&acct) else {
                    return Err(OperationError::InvalidRequest("the account has no TOTP to remove".into()));
                };
                if totp.remove(label.trim()).is_none() {
                    let known: Vec<&str> = totp.keys().map(String::as_str).collect();
                    return Err(OperationError::InvalidRequest(format!(
                        "no TOTP is labelled '{label}'; the account's are: {}",
                        known.join(", ")
                    )));
                }
                // Backup codes stand in for a TOTP, so they go with the last one.
                s.primary = Primary::Set(if totp.is_empty() {
                    Credential::Password { phc }
                } else {
                    Credential::PasswordMfa { phc, totp, backup_codes }
                });
            }
            CURequest::BackupCodeGenerate => {
                let Some(Credential::PasswordMfa { phc, totp, .. }) = s.effective(&acct) else {
                    return Err(OperationError::InvalidRequest(
                        "backup codes stand in for a TOTP: add a TOTP first".into(),
                    ));
                };
                let (shown, codes) = second_factor::generate_backup_codes(now)?;
                s.primary = Primary::Set(Credential::PasswordMfa { phc, totp, backup_codes: Some(codes) });
                shown_codes = Some(shown);
            }
            CURequest::PasskeyInit => {
                let rp = self.relying_party()?;
                let existing = s.effective_passkeys(&acct);
                if existing.len() >= passkeys::MAX_PASSKEYS {
                    return Err(OperationError::InvalidRequest(format!(
                        "the account has {} passkeys already, the most it may hold; remove one first",
                        passkeys::MAX_PASSKEYS
                    )));
                }
                let name = acct.first_str("name").unwrap_or_default();
                let display = acct.first_str("displayname").unwrap_or(name);
                let (challenge, state) = rp.start_registration(s.account, name, display, &existing)?;
                s.reg = Reg::Passkey(challenge, Box::new(state));
            }
            CURequest::PasskeyFinish(label, answer) => {
                let Reg::Passkey(_, state) = &s.reg else {
                    return Err(OperationError::InvalidRequest(
                        "no passkey is being enrolled in this session; start with passkeyinit".into(),
                    ));
                };
                let mut existing = s.effective_passkeys(&acct);
                let label = second_factor::totp_label(&label)
                    .map_err(|why| OperationError::InvalidRequest(format!("passkey label: {why}")))?;
                if existing.iter().any(|p| p.label == label) {
                    return Err(OperationError::InvalidRequest(format!("a passkey is labelled '{label}' already")));
                }
                let record = self.relying_party()?.finish_registration(&answer, state, &label, now)?;
                // A credential belongs to one account (the commit's uniqueness check holds it).
                let mut held = r.internal_search(&Filter::eq("passkeys", record.credential_id_hash.clone()))?;
                held.retain(|e| account::is_live_account(e));
                if !held.is_empty() || existing.iter().any(|p| p.credential_id_hash == record.credential_id_hash) {
                    return Err(OperationError::InvalidRequest(
                        "this authenticator's passkey is enrolled already; use another authenticator".into(),
                    ));
                }
                existing.push(record);
                s.passkeys = Some(existing);
                s.reg = Reg::None;
            }
            CURequest::PasskeyRemove(uuid) => {
                let mut existing = s.effective_passkeys(&acct);
                let before = existing.len();
                existing.retain(|p| p.uuid != uuid);
                if existing.len() == before {
                    return Err(OperationError::InvalidRequest(format!("the account has no passkey {uuid}")));
                }
                s.passkeys = Some(existing);
            }
            CURequest::BackupCodeRemove => {
                let Some(Credential::PasswordMfa { phc, totp, backup_codes: Some(_) }) = s.effective(&acct) else {
                    return Err(OperationError::InvalidRequest("the account has no backup codes to remove".into()));
                };
                s.primary = Primary::Set(Credential::PasswordMfa { phc, totp, backup_codes: None });
            }
        }
        self.cu.replace(cu, s.clone())?;
        let mut status = status_of(&acct, &s, minimum, self.passkeys.as_ref());
        if let Some(codes) = shown_codes {
            // Shown in this answer only; the session keeps just their hashes.
            status.mfaregstate = CURegState::BackupCodes(codes);
        }
        Ok(status)
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
        let committed = self.cu_commit(&cu);
        if committed.is_err() {
            // A refused commit leaves a session open; nobody else holds this one.
            let _ = self.cu_cancel(&cu);
        }
        committed
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

    /// Commits a session's changes, all at once, after checking again that it may. A refused
    /// commit leaves the session open (to add what the policy asks for, say); a commit ends it.
    pub fn cu_commit(&self, cu: &CUSessionToken) -> Result<()> {
        let now = self.now();
        let s = self.cu.get(cu, now)?;
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
                // The login that opened the session must still be live: a revoked (or stolen
                // and revoked) session cannot commit what it staged.
                if let Some(sid) = session {
                    let live = account::by_uuid(&mut w, *by)?.is_some_and(|a| recorded_session(&a, *sid).is_some());
                    if !live {
                        return Err(OperationError::AccessDeniedReason(
                            "the session that opened this credential update has ended; nothing was changed".into(),
                        ));
                    }
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
        if s.changed() && credential_fingerprint(&acct) != s.base {
            return Err(OperationError::InvalidRequest(
                "the account's credentials were changed elsewhere since this session opened; start a new session \
                 (nothing was changed)"
                    .into(),
            ));
        }
        if let Some(chars) = s.password_chars.filter(|_| matches!(s.primary, Primary::Set(_)))
            && let min = password::min_length(&mut w, &acct)?
            && chars < min as usize
        {
            return Err(OperationError::InvalidRequest(format!(
                "the password policy changed since the password was chosen: it now needs at least {min} characters; \
                 set a new password (nothing was changed)"
            )));
        }
        let minimum = policy::evaluate(&mut w, &acct)?.credential_minimum;
        let live = passkeys::live(&s.effective_passkeys(&acct), self.passkeys.as_ref());
        let primary_after = s.effective(&acct);
        if s.changed() && primary_after.is_none() && live == 0 {
            return Err(OperationError::InvalidRequest(
                "the account would be left without any credential that can sign in; set a password or enrol a \
                 passkey; nothing was changed"
                    .into(),
            ));
        }
        if s.changed() && !meets(primary_after.as_ref(), live, minimum) {
            return Err(OperationError::InvalidRequest(format!(
                "the account's policy requires {}; add it before saving; nothing was changed",
                crate::policy::requirement(minimum)
            )));
        }
        // Only one commit ends the session, and only with what was checked.
        if self.cu.take(cu, now)?.version != s.version {
            return Err(OperationError::InvalidRequest(
                "the session changed while it was being committed; nothing was changed".into(),
            ));
        }
        let mut mods = match &s.primary {
            Primary::Unchanged => Vec::new(),
            Primary::Removed => vec![Modify::Purged("primary_credential".into())],
            Primary::Set(c) => {
                let stored = match acct.first("primary_credential") {
                    Some(Value::Credential(c)) => Some(c),
                    _ => None,
                };
                set_password_mods(keep_usage(c.clone(), stored))
            }
        };
        if let Some(staged) = &s.passkeys {
            mods.push(Modify::Purged("passkeys".into()));
            for p in keep_passkey_usage(staged, &passkeys::of(&acct)) {
                mods.push(Modify::Present("passkeys".into(), Value::Passkey(Box::new(p))));
            }
        }
        let changed = s.changed();
        if changed {
            mods.extend(["softlock_until", "softlock_level"].into_iter().map(|a| Modify::Purged(a.into())));
        }
        if matches!(s.source, Source::Intent(_)) {
            mods.push(Modify::Purged(INTENT.into()));
        }
        if !mods.is_empty() {
            w.internal_modify(&account::filter_for(s.account), &ModifyList::new(mods))?;
        }
        let ended = if changed { end_sessions(&mut w, s.account, keep)? } else { 0 };
        w.commit()?;
        self.softlock.clear(s.account);
        info!(account = %acct.label(), changed, sessions_ended = ended, "credential update committed");
        Ok(())
    }

    /// Ends a session without changing anything.
    pub fn cu_cancel(&self, cu: &CUSessionToken) -> Result<()> {
        self.cu.take(cu, self.now()).map(drop)
    }
}

/// Who opened a session, for the log.
fn by_of(s: &CuSession) -> Uuid {
    match &s.source {
        Source::Caller { by, .. } => *by,
        Source::Intent(t) => t.issued_by,
    }
}

/// What identifies the account's credential apart from its use: it changes only when someone
/// changes the credential.
fn credential_fingerprint(acct: &StoredEntry) -> String {
    let mut bytes = match acct.first("primary_credential") {
        Some(Value::Credential(c)) => serde_json::to_vec(&c.without_usage()).unwrap_or_default(),
        _ => b"none".to_vec(),
    };
    for p in passkeys::of(acct) {
        bytes.extend(format!("{:?}", p.without_usage()).as_bytes());
        bytes.extend(passkeys::credential_id(&p));
    }
    use sha2::Digest;
    sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the credentials are strong enough for an account policy's minimum: a passkey is
/// (it is verified by its holder's PIN or body); a password needs a TOTP for `mfa`.
fn meets(cred: Option<&Credential>, live_passkeys: usize, minimum: CredentialType) -> bool {
    if live_passkeys > 0 {
        return true;
    }
    match (minimum, cred) {
        (_, None) => false,
        (CredentialType::Any, Some(_)) => true,
        (CredentialType::Mfa, Some(Credential::PasswordMfa { .. })) => true,
        _ => false,
    }
}

/// Staged passkeys with what sign-ins did to the stored ones meanwhile (signature counters,
/// last use).
fn keep_passkey_usage(staged: &[PasskeyRecord], stored: &[PasskeyRecord]) -> Vec<PasskeyRecord> {
    staged.iter().map(|p| stored.iter().find(|q| q.uuid == p.uuid).cloned().unwrap_or_else(|| p.clone())).collect()
}

/// A staged credential with what sign-ins did to the stored one meanwhile: a TOTP keeps the
/// latest step used (so a code used during the session stays used), and backup codes of the
/// same generation lose those used.
fn keep_usage(staged: Credential, stored: Option<&Credential>) -> Credential {
    let Credential::PasswordMfa { phc, mut totp, mut backup_codes } = staged else { return staged };
    if let Some(Credential::PasswordMfa { totp: was, backup_codes: was_codes, .. }) = stored {
        for (label, t) in totp.iter_mut() {
            if let Some(old) = was.get(label).filter(|old| old.secret == t.secret) {
                t.last_step = t.last_step.max(old.last_step);
                t.last_used = t.last_used.max(old.last_used);
            }
        }
        if let (Some(codes), Some(old)) = (backup_codes.as_mut(), was_codes)
            && (codes.created, &codes.salt) == (old.created, &old.salt)
        {
            codes.codes.retain(|c| old.codes.contains(c));
        }
    }
    Credential::PasswordMfa { phc, totp, backup_codes }
}

/// The status Kanidm's clients read: the primary credential as it would be after commit and
/// the passkeys and the factor being enrolled; the unix password and SSH keys are not offered
/// by this server yet.
fn status_of(acct: &StoredEntry, s: &CuSession, minimum: CredentialType, rp: Option<&Passkeys>) -> CUStatus {
    let effective = s.effective(acct);
    let primary = effective.as_ref().map(detail);
    let keys = s.effective_passkeys(acct);
    let live = passkeys::live(&keys, rp);
    let can_commit = meets(effective.as_ref(), live, minimum);
    let warnings = match (&primary, minimum) {
        (None, _) if live == 0 => vec![CURegWarning::NoValidCredentials],
        _ if can_commit => Vec::new(),
        (_, CredentialType::Passkey) => vec![CURegWarning::PasskeyRequired],
        _ => vec![CURegWarning::MfaRequired],
    };
    let spn = acct.first("spn").map(Value::to_proto_string).unwrap_or_default();
    let mfaregstate = match &s.reg {
        Reg::None => CURegState::None,
        Reg::Totp(totp, TotpCheck::Waiting) => CURegState::TotpCheck(totp_secret(acct, &spn, totp)),
        Reg::Totp(_, TotpCheck::WrongCode) => CURegState::TotpTryAgain,
        Reg::Totp(_, TotpCheck::BadLabel) => {
            CURegState::TotpNameTryAgain("the label is empty, too long or already used".into())
        }
        Reg::Passkey(challenge, _) => CURegState::Passkey(challenge.clone()),
    };
    CUStatus {
        displayname: acct.first_str("displayname").unwrap_or_default().to_string(),
        spn,
        ext_cred_portal: CUExtPortal::None,
        mfaregstate,
        can_commit,
        warnings,
        dirty: s.changed(),
        primary,
        primary_state: CUCredState::Modifiable,
        passkeys: keys.iter().map(|p| PasskeyDetail { tag: p.label.clone(), uuid: p.uuid }).collect(),
        passkeys_state: CUCredState::Modifiable,
        attested_passkeys: Vec::new(),
        attested_passkeys_state: CUCredState::PolicyDeny,
        attested_passkeys_allowed_devices: Vec::new(),
        unixcred: None,
        unixcred_state: CUCredState::PolicyDeny,
        sshkeys: BTreeMap::new(),
        sshkeys_state: CUCredState::PolicyDeny,
    }
}

/// A TOTP being enrolled as an authenticator app takes it: the account's name, and the domain
/// as the issuer.
fn totp_secret(acct: &StoredEntry, spn: &str, totp: &Totp) -> TotpSecret {
    let issuer = spn.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_default();
    TotpSecret {
        accountname: acct.first_str("name").unwrap_or(spn).to_string(),
        issuer,
        secret: totp.secret.clone(),
        algo: match totp.algo {
            TotpAlgo::Sha1 => ProtoTotpAlgo::Sha1,
            TotpAlgo::Sha256 => ProtoTotpAlgo::Sha256,
            TotpAlgo::Sha512 => ProtoTotpAlgo::Sha512,
        },
        step: totp.step,
        digits: totp.digits,
    }
}
