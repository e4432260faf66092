//! API tokens of service accounts: bearer tokens an administrator issues for software, each a
//! session recorded on the service account (label, expiry or none, read-only or read-write),
//! listed and destroyed like any session and checked on every request like any token.

use crate::IdmServer;
use crate::account;
use crate::auth::TokenTerms;
use crate::policy;
use crate::sessions::visible_account;
use idm_core::modify::{Modify, ModifyList};
use idm_core::proto::{TokenForm, UatPurpose};
use idm_core::server::QueryServerTransaction;
use idm_core::session::{AuthMech, Session, SessionScope};
use idm_core::value::Value;
use idm_core::{OperationError, Result};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::info;
use uuid::Uuid;

/// Kanidm's `ApiTokenGenerate`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenGenerate {
    pub label: String,
    /// Unix seconds; `None`: until destroyed.
    pub expiry: Option<i64>,
    pub read_write: bool,
    /// Kanidm's session-id-only token form; refused (see `generate_api_token`).
    #[serde(default)]
    pub compact: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ApiTokenPurpose {
    ReadOnly,
    ReadWrite,
}

/// Kanidm's `ApiToken`: what a token is, without the token.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub account_id: Uuid,
    pub token_id: Uuid,
    pub label: String,
    pub expiry: Option<i64>,
    pub issued_at: i64,
    pub purpose: ApiTokenPurpose,
}

/// Labels are shown in lists and logs: short, printable.
const MAX_LABEL: usize = 256;

impl IdmServer {
    /// Issues an API token for the service account `id` on behalf of the caller, who needs a
    /// session that may make changes and the right to add sessions to that account. Returns the
    /// token: shown once, never stored.
    pub fn generate_api_token(&self, token: &str, id: &str, req: &ApiTokenGenerate) -> Result<String> {
        if req.compact {
            // Kanidm's compact form carries only the session id and needs a lookup by it on
            // every use; refused by name rather than silently issuing the full form.
            return Err(OperationError::InvalidRequest(
                "compact API tokens are not supported; request the standard form".to_string(),
            ));
        }
        let label = req.label.trim();
        if label.is_empty() || label.chars().count() > MAX_LABEL || label.chars().any(char::is_control) {
            return Err(OperationError::InvalidRequest(format!(
                "an API token's label must be 1 to {MAX_LABEL} printable characters"
            )));
        }
        let now = self.now();
        let expiry = match req.expiry {
            None => None,
            Some(t) => {
                let t = OffsetDateTime::from_unix_timestamp(t)
                    .map_err(|_| OperationError::InvalidRequest(format!("expiry {t} is not a valid time")))?;
                if t <= now {
                    return Err(OperationError::InvalidRequest("the API token's expiry is in the past".into()));
                }
                Some(t)
            }
        };
        self.write_as(token, |w, ident| {
            ident.require_write()?;
            let acct = visible_account(w, ident, id)?;
            let full = w.entry_by_uuid(acct.uuid().unwrap_or_default())?.ok_or(OperationError::NoMatchingEntries)?;
            if !full.has_class("service_account") {
                return Err(OperationError::InvalidRequest(format!("'{id}' is not a service account")));
            }
            let session = Session {
                id: Uuid::new_v4(),
                issued_at: now,
                expiry,
                mech: AuthMech::ApiToken,
                scope: if req.read_write { SessionScope::ReadWrite } else { SessionScope::ReadOnly },
                issued_by: ident.uuid().unwrap_or_default(),
                client: None,
                label: Some(label.to_string()),
            };
            let u = full.uuid().unwrap_or_default();
            // Adding a session is a change the caller's access profiles must allow.
            let ml = ModifyList::new(vec![Modify::Present(
                "user_auth_session".into(),
                Value::Session(Box::new(session.clone())),
            )]);
            w.modify_as(ident, &account::filter_for(u), &ml)?;
            let policy = policy::evaluate(w, &full)?;
            let purpose = if req.read_write {
                // Clients check the window; a token without an expiry states the latest date they parse.
                UatPurpose::ReadWrite { expiry: Some(expiry.map(|e| e.unix_timestamp()).unwrap_or(253_402_300_799)) }
            } else {
                UatPurpose::ReadOnly
            };
            let terms = TokenTerms { purpose, form: TokenForm::Current };
            let signed = self.sign(w, &full, &session, terms, &policy, now)?;
            info!(account = %full.label(), by = ?ident.uuid(), token = %session.id, label, "API token issued");
            Ok(signed)
        })
    }

    /// The API tokens of the service account `id`, as far as the caller may read its sessions.
    pub fn list_api_tokens(&self, token: &str, id: &str) -> Result<Vec<ApiToken>> {
        self.read_as(token, |r, ident| {
            let acct = visible_account(r, ident, id)?;
            let account_id = acct.uuid().unwrap_or_default();
            let mut out: Vec<ApiToken> = acct
                .get("user_auth_session")
                .into_iter()
                .flatten()
                .filter_map(|v| match v {
                    Value::Session(s) if s.mech == AuthMech::ApiToken => Some(ApiToken {
                        account_id,
                        token_id: s.id,
                        label: s.label.clone().unwrap_or_default(),
                        expiry: s.expiry.map(|e| e.unix_timestamp()),
                        issued_at: s.issued_at.unix_timestamp(),
                        purpose: if s.scope == SessionScope::ReadWrite {
                            ApiTokenPurpose::ReadWrite
                        } else {
                            ApiTokenPurpose::ReadOnly
                        },
                    }),
                    _ => None,
                })
                .collect();
            out.sort_by_key(|t| t.issued_at);
            Ok(out)
        })
    }
}
