//! The values of one attribute: a set kept as a sorted vector.
//!
//! Most attributes hold one or a few values, for which a B-tree set wastes a whole node
//! (hundreds of bytes) per attribute; a sorted vector holds exactly what it stores and decodes
//! by pushing.

use crate::value::Value;
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize)]
#[serde(transparent)]
pub struct ValueSet(Vec<Value>);

impl ValueSet {
    pub fn new() -> Self {
        ValueSet(Vec::new())
    }

    pub fn single(v: Value) -> Self {
        ValueSet(vec![v])
    }

    /// Adds `v`; false if it was already present.
    pub fn insert(&mut self, v: Value) -> bool {
        match self.0.binary_search(&v) {
            Ok(_) => false,
            Err(i) => {
                self.0.insert(i, v);
                true
            }
        }
    }

    pub fn contains(&self, v: &Value) -> bool {
        self.0.binary_search(v).is_ok()
    }

    pub fn remove(&mut self, v: &Value) -> bool {
        match self.0.binary_search(v) {
            Ok(i) => {
                self.0.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    pub fn retain(&mut self, f: impl FnMut(&Value) -> bool) {
        self.0.retain(f);
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Value> {
        self.0.iter()
    }

    pub fn first(&self) -> Option<&Value> {
        self.0.first()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<Value> for ValueSet {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Self {
        let mut v: Vec<Value> = iter.into_iter().collect();
        v.sort();
        v.dedup();
        ValueSet(v)
    }
}

impl<'a> IntoIterator for &'a ValueSet {
    type Item = &'a Value;
    type IntoIter = std::slice::Iter<'a, Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for ValueSet {
    type Item = Value;
    type IntoIter = std::vec::IntoIter<Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'de> Deserialize<'de> for ValueSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut v = Vec::<Value>::deserialize(d)?;
        // Stored sets are already sorted; anything else (an edited backup) is normalised.
        if !v.windows(2).all(|w| w[0] < w[1]) {
            v.sort();
            v.dedup();
        }
        Ok(ValueSet(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_semantics() {
        let mut s: ValueSet = [Value::Uint32(3), Value::Uint32(1), Value::Uint32(3)].into_iter().collect();
        assert_eq!(s.len(), 2);
        assert!(!s.insert(Value::Uint32(1)));
        assert!(s.insert(Value::Uint32(2)));
        assert_eq!(s.iter().cloned().collect::<Vec<_>>(), vec![Value::Uint32(1), Value::Uint32(2), Value::Uint32(3)]);
        assert!(s.remove(&Value::Uint32(2)) && !s.contains(&Value::Uint32(2)));
        let back: ValueSet = serde_json::from_str("[{\"UI\":9},{\"UI\":1},{\"UI\":9}]").unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back.first(), Some(&Value::Uint32(1)));
    }
}
