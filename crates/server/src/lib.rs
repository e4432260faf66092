//! The server layer: `server.toml`, the database lock, progress reporting, the offline
//! administration commands (backup, restore, reindex, vacuum, verify, domain rename, account
//! recovery), online backups, and the front ends (the HTTPS API) over the identity layer.
//!
//! It wires the engine ([`idm_core`]) to the SQLite store ([`idm_sqlite`]) and owns every file
//! operation around them. It must never reach into engine internals: writes go through
//! [`idm_core::server::QueryServer`] transactions like any caller's.

pub mod config;
pub mod files;
pub mod https;
pub mod lock;
pub mod offline;
pub mod online_backup;
pub mod progress;
pub mod schedule;
pub mod tls;

pub use config::{ConfigError, ServerConfig};
pub use offline::{AdminError, Offline};
