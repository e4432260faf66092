//! What an account's groups (and the account itself) say about it: search limits and server
//! rights, which are grants (the most generous value wins), and session and privilege
//! lifetimes, which bound it (the strictest account policy wins).

use idm_core::Result;
use idm_core::builtins::LIMIT_ATTRIBUTES;
use idm_core::credential::CredentialType;
use idm_core::entry::Entry;
use idm_core::identity::{Limits, ServerRight};
use idm_core::server::QueryServerTransaction;
use idm_core::session::AuthMech;
use idm_core::value::Value;
use std::time::Duration;
use uuid::Uuid;

/// How long a login session lasts when no account policy says otherwise (Kanidm's default).
pub const DEFAULT_AUTHSESSION_EXPIRY: Duration = Duration::from_secs(86_400);
/// How long a re-authentication lets a session make changes, by default.
pub const DEFAULT_PRIVILEGE_EXPIRY: Duration = Duration::from_secs(600);
/// The longest privilege window any policy may give.
pub const MAX_PRIVILEGE_EXPIRY: Duration = Duration::from_secs(3600);
/// Bounds on what a policy may set for session lifetime.
pub const MIN_EXPIRY: Duration = Duration::from_secs(60);
pub const MAX_AUTHSESSION_EXPIRY: Duration = Duration::from_secs(90 * 86_400);
/// A session logged in with a generated password (`recover_account`) may make changes at once,
/// for at most this long.
pub const GENERATED_PASSWORD_PRIVILEGE: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountPolicy {
    pub authsession_expiry: Duration,
    pub privilege_expiry: Duration,
    /// The weakest credential the account may sign in with.
    pub credential_minimum: CredentialType,
    /// The shortest password its policies accept, when one sets it (the server-wide setting
    /// applies as well; the longer wins).
    pub password_min_length: Option<u32>,
    pub limits: Limits,
    pub rights: Vec<ServerRight>,
    /// The entries this policy was worked out from: the account, its groups and the server
    /// settings. It stays true until one of them changes.
    pub sources: Vec<Uuid>,
}

fn seconds(e: &Entry, attr: &str) -> Option<u32> {
    match e.first(attr) {
        Some(Value::Uint32(n)) => Some(*n),
        _ => None,
    }
}

/// Works out the policy of `account` from its live groups.
pub fn evaluate(txn: &mut impl QueryServerTransaction, account: &Entry) -> Result<AccountPolicy> {
    let mut sources = vec![account.uuid().unwrap_or_default(), idm_core::builtins::UUID_SYSTEM_CONFIG];
    let mut groups = Vec::new();
    for g in account.refs("memberof") {
        sources.push(g);
        if let Some(e) = txn.entry_by_uuid(g)?
            && !e.has_class("recycled")
            && !e.has_class("tombstone")
        {
            groups.push(e.entry);
        }
    }
    let granting: Vec<&Entry> = std::iter::once(account).chain(groups.iter()).collect();
    // Grants: the largest value among the account and its groups, else the default.
    let defaults = Limits::user();
    let grant = |attr: &str, default: usize| -> usize {
        granting.iter().filter_map(|e| seconds(e, attr)).max().map(|n| n as usize).unwrap_or(default)
    };
    let [results, filter_test, elements, depth] = LIMIT_ATTRIBUTES;
    let limits = Limits {
        search_max_results: grant(results, defaults.search_max_results),
        search_max_partial: grant(filter_test, defaults.search_max_partial),
        filter_max_elements: grant(elements, defaults.filter_max_elements),
        filter_max_depth: grant(depth, defaults.filter_max_depth),
    };
    let mut rights: Vec<ServerRight> = groups
        .iter()
        .flat_map(|g| g.get("server_right").into_iter().flatten())
        .filter_map(|v| match v {
            Value::Right(r) => Some(*r),
            _ => None,
        })
        .collect();
    rights.sort();
    rights.dedup();
    // Bounds: the smallest value among the account's policies (its own and its groups'),
    // clamped to sane limits.
    let bound = |attr: &str, default: Duration, max: Duration| -> Duration {
        granting
            .iter()
            .filter_map(|g| seconds(g, attr))
            .min()
            .map(|n| Duration::from_secs(u64::from(n)).clamp(MIN_EXPIRY, max))
            .unwrap_or(default)
    };
    // Credential bounds: the strictest value.
    let credential_minimum = granting
        .iter()
        .filter_map(|e| match e.first("credential_type_minimum") {
            Some(Value::CredType(c)) => Some(*c),
            _ => None,
        })
        .max()
        .unwrap_or(CredentialType::Any);
    let password_min_length = granting.iter().filter_map(|e| seconds(e, "password_min_length")).max();
    Ok(AccountPolicy {
        credential_minimum,
        password_min_length,
        authsession_expiry: bound("authsession_expiry", DEFAULT_AUTHSESSION_EXPIRY, MAX_AUTHSESSION_EXPIRY),
        privilege_expiry: bound("privilege_expiry", DEFAULT_PRIVILEGE_EXPIRY, MAX_PRIVILEGE_EXPIRY),
        limits,
        rights,
        sources,
    })
}

/// Whether a sign-in with `mech` is strong enough for `minimum`. A generated password (from
/// `kanidmd recover_account`, which needs the server's own files) is the way back in for an
/// administrator who lost their factors, so no policy refuses it.
pub fn accepts(minimum: CredentialType, mech: AuthMech) -> bool {
    match minimum {
        CredentialType::Any => true,
        // A passkey is verified by its holder's PIN or body as well as held: two factors.
        CredentialType::Mfa => matches!(
            mech,
            AuthMech::PasswordMfa | AuthMech::PasswordBackupCode | AuthMech::Passkey | AuthMech::GeneratedPassword
        ),
        CredentialType::Passkey => matches!(mech, AuthMech::Passkey | AuthMech::GeneratedPassword),
    }
}

/// What an account without a strong enough credential is told.
pub fn requirement(minimum: CredentialType) -> &'static str {
    match minimum {
        CredentialType::Any => "a password",
        CredentialType::Mfa => "a password with a second factor (TOTP)",
        CredentialType::Passkey => "a passkey",
    }
}

/// How long a retired signing key must keep verifying the tokens it signed: the longest any
/// login session can last under the policies that exist now, or until the last API token of a
/// service account expires (for ever, while one has no expiry).
pub fn longest_session(txn: &mut impl QueryServerTransaction, now: time::OffsetDateTime) -> Result<Duration> {
    let policies = txn.internal_search(&idm_core::filter::Filter::pres("authsession_expiry"))?;
    let mut longest = policies
        .iter()
        .filter_map(|p| seconds(p, "authsession_expiry"))
        .map(|n| Duration::from_secs(u64::from(n)).clamp(MIN_EXPIRY, MAX_AUTHSESSION_EXPIRY))
        .chain([DEFAULT_AUTHSESSION_EXPIRY])
        .max()
        .unwrap_or(DEFAULT_AUTHSESSION_EXPIRY);
    for sa in txn.internal_search(&idm_core::filter::Filter::eq("class", "service_account"))? {
        for v in sa.get("user_auth_session").into_iter().flatten() {
            let Value::Session(s) = v else { continue };
            if s.mech != idm_core::session::AuthMech::ApiToken {
                continue;
            }
            let left = match s.expiry {
                None => FOREVER,
                Some(e) => Duration::try_from(e - now).unwrap_or_default(),
            };
            longest = longest.max(left);
        }
    }
    Ok(longest)
}

/// What "until revoked" comes to for a retired key: a century.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 86_400);
