//! The two ways a session token's payload is written: today's [`UserAuthToken`], and the
//! 2022 form ([`UserAuthToken2022`]) that Kanidm v1.1.0-alpha.8 clients decode. Both carry
//! the same session, account and signed privilege window, so one identity path checks both:
//! decoding yields today's form whichever was sent.

use idm_core::identity::Limits;
use idm_core::proto::{TokenForm, UserAuthToken, UserAuthToken2022};
use idm_core::session::AuthMech;
use idm_core::{OperationError, Result};
use time::{Date, OffsetDateTime, UtcOffset};

/// `time` 0.2's serde form of an instant: year, ordinal day, seconds since midnight, nanos (UTC).
fn to_2022_time(t: OffsetDateTime) -> (i32, u16, u32, u32) {
    let t = t.to_offset(UtcOffset::UTC);
    let secs = u32::from(t.hour()) * 3600 + u32::from(t.minute()) * 60 + u32::from(t.second());
    (t.year(), t.ordinal(), secs, t.nanosecond())
}

fn from_2022_time((year, ordinal, secs, nanos): (i32, u16, u32, u32)) -> Option<OffsetDateTime> {
    let day = Date::from_ordinal_date(year, ordinal).ok()?.midnight().assume_utc();
    let secs = i64::from(secs).min(86_399);
    Some(day + time::Duration::seconds(secs) + time::Duration::nanoseconds(i64::from(nanos.min(999_999_999))))
}

/// The latest instant `time` 0.2 parsed comfortably: what a 2022 token says for "no expiry".
const FAR_FUTURE: i64 = 253_402_300_799;

/// `uat` as `form` writes it. `mech` and `limits` fill the 2022 form's `auth_type` and `lim_*`.
pub fn encode(uat: &UserAuthToken, form: TokenForm, mech: AuthMech, limits: &Limits) -> Result<Vec<u8>> {
    let json = match form {
        TokenForm::Current => serde_json::to_vec(uat),
        TokenForm::Legacy2022 => {
            let expiry = OffsetDateTime::from_unix_timestamp(uat.expiry.unwrap_or(FAR_FUTURE))
                .map_err(|e| OperationError::InvalidState(format!("token expiry: {e}")))?;
            serde_json::to_vec(&UserAuthToken2022 {
                session_id: uat.session_id,
                // 2022's clients know no backup-code mechanism; it is a second factor like TOTP.
                auth_type: match mech {
                    AuthMech::PasswordBackupCode => AuthMech::PasswordMfa.name(),
                    AuthMech::Passkey => "webauthn",
                    m => m.name(),
                }
                .to_string(),
                expiry: to_2022_time(expiry),
                uuid: uat.uuid,
                displayname: uat.displayname.clone(),
                spn: uat.spn.clone(),
                mail_primary: uat.mail_primary.clone(),
                lim_uidx: false,
                lim_rmax: limits.search_max_results,
                lim_pmax: limits.search_max_partial,
                lim_fmax: limits.filter_max_elements,
                issued_at: uat.issued_at,
                purpose: uat.purpose,
            })
        }
    };
    json.map_err(|e| OperationError::Serde(e.to_string()))
}

/// A verified payload in today's form, and the form it was written in; `None` if it is
/// neither.
pub fn decode(payload: &[u8]) -> Option<(UserAuthToken, TokenForm)> {
    if let Ok(uat) = serde_json::from_slice::<UserAuthToken>(payload) {
        return Some((uat, TokenForm::Current));
    }
    let old: UserAuthToken2022 = serde_json::from_slice(payload).ok()?;
    let expiry = from_2022_time(old.expiry)?.unix_timestamp();
    let uat = UserAuthToken {
        session_id: old.session_id,
        issued_at: old.issued_at,
        expiry: (expiry < FAR_FUTURE).then_some(expiry),
        purpose: old.purpose,
        uuid: old.uuid,
        displayname: old.displayname,
        spn: old.spn,
        mail_primary: old.mail_primary,
        ui_hints: Vec::new(),
        limit_search_max_results: Some(old.lim_rmax as u64),
        limit_search_max_filter_test: Some(old.lim_pmax as u64),
    };
    Some((uat, TokenForm::Legacy2022))
}

#[cfg(test)]
mod tests {
    use super::*;
    use idm_core::proto::UatPurpose;
    use uuid::Uuid;

    fn uat(expiry: Option<i64>) -> UserAuthToken {
        UserAuthToken {
            session_id: Uuid::new_v4(),
            issued_at: 1_664_000_000,
            expiry,
            purpose: UatPurpose::ReadWrite { expiry: Some(1_664_000_600) },
            uuid: Uuid::new_v4(),
            displayname: "Admin".into(),
            spn: "admin@localhost".into(),
            mail_primary: None,
            ui_hints: Vec::new(),
            limit_search_max_results: Some(128),
            limit_search_max_filter_test: Some(256),
        }
    }

    #[test]
    fn the_2022_form_round_trips_and_writes_times_as_time_0_2_did() {
        let limits =
            Limits { filter_max_depth: 12, filter_max_elements: 32, search_max_results: 128, search_max_partial: 256 };
        // 2022-09-22T07:52:46.802525Z, the instant in pykanidm's alpha.9 fixture.
        let t = uat(Some(1_663_833_166));
        let bytes = encode(&t, TokenForm::Legacy2022, AuthMech::Password, &limits).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["expiry"], serde_json::json!([2022, 265, 28366, 0]), "{json}");
        assert_eq!((json["auth_type"].as_str(), json["lim_rmax"].as_u64()), (Some("password"), Some(128)));
        let (back, form) = decode(&bytes).unwrap();
        assert_eq!((back.clone(), form), (UserAuthToken { ui_hints: Vec::new(), ..t.clone() }, TokenForm::Legacy2022));
        assert!(back.privileged_at(1_664_000_100), "the privilege window survives");
        // Today's form decodes as itself; anything else not at all.
        let current = encode(&t, TokenForm::Current, AuthMech::Password, &limits).unwrap();
        assert_eq!(decode(&current).unwrap(), (t, TokenForm::Current));
        assert!(decode(br#"{"session_id":"x"}"#).is_none());
        assert!(decode(br#"{"expiry":[2022,400,0,0]}"#).is_none());
    }

    #[test]
    fn no_expiry_is_the_far_future_and_back() {
        let limits = Limits::unlimited();
        let bytes = encode(&uat(None), TokenForm::Legacy2022, AuthMech::Password, &limits).unwrap();
        assert_eq!(decode(&bytes).unwrap().0.expiry, None);
    }
}
