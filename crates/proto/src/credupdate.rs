//! Credential update sessions in Kanidm's shapes: the intent token an administrator hands
//! out, the session token, the changes a session accepts, and the status it reports. Enums
//! that Kanidm leaves in PascalCase stay so.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// A credential reset ("intent") token and when it stops working (unix seconds).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CUIntentToken {
    pub token: String,
    pub expiry_time: i64,
}

/// The bearer of a credential update session (not a session token: it only reaches the
/// `/v1/credential/*` endpoints).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CUSessionToken {
    pub token: String,
}

/// What a credential update session is asked to do. Only the forms this server implements
/// are listed; others are refused by name (see [`CURequest::parse`]).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CURequest {
    PrimaryRemove,
    PasswordQualityCheck(String),
    Password(String),
    #[serde(rename = "cancelmfareg")]
    CancelMfaReg,
}

impl std::fmt::Debug for CURequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CURequest::PrimaryRemove => "PrimaryRemove",
            CURequest::PasswordQualityCheck(_) => "PasswordQualityCheck(..)",
            CURequest::Password(_) => "Password(..)",
            CURequest::CancelMfaReg => "CancelMfaReg",
        })
    }
}

impl CURequest {
    /// Parses a request; one this server does not offer is named in the error.
    pub fn parse(v: &serde_json::Value) -> Result<CURequest, String> {
        serde_json::from_value(v.clone()).map_err(|e| {
            let name = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Object(o) => o.keys().next().cloned().unwrap_or_default(),
                other => other.to_string(),
            };
            format!("credential update '{name}' is not offered by this server (password changes are): {e}")
        })
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum CUExtPortal {
    None,
    Hidden,
    Some(String),
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum CURegState {
    None,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CUCredState {
    Modifiable,
    DeleteOnly,
    AccessDeny,
    PolicyDeny,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum CURegWarning {
    MfaRequired,
    PasskeyRequired,
    AttestedPasskeyRequired,
    AttestedResidentKeyRequired,
    Unsatisfiable,
    WebauthnAttestationUnsatisfiable,
    WebauthnUserVerificationRequired,
    NoValidCredentials,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum CredentialDetailType {
    Password,
    GeneratedPassword,
    Passkey(Vec<String>),
    PasswordMfa(Vec<String>, Vec<String>, usize),
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CredentialDetail {
    pub uuid: Uuid,
    pub type_: CredentialDetailType,
}

/// The state of a credential update session.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CUStatus {
    pub spn: String,
    pub displayname: String,
    pub ext_cred_portal: CUExtPortal,
    pub mfaregstate: CURegState,
    pub can_commit: bool,
    pub warnings: Vec<CURegWarning>,
    /// Whether the session holds changes not yet committed.
    pub dirty: bool,
    pub primary: Option<CredentialDetail>,
    pub primary_state: CUCredState,
    pub passkeys: Vec<serde_json::Value>,
    pub passkeys_state: CUCredState,
    pub attested_passkeys: Vec<serde_json::Value>,
    pub attested_passkeys_state: CUCredState,
    pub attested_passkeys_allowed_devices: Vec<String>,
    pub unixcred: Option<CredentialDetail>,
    pub unixcred_state: CUCredState,
    pub sshkeys: BTreeMap<String, serde_json::Value>,
    pub sshkeys_state: CUCredState,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_in_kanidms_form() {
        let r = CURequest::parse(&serde_json::json!({"password": "x"})).unwrap();
        assert_eq!(r, CURequest::Password("x".into()));
        assert_eq!(CURequest::parse(&serde_json::json!("primaryremove")).unwrap(), CURequest::PrimaryRemove);
        let err = CURequest::parse(&serde_json::json!("totpgenerate")).unwrap_err();
        assert!(err.contains("totpgenerate"), "{err}");
        assert_eq!(format!("{:?}", CURequest::Password("secret".into())), "Password(..)");
        assert_eq!(serde_json::to_string(&CUCredState::PolicyDeny).unwrap(), r#""PolicyDeny""#);
    }
}
