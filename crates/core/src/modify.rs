//! Modify lists: validated against schema, with values parsed and references resolved.

use crate::builtins::UUID_DOES_NOT_EXIST;
use crate::entry::Entry;
use crate::schema::Schema;
use crate::value::{SyntaxType, Value};
use crate::{OperationError, Result};
use idm_proto::{Modify as ProtoModify, ModifyList as ProtoModifyList};
use uuid::Uuid;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Modify {
    Present(String, Value),
    Removed(String, Value),
    Purged(String),
}

impl Modify {
    pub fn attr(&self) -> &str {
        match self {
            Modify::Present(a, _) | Modify::Removed(a, _) | Modify::Purged(a) => a,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ModifyList(pub Vec<Modify>);

impl ModifyList {
    pub fn new(mods: Vec<Modify>) -> Self {
        ModifyList(mods)
    }

    /// Parses a caller's modify list. Values are checked against the attribute's syntax;
    /// names in reference attributes resolve to uuids. A name to remove that no longer exists
    /// cannot be present, so it resolves to a uuid that matches nothing.
    pub fn from_proto(
        ml: &ProtoModifyList,
        schema: &Schema,
        resolve: &mut dyn FnMut(&str) -> Result<Option<Uuid>>,
    ) -> Result<ModifyList> {
        if ml.mods.is_empty() {
            return Err(OperationError::EmptyRequest);
        }
        let mut out = Vec::with_capacity(ml.mods.len());
        for m in &ml.mods {
            let attr = m.attr().trim().to_lowercase();
            let sa = schema.require_attribute(&attr)?;
            out.push(match m {
                ProtoModify::Present(_, v) => {
                    Modify::Present(attr.clone(), Value::from_input(&attr, sa.syntax, v, resolve)?)
                }
                ProtoModify::Removed(_, v) => {
                    let value = if sa.syntax == SyntaxType::ReferenceUuid {
                        Value::from_input(&attr, sa.syntax, v, &mut |n| {
                            Ok(Some(resolve(n)?.unwrap_or(UUID_DOES_NOT_EXIST)))
                        })?
                    } else {
                        Value::from_input(&attr, sa.syntax, v, resolve)?
                    };
                    Modify::Removed(attr.clone(), value)
                }
                ProtoModify::Purged(_) => Modify::Purged(attr.clone()),
            });
        }
        Ok(ModifyList(out))
    }

    pub fn apply(&self, e: &mut Entry) {
        for m in &self.0 {
            match m {
                Modify::Present(a, v) => {
                    e.add(a, v.clone());
                }
                Modify::Removed(a, v) => {
                    e.remove_value(a, v);
                }
                Modify::Purged(a) => {
                    e.purge(a);
                }
            }
        }
    }
}
