//! Credential reset tokens, what an account's credential status shows, recovery, and the
//! checks credential update sessions (`credupdate.rs`) share.

use crate::IdmServer;
use crate::account::{self, memberships};
use crate::password::{self, random_password};
use crate::sessions::visible_account as visible;
use idm_core::credential::IntentToken;
use idm_core::entry::StoredEntry;
use idm_core::filter::Filter;
use idm_core::modify::{Modify, ModifyList};
use idm_core::proto::credupdate::{CredentialDetail, CredentialDetailType};
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

pub(crate) fn token_hash(token: &str) -> String {
    sha2::Sha256::digest(token.trim().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn set_password_mods(cred: Credential) -> Vec<Modify> {
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

/// What an account's credentials are, without any secret: Kanidm's `{"creds":[…]}`, and what
/// an administrator needs besides.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CredentialStatus {
    pub creds: Vec<CredentialDetail>,
    pub reset_token: Option<PendingReset>,
    /// Password attempts are refused until then.
    pub softlocked_until: Option<String>,
    pub sessions: usize,
    /// The account's passkeys (label, uuid, and whether they still work here).
    #[serde(default)]
    pub passkeys: Vec<PasskeyStatus>,
}

/// A passkey as the credential status shows it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PasskeyStatus {
    pub tag: String,
    pub uuid: uuid::Uuid,
    /// Enrolled for another domain name (before a rename): it no longer signs in.
    pub stale: bool,
}

/// A credential as Kanidm lists it, with a stable id derived from its hash.
pub(crate) fn detail(c: &Credential) -> CredentialDetail {
    let type_ = match c {
        Credential::Password { .. } => CredentialDetailType::Password,
        Credential::GeneratedPassword { .. } => CredentialDetailType::GeneratedPassword,
        Credential::PasswordMfa { totp, backup_codes, .. } => CredentialDetailType::PasswordMfa(
            totp.keys().cloned().collect(),
            Vec::new(),
            backup_codes.as_ref().map_or(0, |b| b.codes.len()),
        ),
    };
    // The password's hash names the credential: it stays the same while factors come and go.
    let digest = sha2::Sha256::digest(c.phc().as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    CredentialDetail { uuid: uuid::Builder::from_random_bytes(b).into_uuid(), type_ }
}

impl IdmServer {
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
    pub(crate) fn reset_target(
        txn: &mut impl QueryServerTransaction,
        secret: &str,
    ) -> Result<(StoredEntry, IntentToken)> {
        let invalid = || {
            OperationError::InvalidRequest("the reset token is not valid (it may have been used or replaced)".into())
        };
        let mut found = txn.internal_search(&Filter::eq(INTENT, token_hash(secret)))?;
        found.retain(|e| account::is_live_account(e));
        let acct = found.pop().filter(|_| found.is_empty()).ok_or_else(invalid)?;
        let Some(Value::Intent(t)) = acct.first(INTENT).cloned() else { return Err(invalid()) };
        Ok((acct, *t))
    }

    /// Whether the account `by` is live, inside its validity window, and allowed by its access
    /// profiles to set `target`'s password: what a reset token or an update session opened by
    /// `by` is worth now.
    pub(crate) fn may_set_password(
        txn: &mut impl QueryServerTransaction,
        by: uuid::Uuid,
        target: &StoredEntry,
        now: time::OffsetDateTime,
    ) -> Result<bool> {
        let Some(actor) = account::by_uuid(txn, by)? else { return Ok(false) };
        if account::Window::of(&actor).problem(now).is_some() {
            return Ok(false);
        }
        let access = match txn.access_for(&actor) {
            Ok(a) => a,
            Err(OperationError::NotAuthenticated) => return Ok(false),
            Err(e) => return Err(e),
        };
        let probe = ModifyList::new(set_password_mods(Credential::Password { phc: String::new() }));
        Ok(access.check_modify(target, &probe).is_ok())
    }

    /// The credential status of the account `id`, as far as the caller may read it.
    pub fn credential_status(&self, token: &str, id: &str) -> Result<CredentialStatus> {
        self.read_as(token, |r, ident| {
            let acct = visible(r, ident, id)?;
            self.credential_status_of(r, &acct)
        })
    }

    /// The credential status of `acct` as it was read (reduced to what the reader may see).
    pub(crate) fn credential_status_of(
        &self,
        r: &mut impl QueryServerTransaction,
        acct: &StoredEntry,
    ) -> Result<CredentialStatus> {
        let creds = match acct.first("primary_credential") {
            Some(Value::Credential(c)) => vec![detail(c)],
            _ => Vec::new(),
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
            account::stored_lock(acct).filter(|(u, _)| *u > self.now()).map(|(u, _)| format_datetime(&u));
        let sessions = acct.get("user_auth_session").map(|s| s.len()).unwrap_or(0);
        // As far as the caller may read them (labels and ids: the keys are never shown),
        // oldest first.
        let mut records = crate::passkeys::of(acct);
        records.sort_by(|a, b| (a.created, &a.label).cmp(&(b.created, &b.label)));
        let passkeys = records
            .into_iter()
            .map(|p| PasskeyStatus {
                stale: !self.passkeys.as_ref().is_some_and(|rp| rp.is_ours(&p)),
                tag: p.label,
                uuid: p.uuid,
            })
            .collect();
        Ok(CredentialStatus { creds, reset_token, softlocked_until, sessions, passkeys })
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
    let pw = random_password(crate::password::GENERATED_PASSWORD_LEN)?;
    let mut mods = set_password_mods(password::hash(&pw, params, true)?);
    mods.extend([INTENT, "softlock_until", "softlock_level"].into_iter().map(|a| Modify::Purged(a.into())));
    let u = acct.uuid().unwrap_or_default();
    w.internal_modify(&account::filter_for(u), &ModifyList::new(mods))?;
    end_sessions(w, u, None)?;
    Ok(pw)
}

/// Ends every session of `account` except `keep`, as a consequence of a credential change.
/// Returns how many ended.
pub(crate) fn end_sessions(
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
