//! Passkeys (WebAuthn, with `webauthn-rs`, the library Kanidm uses): the enrolment ceremony of
//! a credential update session and the assertion of a login. The relying party is the
//! domain and the origin the server's (`origin`, which must be the domain or under it); keys
//! are resident (discoverable) and user verification is required; attestation is not asked
//! for.
//!
//! A passkey is stored as a [`PasskeyRecord`] naming the relying party it was enrolled for, so
//! after a domain rename it is recognised, refused, and the holder told why.

use idm_core::credential::PasskeyRecord;
use idm_core::{OperationError, Result};
use time::OffsetDateTime;
use uuid::Uuid;
use webauthn_rs::prelude::{
    AuthenticationResult, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// Passkeys an account may hold.
pub const MAX_PASSKEYS: usize = 16;
/// The longest credential id WebAuthn allows, and the most a stored passkey may take: every
/// login challenge carries an account's ids and holds its keys, before anyone is signed in.
const MAX_CREDENTIAL_ID: usize = 1023;
const MAX_RECORD_BYTES: usize = 4096;

/// The WebAuthn relying party of this server.
pub struct Passkeys {
    webauthn: Webauthn,
    rp_id: String,
}

fn invalid(what: impl std::fmt::Display) -> OperationError {
    OperationError::InvalidRequest(what.to_string())
}

impl Passkeys {
    /// The relying party `domain`, reached at `origin`.
    pub fn new(domain: &str, origin: &str) -> Result<Passkeys> {
        let url = url::Url::parse(origin).map_err(|e| invalid(format!("origin '{origin}' is not a URL: {e}")))?;
        let webauthn = WebauthnBuilder::new(domain, &url)
            .and_then(|b| b.rp_name(domain).build())
            .map_err(|e| invalid(format!("origin '{origin}' cannot serve passkeys for '{domain}': {e}")))?;
        Ok(Passkeys { webauthn, rp_id: domain.to_string() })
    }

    pub fn rp_id(&self) -> &str {
        &self.rp_id
    }

    /// Whether a stored passkey belongs to this relying party (it does not after a rename).
    pub fn is_ours(&self, record: &PasskeyRecord) -> bool {
        record.rp_id == self.rp_id
    }

    /// The creation challenge for a new passkey of `account`, and the state to finish it with.
    /// Its existing passkeys are excluded, so one authenticator is not enrolled twice.
    pub fn start_registration(
        &self,
        account: Uuid,
        name: &str,
        displayname: &str,
        existing: &[PasskeyRecord],
    ) -> Result<(serde_json::Value, PasskeyRegistration)> {
        let exclude = existing.iter().filter_map(decode).map(|p| p.cred_id().clone()).collect::<Vec<_>>();
        let (challenge, state) = self
            .webauthn
            .start_passkey_registration(account, name, displayname, Some(exclude))
            .map_err(|e| OperationError::InvalidState(format!("passkey registration: {e}")))?;
        let mut challenge = serde_json::to_value(challenge).map_err(|e| OperationError::InvalidState(e.to_string()))?;
        // A resident (discoverable) key: the authenticator keeps the account with it, as
        // passkeys are expected to. webauthn-rs leaves this to the authenticator; the answer
        // is checked the same either way.
        if let Some(sel) = challenge.pointer_mut("/publicKey/authenticatorSelection").and_then(|v| v.as_object_mut()) {
            sel.insert("residentKey".into(), "required".into());
            sel.insert("requireResidentKey".into(), true.into());
        }
        Ok((challenge, state))
    }

    /// Checks the authenticator's answer; the passkey to keep under `label`.
    pub fn finish_registration(
        &self,
        answer: &serde_json::Value,
        state: &PasskeyRegistration,
        label: &str,
        now: OffsetDateTime,
    ) -> Result<PasskeyRecord> {
        let reg: RegisterPublicKeyCredential = serde_json::from_value(answer.clone())
            .map_err(|e| invalid(format!("the authenticator's answer is not a WebAuthn registration: {e}")))?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(&reg, state)
            .map_err(|e| invalid(format!("the passkey was not accepted: {e}")))?;
        if passkey.cred_id().len() > MAX_CREDENTIAL_ID {
            return Err(invalid("the passkey's credential id is longer than WebAuthn allows"));
        }
        let credential = serde_json::to_string(&passkey).map_err(|e| OperationError::InvalidState(e.to_string()))?;
        if credential.len() > MAX_RECORD_BYTES {
            return Err(invalid("the passkey's key is larger than this server accepts"));
        }
        Ok(PasskeyRecord {
            uuid: Uuid::new_v4(),
            label: label.to_string(),
            rp_id: self.rp_id.clone(),
            created: now.unix_timestamp(),
            last_used: None,
            credential,
            credential_id_hash: id_hash(passkey.cred_id()),
        })
    }

    /// The challenge for a login with any of `records` of this relying party, or `None` when
    /// the account has none.
    pub fn start_authentication(
        &self,
        records: &[PasskeyRecord],
    ) -> Result<Option<(serde_json::Value, PasskeyAuthentication)>> {
        let keys: Vec<Passkey> = records.iter().filter(|r| self.is_ours(r)).filter_map(decode).collect();
        if keys.is_empty() {
            return Ok(None);
        }
        let (challenge, state) = self
            .webauthn
            .start_passkey_authentication(&keys)
            .map_err(|e| OperationError::InvalidState(format!("passkey authentication: {e}")))?;
        let challenge = serde_json::to_value(challenge).map_err(|e| OperationError::InvalidState(e.to_string()))?;
        Ok(Some((challenge, state)))
    }

    /// Checks an assertion against the login's challenge.
    pub fn finish_authentication(
        &self,
        answer: &serde_json::Value,
        state: &PasskeyAuthentication,
    ) -> std::result::Result<AuthenticationResult, String> {
        let cred: PublicKeyCredential =
            serde_json::from_value(answer.clone()).map_err(|e| format!("not a WebAuthn assertion: {e}"))?;
        self.webauthn.finish_passkey_authentication(&cred, state).map_err(|e| e.to_string())
    }
}

/// The WebAuthn credential a record holds.
pub fn decode(record: &PasskeyRecord) -> Option<Passkey> {
    serde_json::from_str(&record.credential).ok()
}

/// `record` after a login with it: the new signature counter and the time. `None` if the
/// assertion was made with another passkey, or its counter is not past the stored one (a
/// cloned authenticator, or a login that began before a later one finished).
pub fn used(record: &PasskeyRecord, result: &AuthenticationResult, now: OffsetDateTime) -> Option<PasskeyRecord> {
    let mut key = decode(record)?;
    let advanced = key.update_credential(result)?;
    // Authenticators without a counter always send 0.
    if result.counter() != 0 && !advanced {
        return None;
    }
    let mut next = record.clone();
    next.credential = serde_json::to_string(&key).ok()?;
    next.last_used = Some(now.unix_timestamp());
    Some(next)
}

/// The equality key of a credential id.
pub fn id_hash(id: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(id).iter().map(|b| format!("{b:02x}")).collect()
}

/// The id of a passkey's credential, for telling keys apart.
pub fn credential_id(record: &PasskeyRecord) -> Vec<u8> {
    decode(record).map(|k| k.cred_id().to_vec()).unwrap_or_default()
}

/// How many of `records` can sign in here (not those of a domain this server no longer is).
pub fn live(records: &[PasskeyRecord], rp: Option<&Passkeys>) -> usize {
    rp.map_or(0, |rp| records.iter().filter(|r| rp.is_ours(r)).count())
}

/// The account's passkeys.
pub fn of(acct: &idm_core::entry::Entry) -> Vec<PasskeyRecord> {
    acct.get("passkeys")
        .into_iter()
        .flatten()
        .filter_map(|v| match v {
            idm_core::value::Value::Passkey(p) => Some((**p).clone()),
            _ => None,
        })
        .collect()
}
