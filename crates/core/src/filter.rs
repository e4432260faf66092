//! Filters: validated against schema, normalised to index keys, tested in memory.
//!
//! A caller's [`ProtoFilter`] becomes a [`Filter`] only through [`Filter::from_proto`], which
//! checks every attribute exists, normalises every value the way stored values are keyed,
//! resolves names given for reference attributes, and enforces the caller's limits.

use crate::builtins::UUID_DOES_NOT_EXIST;
use crate::entry::Entry;
use crate::identity::Limits;
use crate::schema::Schema;
use crate::value::{SyntaxType, Value, filter_eq_key};
use crate::{OperationError, Result};
use idm_proto::{Filter as ProtoFilter, SchemaError};
use uuid::Uuid;

/// A filter whose attributes exist and whose values are normalised keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    /// Attribute has a value whose equality key is exactly this.
    Eq(String, String),
    /// Attribute has a value whose lowercased text contains this (lowercased) needle.
    Sub(String, String),
    /// Attribute has a value whose lowercased text starts with this (lowercased) prefix.
    Stw(String, String),
    /// Attribute has a value whose lowercased text ends with this (lowercased) suffix.
    Enw(String, String),
    /// Attribute has a value of the same syntax that orders before this one.
    Lt(String, Value),
    /// Attribute has at least one value.
    Pres(String),
    Or(Vec<Filter>),
    And(Vec<Filter>),
    AndNot(Box<Filter>),
}

/// What [`Filter::from_proto`] needs from the transaction it runs in.
pub struct FilterContext<'a> {
    pub schema: &'a Schema,
    /// The caller, for `"self"`; internal callers have none and `"self"` matches nothing.
    pub self_uuid: Option<Uuid>,
    pub limits: &'a Limits,
    /// Resolves a name or spn to the uuid of an existing entry.
    pub resolve: &'a mut dyn FnMut(&str) -> Result<Option<Uuid>>,
}

fn uuid_key(u: Uuid) -> String {
    u.hyphenated().to_string()
}

impl Filter {
    pub fn eq(attr: &str, key: impl Into<String>) -> Filter {
        Filter::Eq(attr.to_string(), key.into())
    }

    pub fn eq_uuid(attr: &str, u: Uuid) -> Filter {
        Filter::Eq(attr.to_string(), uuid_key(u))
    }

    pub fn pres(attr: &str) -> Filter {
        Filter::Pres(attr.to_string())
    }

    pub fn from_proto(pf: &ProtoFilter, ctx: &mut FilterContext<'_>) -> Result<Filter> {
        let depth = pf.depth();
        if depth > ctx.limits.filter_max_depth {
            return Err(OperationError::ResourceLimit(format!(
                "filter depth {depth} exceeds the limit of {}",
                ctx.limits.filter_max_depth
            )));
        }
        let elements = pf.elements();
        if elements > ctx.limits.filter_max_elements {
            return Err(OperationError::ResourceLimit(format!(
                "filter has {elements} elements, more than the limit of {}",
                ctx.limits.filter_max_elements
            )));
        }
        Self::convert(pf, ctx)
    }

    fn convert(pf: &ProtoFilter, ctx: &mut FilterContext<'_>) -> Result<Filter> {
        Ok(match pf {
            ProtoFilter::Eq(a, v) => {
                let attr = a.trim().to_lowercase();
                let sa = ctx.schema.require_attribute(&attr)?;
                let key = match sa.syntax {
                    SyntaxType::ReferenceUuid | SyntaxType::Uuid => match Uuid::parse_str(v.trim()) {
                        Ok(u) => uuid_key(u),
                        Err(_) => uuid_key((ctx.resolve)(v)?.unwrap_or(UUID_DOES_NOT_EXIST)),
                    },
                    syntax => filter_eq_key(&attr, syntax, v)?,
                };
                Filter::Eq(attr, key)
            }
            ProtoFilter::Sub(a, v) => {
                let attr = substring_attribute(ctx.schema, a, v)?;
                Filter::Sub(attr, v.to_lowercase())
            }
            ProtoFilter::Stw(a, v) => {
                let attr = substring_attribute(ctx.schema, a, v)?;
                Filter::Stw(attr, v.to_lowercase())
            }
            ProtoFilter::Enw(a, v) => {
                let attr = substring_attribute(ctx.schema, a, v)?;
                Filter::Enw(attr, v.to_lowercase())
            }
            ProtoFilter::Lt(a, v) => {
                let attr = a.trim().to_lowercase();
                let sa = ctx.schema.require_attribute(&attr)?;
                if !matches!(
                    sa.syntax,
                    SyntaxType::Uint32
                        | SyntaxType::DateTime
                        | SyntaxType::Utf8String
                        | SyntaxType::Utf8StringInsensitive
                        | SyntaxType::Utf8StringIname
                ) {
                    return Err(unsupported(attr, v, format!("ordering is not supported for syntax {}", sa.syntax)));
                }
                let bound = Value::from_input(&attr, sa.syntax, v, &mut |_| Ok(None))?;
                Filter::Lt(attr, bound)
            }
            ProtoFilter::Pres(a) => {
                let attr = a.trim().to_lowercase();
                ctx.schema.require_attribute(&attr)?;
                Filter::Pres(attr)
            }
            ProtoFilter::Or(fs) => Filter::Or(fs.iter().map(|f| Self::convert(f, ctx)).collect::<Result<_>>()?),
            ProtoFilter::And(fs) => Filter::And(fs.iter().map(|f| Self::convert(f, ctx)).collect::<Result<_>>()?),
            ProtoFilter::AndNot(f) => Filter::AndNot(Box::new(Self::convert(f, ctx)?)),
            ProtoFilter::SelfUuid => Filter::eq_uuid("uuid", ctx.self_uuid.unwrap_or(UUID_DOES_NOT_EXIST)),
        })
    }

    /// The in-memory test: the single definition of what a filter means.
    pub fn matches(&self, e: &Entry) -> bool {
        match self {
            Filter::Eq(a, k) => e.get(a).is_some_and(|vs| vs.iter().any(|v| key_matches(v, k))),
            Filter::Sub(a, n) => {
                e.get(a).is_some_and(|vs| vs.iter().any(|v| v.sub_source().is_some_and(|s| s.contains(n.as_str()))))
            }
            Filter::Stw(a, n) => {
                e.get(a).is_some_and(|vs| vs.iter().any(|v| v.sub_source().is_some_and(|s| s.starts_with(n.as_str()))))
            }
            Filter::Enw(a, n) => {
                e.get(a).is_some_and(|vs| vs.iter().any(|v| v.sub_source().is_some_and(|s| s.ends_with(n.as_str()))))
            }
            Filter::Lt(a, bound) => e.get(a).is_some_and(|vs| {
                vs.iter().any(|v| std::mem::discriminant(v) == std::mem::discriminant(bound) && v < bound)
            }),
            Filter::Pres(a) => e.has(a),
            Filter::Or(fs) => fs.iter().any(|f| f.matches(e)),
            Filter::And(fs) => fs.iter().all(|f| f.matches(e)),
            Filter::AndNot(f) => !f.matches(e),
        }
    }

    /// Every attribute the filter reads (access control checks these are readable).
    pub fn attributes<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Filter::Or(fs) | Filter::And(fs) => fs.iter().for_each(|f| f.attributes(out)),
            Filter::AndNot(f) => f.attributes(out),
            leaf => out.extend(leaf.leaf_attribute()),
        }
    }

    /// The attribute a term tests; `None` for `and`, `or` and `andnot`.
    pub fn leaf_attribute(&self) -> Option<&str> {
        match self {
            Filter::Eq(a, _)
            | Filter::Sub(a, _)
            | Filter::Stw(a, _)
            | Filter::Enw(a, _)
            | Filter::Lt(a, _)
            | Filter::Pres(a) => Some(a),
            Filter::Or(_) | Filter::And(_) | Filter::AndNot(_) => None,
        }
    }
}

/// The attribute a substring-like filter (`sub`, `stw`, `enw`) reads, if its syntax has text
/// to look inside.
fn substring_attribute(schema: &Schema, a: &str, v: &str) -> Result<String> {
    let attr = a.trim().to_lowercase();
    let sa = schema.require_attribute(&attr)?;
    if !matches!(
        sa.syntax,
        SyntaxType::Utf8String
            | SyntaxType::Utf8StringInsensitive
            | SyntaxType::Utf8StringIname
            | SyntaxType::EmailAddress
            | SyntaxType::Url
            | SyntaxType::SecurityPrincipalName
    ) {
        let reason = format!("substring search is not supported for syntax {}", sa.syntax);
        return Err(unsupported(attr, v, reason));
    }
    Ok(attr)
}

fn unsupported(attr: String, value: &str, reason: String) -> OperationError {
    OperationError::SchemaViolation(SchemaError::InvalidAttributeSyntax { attr, value: value.to_string(), reason })
}

/// Compares a value's equality key with `key` without allocating for the common syntaxes.
fn key_matches(v: &Value, key: &str) -> bool {
    match v {
        Value::Utf8(s) | Value::Iutf8(s) | Value::Iname(s) => s == key,
        Value::Uuid(u) | Value::Refer(u) => {
            let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
            u.hyphenated().encode_lower(&mut buf) == key
        }
        other => other.eq_key().as_deref() == Some(key),
    }
}
