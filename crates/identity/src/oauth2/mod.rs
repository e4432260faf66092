//! The OAuth2 / OpenID Connect provider (Kanidm's resource-server model): clients are
//! entries (`clients.rs`: created, changed and read by the administrators the access profiles
//! name, with their secrets made here). The flows (authorisation, tokens, claims) build on it.

pub mod clients;

pub use clients::{ClientKind, ScopeMapKind};
