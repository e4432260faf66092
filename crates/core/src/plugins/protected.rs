//! Protection of built-in and system entries from callers. The server itself (internal
//! operations) is not restricted.

use crate::builtins::is_reserved;
use crate::entry::{Entry, StoredEntry};
use crate::identity::Identity;
use crate::{OperationError, Result};
use std::collections::BTreeSet;

/// Classes only the server may add, remove, create or delete.
const PROTECTED_CLASSES: [&str; 6] = ["system", "domain_info", "system_info", "system_config", "tombstone", "recycled"];

/// What reviving an entry from the recycle bin changes.
const RECYCLE_STATE: [&str; 3] = ["class", "recycled_at", "recycled_directmemberof"];

/// What a caller may change on an entry of class `system`.
const SYSTEM_MUTABLE: [&str; 5] = ["may", "must", "index", "badlist_password", "password_min_length"];

fn protected(msg: String) -> OperationError {
    OperationError::SystemProtectedObject(msg)
}

pub(crate) fn pre_create(ident: &Identity, cands: &[Entry]) -> Result<()> {
    if ident.is_internal() {
        return Ok(());
    }
    for e in cands {
        if let Some(c) = e.classes().find(|c| PROTECTED_CLASSES.contains(c)) {
            return Err(protected(format!("entries of class '{c}' can only be created by the server")));
        }
    }
    Ok(())
}

fn changed_attrs<'a>(old: &'a Entry, new: &'a Entry) -> BTreeSet<&'a str> {
    old.attr_names().chain(new.attr_names()).filter(|a| old.get(a) != new.get(a)).collect()
}

pub(crate) fn pre_modify(ident: &Identity, pairs: &[(StoredEntry, Entry)]) -> Result<()> {
    if ident.is_internal() {
        return Ok(());
    }
    for (old, new) in pairs {
        let label = old.label();
        if old.has_class("tombstone") {
            return Err(protected(format!("'{label}' is a tombstone and cannot be changed")));
        }
        let before: BTreeSet<&str> = old.classes().collect();
        let after: BTreeSet<&str> = new.classes().collect();
        if let Some(c) = after.difference(&before).find(|c| PROTECTED_CLASSES.contains(c)) {
            return Err(protected(format!("'{label}': class '{c}' can only be added by the server")));
        }
        // Removing `recycled` is how an entry is revived; every other protected class stays.
        if let Some(c) = before.difference(&after).find(|c| PROTECTED_CLASSES.contains(c) && **c != "recycled") {
            return Err(protected(format!("'{label}': class '{c}' cannot be removed")));
        }
        if old.has_class("recycled") && changed_attrs(old, new).iter().any(|a| !RECYCLE_STATE.contains(a)) {
            return Err(protected(format!("'{label}' is in the recycle bin; revive it before changing it")));
        }
        if old.has_class("system")
            && let Some(a) = changed_attrs(old, new).into_iter().find(|a| !SYSTEM_MUTABLE.contains(a))
        {
            return Err(protected(format!(
                "'{label}' is a system entry: attribute '{a}' cannot be changed (only {} can)",
                SYSTEM_MUTABLE.join(", ")
            )));
        }
    }
    Ok(())
}

pub(crate) fn pre_delete(ident: &Identity, cands: &[StoredEntry]) -> Result<()> {
    if ident.is_internal() {
        return Ok(());
    }
    for e in cands {
        if let Some(c) = e.classes().find(|c| PROTECTED_CLASSES.contains(c) && *c != "recycled") {
            return Err(protected(format!("'{}' has class '{c}' and cannot be deleted", e.label())));
        }
        if e.uuid().is_some_and(is_reserved) {
            return Err(protected(format!("'{}' is a built-in entry and cannot be deleted", e.label())));
        }
    }
    Ok(())
}
