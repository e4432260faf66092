//! What signed-in people see of their own account (the web UI's profile page): who they are,
//! their groups, their sessions and what credentials they hold. One read, as the person,
//! through the access profiles: nothing shows here that `/v1/self` would not show them.

use crate::IdmServer;
use crate::credentials::CredentialStatus;
use crate::sessions::{SessionInfo, sessions_of, visible_account};
use idm_core::proto::UatPurpose;
use idm_core::server::QueryServerTransaction;
use idm_core::value::Value;
use idm_core::{OperationError, Result};
use time::OffsetDateTime;
use uuid::Uuid;

/// A person's own account, as they may read it.
#[derive(Debug, Clone)]
pub struct Profile {
    pub uuid: Uuid,
    pub name: String,
    pub spn: String,
    pub displayname: String,
    pub mail: Vec<String>,
    /// The groups the account is in, directly or through other groups, by spn.
    pub groups: Vec<String>,
    /// Oldest first.
    pub sessions: Vec<SessionInfo>,
    /// The session the profile was read with.
    pub current_session: Uuid,
    /// Until when this session may make changes; `None`: it must re-authenticate first.
    pub privileged_until: Option<OffsetDateTime>,
    pub credentials: CredentialStatus,
}

impl Profile {
    /// Whether the session may make changes at `now`.
    pub fn privileged_at(&self, now: OffsetDateTime) -> bool {
        self.privileged_until.is_some_and(|t| t > now)
    }
}

impl IdmServer {
    /// The profile of the account `token` belongs to.
    pub fn profile(&self, token: &str) -> Result<Profile> {
        let mut r = self.qs.read()?;
        let (ident, v) = self.identify_token(&mut r, token)?;
        let me = ident.uuid().ok_or(OperationError::NotAuthenticated)?;
        let acct = visible_account(&mut r, &ident, &me.to_string())?;
        let text = |attr: &str| acct.first(attr).map(Value::to_proto_string).unwrap_or_default();
        let mut groups = Vec::new();
        for g in acct.refs("memberof") {
            groups.push(r.display_name(g)?);
        }
        groups.sort();
        let mut sessions: Vec<SessionInfo> = sessions_of(&acct).map(SessionInfo::from).collect();
        sessions.sort_by(|a, b| a.issued_at.cmp(&b.issued_at));
        let now = self.now();
        let privileged_until = match v.uat.purpose {
            UatPurpose::ReadWrite { expiry: Some(e) } => {
                OffsetDateTime::from_unix_timestamp(e).ok().filter(|t| *t > now)
            }
            _ => None,
        };
        Ok(Profile {
            uuid: me,
            name: text("name"),
            spn: text("spn"),
            displayname: text("displayname"),
            mail: acct.get("mail").into_iter().flatten().map(Value::to_proto_string).collect(),
            groups,
            sessions,
            current_session: v.uat.session_id,
            privileged_until,
            credentials: self.credential_status_of(&mut r, &acct)?,
        })
    }
}
