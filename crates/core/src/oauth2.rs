//! Values of OAuth2 clients that need more than a plain syntax: a claim map says which value a
//! custom claim takes for the members of a group, and how several values are joined into it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use uuid::Uuid;

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
        if value.is_empty() || value.len() > 256 || value.chars().any(char::is_control) {
            return Some("a claim value is 1 to 256 printable characters");
        }
        match self {
            ClaimJoin::Csv if value.contains(',') => Some("a comma-joined claim's values cannot hold commas"),
            ClaimJoin::Ssv if value.contains(char::is_whitespace) => {
                Some("a space-joined claim's values cannot hold spaces")
            }
            _ => None,
        }
    }
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
