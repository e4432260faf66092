use serde::{Deserialize, Serialize};

/// One step of a modification, applied in order to every matched entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Modify {
    /// Add a value (set semantics: adding an existing value changes nothing).
    Present(String, String),
    /// Remove one value.
    Removed(String, String),
    /// Remove every value of the attribute.
    Purged(String),
}

impl Modify {
    pub fn attr(&self) -> &str {
        match self {
            Modify::Present(a, _) | Modify::Removed(a, _) | Modify::Purged(a) => a,
        }
    }
}

/// `{"mods": [..]}` on the wire; the client's modify files are a bare list of [`Modify`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct ModifyList {
    pub mods: Vec<Modify>,
}

impl ModifyList {
    pub fn new(mods: Vec<Modify>) -> Self {
        ModifyList { mods }
    }
}
