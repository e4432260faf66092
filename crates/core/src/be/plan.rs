//! The query planner: turns a filter into candidate id sets using whatever indexes are built.

use super::IdSet;
use std::sync::Arc;

/// What the indexes could say about a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Exactly the matching ids: no entry needs re-testing.
    Indexed(Arc<IdSet>),
    /// A superset of the matches: every candidate is re-tested in memory.
    Partial(Arc<IdSet>),
    /// Nothing usable: every entry is tested.
    AllIds,
}

impl Plan {
    pub fn is_exact(&self) -> bool {
        matches!(self, Plan::Indexed(_))
    }

    pub(crate) fn union(parts: Vec<Plan>) -> Plan {
        let mut acc = IdSet::new();
        let mut partial = false;
        for p in parts {
            match p {
                Plan::AllIds => return Plan::AllIds,
                Plan::Partial(s) => {
                    partial = true;
                    acc |= &*s;
                }
                Plan::Indexed(s) => acc |= &*s,
            }
        }
        if partial { Plan::Partial(Arc::new(acc)) } else { Plan::Indexed(Arc::new(acc)) }
    }
}
