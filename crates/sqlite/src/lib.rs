//! The SQLite storage engine, the embedded default.
//!
//! Owns the database file: connections, pragmas, the table layout (entries by id and uuid, one
//! `idx_<type>_<attribute>` table per index, a metadata table) and durability (WAL,
//! `synchronous=FULL`). It implements [`idm_core::be::Backend`] and must never interpret
//! entries, filters, schema, plugins or access control: it stores bytes and id sets.

mod backend;
mod error;

pub use backend::{FsType, SqliteBackend, SqliteConfig};
pub use error::SqliteError;
