//! Keeps schema changes from invalidating stored data: attribute types in use cannot change
//! syntax, become single-valued or unique, be renamed or be deleted; classes in use cannot be
//! renamed or deleted.

use crate::entry::{Entry, StoredEntry};
use crate::filter::Filter;
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
