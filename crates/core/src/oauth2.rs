//! Values of OAuth2 clients that need more than a plain syntax: a claim map says which value a
//! custom claim takes for the members of a group, and how several values are joined into it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use uuid::Uuid;

/// Claims a token carries from the account itself, which no claim map may replace.
pub const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "azp",
    "nonce",
    "auth_time",
    "acr",
    "amr",
    "at_hash",
    "name",
    "preferred_username",
    "email",
    "email_verified",
    "updated_at",
    "scopes",
    "groups",
    "groups_uuid",
    "groups_spn",
    "groups_name",
    "ssh_publickeys",
    "client_id",
    "scope",
    "session_id",
];

/// Why `claim` cannot be a custom claim's name, if it cannot: a word of letters, digits and
/// `_` (Kanidm's rule), not one of the [`RESERVED_CLAIMS`].
pub fn claim_name_problem(claim: &str) -> Option<String> {
    if claim.is_empty() || claim.len() > 64 || !claim.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Some(format!(
            "'{}' is not a claim name (1 to 64 letters, digits and _)",
            claim.chars().take(64).collect::<String>()
        ));
    }
    RESERVED_CLAIMS
        .contains(&claim)
        .then(|| format!("'{claim}' is a claim the server sets from the account; choose another name"))
}

/// The shortest client secret accepted: the server makes 48 characters; none may be weaker.
pub const MIN_SECRET_CHARS: usize = 48;

/// How a claim's values are put into a token (Kanidm's names).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClaimJoin {
    /// A JSON array (the default).
    Array,
    /// One string, the values separated by commas.
    Csv,
    /// One string, the values separated by spaces.
    Ssv,
}

impl ClaimJoin {
    pub const ALL: [ClaimJoin; 3] = [ClaimJoin::Array, ClaimJoin::Csv, ClaimJoin::Ssv];

    pub fn name(self) -> &'static str {
        match self {
            ClaimJoin::Array => "array",
            ClaimJoin::Csv => "csv",
            ClaimJoin::Ssv => "ssv",
        }
    }

    pub fn from_name(s: &str) -> Option<ClaimJoin> {
        ClaimJoin::ALL.into_iter().find(|j| j.name() == s.trim().to_ascii_lowercase())
    }

    /// Why `value` cannot be one of a claim's values under this join, if it cannot: a
    /// separator inside a value would split it into two.
    pub fn refuses(self, value: &str) -> Option<&'static str> {
        if value.is_empty() || value.chars().count() > 256 || value.chars().any(|c| c.is_control() || is_invisible(c)) {
            return Some("a claim value is 1 to 256 visible characters");
        }
        // Shown and read back as `"v1,v2"`: a comma or quote inside a value would split it.
        if value.contains(',') || value.contains('"') {
            return Some("a claim value cannot hold commas or double quotes");
        }
        match self {
            ClaimJoin::Ssv if value.contains(char::is_whitespace) => {
                Some("a space-joined claim's values cannot hold spaces")
            }
            _ => None,
        }
    }
}

/// Characters that change how text around them reads without showing: bidirectional
/// controls and zero-width characters.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// The values of the custom claim `claim` for the members of `group`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClaimMapping {
    pub claim: String,
    pub group: Uuid,
    pub join: ClaimJoin,
    pub values: BTreeSet<String>,
}

impl ClaimMapping {
    /// As Kanidm's clients read it: `claim:group:join:"v1,v2"`.
    pub fn text(&self, group: &str) -> String {
        let joined: Vec<&str> = self.values.iter().map(String::as_str).collect();
        format!("{}:{group}:{}:\"{}\"", self.claim, self.join.name(), joined.join(","))
    }
}
