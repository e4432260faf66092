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
    /// Start enrolling a TOTP authenticator: the answer holds its secret.
    TotpGenerate,
    /// The code the authenticator shows now, and the label to keep it under.
    TotpVerify(u32, String),
    /// Kanidm's answer to apps that ignore the SHA-256 it asks for; this server asks for
    /// SHA-1 in the first place, so there is nothing to accept.
    #[serde(rename = "totpacceptsha1")]
    TotpAcceptSha1,
    TotpRemove(String),
    BackupCodeGenerate,
    BackupCodeRemove,
    /// Start enrolling a passkey: the answer holds the WebAuthn creation challenge.
    PasskeyInit,
    /// The label to keep it under, and the authenticator's `RegisterPublicKeyCredential`.
    PasskeyFinish(String, serde_json::Value),
    PasskeyRemove(Uuid),
}

impl std::fmt::Debug for CURequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CURequest::PrimaryRemove => f.write_str("PrimaryRemove"),
            CURequest::PasswordQualityCheck(_) => f.write_str("PasswordQualityCheck(..)"),
            CURequest::Password(_) => f.write_str("Password(..)"),
            CURequest::CancelMfaReg => f.write_str("CancelMfaReg"),
            CURequest::TotpGenerate => f.write_str("TotpGenerate"),
            CURequest::TotpVerify(_, label) => write!(f, "TotpVerify(.., {label:?})"),
            CURequest::TotpAcceptSha1 => f.write_str("TotpAcceptSha1"),
            CURequest::TotpRemove(label) => write!(f, "TotpRemove({label:?})"),
            CURequest::BackupCodeGenerate => f.write_str("BackupCodeGenerate"),
            CURequest::BackupCodeRemove => f.write_str("BackupCodeRemove"),
            CURequest::PasskeyInit => f.write_str("PasskeyInit"),
            CURequest::PasskeyFinish(label, _) => write!(f, "PasskeyFinish({label:?}, ..)"),
            CURequest::PasskeyRemove(u) => write!(f, "PasskeyRemove({u})"),
        }
    }
}

/// The requests this server takes, by their wire names.
const OFFERED: &[&str] = &[
    "primaryremove",
    "passwordqualitycheck",
    "password",
    "cancelmfareg",
    "totpgenerate",
    "totpverify",
    "totpacceptsha1",
    "totpremove",
    "backupcodegenerate",
    "backupcoderemove",
    "passkeyinit",
    "passkeyfinish",
    "passkeyremove",
];

impl CURequest {
    /// Parses a request; one this server does not offer is named in the error.
    pub fn parse(v: &serde_json::Value) -> Result<CURequest, String> {
        serde_json::from_value(v.clone()).map_err(|e| {
            let name = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Object(o) => o.keys().next().cloned().unwrap_or_default(),
                other => other.to_string(),
            };
            if OFFERED.contains(&name.as_str()) {
                format!("credential update '{name}' is malformed: {e}")
            } else {
                format!(
                    "credential update '{name}' is not offered by this server (password, TOTP, backup code and passkey changes are): {e}"
                )
            }
        })
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum CUExtPortal {
    None,
    Hidden,
    Some(String),
}

/// A second factor being enrolled, or codes to show once.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum CURegState {
    None,
    /// Enter the secret in an authenticator, then send one of its codes.
    TotpCheck(TotpSecret),
    /// The code did not match; the same secret is still waiting.
    TotpTryAgain,
    /// The label is empty, too long or taken; the same secret is still waiting.
    TotpNameTryAgain(String),
    TotpInvalidSha1,
    /// New backup codes, shown this once.
    BackupCodes(Vec<String>),
    /// Answer this WebAuthn creation challenge (`CreationChallengeResponse`) with the
    /// authenticator, then send `passkeyfinish`.
    Passkey(serde_json::Value),
}

/// How a TOTP's codes are computed, in Kanidm's lowercase names.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TotpAlgo {
    Sha1,
    Sha256,
    Sha512,
}

impl TotpAlgo {
    /// The name in an `otpauth://` URI.
    pub fn uri_name(self) -> &'static str {
        match self {
            TotpAlgo::Sha1 => "SHA1",
            TotpAlgo::Sha256 => "SHA256",
            TotpAlgo::Sha512 => "SHA512",
        }
    }
}

/// A TOTP secret being enrolled, as an authenticator app needs it.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq)]
pub struct TotpSecret {
    pub accountname: String,
    /// Who issues the codes, as the app shows it: the domain.
    pub issuer: String,
    pub secret: Vec<u8>,
    pub algo: TotpAlgo,
    pub step: u64,
    pub digits: u8,
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpSecret").field("accountname", &self.accountname).finish_non_exhaustive()
    }
}

impl TotpSecret {
    /// The secret in base32 (RFC 4648, no padding), as apps take it typed in.
    pub fn base32(&self) -> String {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut out = String::new();
        let (mut acc, mut bits) = (0u32, 0u32);
        for b in &self.secret {
            acc = (acc << 8) | u32::from(*b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
            }
        }
        if bits > 0 {
            out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
        }
        out
    }

    /// The `otpauth://totp/` URI (Google's key URI format) a QR code carries.
    pub fn uri(&self) -> String {
        let enc = |s: &str| -> String {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
                    _ => format!("%{b:02X}"),
                })
                .collect()
        };
        let (issuer, account) = (enc(&self.issuer), enc(&self.accountname));
        format!(
            "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm={}&digits={}&period={}",
            self.base32(),
            self.algo.uri_name(),
            self.digits,
            self.step
        )
    }
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

/// A passkey as a credential update session lists it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PasskeyDetail {
    pub tag: String,
    pub uuid: Uuid,
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
    pub passkeys: Vec<PasskeyDetail>,
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
        assert_eq!(CURequest::parse(&serde_json::json!("totpgenerate")).unwrap(), CURequest::TotpGenerate);
        assert_eq!(
            CURequest::parse(&serde_json::json!({"totpverify": [123456, "phone"]})).unwrap(),
            CURequest::TotpVerify(123456, "phone".into())
        );
        assert_eq!(CURequest::parse(&serde_json::json!("passkeyinit")).unwrap(), CURequest::PasskeyInit);
        let err = CURequest::parse(&serde_json::json!("attestedpasskeyinit")).unwrap_err();
        assert!(err.contains("attestedpasskeyinit") && err.contains("not offered"), "{err}");
        let err = CURequest::parse(&serde_json::json!({"totpverify": ["x", "phone"]})).unwrap_err();
        assert!(err.contains("'totpverify' is malformed"), "{err}");
        assert_eq!(format!("{:?}", CURequest::Password("secret".into())), "Password(..)");
        assert_eq!(serde_json::to_string(&CUCredState::PolicyDeny).unwrap(), r#""PolicyDeny""#);
    }

    #[test]
    fn totp_secrets_as_apps_read_them() {
        // RFC 4648 §10: base32 of "foobar" is MZXW6YTBOI (padding dropped).
        let s = TotpSecret {
            accountname: "alice@example.com".into(),
            issuer: "example.com".into(),
            secret: b"foobar".to_vec(),
            algo: TotpAlgo::Sha1,
            step: 30,
            digits: 6,
        };
        assert_eq!(s.base32(), "MZXW6YTBOI");
        assert_eq!(
            s.uri(),
            "otpauth://totp/example.com:alice%40example.com?secret=MZXW6YTBOI&issuer=example.com&algorithm=SHA1&digits=6&period=30"
        );
        let wire = serde_json::to_value(CURegState::TotpCheck(s.clone())).unwrap();
        assert_eq!(wire["TotpCheck"]["algo"], "sha1");
        assert!(!format!("{s:?}").contains("102"), "Debug leaves the secret out");
    }
}
