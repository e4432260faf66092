//! Login (`POST /v1/auth`), re-authentication and the token a login yields, in Kanidm's JSON
//! forms: lowercase, externally tagged.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    pub step: AuthStep,
}

/// How a session token is handed back (only `token` is offered by this server's API).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuthIssueSession {
    #[default]
    Token,
    Cookie,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AuthInit2 {
    pub username: String,
    #[serde(default)]
    pub issue: AuthIssueSession,
    /// Ask for a session that may make changes at once (a re-authentication at login).
    #[serde(default)]
    pub privileged: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthStep {
    /// The 2022 form: a name only.
    Init(String),
    Init2(AuthInit2),
    Begin(String),
    Cred(AuthCred),
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthCred {
    Anonymous,
    Password(String),
    /// The code a TOTP authenticator shows.
    Totp(u32),
    BackupCode(String),
    /// A WebAuthn assertion (`PublicKeyCredential`) answering the passkey challenge.
    Passkey(serde_json::Value),
}

/// Never shows a secret, so a step can be logged.
impl std::fmt::Debug for AuthCred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthCred::Anonymous => f.write_str("Anonymous"),
            AuthCred::Password(_) => f.write_str("Password(..)"),
            AuthCred::Totp(_) => f.write_str("Totp(..)"),
            AuthCred::BackupCode(_) => f.write_str("BackupCode(..)"),
            AuthCred::Passkey(_) => f.write_str("Passkey(..)"),
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthState {
    /// The mechanisms the account may use (the answer to init).
    Choose(Vec<String>),
    /// What to send next (the answer to begin, or to a partial credential).
    Continue(Vec<AuthAllowed>),
    /// The bearer token.
    Success(String),
    Denied(String),
}

/// A credential a login may send next (Kanidm's `AuthAllowed`): named, or for a passkey the
/// WebAuthn challenge (`RequestChallengeResponse`) to answer.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthAllowed {
    Anonymous,
    BackupCode,
    Password,
    Totp,
    Passkey(serde_json::Value),
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AuthResponse {
    pub sessionid: Uuid,
    pub state: AuthState,
}

/// What a session may do now, as its token states it.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UatPurpose {
    ReadOnly,
    /// May make changes until `expiry` (unix seconds); `None`: only after re-authenticating.
    ReadWrite {
        expiry: Option<i64>,
    },
}

/// The payload of a session token (Kanidm's `UserAuthToken`). Clients read it to know who
/// they are and when to log in or re-authenticate again; the server trusts only its
/// signature, and checks the account and session behind it on every request.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct UserAuthToken {
    pub session_id: Uuid,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds; `None`: until revoked.
    pub expiry: Option<i64>,
    pub purpose: UatPurpose,
    pub uuid: Uuid,
    pub displayname: String,
    pub spn: String,
    pub mail_primary: Option<String>,
    pub ui_hints: Vec<String>,
    pub limit_search_max_results: Option<u64>,
    pub limit_search_max_filter_test: Option<u64>,
}

/// How a session token is written. Both are checked by the same identity path.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenForm {
    /// Today's Kanidm: `kid` in the header, the key at `/v1/jwk/{kid}`, [`UserAuthToken`].
    #[default]
    Current,
    /// Kanidm v1.1.0-alpha.8 (2022), for clients that log in with `{"step":{"init":…}}`: the
    /// public key embedded in the header (next to the `kid` the server verifies with) and
    /// [`UserAuthToken2022`].
    Legacy2022,
}

/// The 2022 `UserAuthToken` (Kanidm v1.1.0-alpha.8). `expiry` is `time` 0.2's form
/// `[year, ordinal day, seconds since midnight UTC, nanoseconds]`. `issued_at` and
/// `purpose` are this server's additions (2022 clients ignore keys they do not know), so the
/// privilege window is signed in both forms.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct UserAuthToken2022 {
    pub session_id: Uuid,
    /// `anonymous`, `password`, `generatedpassword`, …
    pub auth_type: String,
    pub expiry: (i32, u16, u32, u32),
    pub uuid: Uuid,
    pub displayname: String,
    pub spn: String,
    pub mail_primary: Option<String>,
    /// Whether unindexed searches are refused.
    pub lim_uidx: bool,
    /// Most results a search returns.
    pub lim_rmax: usize,
    /// Most candidates a search tests.
    pub lim_pmax: usize,
    /// Most elements a filter has.
    pub lim_fmax: usize,
    pub issued_at: i64,
    pub purpose: UatPurpose,
}

impl UserAuthToken {
    /// Whether the token lets its holder make changes at `now` (unix seconds).
    pub fn privileged_at(&self, now: i64) -> bool {
        matches!(self.purpose, UatPurpose::ReadWrite { expiry: Some(e) } if e > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse_in_both_eras() {
        let s: AuthRequest = serde_json::from_str(r#"{"step":{"init":"admin"}}"#).unwrap();
        assert_eq!(s.step, AuthStep::Init("admin".into()));
        let s: AuthRequest =
            serde_json::from_str(r#"{"step":{"init2":{"username":"admin","issue":"token","privileged":false}}}"#)
                .unwrap();
        assert!(matches!(s.step, AuthStep::Init2(AuthInit2 { privileged: false, .. })));
        let s: AuthRequest = serde_json::from_str(r#"{"step":{"cred":"anonymous"}}"#).unwrap();
        assert_eq!(s.step, AuthStep::Cred(AuthCred::Anonymous));
        assert_eq!(format!("{:?}", AuthCred::Password("secret".into())), "Password(..)");
        let p: UatPurpose = serde_json::from_str(r#"{"readwrite":{"expiry":null}}"#).unwrap();
        assert_eq!(p, UatPurpose::ReadWrite { expiry: None });
        assert_eq!(serde_json::to_string(&UatPurpose::ReadOnly).unwrap(), r#""readonly""#);
    }
}
