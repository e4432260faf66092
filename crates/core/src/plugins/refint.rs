//! Referential integrity: a reference names a live entry. Writes that would leave a dangling
//! reference, or point at an entry in the recycle bin or a tombstone, are refused; deleting an
//! entry removes every reference to it.

use super::memberof::DERIVED;
use crate::Result;
use crate::entry::{Entry, StoredEntry};
use crate::filter::Filter;
use crate::identity::Identity;
use crate::server::{QueryServerTransaction, QueryServerWriteTransaction};
use idm_proto::PluginError;
use std::collections::HashSet;
use uuid::Uuid;

/// Reference attributes that callers write (memberof is derived, and recomputed instead).
pub(crate) fn reference_attrs(qs: &dyn QueryServerTransaction) -> Vec<String> {
    qs.schema().reference_attributes().filter(|a| !DERIVED.contains(a)).map(str::to_string).collect()
}

/// Every reference value that a write added must point at a live entry: one that exists and is
/// neither recycled nor a tombstone (a revive removes `recycled` before restoring references).
pub(crate) fn check_new_references<'e>(
    qs: &mut QueryServerWriteTransaction,
    items: impl Iterator<Item = (Option<&'e Entry>, &'e Entry)>,
) -> Result<()> {
    let attrs = reference_attrs(qs);
    let mut known: HashSet<Uuid> = HashSet::new();
    // Looked up once, and only if a new reference needs checking: `class` is indexed, and the
    // deleted entries are few compared with the references a bulk write adds.
    let mut deleted: Option<std::sync::Arc<crate::be::IdSet>> = None;
    for (old, new) in items {
        for attr in &attrs {
            let before = old.and_then(|o| o.get(attr));
            for u in new.refs(attr) {
                if known.contains(&u) || before.is_some_and(|b| b.iter().any(|v| v.referenced() == Some(u))) {
                    continue;
                }
                let problem = match qs.be().id_for_uuid(u)? {
                    None => Some("does not exist"),
                    Some(id) => {
                        if deleted.is_none() {
                            deleted = Some(qs.search_ids(&Filter::Or(vec![
                                Filter::eq("class", "recycled"),
                                Filter::eq("class", "tombstone"),
                            ]))?);
                        }
                        deleted
                            .as_ref()
                            .filter(|d| d.contains(id))
                            .map(|_| "was deleted (it is in the recycle bin or a tombstone)")
                    }
                };
                if let Some(problem) = problem {
                    return Err(PluginError::ReferentialIntegrity(format!(
                        "entry '{}': attribute '{attr}' refers to {u}, which {problem}",
                        new.label()
                    ))
                    .into());
                }
                known.insert(u);
            }
        }
    }
    Ok(())
}

pub(crate) fn post_delete(qs: &mut QueryServerWriteTransaction, deleted: &[StoredEntry]) -> Result<()> {
    let gone: HashSet<Uuid> = deleted.iter().filter_map(|d| d.uuid()).collect();
    let attrs = reference_attrs(qs);
    // Holders are found through the equality index, keyed by the referenced uuid; values whose
    // key says more than the reference (a claim map: claim and group) are found by presence
    // and sorted out below.
    let keyed_by_other =
        |a: &str| qs.schema().attribute(a).is_some_and(|d| d.syntax == crate::value::SyntaxType::OauthClaimMap);
    let terms: Vec<Filter> = attrs
        .iter()
        .flat_map(|a| -> Vec<Filter> {
            if keyed_by_other(a) {
                vec![Filter::pres(a)]
            } else {
                gone.iter().map(|u| Filter::eq_uuid(a, *u)).collect()
            }
        })
        .collect();
    if terms.is_empty() {
        return Ok(());
    }
    let holders = qs.internal_search(&Filter::Or(terms))?;
    let pairs: Vec<(StoredEntry, Entry)> = holders
        .into_iter()
        .map(|h| {
            let mut n = h.entry.clone();
            for a in &attrs {
                for u in &gone {
                    n.remove_refs_to(a, *u);
                }
            }
            (h, n)
        })
        .filter(|(h, n)| h.entry != *n)
        .collect();
    if !pairs.is_empty() {
        qs.modify_pairs(&Identity::internal(), pairs)?;
    }
    Ok(())
}
