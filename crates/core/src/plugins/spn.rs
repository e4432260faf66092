//! Security principal names: `name@domain` for every account and group, regenerated when
//! the name or the domain changes.

use crate::Result;
use crate::be::IdSet;
use crate::builtins::UUID_DOMAIN_INFO;
use crate::entry::{Entry, EntryId, StoredEntry};
use crate::filter::Filter;
use crate::identity::Identity;
use crate::server::{QueryServerTransaction, QueryServerWriteTransaction};
use crate::value::Value;
use tracing::info;

pub(crate) fn has_spn(e: &Entry) -> bool {
    e.has_class("account") || e.has_class("group") || e.has_class("oauth2_resource_server")
}

/// The spn this entry should carry, if any.
pub fn expected_spn(e: &Entry, domain: &str) -> Option<Value> {
    if !has_spn(e) {
        return None;
    }
    e.first("name").and_then(Value::as_str).map(|n| Value::Spn(n.to_string(), domain.to_string()))
}

pub(crate) fn generate(e: &mut Entry, domain: Option<&str>) {
    let Some(domain) = domain else { return };
    match expected_spn(e, domain) {
        Some(v) => e.set_single("spn", v),
        None => {
            e.purge("spn");
        }
    }
}

/// A domain rename regenerates every spn in the same transaction.
pub(crate) fn post_modify(qs: &mut QueryServerWriteTransaction, changed: &[(StoredEntry, StoredEntry)]) -> Result<()> {
    let renamed = changed
        .iter()
        .find(|(o, n)| n.uuid() == Some(UUID_DOMAIN_INFO) && o.get("domain_name") != n.get("domain_name"));
    let Some((_, n)) = renamed else { return Ok(()) };
    let new_name = n.first("domain_name").and_then(Value::as_str).map(str::to_string);
    info!("domain name changed to {:?}: regenerating every spn", new_name.as_deref().unwrap_or(""));
    qs.set_domain_name(new_name);
    let f = Filter::Or(vec![Filter::eq("class", "account"), Filter::eq("class", "group")]);
    let ids: Vec<EntryId> = qs.search_ids(&f)?.iter().collect();
    let mut progress = qs.take_progress();
    progress.start("regenerating spns", ids.len() as u64);
    // Chunks bound memory; the whole rename is still one transaction.
    for chunk in ids.chunks(4096) {
        let set: IdSet = chunk.iter().copied().collect();
        let targets = qs.be().entries_by_ids(&set)?;
        let pairs = targets.into_iter().map(|t| {
            let e = t.entry.clone();
            (t, e)
        });
        qs.modify_pairs(&Identity::internal(), pairs.collect())?;
        progress.advance(chunk.len() as u64);
    }
    progress.finish();
    qs.set_progress(progress);
    Ok(())
}
