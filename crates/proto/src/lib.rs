//! Wire types: what crosses the network or a file boundary as JSON.
//!
//! This crate owns the shapes of filters, modify lists, entries and errors as callers send and
//! receive them. It must never contain behaviour that depends on schema, storage or access
//! control: everything here is plain data with serde derives, so clients can depend on it
//! without pulling in the engine.

mod auth;
pub mod credupdate;
mod entry;
mod error;
mod filter;
mod modify;
pub mod scim;

pub use auth::{
    AuthAllowed, AuthCred, AuthInit2, AuthIssueSession, AuthRequest, AuthResponse, AuthState, AuthStep, TokenForm,
    UatPurpose, UserAuthToken, UserAuthToken2022,
};
pub use entry::ProtoEntry;
pub use error::{ConsistencyError, OperationError, PluginError, READ_ONLY_SESSION, SchemaError};
pub use filter::Filter;
pub use modify::{Modify, ModifyList};

/// The Kanidm release whose wire protocol this server speaks, sent as `X-KANIDM-VERSION` on
/// every response (Kanidm's clients compare it with their own version).
pub const KANIDM_PROTOCOL_VERSION: &str = "1.11.1";
