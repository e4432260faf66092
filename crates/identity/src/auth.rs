//! The login state machine: init → choose a mechanism → begin → credential → success or
//! denied, and re-authentication, which opens a privilege window on an existing session.
//!
//! A password is checked outside any transaction, after the soft-lock has admitted (and
//! counted) the attempt, and within a hashing slot; only recording the new session takes the
//! write transaction, so concurrent logins never queue behind each other's hashing.

use crate::IdmServer;
use crate::account::{self, Window};
use crate::authsession::{AuthSession, Factor, Full, Mech, Phase, Reauth};
use crate::identify::recorded_session;
use crate::passkeys;
use crate::policy::{self, AccountPolicy, GENERATED_PASSWORD_PRIVILEGE};
use crate::second_factor::{self, TotpRefusal};
use crate::softlock::Refused;
use crate::token_form;
use idm_core::builtins::UUID_ANONYMOUS;
use idm_core::credential::CredentialType;
use idm_core::entry::{Entry, StoredEntry};
use idm_core::modify::{Modify, ModifyList};
use idm_core::proto::{AuthAllowed, AuthCred, AuthState, AuthStep, TokenForm, UatPurpose, UserAuthToken};
use idm_core::server::QueryServerTransaction;
use idm_core::session::{AuthMech, Session, SessionScope};
use idm_core::value::{Credential, Value};
use idm_core::{OperationError, Result};
use std::net::IpAddr;
use time::OffsetDateTime;
use tracing::{info, warn};
use uuid::Uuid;

/// The answer to a step whose login no longer exists (finished, expired, or in use by a
/// concurrent step).
const ENDED: &str = "this login has ended (it was used, denied or timed out); start again";

fn denied(id: Uuid, why: impl Into<String>) -> Result<(Uuid, AuthState)> {
    Ok((id, AuthState::Denied(why.into())))
}

fn seconds_until(t: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (t - now).whole_seconds().max(1)
}

fn at_most(t: OffsetDateTime, limit: Option<OffsetDateTime>) -> OffsetDateTime {
    match limit {
        Some(l) if l < t => l,
        _ => t,
    }
}

/// What a token states beyond its session: what it lets its holder do, and its form.
pub(crate) struct TokenTerms {
    pub purpose: UatPurpose,
    pub form: TokenForm,
}

impl IdmServer {
    /// One step of a login. `session` is the id the previous step answered with; `client` the
    /// address the request came from (for the soft-lock and the logs).
    pub fn auth_step(
        &self,
        step: AuthStep,
        session: Option<Uuid>,
        client: Option<IpAddr>,
    ) -> Result<(Uuid, AuthState)> {
        let now = self.now();
        let need = || {
            OperationError::InvalidRequest("this step needs the auth session id the previous step answered with".into())
        };
        match step {
            AuthStep::Init(name) => self.auth_init(&name, false, TokenForm::Legacy2022, client, now),
            AuthStep::Init2(i) => self.auth_init(&i.username, i.privileged, TokenForm::Current, client, now),
            AuthStep::Begin(mech) => self.auth_begin(session.ok_or_else(need)?, &mech, now),
            AuthStep::Cred(cred) => self.auth_cred(session.ok_or_else(need)?, cred, now),
        }
    }

    fn start(&self, s: AuthSession, now: OffsetDateTime) -> Result<Uuid> {
        self.auth.start(s, now).map_err(|full| {
            OperationError::ResourceLimit(match full {
                Full::Server => "too many logins are in progress; try again shortly".into(),
                Full::Client => "too many logins are in progress from your address; finish or abandon some".into(),
            })
        })
    }

    fn auth_init(
        &self,
        name: &str,
        privileged: bool,
        form: TokenForm,
        client: Option<IpAddr>,
        now: OffsetDateTime,
    ) -> Result<(Uuid, AuthState)> {
        let mut r = self.qs.read()?;
        // Names are public (anonymous may list them), so an unknown one is simply not found.
        let acct = account::find(&mut r, name)?.ok_or(OperationError::NoMatchingEntries)?;
        let minimum = policy::evaluate(&mut r, &acct)?.credential_minimum;
        drop(r);
        let uuid = acct.uuid().unwrap_or_default();
        // Whether an account has a password, or has expired, is told only to someone who
        // proves the password: every other account is offered one.
        let offered = if uuid == UUID_ANONYMOUS {
            if let Some(why) = Window::of(&acct).problem(now) {
                return denied(Uuid::nil(), why);
            }
            vec![Mech::Anonymous]
        } else {
            offered_for(&acct, form, minimum, self.passkeys.as_ref())
        };
        let stale = stale_passkeys(&acct, self.passkeys.as_ref());
        if !acct.has("primary_credential") && offered == vec![Mech::Password] && stale.is_some() {
            // Passkeys of a domain this server no longer is: say so, rather than offer a
            // password the account does not have.
            return denied(
                Uuid::nil(),
                format!(
                    "this account's passkeys were enrolled for '{}', which this server is no longer called, so \
                     they cannot sign in; ask an administrator for a reset link to enrol new ones",
                    stale.unwrap_or_default()
                ),
            );
        }
        if offered.is_empty() {
            return denied(
                Uuid::nil(),
                format!(
                    "the account's policy requires {}, which this account cannot sign in with; ask an \
                     administrator for a reset link to enrol one",
                    policy::requirement(minimum)
                ),
            );
        }
        let names = offered.iter().map(|m| m.name().to_string()).collect();
        let mut s = AuthSession::new(uuid, Phase::Choosing(offered), client, now);
        s.privileged = privileged;
        s.form = form;
        let id = self.start(s, now)?;
        Ok((id, AuthState::Choose(names)))
    }

    fn auth_begin(&self, id: Uuid, mech: &str, now: OffsetDateTime) -> Result<(Uuid, AuthState)> {
        let Some(mut s) = self.auth.take(id, now) else { return denied(id, ENDED) };
        let Phase::Choosing(offered) = &s.phase else {
            return denied(id, "a mechanism was already chosen; send the credential");
        };
        match Mech::from_name(mech).filter(|m| offered.contains(m)) {
            None => denied(id, format!("mechanism '{mech}' is not available for this account")),
            Some(Mech::Passkey) => {
                let Some(challenge) = self.passkey_challenge(&mut s)? else {
                    return denied(id, "the account has no passkey for this domain");
                };
                s.chose(Mech::Passkey, now);
                self.auth.put(id, s);
                Ok((id, AuthState::Continue(vec![AuthAllowed::Passkey(challenge)])))
            }
            Some(m) => {
                s.chose(m, now);
                self.auth.put(id, s);
                Ok((id, AuthState::Continue(vec![m.first_step()])))
            }
        }
    }

    /// A passkey challenge for the login's account, its state kept in the login.
    fn passkey_challenge(&self, s: &mut AuthSession) -> Result<Option<serde_json::Value>> {
        let rp = self.relying_party()?;
        let mut r = self.qs.read()?;
        let Some(acct) = account::by_uuid(&mut r, s.account)? else { return Ok(None) };
        drop(r);
        Ok(rp.start_authentication(&passkeys::of(&acct))?.map(|(challenge, state)| {
            s.passkey = Some(Box::new(state));
            challenge
        }))
    }

    /// A passkey login's assertion, counted by the soft-lock like a password.
    fn check_passkey(
        &self,
        id: Uuid,
        mut s: AuthSession,
        answer: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<(Uuid, AuthState)> {
        let rp = self.relying_party()?;
        let (acct, admitted) = match self.attempt(id, &s, now)? {
            Ok(a) => a,
            Err(answer) => return Ok(answer),
        };
        let verified = match s.passkey.as_deref() {
            Some(state) => rp.finish_authentication(answer, state),
            None => Err("no passkey challenge was issued for this login".into()),
        };
        let used = verified.as_ref().ok().and_then(|result| {
            passkeys::of(&acct).iter().find_map(|p| passkeys::used(p, result, now).map(|_| (p.uuid, result.clone())))
        });
        let Some((uuid, result)) = used else {
            if let Some((until, level)) = admitted.engaged {
                self.record_lock(s.account, until, level)?;
            }
            let why = verified.err().unwrap_or_else(|| "an unknown passkey".into());
            warn!(account = %acct.label(), "authentication failed: passkey refused: {why}");
            return denied(id, "the passkey was not accepted");
        };
        self.softlock.succeeded(s.account, s.client);
        if let Some(why) = Window::of(&acct).problem(self.now()) {
            return denied(id, why);
        }
        s.factor = Some(Factor::Passkey(uuid, Box::new(result)));
        self.succeed(id, &s, AuthMech::Passkey, None)
    }

    fn auth_cred(&self, id: Uuid, cred: AuthCred, now: OffsetDateTime) -> Result<(Uuid, AuthState)> {
        // Taken, never put back: whatever the outcome, a credential is tried once per login.
        let Some(s) = self.auth.take(id, now) else { return denied(id, ENDED) };
        let Phase::Waiting(mech) = s.phase else {
            return denied(id, "choose a mechanism (begin) before sending a credential");
        };
        let second_factor_done = s.factor.is_some();
        match (mech, cred) {
            (Mech::Anonymous, AuthCred::Anonymous) => self.succeed(id, &s, AuthMech::Anonymous, None),
            (Mech::Password, AuthCred::Password(pw)) => self.check_password(id, &s, &pw, now),
            (Mech::PasswordMfa | Mech::PasswordBackupCode, AuthCred::Password(pw)) if second_factor_done => {
                self.check_password(id, &s, &pw, now)
            }
            (Mech::PasswordMfa, c @ AuthCred::Totp(_)) | (Mech::PasswordBackupCode, c @ AuthCred::BackupCode(_))
                if !second_factor_done =>
            {
                self.check_second_factor(id, s, c, now)
            }
            (Mech::Passkey, AuthCred::Passkey(answer)) => self.check_passkey(id, s, &answer, now),
            (Mech::PasswordMfa | Mech::PasswordBackupCode, _) if !second_factor_done => {
                denied(id, format!("send the {} first", mech.first_step_name()))
            }
            _ => denied(id, "the credential does not match the chosen mechanism"),
        }
    }

    /// The login's account as it is now and the soft-lock's admission of this attempt, or the
    /// answer refusing it.
    fn attempt(
        &self,
        id: Uuid,
        s: &AuthSession,
        now: OffsetDateTime,
    ) -> Result<std::result::Result<(StoredEntry, crate::softlock::Admitted), (Uuid, AuthState)>> {
        let mut r = self.qs.read()?;
        let Some(acct) = account::by_uuid(&mut r, s.account)? else {
            return Ok(Err((id, AuthState::Denied("account no longer exists".into()))));
        };
        drop(r);
        Ok(self.admit_attempt(id, s, &acct, now).map(|a| (acct, a)))
    }

    /// The soft-lock's admission of one credential attempt, or the answer refusing it.
    fn admit_attempt(
        &self,
        id: Uuid,
        s: &AuthSession,
        acct: &StoredEntry,
        now: OffsetDateTime,
    ) -> std::result::Result<crate::softlock::Admitted, (Uuid, AuthState)> {
        let name = acct.label();
        let client = s.client.map(|a| a.to_string()).unwrap_or_else(|| "unknown".into());
        self.softlock.admit(s.account, account::stored_lock(acct), s.client, now).map_err(|refused| {
            let why = match refused {
                Refused::Account(until) => {
                    warn!(account = %name, %client, "attempt refused: the account is soft-locked");
                    format!(
                        "account is temporarily locked after repeated failures; try again in {} s",
                        seconds_until(until, now)
                    )
                }
                Refused::Client(until) => {
                    warn!(account = %name, %client, "attempt refused: too many failures from this address");
                    format!("too many failed logins from your address; try again in {} s", seconds_until(until, now))
                }
            };
            (id, AuthState::Denied(why))
        })
    }

    /// The first step of a two-factor login: a TOTP code or a backup code, counted by the
    /// soft-lock like a password. On success the login waits for the password, and the
    /// factor is used up only when the login succeeds.
    fn check_second_factor(
        &self,
        id: Uuid,
        mut s: AuthSession,
        cred: AuthCred,
        now: OffsetDateTime,
    ) -> Result<(Uuid, AuthState)> {
        let (acct, admitted) = match self.attempt(id, &s, now)? {
            Ok(a) => a,
            Err(answer) => return Ok(answer),
        };
        let (totps, codes) = match acct.first("primary_credential") {
            Some(Value::Credential(Credential::PasswordMfa { totp, backup_codes, .. })) => {
                (Some(totp), backup_codes.as_ref())
            }
            _ => (None, None),
        };
        let (proof, refusal) = match cred {
            AuthCred::Totp(code) => {
                let mut replayed = false;
                let found =
                    totps.into_iter().flatten().find_map(|(label, t)| match second_factor::check_totp(t, code, now) {
                        Ok(step) => Some(Factor::Totp {
                            label: label.clone(),
                            secret: second_factor::secret_fingerprint(t),
                            step,
                        }),
                        Err(TotpRefusal::Replayed) => {
                            replayed = true;
                            None
                        }
                        Err(TotpRefusal::Wrong) => None,
                    });
                // Until the password is proved, a used code and a wrong one get the same answer:
                // telling them apart would confirm a guessed code or secret.
                if replayed && found.is_none() {
                    info!(account = %acct.label(), "a TOTP code was used again");
                }
                (found, "incorrect TOTP code, or one used already; wait for the next one")
            }
            AuthCred::BackupCode(code) => (
                codes.and_then(|c| second_factor::match_backup_code(c, &code)).map(Factor::BackupCode),
                "incorrect backup code (each works once)",
            ),
            _ => (None, "the credential does not match the chosen mechanism"),
        };
        let Some(proof) = proof else {
            if let Some((until, level)) = admitted.engaged {
                self.record_lock(s.account, until, level)?;
            }
            warn!(account = %acct.label(), client = %s.client.map(|a| a.to_string()).unwrap_or_default(), "authentication failed: {refusal}");
            return denied(id, refusal);
        };
        // The attempt was counted before the check; a right factor gives it back, so a whole
        // two-step login counts once (at its password step).
        self.softlock.factor_proved(s.account, s.client, admitted);
        s.factor = Some(proof);
        self.auth.put(id, s);
        Ok((id, AuthState::Continue(vec![Mech::Password.first_step()])))
    }

    fn check_password(&self, id: Uuid, s: &AuthSession, pw: &str, now: OffsetDateTime) -> Result<(Uuid, AuthState)> {
        let mut r = self.qs.read()?;
        let Some(acct) = account::by_uuid(&mut r, s.account)? else {
            return denied(id, "account no longer exists");
        };
        drop(r);
        // An account without a password is checked against a stand-in, so neither the answer
        // nor its timing tells it apart from a wrong password.
        let (cred, real) = match acct.first("primary_credential") {
            Some(Value::Credential(c)) => (c.clone(), true),
            _ => (self.stand_in()?, false),
        };
        let name = acct.label();
        let client = s.client.map(|a| a.to_string()).unwrap_or_else(|| "unknown".into());
        let admitted = match self.admit_attempt(id, s, &acct, now) {
            Ok(a) => a,
            Err(answer) => return Ok(answer),
        };
        let checked = self.hashing.verify(&cred, pw).map(|ok| ok && real);
        // A lock this attempt engaged is recorded whatever became of the check (a refused
        // hashing slot included), so it holds across a restart.
        if let Some((until, level)) = admitted.engaged
            && !matches!(checked, Ok(true))
        {
            warn!(account = %name, %client, "soft-lock engaged until {}", idm_core::value::format_datetime(&until));
            self.record_lock(s.account, until, level)?;
        }
        if !checked? {
            warn!(account = %name, %client, "authentication failed: wrong password");
            return denied(id, "incorrect password");
        }
        self.softlock.succeeded(s.account, s.client);
        // Only now, to someone who knows the password, is the account's validity told.
        if let Some(why) = Window::of(&acct).problem(self.now()) {
            return denied(id, why);
        }
        let mech = match (&s.factor, &cred) {
            (Some(Factor::Totp { .. }), _) => AuthMech::PasswordMfa,
            (Some(Factor::BackupCode(_)), _) => AuthMech::PasswordBackupCode,
            (None | Some(Factor::Passkey(..)), Credential::GeneratedPassword { .. }) => AuthMech::GeneratedPassword,
            (None | Some(Factor::Passkey(..)), _) => AuthMech::Password,
        };
        self.succeed(id, s, mech, Some(&cred))
    }

    /// Records an engaged soft-lock on the account, so it holds across a restart.
    fn record_lock(&self, account: Uuid, until: OffsetDateTime, level: u32) -> Result<()> {
        let mut w = self.qs.write()?;
        let ml = ModifyList::new(vec![
            Modify::Purged("softlock_until".into()),
            Modify::Present("softlock_until".into(), Value::DateTime(until)),
            Modify::Purged("softlock_level".into()),
            Modify::Present("softlock_level".into(), Value::Uint32(level)),
        ]);
        w.internal_modify(&account::filter_for(account), &ml)?;
        w.commit()
    }

    /// Issues the token of a successful login or re-authentication. `verified` is the
    /// credential the password was checked against.
    fn succeed(
        &self,
        id: Uuid,
        s: &AuthSession,
        mech: AuthMech,
        verified: Option<&Credential>,
    ) -> Result<(Uuid, AuthState)> {
        if mech == AuthMech::Anonymous {
            let now = self.now();
            // Nothing is stored: a read snapshot is enough.
            let mut r = self.qs.read()?;
            let Some(acct) = account::by_uuid(&mut r, s.account)? else {
                return denied(id, "account no longer exists");
            };
            let policy = policy::evaluate(&mut r, &acct)?;
            let session = self.new_session(&acct, &policy, mech, SessionScope::ReadOnly, s.client, now);
            let terms = TokenTerms { purpose: UatPurpose::ReadOnly, form: s.form };
            let token = self.sign(&mut r, &acct, &session, terms, &policy, now)?;
            info!(account = %acct.label(), "anonymous authentication succeeded");
            return Ok((id, AuthState::Success(token)));
        }
        let mut w = self.qs.write()?;
        // The time and the account are taken again in the write transaction: hashing and
        // waiting for the lock took a while, and the account may have been deleted or locked
        // (expired at the moment of the lock) meanwhile.
        let now = self.now();
        let Some(acct) = account::by_uuid(&mut w, s.account)? else { return denied(id, "account no longer exists") };
        if let Some(why) = Window::of(&acct).problem(now) {
            return denied(id, why);
        }
        // The credentials were checked against a snapshot; if they changed meanwhile (an
        // administrator answering a compromise, a second factor added or used), what was
        // checked must still hold, and a second factor is used up now.
        let current = match acct.first("primary_credential") {
            Some(Value::Credential(c)) => Some(c),
            _ => None,
        };
        let mods = match &s.factor {
            // A passkey login: the passkey must still be there, and its counter is checked
            // against the passkey as stored now (a concurrent login may have moved it on).
            Some(Factor::Passkey(uuid, result)) => {
                let Some(old) = passkeys::of(&acct).into_iter().find(|p| p.uuid == *uuid) else {
                    warn!(account = %acct.label(), "login refused: the passkey was removed meanwhile");
                    return denied(id, "the passkey was removed meanwhile; log in again");
                };
                let Some(record) = passkeys::used(&old, result, now) else {
                    warn!(account = %acct.label(), "login refused: the passkey's counter went backwards (a clone?)");
                    return denied(id, "the passkey was not accepted");
                };
                vec![
                    Modify::Removed("passkeys".into(), Value::Passkey(Box::new(old))),
                    Modify::Present("passkeys".into(), Value::Passkey(Box::new(record))),
                ]
            }
            factor => match still_valid(current, verified, factor.as_ref(), now) {
                Ok(used) => used.map(crate::credentials::set_password_mods).unwrap_or_default(),
                Err(why) => {
                    warn!(account = %acct.label(), "login refused: {why}");
                    return denied(id, format!("{why}; log in again"));
                }
            },
        };
        if !mods.is_empty() {
            w.internal_modify(&account::filter_for(s.account), &ModifyList::new(mods))?;
        }
        let policy = policy::evaluate(&mut w, &acct)?;
        // The policy may have changed (a group joined) while the credentials were checked.
        if !policy::accepts(policy.credential_minimum, mech) {
            warn!(account = %acct.label(), %mech, "login refused: the account's policy requires more");
            return denied(
                id,
                format!(
                    "the account's policy requires {}; sign in with it",
                    policy::requirement(policy.credential_minimum)
                ),
            );
        }
        let privilege_until = |expiry: Option<OffsetDateTime>, window: std::time::Duration| {
            Some(at_most(now + window, expiry).unix_timestamp())
        };
        let (session, purpose) = match s.reauth {
            Some(Reauth { session }) => {
                let Some(existing) = recorded_session(&acct, session).cloned() else {
                    return denied(id, "the session being re-authenticated has ended; log in again");
                };
                let purpose =
                    UatPurpose::ReadWrite { expiry: privilege_until(existing.expiry, policy.privilege_expiry) };
                self.clear_stored_lock(&mut w, &acct)?;
                (existing, purpose)
            }
            None => {
                let session = self.new_session(&acct, &policy, mech, SessionScope::PrivilegeCapable, s.client, now);
                let expiry = match mech {
                    // Bootstrap accounts work right after `kanidm login`, for a bounded time.
                    AuthMech::GeneratedPassword => privilege_until(session.expiry, GENERATED_PASSWORD_PRIVILEGE),
                    _ if s.privileged => privilege_until(session.expiry, policy.privilege_expiry),
                    _ => None,
                };
                self.record_session(&mut w, &acct, session.clone(), now)?;
                (session, UatPurpose::ReadWrite { expiry })
            }
        };
        let token = self.sign(&mut w, &acct, &session, TokenTerms { purpose, form: s.form }, &policy, now)?;
        w.commit()?;
        info!(
            account = %acct.label(),
            mech = %mech,
            reauth = s.reauth.is_some(),
            client = %s.client.map(|a| a.to_string()).unwrap_or_default(),
            "authentication succeeded"
        );
        Ok((id, AuthState::Success(token)))
    }

    fn new_session(
        &self,
        acct: &Entry,
        policy: &AccountPolicy,
        mech: AuthMech,
        scope: SessionScope,
        client: Option<IpAddr>,
        now: OffsetDateTime,
    ) -> Session {
        let account = acct.uuid().unwrap_or_default();
        Session {
            id: Uuid::new_v4(),
            issued_at: now,
            expiry: Some(now + policy.authsession_expiry),
            mech,
            scope,
            issued_by: account,
            client: client.map(|a| a.to_string()),
            label: None,
        }
    }

    /// The signed token for `session`.
    pub(crate) fn sign(
        &self,
        txn: &mut impl QueryServerTransaction,
        acct: &Entry,
        session: &Session,
        terms: TokenTerms,
        policy: &AccountPolicy,
        now: OffsetDateTime,
    ) -> Result<String> {
        let TokenTerms { purpose, form } = terms;
        let uat = UserAuthToken {
            session_id: session.id,
            issued_at: now.unix_timestamp(),
            expiry: session.expiry.map(|e| e.unix_timestamp()),
            purpose,
            uuid: acct.uuid().unwrap_or_default(),
            displayname: acct.first_str("displayname").unwrap_or_default().to_string(),
            spn: acct.first("spn").map(Value::to_proto_string).unwrap_or_default(),
            mail_primary: acct.first("mail").map(Value::to_proto_string),
            ui_hints: Vec::new(),
            limit_search_max_results: Some(policy.limits.search_max_results as u64),
            limit_search_max_filter_test: Some(policy.limits.search_max_partial as u64),
        };
        let payload = token_form::encode(&uat, form, session.mech, &policy.limits)?;
        self.keys.current(&self.qs, txn)?.sign(&payload, form)
    }

    /// Starts re-authenticating the session of `token`: its holder proves the password again
    /// to open a privilege window. The answer is the next step, like `begin`'s.
    pub fn reauth_begin(&self, token: &str, client: Option<IpAddr>) -> Result<(Uuid, AuthState)> {
        let now = self.now();
        let mut r = self.qs.read()?;
        let (ident, v) = self.identify_token(&mut r, token)?;
        let account = ident.uuid().ok_or(OperationError::NotAuthenticated)?;
        let acct: StoredEntry = account::by_uuid(&mut r, account)?.ok_or(OperationError::NotAuthenticated)?;
        let minimum = policy::evaluate(&mut r, &acct)?.credential_minimum;
        drop(r);
        let capable =
            recorded_session(&acct, v.uat.session_id).is_some_and(|s| s.scope == SessionScope::PrivilegeCapable);
        if !capable {
            return Err(OperationError::AccessDeniedReason(
                "this session may not re-authenticate; log in instead".into(),
            ));
        }
        // The same proof as a login: a passkey for a passkey session, else the password,
        // after a TOTP code when the account has one.
        let passkey_session = recorded_session(&acct, v.uat.session_id).is_some_and(|s| s.mech == AuthMech::Passkey);
        let mech = match acct.first("primary_credential") {
            _ if passkey_session => Mech::Passkey,
            Some(Value::Credential(Credential::PasswordMfa { .. })) => Mech::PasswordMfa,
            Some(Value::Credential(c))
                if minimum == CredentialType::Any || matches!(c, Credential::GeneratedPassword { .. }) =>
            {
                Mech::Password
            }
            Some(Value::Credential(_)) => {
                return Err(OperationError::AccessDeniedReason(format!(
                    "the account's policy requires {} to re-authenticate; enrol it first",
                    policy::requirement(minimum)
                )));
            }
            _ => {
                return Err(OperationError::AccessDeniedReason(
                    "the account has no password to re-authenticate with".into(),
                ));
            }
        };
        let mut s = AuthSession::new(account, Phase::Waiting(mech), client, now);
        s.reauth = Some(Reauth { session: v.uat.session_id });
        if mech == Mech::Passkey {
            let Some(challenge) = self.passkey_challenge(&mut s)? else {
                return Err(OperationError::AccessDeniedReason("the account has no passkey for this domain".into()));
            };
            let id = self.start(s, now)?;
            return Ok((id, AuthState::Continue(vec![AuthAllowed::Passkey(challenge)])));
        }
        let id = self.start(s, now)?;
        Ok((id, AuthState::Continue(vec![mech.first_step()])))
    }
}

/// The mechanisms offered to an account (Kanidm's model: those its credential supports). An
/// account without a password is offered one all the same, so whether it has one is told
/// only to someone who proves it.
fn offered_for(acct: &Entry, form: TokenForm, minimum: CredentialType, rp: Option<&passkeys::Passkeys>) -> Vec<Mech> {
    let has_passkey = rp.is_some_and(|rp| passkeys::of(acct).iter().any(|p| rp.is_ours(p)));
    let passwords = match acct.first("primary_credential") {
        // Backup codes are offered whether or not any are left, so the offer does not tell
        // anyone that they ran out.
        Some(Value::Credential(Credential::PasswordMfa { .. })) => vec![Mech::PasswordMfa, Mech::PasswordBackupCode],
        // A password is offered next to a passkey (the way in when the authenticator is lost),
        // and to an account without either, as a stand-in.
        Some(Value::Credential(_)) => vec![Mech::Password],
        _ if has_passkey => vec![],
        _ => vec![Mech::Password],
    };
    let offered = if has_passkey { vec![Mech::Passkey] } else { vec![] };
    offered
        .into_iter()
        .chain(passwords)
        .filter(|m| form != TokenForm::Legacy2022 || m.known_in_2022())
        .filter(|m| {
            // A recovery password counts as what it is (any policy takes it).
            let mech = match (m, acct.first("primary_credential")) {
                (Mech::Password, Some(Value::Credential(Credential::GeneratedPassword { .. }))) => {
                    AuthMech::GeneratedPassword
                }
                _ => m.session_mech(),
            };
            policy::accepts(minimum, mech)
        })
        .collect()
}

/// The relying party the account's passkeys were enrolled for, when none of them is this
/// server's (the domain was renamed since).
fn stale_passkeys(acct: &Entry, rp: Option<&passkeys::Passkeys>) -> Option<String> {
    let all = passkeys::of(acct);
    let rp = rp?;
    (!all.is_empty() && !all.iter().any(|p| rp.is_ours(p))).then(|| all[0].rp_id.clone())
}

/// Whether what a login checked against a snapshot still holds in the account's current
/// credential: the same password, no second factor added since a password-only check, and
/// the second factor proved still there and unused. Returns the credential with that factor
/// used up, to store with the new session.
fn still_valid(
    current: Option<&Credential>,
    verified: Option<&Credential>,
    factor: Option<&Factor>,
    now: OffsetDateTime,
) -> std::result::Result<Option<Credential>, &'static str> {
    let (Some(current), Some(verified)) = (current, verified) else {
        return if current.is_none() && verified.is_none() {
            Ok(None)
        } else {
            Err("the password was changed meanwhile")
        };
    };
    if current.phc() != verified.phc() {
        return Err("the password was changed meanwhile");
    }
    let Credential::PasswordMfa { phc, totp, backup_codes } = current else {
        return if factor.is_none() { Ok(None) } else { Err("the second factor was removed meanwhile") };
    };
    let (mut totp, mut backup_codes) = (totp.clone(), backup_codes.clone());
    match factor {
        None | Some(Factor::Passkey(..)) => return Err("a second factor was added to the account meanwhile"),
        Some(Factor::Totp { label, secret, step }) => {
            let t = totp
                .get_mut(label)
                .filter(|t| second_factor::secret_fingerprint(t) == *secret)
                .ok_or("the TOTP was replaced meanwhile")?;
            if *step <= t.last_step {
                return Err("this TOTP code was used already");
            }
            t.last_step = *step;
            t.last_used = Some(now.unix_timestamp());
        }
        Some(Factor::BackupCode(hash)) => {
            let codes = backup_codes.as_mut().ok_or("the backup codes were replaced meanwhile")?;
            if !codes.codes.remove(hash) {
                return Err("this backup code was used already");
            }
        }
    }
    Ok(Some(Credential::PasswordMfa { phc: phc.clone(), totp, backup_codes }))
}
