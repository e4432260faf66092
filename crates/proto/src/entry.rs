use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An entry as callers see it: attribute names to lists of string values.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct ProtoEntry {
    pub attrs: BTreeMap<String, Vec<String>>,
}

impl ProtoEntry {
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, Vec<&'a str>)>) -> Self {
        ProtoEntry {
            attrs: pairs
                .into_iter()
                .map(|(k, vs)| (k.to_string(), vs.into_iter().map(str::to_string).collect()))
                .collect(),
        }
    }

    pub fn get(&self, attr: &str) -> Option<&[String]> {
        self.attrs.get(attr).map(Vec::as_slice)
    }
}
