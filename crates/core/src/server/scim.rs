//! SCIM (RFC 7643/7644) on top of the engine, for `/scim/v1/Entry`: how an entry is shown,
//! how a SCIM body becomes a create or a modify list, and how a search is filtered, sorted
//! and paged. Handlers parse and render; every mapping of values lives here.
//!
//! An entry is shown schema-aware: a single-valued attribute as one JSON value, a
//! multi-valued one as an array, a reference as `{"uuid": …, "value": spn}`, booleans and
//! integers as JSON booleans and numbers. Its uuid is the SCIM `id`, not an attribute.
//! Credentials and other secrets show only what the JSON API shows (never a hash).
//!
//! Everything runs as the caller: the search, the create and the modify go through access
//! control and the caller's limits like any other request.

use super::{QueryServerTransaction, QueryServerWriteTransaction, name_filter};
use crate::entry::{Entry, StoredEntry};
use crate::identity::Identity;
use crate::proto::scim::{SCIM_ENTRY_SCHEMA, SCIM_LIST_RESPONSE_SCHEMA, ScimFilter, ScimListResponse, ScimQuery};
use crate::proto::{Filter as ProtoFilter, Modify, ModifyList, OperationError, ProtoEntry, SchemaError};
use crate::schema::Schema;
use crate::value::Value;
use serde_json::{Map, Value as JsonValue};
use std::collections::BTreeSet;
use uuid::Uuid;

type Result<T> = std::result::Result<T, OperationError>;
/// A SCIM resource or request body: attribute names to JSON values.
pub type ScimObject = Map<String, JsonValue>;

/// Keys of a SCIM resource that are not attributes. `schemas` and `meta` are read-only
/// (RFC 7643 §3.1), so a client echoing an entry back may send them and they are ignored.
const IGNORED_KEYS: [&str; 2] = ["schemas", "meta"];

/// Which attributes a response carries (RFC 7644 §3.9): `attributes` names the only ones,
/// `excludedAttributes` removes some. The id is always returned.
#[derive(Debug, Default)]
pub struct ScimProjection {
    only: Option<BTreeSet<String>>,
    excluded: BTreeSet<String>,
}

impl ScimProjection {
    pub fn from_query(q: &ScimQuery, schema: &Schema) -> Result<Self> {
        if q.ext_access_check {
            return Err(OperationError::InvalidRequest(
                "extAccessCheck is not supported: entries show what the caller may read".to_string(),
            ));
        }
        let only = q.attributes.as_deref().map(|l| attribute_list("attributes", l, schema)).transpose()?;
        let excluded =
            q.excluded_attributes.as_deref().map(|l| attribute_list("excludedAttributes", l, schema)).transpose()?;
        Ok(ScimProjection { only, excluded: excluded.unwrap_or_default() })
    }

    fn shows(&self, attr: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.contains(attr)) && !self.excluded.contains(attr)
    }
}

/// A comma separated list of attribute names, each known to schema.
fn attribute_list(param: &str, list: &str, schema: &Schema) -> Result<BTreeSet<String>> {
    list.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            let a = a.to_lowercase();
            if a.contains('.') {
                return Err(OperationError::InvalidRequest(format!(
                    "{param}: sub-attributes ('{a}') are not supported; name the attribute"
                )));
            }
            schema
                .require_attribute(&a)
                .map_err(|_| OperationError::InvalidRequest(format!("{param}: '{a}' is not an attribute in schema")))?;
            Ok(a)
        })
        .collect()
}

/// One value as SCIM shows it.
fn scim_value<T: QueryServerTransaction + ?Sized>(txn: &mut T, v: &Value) -> Result<JsonValue> {
    Ok(match v {
        Value::Refer(u) => {
            let mut r = Map::new();
            r.insert("uuid".into(), u.to_string().into());
            r.insert("value".into(), txn.display_name(*u)?.into());
            JsonValue::Object(r)
        }
        Value::Bool(b) => (*b).into(),
        Value::Uint32(n) => (*n).into(),
        Value::JsonFilter(f) => serde_json::to_value(f).map_err(|e| OperationError::Serde(e.to_string()))?,
        other => other.to_proto_string().into(),
    })
}

/// The caller's view of `e` as a SCIM resource, limited to what `projection` asks for.
pub fn scim_entry<T: QueryServerTransaction + ?Sized>(
    txn: &mut T,
    e: &Entry,
    projection: &ScimProjection,
) -> Result<ScimObject> {
    let id = e.uuid().ok_or_else(|| OperationError::InvalidState("an entry without a uuid".to_string()))?;
    let schema = txn.schema();
    let mut out = identity_only(id);
    for (attr, vs) in e.attrs() {
        if attr == "uuid" || !projection.shows(attr) {
            continue;
        }
        let mut values = Vec::with_capacity(vs.len());
        for v in vs.iter() {
            values.push(scim_value(txn, v)?);
        }
        let multi = schema.attribute(attr).is_none_or(|sa| sa.multivalue);
        let shown = match values.pop() {
            Some(v) if !multi && values.is_empty() => v,
            last => JsonValue::Array(values.into_iter().chain(last).collect()),
        };
        out.insert(attr.clone(), shown);
    }
    Ok(out)
}

/// A resource showing only its id: what a caller who may not read an entry learns of it.
fn identity_only(id: Uuid) -> ScimObject {
    let mut out = Map::new();
    out.insert("schemas".into(), JsonValue::Array(vec![SCIM_ENTRY_SCHEMA.into()]));
    out.insert("id".into(), id.to_string().into());
    out
}

/// A SCIM filter text in the JSON filter language, with its position on error.
fn parse_filter(text: &str) -> Result<ProtoFilter> {
    let invalid = |e: crate::proto::scim::ScimFilterError| OperationError::InvalidRequest(format!("filter: {e}"));
    text.parse::<ScimFilter>().map_err(invalid)?.to_filter().map_err(invalid)
}

/// Ascending or descending (RFC 7644 §3.4.2.3), without regard to case.
fn descending(order: Option<&str>) -> Result<bool> {
    match order.map(str::to_ascii_lowercase).as_deref() {
        None | Some("ascending") => Ok(false),
        Some("descending") => Ok(true),
        Some(other) => {
            Err(OperationError::InvalidRequest(format!("sortOrder: '{other}' is neither 'ascending' nor 'descending'")))
        }
    }
}

/// Sorts by an attribute's smallest value; entries without it sort last ascending and first
/// descending (the ascending order reversed), ties by uuid so pages are stable.
fn sort_entries(found: &mut [StoredEntry], attr: &str, descending: bool) {
    let key = |e: &StoredEntry| {
        let smallest = e.get(attr).and_then(|vs| vs.iter().min()).cloned();
        (smallest.is_none(), smallest)
    };
    if descending {
        found.sort_by_cached_key(|e| (std::cmp::Reverse(key(e)), e.uuid()));
    } else {
        found.sort_by_cached_key(|e| (key(e), e.uuid()));
    }
}

/// Read access to entries in SCIM form, for any transaction.
pub trait ScimRead: QueryServerTransaction {
    /// `GET /scim/v1/Entry`: the entries matching `q.filter` (every entry without one) that
    /// the caller may see, sorted and paged. `totalResults` counts before paging.
    fn scim_search(&mut self, ident: &Identity, q: &ScimQuery) -> Result<ScimListResponse> {
        let schema = self.schema();
        let projection = ScimProjection::from_query(q, &schema)?;
        let descending = descending(q.sort_order.as_deref())?;
        let filter = match q.filter.as_deref() {
            Some(text) => parse_filter(text)?,
            None => ProtoFilter::Pres("class".into()),
        };
        let sort_by = match q.sort_by.as_deref() {
            Some(a) => {
                let a = a.trim().to_lowercase();
                schema.require_attribute(&a).map_err(|_| {
                    OperationError::InvalidRequest(format!("sortBy: '{a}' is not an attribute in schema"))
                })?;
                Some(a)
            }
            None if q.sort_order.is_some() => {
                return Err(OperationError::InvalidRequest("sortOrder needs sortBy".to_string()));
            }
            None => None,
        };
        let mut found = self.search(ident, &filter)?;
        let total_results = found.len() as u64;
        if let Some(attr) = &sort_by {
            sort_entries(&mut found, attr, descending);
        }
        let paged = q.start_index.is_some() || q.count.is_some();
        // RFC 7644 §3.4.2.4: an index below 1 is 1; a negative count is 0.
        let start = q.start_index.unwrap_or(1).max(1);
        let skip = usize::try_from(start - 1).unwrap_or(usize::MAX);
        let take = q.count.map_or(usize::MAX, |c| usize::try_from(c.max(0)).unwrap_or(usize::MAX));
        let mut resources = Vec::new();
        for e in found.iter().skip(skip).take(take) {
            resources.push(scim_entry(self, e, &projection)?);
        }
        Ok(ScimListResponse {
            schemas: vec![SCIM_LIST_RESPONSE_SCHEMA.to_string()],
            total_results,
            items_per_page: paged.then_some(resources.len() as u64),
            start_index: paged.then_some(start as u64),
            resources,
        })
    }

    /// `GET /scim/v1/Entry/{id}`: the one entry named `id` (uuid, name or spn) that the caller
    /// may see. Listing options make no sense for one entry and are refused.
    fn scim_get(&mut self, ident: &Identity, id: &str, q: &ScimQuery) -> Result<ScimObject> {
        if q.lists() {
            return Err(OperationError::InvalidRequest(
                "filter, sorting and paging apply to /scim/v1/Entry, not to one entry".to_string(),
            ));
        }
        let projection = ScimProjection::from_query(q, &self.schema())?;
        let mut found = self.search(ident, &name_filter(id))?;
        match (found.pop(), found.is_empty()) {
            (Some(e), true) => scim_entry(self, &e, &projection),
            (None, _) => Err(OperationError::NoMatchingEntries),
            (Some(_), false) => Err(OperationError::InvalidRequest(format!("'{id}' names several entries"))),
        }
    }

    /// The entry `id` as the caller sees it after a write, or only its id if it may not read it.
    fn scim_after_write(&mut self, ident: &Identity, id: Uuid, projection: &ScimProjection) -> Result<ScimObject> {
        let mut found = self.search(ident, &ProtoFilter::Eq("uuid".into(), id.to_string()))?;
        match found.pop() {
            Some(e) => scim_entry(self, &e, projection),
            None => Ok(identity_only(id)),
        }
    }
}

impl<T: QueryServerTransaction + ?Sized> ScimRead for T {}

/// The values a SCIM body gives an attribute: a value or an array of them. Strings are taken
/// as written, booleans and numbers as their text, a reference object by its `uuid` (else its
/// `value`, a name or spn).
fn input_values(attr: &str, v: JsonValue) -> Result<Vec<String>> {
    match v {
        JsonValue::Array(items) => items.into_iter().map(|i| input_value(attr, i)).collect(),
        one => Ok(vec![input_value(attr, one)?]),
    }
}

fn input_value(attr: &str, v: JsonValue) -> Result<String> {
    let refuse = |value: &JsonValue, reason: &str| {
        OperationError::SchemaViolation(SchemaError::InvalidAttributeSyntax {
            attr: attr.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        })
    };
    match v {
        JsonValue::String(s) => Ok(s),
        JsonValue::Bool(b) => Ok(b.to_string()),
        JsonValue::Number(n) => Ok(n.to_string()),
        JsonValue::Object(ref m) => match (m.get("uuid"), m.get("value")) {
            (Some(JsonValue::String(u)), _) => Ok(u.clone()),
            (None, Some(JsonValue::String(name))) => Ok(name.clone()),
            _ => Err(refuse(&v, "an object value must be a reference with a string 'uuid' or 'value'")),
        },
        JsonValue::Null => Err(refuse(&v, "null is not a value; in an update, null as the whole value removes it")),
        JsonValue::Array(_) => Err(refuse(&v, "arrays inside arrays are not values")),
    }
}

/// The attributes of a SCIM body, lowercased, without the keys that are not attributes.
/// `id` and `externalId` cannot be chosen and are refused rather than dropped.
fn body_attributes(body: ScimObject) -> Result<impl Iterator<Item = (String, JsonValue)>> {
    if body.contains_key("externalId") {
        return Err(OperationError::InvalidRequest("externalId is not supported".to_string()));
    }
    Ok(body.into_iter().filter(|(k, _)| !IGNORED_KEYS.contains(&k.as_str())).map(|(k, v)| (k.to_lowercase(), v)))
}

impl QueryServerWriteTransaction<'_> {
    /// `POST /scim/v1/Entry`: creates the entry the body describes (its `class` included) and
    /// returns it as the caller may see it.
    pub fn scim_create(&mut self, ident: &Identity, body: ScimObject) -> Result<ScimObject> {
        if body.contains_key("id") {
            return Err(OperationError::InvalidRequest(
                "id is assigned by the server; set the uuid attribute to choose it".to_string(),
            ));
        }
        let mut entry = ProtoEntry::default();
        for (attr, v) in body_attributes(body)? {
            let values = input_values(&attr, v)?;
            if !values.is_empty() {
                entry.attrs.entry(attr).or_default().extend(values);
            }
        }
        let created = self.create(ident, &[entry])?;
        let id = created.first().copied().ok_or(OperationError::NoMatchingEntries)?;
        self.scim_after_write(ident, id, &ScimProjection::default())
    }

    /// `PUT /scim/v1/Entry`: replaces the attributes the body names on the entry whose uuid is
    /// `id` (`null` removes one), in one modify, and returns the entry. Query options in the
    /// body (`attributes`, `excludedAttributes`) shape the answer, as Kanidm allows.
    pub fn scim_update(&mut self, ident: &Identity, mut body: ScimObject) -> Result<ScimObject> {
        let id = match body.remove("id") {
            Some(JsonValue::String(s)) => {
                Uuid::parse_str(&s).map_err(|_| OperationError::InvalidRequest(format!("id: '{s}' is not a uuid")))?
            }
            Some(other) => return Err(OperationError::InvalidRequest(format!("id: {other} is not a uuid"))),
            None => return Err(OperationError::InvalidRequest("id: the entry's uuid is required".to_string())),
        };
        let mut options = Map::new();
        for k in ScimQuery::KEYS {
            if let Some(v) = body.remove(k) {
                options.insert(k.to_string(), v);
            }
        }
        let q: ScimQuery = serde_json::from_value(JsonValue::Object(options))
            .map_err(|e| OperationError::InvalidRequest(format!("query options: {e}")))?;
        if q.lists() {
            return Err(OperationError::InvalidRequest(
                "filter, sorting and paging do not apply to an update".to_string(),
            ));
        }
        let projection = ScimProjection::from_query(&q, &self.schema())?;
        let mut mods = Vec::new();
        for (attr, v) in body_attributes(body)? {
            mods.push(Modify::Purged(attr.clone()));
            if !v.is_null() {
                mods.extend(input_values(&attr, v)?.into_iter().map(|s| Modify::Present(attr.clone(), s)));
            }
        }
        if mods.is_empty() {
            return Err(OperationError::InvalidRequest("the update names no attribute to change".to_string()));
        }
        let target = ProtoFilter::Eq("uuid".into(), id.to_string());
        self.modify(ident, &target, &ModifyList::new(mods))?;
        self.scim_after_write(ident, id, &projection)
    }

    /// `DELETE /scim/v1/Entry/{id}`: deletes (recycles) the one entry `id` names.
    pub fn scim_delete(&mut self, ident: &Identity, id: &str) -> Result<()> {
        let found = self.search(ident, &name_filter(id))?;
        match found.as_slice() {
            [] => Err(OperationError::NoMatchingEntries),
            [e] => {
                let uuid = e.uuid().ok_or(OperationError::NoMatchingEntries)?;
                self.delete(ident, &ProtoFilter::Eq("uuid".into(), uuid.to_string())).map(drop)
            }
            _ => Err(OperationError::InvalidRequest(format!("'{id}' names several entries"))),
        }
    }
}
