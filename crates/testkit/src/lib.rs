//! Test and benchmark harness: opens the real engine on a real SQLite file in a temporary
//! folder. Used by the engine's integration tests and the benchmark binary; never shipped.

use idm_core::be::Backend;
use idm_core::server::QueryServer;
use idm_sqlite::{SqliteBackend, SqliteConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const TEST_DOMAIN: &str = "example.com";

/// A database file in a temporary folder, removed on drop.
pub struct TestDb {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TestDb {
    pub fn new() -> TestDb {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create temp dir: {e}"));
        let path = dir.path().join("kanidm.db");
        TestDb { dir, path }
    }

    /// Opens the file and initialises built-ins for [`TEST_DOMAIN`].
    pub fn open(&self) -> QueryServer {
        open_qs(&self.path, TEST_DOMAIN)
    }
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

pub fn open_backend(path: &Path) -> Arc<dyn Backend> {
    Arc::new(
        SqliteBackend::open(path, SqliteConfig::default())
            .unwrap_or_else(|e| panic!("open {path:?}: {e}")),
    )
}

pub fn open_qs(path: &Path, domain: &str) -> QueryServer {
    let qs = QueryServer::new(open_backend(path)).unwrap_or_else(|e| panic!("query server: {e}"));
    qs.initialise(domain)
        .unwrap_or_else(|e| panic!("initialise: {e}"));
    qs
}
