//! Who is performing an operation: the account, what its session allows (reading only, or
//! changes too), the resource limits and server rights it holds, and its compiled access
//! profiles. The identity layer builds identities from credentials and tokens; the engine
//! only obeys them.

use crate::access::CallerAccess;
use crate::{OperationError, Result};
use std::sync::Arc;
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
    /// Maximum candidate entries a search may read and test (Kanidm's
    /// `limit_search_max_filter_test`). A search no index narrows tests every entry, so it is
    /// allowed only while the database holds no more entries than this.
    pub search_max_partial: usize,
}

impl Limits {
    pub fn unlimited() -> Self {
        Limits {
            filter_max_depth: usize::MAX,
            filter_max_elements: usize::MAX,
            search_max_results: usize::MAX,
            search_max_partial: usize::MAX,
        }
    }

    /// What an account gets when none of its groups grants more (or less).
    pub fn user() -> Self {
        Limits { filter_max_depth: 12, filter_max_elements: 64, search_max_results: 1_000, search_max_partial: 5_000 }
    }

    /// What the built-in administrator groups grant (`limit_*` values on `idm_admins` and
    /// `system_admins`): bulk and unindexed queries within generous bounds.
    pub fn admin() -> Self {
        Limits {
            filter_max_depth: 32,
            filter_max_elements: 4_096,
            search_max_results: 1_000_000,
            search_max_partial: 1_000_000,
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

/// What a session may do with the rights its account's access profiles grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessScope {
    /// Searches only: every create, modify and delete is refused.
    ReadOnly,
    ReadWrite,
}

/// Rights over the server itself that are not about entries, granted by the `server_right`
/// values of an account's groups.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ServerRight {
    /// See the online-backup schedule and results, and run a backup now.
    OnlineBackup,
    /// List, rotate and revoke the keys that sign session tokens.
    SigningKeys,
}

impl ServerRight {
    pub const ALL: [ServerRight; 2] = [ServerRight::OnlineBackup, ServerRight::SigningKeys];

    /// The value of `server_right` that grants it.
    pub fn name(self) -> &'static str {
        match self {
            ServerRight::OnlineBackup => "online_backup",
            ServerRight::SigningKeys => "signing_keys",
        }
    }

    pub fn from_name(s: &str) -> Option<ServerRight> {
        ServerRight::ALL.into_iter().find(|r| r.name() == s)
    }
}

pub use idm_proto::READ_ONLY_SESSION;

#[derive(Clone, Debug)]
pub struct Identity {
    pub origin: Origin,
    pub limits: Limits,
    pub scope: AccessScope,
    pub rights: Vec<ServerRight>,
    /// The session the caller authenticated with, for logs and self-service.
    pub session: Option<Uuid>,
    /// Access profiles compiled for this caller, valid for the snapshot it was resolved in.
    access: Option<Arc<CallerAccess>>,
}

impl Identity {
    pub fn internal() -> Self {
        Identity {
            origin: Origin::Internal,
            limits: Limits::unlimited(),
            scope: AccessScope::ReadWrite,
            rights: ServerRight::ALL.to_vec(),
            session: None,
            access: None,
        }
    }

    /// An account acting with read-write scope and no server rights; its access profiles are
    /// worked out for each operation.
    pub fn user(uuid: Uuid, limits: Limits) -> Self {
        Identity {
            origin: Origin::User(uuid),
            limits,
            scope: AccessScope::ReadWrite,
            rights: Vec::new(),
            session: None,
            access: None,
        }
    }

    /// Attaches the caller's compiled access profiles, so operations need not compile them.
    pub fn with_access(mut self, access: Arc<CallerAccess>) -> Self {
        self.access = Some(access);
        self
    }

    pub fn access(&self) -> Option<Arc<CallerAccess>> {
        self.access.clone()
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

    pub fn has_right(&self, right: ServerRight) -> bool {
        self.is_internal() || self.rights.contains(&right)
    }

    /// Refuses unless the caller holds `right`, naming it.
    pub fn require_right(&self, right: ServerRight) -> Result<()> {
        if self.has_right(right) {
            return Ok(());
        }
        Err(OperationError::AccessDeniedReason(format!(
            "this needs the server right '{}', granted through a group's server_right",
            right.name()
        )))
    }

    /// Refuses a change for a session that may only read.
    pub fn require_write(&self) -> Result<()> {
        match self.scope {
            AccessScope::ReadWrite => Ok(()),
            AccessScope::ReadOnly => Err(OperationError::AccessDeniedReason(READ_ONLY_SESSION.into())),
        }
    }
}
