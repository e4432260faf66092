//! Attribute uniqueness: a value of a `unique` attribute belongs to one entry only.

use crate::Result;
use crate::entry::{Entry, EntryId};
use crate::filter::Filter;
use crate::server::{QueryServerTransaction, QueryServerWriteTransaction};
use idm_proto::PluginError;
use std::collections::HashSet;

fn duplicate(attr: &str, value: &str) -> PluginError {
    PluginError::AttrUnique(format!("attribute '{attr}' value '{value}' is already used by another entry"))
}

/// Checks values that are new on each written entry against the request and the database.
/// Items are (storage id if already stored, previous version, new version).
pub(crate) fn check<'e>(
    qs: &mut QueryServerWriteTransaction,
    items: impl Iterator<Item = (Option<EntryId>, Option<&'e Entry>, &'e Entry)>,
) -> Result<()> {
    let schema = qs.schema();
    // uuid uniqueness is the base plugin's job, checked without any index.
    let unique: Vec<&str> = schema.unique_attributes().filter(|a| *a != "uuid").collect();
    let mut seen: HashSet<(usize, String)> = HashSet::new();
    for (id, old, new) in items {
        // A revived entry's values count as new: the name may have been reused meanwhile.
        let old = old.filter(|o| !o.has_class("recycled") || new.has_class("recycled"));
        if new.has_class("recycled") || new.has_class("tombstone") {
            continue;
        }
        for (ai, attr) in unique.iter().enumerate() {
            let Some(vs) = new.get(attr) else { continue };
            for v in vs {
                if old.and_then(|o| o.get(attr)).is_some_and(|ovs| ovs.contains(v)) {
                    continue;
                }
                let Some(key) = v.eq_key() else { continue };
                if !seen.insert((ai, key.clone())) {
                    return Err(PluginError::AttrUnique(format!(
                        "attribute '{attr}' value '{key}' appears more than once in the request"
                    ))
                    .into());
                }
                // Deleted entries keep their values but no longer hold them.
                let holders = qs.search_ids(&Filter::And(vec![
                    Filter::Eq(attr.to_string(), key.clone()),
                    Filter::AndNot(Box::new(Filter::Or(vec![
                        Filter::eq("class", "recycled"),
                        Filter::eq("class", "tombstone"),
                    ]))),
                ]))?;
                if holders.iter().any(|h| Some(h) != id) {
                    return Err(duplicate(attr, &key).into());
                }
            }
        }
    }
    Ok(())
}
