//! Credential reset tokens do not outlive the situation they were issued for: a pending token
//! is dropped when the account's credential changes by any route, and when the account becomes
//! high privilege (a token issued by a lower administrator must not become a way into a
//! privileged account). Redemption separately refuses a token whose account's memberships
//! changed since it was issued (the identity layer checks the fingerprint).

use crate::builtins::UUID_IDM_HIGH_PRIVILEGE;
use crate::entry::{Entry, StoredEntry};
use crate::value::Value;

pub(crate) const INTENT: &str = "credential_update_intent_token";

/// Drops a pending reset token from `new` when the change from `old` calls for it.
pub(crate) fn guard(old: &Entry, new: &mut Entry) {
    if !new.has(INTENT) {
        return;
    }
    let hp = Value::Refer(UUID_IDM_HIGH_PRIVILEGE);
    let became_hp =
        new.get("memberof").is_some_and(|m| m.contains(&hp)) && !old.get("memberof").is_some_and(|m| m.contains(&hp));
    // Signing in uses up second factors (a TOTP step, a backup code): that is no change.
    let credential = |e: &Entry| match e.first("primary_credential") {
        Some(Value::Credential(c)) => Some(c.without_usage()),
        _ => None,
    };
    let passkeys = |e: &Entry| -> Vec<(uuid::Uuid, String)> {
        e.get("passkeys")
            .into_iter()
            .flatten()
            .filter_map(|v| match v {
                Value::Passkey(p) => Some((p.uuid, p.label.clone())),
                _ => None,
            })
            .collect()
    };
    if credential(old) != credential(new) || passkeys(old) != passkeys(new) || became_hp {
        new.purge(INTENT);
    }
}

pub(crate) fn pre_modify(pairs: &mut [(StoredEntry, Entry)]) {
    for (old, new) in pairs {
        guard(old, new);
    }
}
