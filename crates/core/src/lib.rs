//! The entry engine.
//!
//! This crate owns everything that makes an identity database *correct*: typed values and
//! their normalisation, entries, the schema (stored as entries and loaded at run time), the
//! filter pipeline (validate → resolve → plan → test), modify lists, the plugins that keep
//! invariants (uuid, uniqueness, SPN, memberOf, referential integrity, protection), built-in
//! entries, and the [`server::QueryServer`] transactions that tie them together.
//!
//! It stores data only through the [`be::Backend`] trait, and must never know about SQL,
//! files, HTTP or TLS: a new storage engine is a new implementation of that trait, nothing
//! here changes.

pub mod access;
pub mod backup;
pub mod be;
pub mod builtins;
pub mod credential;
pub mod entry;
pub mod filter;
pub mod identity;
pub mod keys;
pub mod modify;
pub mod oauth2;
pub mod plugins;
pub mod schema;
pub mod server;
pub mod session;
pub mod value;
pub mod valueset;
pub mod verify;

pub use idm_proto as proto;
pub use idm_proto::OperationError;

pub type Result<T> = std::result::Result<T, OperationError>;
