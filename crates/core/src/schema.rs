//! The schema: attribute types and classes, loaded from `attributetype` and `classtype`
//! entries in the database, so that administrators extend it with ordinary writes.

use crate::entry::{Entry, ValidEntry};
use crate::value::{IndexType, SyntaxType, Value};
use crate::{OperationError, Result};
use idm_proto::{ProtoEntry, SchemaError};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;
use uuid::Uuid;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaAttribute {
    pub name: String,
    pub uuid: Uuid,
    pub description: String,
    pub multivalue: bool,
    pub unique: bool,
    pub syntax: SyntaxType,
    pub index: BTreeSet<IndexType>,
    pub system: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaClass {
    pub name: String,
    pub uuid: Uuid,
    pub description: String,
    pub systemmust: BTreeSet<String>,
    pub systemmay: BTreeSet<String>,
    pub must: BTreeSet<String>,
    pub may: BTreeSet<String>,
    pub system: bool,
}

impl SchemaClass {
    fn all_must(&self) -> impl Iterator<Item = &String> {
        self.systemmust.iter().chain(self.must.iter())
    }
    fn all_may(&self) -> impl Iterator<Item = &String> {
        self.systemmay.iter().chain(self.may.iter())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schema {
    attributes: BTreeMap<String, SchemaAttribute>,
    classes: BTreeMap<String, SchemaClass>,
}

static IDENT: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(r"^[a-z][a-z0-9_]{0,63}$").expect("static regex")
});

/// Attribute and class names become parts of storage names, so they are restricted to a
/// lowercase identifier alphabet.
pub fn valid_identifier(s: &str) -> bool {
    IDENT.is_match(s)
}

fn def_err(msg: String) -> OperationError {
    OperationError::SchemaViolation(SchemaError::InvalidDefinition(msg))
}

fn strings(e: &Entry, attr: &str) -> BTreeSet<String> {
    e.get(attr).into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect()
}

fn boolean(e: &Entry, attr: &str) -> bool {
    matches!(e.first(attr), Some(Value::Bool(true)))
}

impl Schema {
    /// Builds a schema from `attributetype` and `classtype` entries and checks it is coherent.
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Result<Schema> {
        let mut s = Schema::default();
        for e in entries {
            let uuid = e.uuid().unwrap_or_default();
            let description = e.first_str("description").unwrap_or_default().to_string();
            let system = e.has_class("system");
            if e.has_class("attributetype") {
                let name = e
                    .first_str("attributename")
                    .ok_or_else(|| def_err(format!("attributetype {uuid} has no attributename")))?
                    .to_string();
                let syntax = match e.first("syntax") {
                    Some(Value::Syntax(s)) => *s,
                    _ => return Err(def_err(format!("attribute '{name}' has no syntax"))),
                };
                let index = e
                    .get("index")
                    .into_iter()
                    .flatten()
                    .filter_map(|v| if let Value::Index(i) = v { Some(*i) } else { None })
                    .collect();
                let a = SchemaAttribute {
                    multivalue: boolean(e, "multivalue"),
                    unique: boolean(e, "unique"),
                    name: name.clone(),
                    uuid,
                    description,
                    syntax,
                    index,
                    system,
                };
                if s.attributes.insert(name.clone(), a).is_some() {
                    return Err(def_err(format!("attribute '{name}' is defined twice")));
                }
            } else if e.has_class("classtype") {
                let name = e
                    .first_str("classname")
                    .ok_or_else(|| def_err(format!("classtype {uuid} has no classname")))?
                    .to_string();
                let c = SchemaClass {
                    systemmust: strings(e, "systemmust"),
                    systemmay: strings(e, "systemmay"),
                    must: strings(e, "must"),
                    may: strings(e, "may"),
                    name: name.clone(),
                    uuid,
                    description,
                    system,
                };
                if s.classes.insert(name.clone(), c).is_some() {
                    return Err(def_err(format!("class '{name}' is defined twice")));
                }
            }
        }
        s.check_definition()?;
        Ok(s)
    }

    fn check_definition(&self) -> Result<()> {
        for a in self.attributes.values() {
            if !valid_identifier(&a.name) {
                return Err(def_err(format!(
                    "attribute name '{}' must be a lowercase identifier (a-z, 0-9, _; starting with a letter)",
                    a.name
                )));
            }
            if a.syntax.is_secret() && !a.index.is_empty() {
                return Err(def_err(format!("attribute '{}' holds secrets and cannot be indexed", a.name)));
            }
        }
        for c in self.classes.values() {
            if !valid_identifier(&c.name) {
                return Err(def_err(format!("class name '{}' must be a lowercase identifier", c.name)));
            }
            for a in c.all_must().chain(c.all_may()) {
                if !self.attributes.contains_key(a) {
                    return Err(def_err(format!("class '{}' refers to undefined attribute '{a}'", c.name)));
                }
            }
        }
        Ok(())
    }

    pub fn attribute(&self, name: &str) -> Option<&SchemaAttribute> {
        self.attributes.get(name)
    }

    pub fn class(&self, name: &str) -> Option<&SchemaClass> {
        self.classes.get(name)
    }

    pub fn attributes(&self) -> impl Iterator<Item = &SchemaAttribute> {
        self.attributes.values()
    }

    pub fn classes(&self) -> impl Iterator<Item = &SchemaClass> {
        self.classes.values()
    }

    /// The attribute definition, or the schema error an operator needs to see.
    pub fn require_attribute(&self, name: &str) -> Result<&SchemaAttribute> {
        self.attributes
            .get(name)
            .ok_or_else(|| OperationError::SchemaViolation(SchemaError::InvalidAttribute(name.to_string())))
    }

    /// Every (index type, attribute) pair that schema declares.
    pub fn declared_indexes(&self) -> BTreeSet<(IndexType, String)> {
        self.attributes.values().flat_map(|a| a.index.iter().map(move |i| (*i, a.name.clone()))).collect()
    }

    pub fn reference_attributes(&self) -> impl Iterator<Item = &str> {
        self.attributes.values().filter(|a| a.syntax.is_reference()).map(|a| a.name.as_str())
    }

    pub fn unique_attributes(&self) -> impl Iterator<Item = &str> {
        self.attributes.values().filter(|a| a.unique).map(|a| a.name.as_str())
    }

    /// Parses a caller's entry into typed values; names in reference attributes are resolved.
    pub fn entry_from_proto(
        &self,
        pe: &ProtoEntry,
        resolve: &mut dyn FnMut(&str) -> Result<Option<Uuid>>,
    ) -> Result<Entry> {
        let mut e = Entry::new();
        for (attr, values) in &pe.attrs {
            let attr = attr.trim().to_lowercase();
            let sa = self.require_attribute(&attr)?;
            for v in values {
                e.add(&attr, Value::from_input(&attr, sa.syntax, v, resolve)?);
            }
        }
        Ok(e)
    }

    /// Checks an entry against its classes: every class exists, every required attribute is
    /// present, every attribute is allowed, values have the right syntax and single-valued
    /// attributes have one value.
    pub fn validate(&self, e: Entry) -> Result<ValidEntry> {
        self.check(&e)?;
        Ok(ValidEntry(e))
    }

    /// The checks of [`Schema::validate`] without taking the entry (used by verify and restore).
    pub fn check(&self, e: &Entry) -> Result<()> {
        let mut classes: Vec<&SchemaClass> = Vec::with_capacity(4);
        for c in e.classes() {
            classes.push(
                self.classes
                    .get(c)
                    .ok_or_else(|| OperationError::SchemaViolation(SchemaError::InvalidClass(c.to_string())))?,
            );
        }
        if classes.is_empty() {
            return Err(SchemaError::NoClassFound.into());
        }
        let mut missing: Option<&String> = None;
        for m in classes.iter().flat_map(|c| c.all_must()) {
            if !e.has(m) && missing.is_none_or(|prev| m < prev) {
                missing = Some(m);
            }
        }
        if let Some(m) = missing {
            return Err(SchemaError::MissingMustAttribute(m.clone()).into());
        }
        let extensible = e.has_class("extensibleobject");
        for (attr, vs) in e.attrs() {
            let sa = self.require_attribute(attr)?;
            let allowed = extensible
                || classes.iter().any(|c| {
                    c.systemmust.contains(attr)
                        || c.must.contains(attr)
                        || c.systemmay.contains(attr)
                        || c.may.contains(attr)
                });
            if !allowed {
                return Err(SchemaError::AttributeNotValidForClass(attr.clone()).into());
            }
            if !sa.multivalue && vs.len() > 1 {
                return Err(SchemaError::SingleValue(attr.clone()).into());
            }
            if let Some(v) = vs.iter().find(|v| v.syntax() != sa.syntax) {
                return Err(SchemaError::InvalidAttributeSyntax {
                    attr: attr.clone(),
                    value: v.to_proto_string(),
                    reason: format!("expected syntax {}", sa.syntax),
                }
                .into());
            }
        }
        Ok(())
    }
}
