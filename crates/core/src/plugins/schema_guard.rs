//! Keeps schema changes from invalidating stored data: attribute types in use cannot change
//! syntax, become single-valued or unique, be renamed or be deleted; classes in use cannot be
//! renamed or deleted, and their required and allowed attributes change only if every entry of
//! the class still fits.

use crate::entry::{Entry, StoredEntry};
use crate::filter::Filter;
use crate::schema::Schema;
use crate::server::{QueryServerTransaction, QueryServerWriteTransaction};
use crate::value::Value;
use crate::{OperationError, Result};
use idm_proto::SchemaError;

fn refuse(msg: String) -> OperationError {
    OperationError::SchemaViolation(SchemaError::InvalidDefinition(msg))
}

fn in_use(qs: &mut QueryServerWriteTransaction, f: Filter) -> Result<usize> {
    Ok(qs.internal_search(&f)?.len())
}

fn flag(e: &Entry, attr: &str) -> bool {
    matches!(e.first(attr), Some(Value::Bool(true)))
}

pub(crate) fn pre_modify(qs: &mut QueryServerWriteTransaction, pairs: &[(StoredEntry, Entry)]) -> Result<()> {
    for (old, new) in pairs {
        if old.has_class("attributetype") {
            let name = old.first_str("attributename").unwrap_or_default().to_string();
            if old.get("attributename") != new.get("attributename") {
                return Err(refuse(format!("attribute '{name}' cannot be renamed")));
            }
            let narrowing = old.get("syntax") != new.get("syntax")
                || (flag(old, "multivalue") && !flag(new, "multivalue"))
                || (!flag(old, "unique") && flag(new, "unique"));
            if narrowing {
                let n = in_use(qs, Filter::pres(&name))?;
                if n > 0 {
                    return Err(refuse(format!(
                        "attribute '{name}' is used by {n} entries: its syntax cannot change and it cannot become single-valued or unique"
                    )));
                }
            }
        }
        if old.has_class("classtype") && old.get("classname") != new.get("classname") {
            return Err(refuse(format!(
                "class '{}' cannot be renamed",
                old.first_str("classname").unwrap_or_default()
            )));
        }
    }
    check_class_members(qs, pairs)
}

const CLASS_CONTENT: [&str; 4] = ["must", "systemmust", "may", "systemmay"];

/// When a class's required or allowed attributes change, every entry of that class must
/// satisfy the new definition; otherwise the change is refused, naming an entry and why.
fn check_class_members(qs: &mut QueryServerWriteTransaction, pairs: &[(StoredEntry, Entry)]) -> Result<()> {
    let changed: Vec<&Entry> = pairs
        .iter()
        .filter(|(old, new)| old.has_class("classtype") && CLASS_CONTENT.iter().any(|a| old.get(a) != new.get(a)))
        .map(|(_, new)| new)
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    let defs =
        qs.internal_search(&Filter::Or(vec![Filter::eq("class", "attributetype"), Filter::eq("class", "classtype")]))?;
    let replaced = |e: &Entry| changed.iter().any(|c| c.uuid() == e.uuid());
    let proposed =
        Schema::from_entries(defs.iter().map(|d| &d.entry).filter(|e| !replaced(e)).chain(changed.iter().copied()))?;
    for class in &changed {
        let name = class.first_str("classname").unwrap_or_default().to_string();
        let members = qs.internal_search(&Filter::And(vec![
            Filter::eq("class", name.clone()),
            Filter::AndNot(Box::new(Filter::eq("class", "tombstone"))),
        ]))?;
        let mut failures = members.iter().filter_map(|e| proposed.check(e).err().map(|err| (e.label(), err)));
        if let Some((label, err)) = failures.next() {
            let others = failures.count();
            let more = if others > 0 { format!(" (and {others} more entries)") } else { String::new() };
            return Err(refuse(format!(
                "class '{name}' cannot change this way: entry '{label}' would no longer be valid: {err}{more}; change the entries first"
            )));
        }
    }
    Ok(())
}

pub(crate) fn pre_delete(qs: &mut QueryServerWriteTransaction, cands: &[StoredEntry]) -> Result<()> {
    for e in cands {
        if e.has_class("attributetype") {
            let name = e.first_str("attributename").unwrap_or_default().to_string();
            let n = in_use(qs, Filter::pres(&name))?;
            if n > 0 {
                return Err(refuse(format!("attribute '{name}' is still used by {n} entries")));
            }
        }
        if e.has_class("classtype") {
            let name = e.first_str("classname").unwrap_or_default().to_string();
            let n = in_use(qs, Filter::eq("class", name.clone()))?;
            if n > 0 {
                return Err(refuse(format!("class '{name}' is still used by {n} entries")));
            }
        }
    }
    Ok(())
}
