//! Who is performing an operation, and the resource limits that apply to them.

use uuid::Uuid;

/// Resource limits for callers. Internal operations have none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maximum nesting depth of a filter.
    pub filter_max_depth: usize,
    /// Maximum number of filter elements (every node counts).
    pub filter_max_elements: usize,
    /// Maximum entries a search may return.
    pub search_max_results: usize,
    /// Maximum candidates a partially indexed search may test in memory.
    pub search_max_partial: usize,
    /// Whether a search with no usable index (a full scan) is allowed at all.
    pub allow_unindexed: bool,
}

impl Limits {
    pub fn unlimited() -> Self {
        Limits {
            filter_max_depth: usize::MAX,
            filter_max_elements: usize::MAX,
            search_max_results: usize::MAX,
            search_max_partial: usize::MAX,
            allow_unindexed: true,
        }
    }

    /// Ordinary authenticated callers.
    pub fn user() -> Self {
        Limits {
            filter_max_depth: 12,
            filter_max_elements: 64,
            search_max_results: 1_000,
            search_max_partial: 5_000,
            allow_unindexed: false,
        }
    }

    /// Administrators run bulk and unindexed queries by design, within generous bounds.
    pub fn admin() -> Self {
        Limits {
            filter_max_depth: 32,
            filter_max_elements: 4_096,
            search_max_results: 1_000_000,
            search_max_partial: 1_000_000,
            allow_unindexed: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The server itself: plugins, migrations, offline tools. Bypasses access control.
    Internal,
    /// An authenticated account.
    User(Uuid),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub origin: Origin,
    pub limits: Limits,
}

impl Identity {
    pub fn internal() -> Self {
        Identity { origin: Origin::Internal, limits: Limits::unlimited() }
    }

    pub fn user(uuid: Uuid, limits: Limits) -> Self {
        Identity { origin: Origin::User(uuid), limits }
    }

    pub fn is_internal(&self) -> bool {
        self.origin == Origin::Internal
    }

    pub fn uuid(&self) -> Option<Uuid> {
        match self.origin {
            Origin::Internal => None,
            Origin::User(u) => Some(u),
        }
    }
}
