//! Second factors: TOTP authenticators (RFC 6238 over RFC 4226's HOTP) and single-use backup
//! codes — generating them, and checking what a person types.
//!
//! A TOTP code is accepted one step either side of now (clocks on phones drift) and only if
//! its step is later than the last one accepted, so a code works once. Backup codes are
//! stored as SHA-256 hashes: each carries 60 random bits, which makes a slow hash pointless.

use crate::password::random_password;
use idm_core::credential::{BackupCodes, Totp, TotpAlgo};
use idm_core::{OperationError, Result};
use ring::hmac;
use sha2::Digest;
use std::collections::BTreeSet;
use time::OffsetDateTime;

/// What an authenticator app is given: SHA-1, 6 digits, 30 s (the only parameters every app
/// implements).
pub const TOTP_STEP: u64 = 30;
pub const TOTP_DIGITS: u8 = 6;
const TOTP_SECRET_BYTES: usize = 20;
/// Steps either side of the current one that are still accepted.
pub const TOTP_SKEW_STEPS: u64 = 1;
/// Backup codes generated at once, and their length (before the dashes).
pub const BACKUP_CODES: usize = 8;
const BACKUP_CODE_LEN: usize = 12;
/// The longest TOTP label accepted.
pub const MAX_TOTP_LABEL: usize = 64;
/// TOTP authenticators an account may hold (each is tried on every code typed).
pub const MAX_TOTPS: usize = 8;

/// A new authenticator secret.
pub fn generate_totp(now: OffsetDateTime) -> Result<Totp> {
    let mut secret = vec![0u8; TOTP_SECRET_BYTES];
    getrandom::fill(&mut secret).map_err(|e| OperationError::InvalidState(format!("no randomness available: {e}")))?;
    Ok(Totp {
        secret,
        algo: TotpAlgo::Sha1,
        step: TOTP_STEP,
        digits: TOTP_DIGITS,
        created: now.unix_timestamp(),
        last_step: 0,
        last_used: None,
    })
}

/// The code for time step `counter` (RFC 4226 §5.3, dynamic truncation).
pub fn code_at(totp: &Totp, counter: u64) -> u32 {
    let alg = match totp.algo {
        TotpAlgo::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        TotpAlgo::Sha256 => hmac::HMAC_SHA256,
        TotpAlgo::Sha512 => hmac::HMAC_SHA512,
    };
    let tag = hmac::sign(&hmac::Key::new(alg, &totp.secret), &counter.to_be_bytes());
    let mac = tag.as_ref();
    let offset = (mac[mac.len() - 1] & 0x0f) as usize;
    let bin = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    bin % 10u32.pow(u32::from(totp.digits.min(9)))
}

fn current_step(totp: &Totp, now: OffsetDateTime) -> u64 {
    (now.unix_timestamp().max(0) as u64) / totp.step.max(1)
}

/// Why a TOTP code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpRefusal {
    Wrong,
    /// Right, but it (or a later one) was used already.
    Replayed,
}

/// The time step `code` belongs to, if it is right now (within the skew window) and not used
/// before.
/// A code as typed: digits only (spaces around are ignored), at most ten of them. Whether it
/// is the right code, with the right number of digits, is [`check_totp`]'s to say.
pub fn parse_code(typed: &str) -> Option<u32> {
    let t = typed.trim();
    (!t.is_empty() && t.len() <= 10 && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse().ok()).flatten()
}

pub fn check_totp(totp: &Totp, code: u32, now: OffsetDateTime) -> std::result::Result<u64, TotpRefusal> {
    let now_step = current_step(totp, now);
    let first = now_step.saturating_sub(TOTP_SKEW_STEPS);
    // Every step of the window is computed, whichever matches, so the time taken does not
    // tell which step (or whether any) matched.
    let mut matched = None;
    for step in first..=now_step + TOTP_SKEW_STEPS {
        if code_at(totp, step) == code && matched.is_none() {
            matched = Some(step);
        }
    }
    match matched {
        None => Err(TotpRefusal::Wrong),
        Some(step) if step <= totp.last_step => Err(TotpRefusal::Replayed),
        Some(step) => Ok(step),
    }
}

/// A label for a TOTP, checked: letters, digits, spaces and plain punctuation only (no
/// invisible or direction-changing characters that could make one label look like another),
/// not empty, bounded.
pub fn totp_label(label: &str) -> std::result::Result<String, &'static str> {
    let label = label.trim();
    if label.is_empty() {
        Err("the label is empty")
    } else if label.chars().count() > MAX_TOTP_LABEL {
        Err("the label is longer than 64 characters")
    } else if !label.chars().all(|c| c.is_alphanumeric() || " -_.,'()@+#/:&".contains(c)) {
        Err("the label may hold letters, digits, spaces and - _ . , ' ( ) @ + # / : & only")
    } else {
        Ok(label.to_string())
    }
}

/// The form a backup code is hashed in: what a person may type differently (case, dashes,
/// spaces) does not matter.
fn normalise(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn code_hash(salt: &str, code: &str) -> String {
    let mut h = sha2::Sha256::new();
    h.update(salt.as_bytes());
    h.update(normalise(code).as_bytes());
    hex(&h.finalize())
}

/// A fingerprint of a TOTP's secret, to tell a re-enrolled TOTP from the one a code was
/// checked against without keeping the secret elsewhere.
pub fn secret_fingerprint(totp: &Totp) -> String {
    hex(&sha2::Sha256::digest(&totp.secret))
}

/// New backup codes: the codes to show once, and what is stored.
pub fn generate_backup_codes(now: OffsetDateTime) -> Result<(Vec<String>, BackupCodes)> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| OperationError::InvalidState(format!("no randomness available: {e}")))?;
    let salt = hex(&salt);
    let mut shown = Vec::with_capacity(BACKUP_CODES);
    let mut codes = BTreeSet::new();
    while shown.len() < BACKUP_CODES {
        let raw = random_password(BACKUP_CODE_LEN)?.to_lowercase();
        if codes.insert(code_hash(&salt, &raw)) {
            shown.push(format!("{}-{}-{}", &raw[..4], &raw[4..8], &raw[8..]));
        }
    }
    Ok((shown, BackupCodes { codes, created: now.unix_timestamp(), salt }))
}

/// The stored hash `code` matches, if any.
pub fn match_backup_code(codes: &BackupCodes, code: &str) -> Option<String> {
    if code.len() > 64 {
        return None;
    }
    let h = code_hash(&codes.salt, code);
    codes.codes.contains(&h).then_some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_as_typed() {
        assert_eq!(parse_code(" 012345 "), Some(12345));
        assert_eq!(parse_code("12345678"), Some(12345678));
        for bad in ["", "+12345", "12 345", "12a456", "-1", "12345678901"] {
            assert_eq!(parse_code(bad), None, "{bad:?}");
        }
    }

    fn totp(secret: &[u8], algo: TotpAlgo, digits: u8) -> Totp {
        Totp { secret: secret.to_vec(), algo, step: 30, digits, created: 0, last_step: 0, last_used: None }
    }

    #[test]
    fn rfc_6238_test_vectors() {
        // RFC 6238 appendix B: 8 digits, the ASCII seeds of 20, 32 and 64 bytes.
        let sha1 = totp(b"12345678901234567890", TotpAlgo::Sha1, 8);
        let sha256 = totp(b"12345678901234567890123456789012", TotpAlgo::Sha256, 8);
        let sha512 = totp(b"1234567890123456789012345678901234567890123456789012345678901234", TotpAlgo::Sha512, 8);
        for (t, c1, c2, c3) in [
            (59u64, 94287082u32, 46119246u32, 90693936u32),
            (1111111109, 7081804, 68084774, 25091201),
            (1234567890, 89005924, 91819424, 93441116),
            (20000000000, 65353130, 77737706, 47863826),
        ] {
            assert_eq!(code_at(&sha1, t / 30), c1, "SHA1 at {t}");
            assert_eq!(code_at(&sha256, t / 30), c2, "SHA256 at {t}");
            assert_eq!(code_at(&sha512, t / 30), c3, "SHA512 at {t}");
        }
    }

    #[test]
    fn window_and_replay() {
        let mut t = totp(b"12345678901234567890", TotpAlgo::Sha1, 6);
        let now = OffsetDateTime::from_unix_timestamp(1_111_111_109).unwrap();
        let step = 1_111_111_109 / 30;
        assert_eq!(check_totp(&t, code_at(&t, step), now), Ok(step));
        assert_eq!(check_totp(&t, code_at(&t, step - 1), now), Ok(step - 1), "one step late");
        assert_eq!(check_totp(&t, code_at(&t, step + 1), now), Ok(step + 1), "one step early");
        assert_eq!(check_totp(&t, code_at(&t, step - 2), now), Err(TotpRefusal::Wrong));
        t.last_step = step;
        assert_eq!(check_totp(&t, code_at(&t, step), now), Err(TotpRefusal::Replayed));
        assert_eq!(check_totp(&t, code_at(&t, step - 1), now), Err(TotpRefusal::Replayed), "an older code too");
        assert_eq!(check_totp(&t, code_at(&t, step + 1), now), Ok(step + 1));
    }

    #[test]
    fn backup_codes_match_however_typed() {
        let (shown, stored) = generate_backup_codes(OffsetDateTime::now_utc()).unwrap();
        assert_eq!(shown.len(), BACKUP_CODES);
        assert_eq!(stored.codes.len(), BACKUP_CODES);
        let typed = shown[3].to_uppercase().replace('-', " ");
        assert!(match_backup_code(&stored, &typed).is_some());
        assert!(match_backup_code(&stored, "aaaa-bbbb-cccc").is_none());
        assert!(!format!("{stored:?}").contains(&shown[0]), "only hashes are kept");
        let again = BackupCodes { salt: "other".into(), ..stored.clone() };
        assert!(match_backup_code(&again, &shown[0]).is_none(), "the salt is part of the hash");
        assert_eq!(totp_label("phone 2 (work)"), Ok("phone 2 (work)".into()));
        assert!(totp_label("ph\u{202e}enoh").is_err(), "no direction overrides");
        assert!(totp_label("a\u{200b}b").is_err(), "no zero-width characters");
    }
}
