use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

/// Why an entry or filter does not fit the schema. Every variant names the attribute or class
/// at fault so an operator can fix the input without guessing.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Error)]
#[serde(rename_all = "lowercase")]
pub enum SchemaError {
    #[error("attribute '{0}' is not defined in the schema")]
    InvalidAttribute(String),
    #[error("class '{0}' is not defined in the schema")]
    InvalidClass(String),
    #[error("entry has no class")]
    NoClassFound,
    #[error("attribute '{0}' is required by the entry's classes but missing")]
    MissingMustAttribute(String),
    #[error("attribute '{0}' is not allowed by any of the entry's classes")]
    AttributeNotValidForClass(String),
    #[error("attribute '{attr}': invalid value '{value}': {reason}")]
    InvalidAttributeSyntax { attr: String, value: String, reason: String },
    #[error("attribute '{0}' is single-valued but was given several values")]
    SingleValue(String),
    #[error("attribute '{0}' cannot be stored (phantom)")]
    PhantomAttribute(String),
    #[error("schema definition is inconsistent: {0}")]
    InvalidDefinition(String),
    #[error("filter is empty")]
    EmptyFilter,
}

/// A plugin (an invariant maintained across writes) refused the operation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Error)]
#[serde(rename_all = "lowercase")]
pub enum PluginError {
    #[error("uuid: {0}")]
    Base(String),
    #[error("attribute uniqueness: {0}")]
    AttrUnique(String),
    #[error("referential integrity: {0}")]
    ReferentialIntegrity(String),
    #[error("memberof: {0}")]
    MemberOf(String),
    #[error("spn: {0}")]
    Spn(String),
}

/// A problem found by `verify`: always names the entry and, where there is one, the attribute.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Error)]
#[serde(rename_all = "lowercase")]
pub enum ConsistencyError {
    #[error("storage integrity check failed: {0}")]
    StorageIntegrity(String),
    #[error("entry id {id} cannot be decoded: {reason}")]
    EntryDecode { id: u64, reason: String },
    #[error("entry {uuid}: {detail}")]
    Entry { uuid: Uuid, detail: String },
    #[error("entry {uuid} attribute '{attr}': {detail}")]
    Attribute { uuid: Uuid, attr: String, detail: String },
    #[error("index {itype} {attr} key '{key}': {detail}")]
    Index { itype: String, attr: String, key: String, detail: String },
    #[error("schema: {0}")]
    Schema(String),
}

/// The reason given (as `accessdeniedreason`) when a session that may only read tries a
/// change. Clients recognise it to re-authenticate and retry.
pub const READ_ONLY_SESSION: &str =
    "this session may only read; re-authenticate (`kanidm reauth`, or POST /v1/reauth) to make changes";

/// The error of any engine operation. Serialised as lowercase tags, e.g. `"accessdenied"` or
/// `{"schemaviolation":{"invalidattribute":"foo"}}`, the shape upstream clients parse.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Error)]
#[serde(rename_all = "lowercase")]
pub enum OperationError {
    #[error("request is empty")]
    EmptyRequest,
    #[error("no entries matched the filter")]
    NoMatchingEntries,
    #[error("schema violation: {0}")]
    SchemaViolation(SchemaError),
    #[error("{0}")]
    Plugin(PluginError),
    #[error("access denied")]
    AccessDenied,
    #[error("access denied: {0}")]
    AccessDeniedReason(String),
    #[error("system protected object: {0}")]
    SystemProtectedObject(String),
    #[error("not authenticated")]
    NotAuthenticated,
    #[error("session expired")]
    SessionExpired,
    #[error("invalid attribute: {0}")]
    InvalidAttribute(String),
    #[error("resource limit exceeded: {0}")]
    ResourceLimit(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("invalid state: {0}")]
    InvalidState(String),
    #[error("storage error: {0}")]
    Backend(String),
    #[error("serialisation error: {0}")]
    Serde(String),
    #[error("consistency errors: {0:?}")]
    Consistency(Vec<ConsistencyError>),
    #[error("transaction already failed and must be abandoned")]
    TransactionFailed,
}

impl OperationError {
    /// Whether this is the refusal of a change to a session that may only read (the caller
    /// should re-authenticate and try again).
    pub fn is_read_only_session(&self) -> bool {
        matches!(self, OperationError::AccessDeniedReason(m) if m == READ_ONLY_SESSION)
    }
}

impl From<SchemaError> for OperationError {
    fn from(e: SchemaError) -> Self {
        OperationError::SchemaViolation(e)
    }
}

impl From<PluginError> for OperationError {
    fn from(e: PluginError) -> Self {
        OperationError::Plugin(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_serialise_like_upstream() {
        let e = OperationError::SchemaViolation(SchemaError::InvalidAttribute("foo".into()));
        assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"schemaviolation":{"invalidattribute":"foo"}}"#);
        assert_eq!(serde_json::to_string(&OperationError::AccessDenied).unwrap(), r#""accessdenied""#);
    }
}
