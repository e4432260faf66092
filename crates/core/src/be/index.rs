//! Which index keys an entry produces. The filter test in [`crate::filter`] uses the same
//! value functions, so an index is always a faithful summary of the entries.

use crate::entry::Entry;
use crate::value::{IndexType, trigrams};
use std::collections::BTreeSet;

/// Presence indexes store every entry under this single key.
pub const PRESENCE_KEY: &str = "_";

/// The keys `entry` contributes to index (`itype`, `attr`).
pub fn entry_index_keys(entry: &Entry, itype: IndexType, attr: &str) -> BTreeSet<String> {
    let Some(vs) = entry.get(attr) else {
        return BTreeSet::new();
    };
    match itype {
        IndexType::Equality => vs.iter().filter_map(|v| v.eq_key()).collect(),
        IndexType::Presence if !vs.is_empty() => BTreeSet::from([PRESENCE_KEY.to_string()]),
        IndexType::Presence => BTreeSet::new(),
        IndexType::SubString => {
            vs.iter().filter_map(|v| v.sub_source()).flat_map(|s| trigrams(&s).collect::<Vec<_>>()).collect()
        }
    }
}
