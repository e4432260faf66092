//! Uuids: every entry gets exactly one, callers cannot take reserved ones, and no uuid is
//! ever used twice or changed.

use crate::builtins::{UUID_DOES_NOT_EXIST, is_reserved};
use crate::entry::{Entry, StoredEntry};
use crate::identity::Identity;
use crate::server::{QueryServerTransaction, QueryServerWriteTransaction};
use crate::value::Value;
use crate::{OperationError, Result};
use idm_proto::{PluginError, SchemaError};
use std::collections::HashSet;
use uuid::Uuid;

/// A uuid for a new entry. Time-ordered uuids keep every uuid-keyed index append-mostly, so
/// bulk loads touch a few pages per batch instead of pages all over the tree.
pub(crate) fn new_uuid() -> Uuid {
    let mut u = Uuid::now_v7();
    while is_reserved(u) {
        u = Uuid::now_v7();
    }
    u
}

pub(crate) fn pre_create(qs: &mut QueryServerWriteTransaction, ident: &Identity, cands: &mut [Entry]) -> Result<()> {
    let mut seen = HashSet::with_capacity(cands.len());
    for e in cands.iter_mut() {
        e.add("class", Value::Iutf8("object".into()));
        let supplied: Vec<Uuid> = e.get("uuid").into_iter().flatten().filter_map(Value::as_uuid).collect();
        let u = match supplied.as_slice() {
            [] => {
                let u = new_uuid();
                e.set_single("uuid", Value::Uuid(u));
                u
            }
            [u] => {
                if *u == UUID_DOES_NOT_EXIST || (!ident.is_internal() && is_reserved(*u)) {
                    return Err(PluginError::Base(format!("uuid {u} is reserved for built-in entries")).into());
                }
                if qs.be().id_for_uuid(*u)?.is_some() {
                    return Err(PluginError::Base(format!("an entry with uuid {u} already exists")).into());
                }
                *u
            }
            _ => return Err(SchemaError::SingleValue("uuid".into()).into()),
        };
        if !seen.insert(u) {
            return Err(PluginError::Base(format!("uuid {u} appears twice in the request")).into());
        }
    }
    Ok(())
}

pub(crate) fn pre_modify(pairs: &[(StoredEntry, Entry)]) -> Result<()> {
    for (old, new) in pairs {
        if old.get("uuid") != new.get("uuid") {
            return Err(OperationError::SystemProtectedObject(format!(
                "entry '{}': uuid cannot be changed",
                old.label()
            )));
        }
    }
    Ok(())
}
