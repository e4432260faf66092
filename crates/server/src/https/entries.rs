//! People, service accounts and groups in Kanidm's REST shapes: `/v1/{person,service_account,
//! group}` with entries as `{"attrs":{name:[values]}}`, `GET …/{id}` answering the entry or
//! `null`, `PATCH` with the attributes to replace, and `…/{id}/_attr/{attr}` to read, set, add
//! to and remove from one attribute. Every operation runs as the caller, under access control.

use super::openapi::{ApiRouter, Methods, get};
use super::{ApiError, AppState, json_body};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use idm_core::proto::{Filter, Modify, ModifyList, OperationError, ProtoEntry};
use idm_core::server::{QueryServerTransaction, name_filter};
use serde::de::DeserializeOwned;

/// What an endpoint family manages: the class that marks its entries and the classes a new
/// one gets.
#[derive(Clone, Copy, Debug)]
pub(super) enum Kind {
    Person,
    ServiceAccount,
    /// The 2022 API's `/v1/account`: every account (people and service accounts). What it
    /// creates is a service account: people are created under `/v1/person`.
    Account,
    Group,
}

impl Kind {
    pub(super) fn class(self) -> &'static str {
        match self {
            Kind::Person => "person",
            Kind::ServiceAccount => "service_account",
            Kind::Account => "account",
            Kind::Group => "group",
        }
    }

    fn create_classes(self) -> &'static [&'static str] {
        match self {
            Kind::Person => &["object", "account", "person"],
            Kind::ServiceAccount | Kind::Account => &["object", "account", "service_account"],
            Kind::Group => &["object", "group"],
        }
    }

    /// The entries of this kind named `id` (a name, spn or uuid).
    pub(super) fn named(self, id: &str) -> Filter {
        Filter::And(vec![Filter::Eq("class".into(), self.class().into()), name_filter(id)])
    }

    /// Every entry of this kind, or those whose name, mail or display name contains `s`.
    fn listing(self, s: Option<&str>) -> Filter {
        let class = Filter::Eq("class".into(), self.class().into());
        match s.map(str::trim).filter(|s| !s.is_empty()) {
            None => class,
            Some(s) => Filter::And(vec![
                class,
                Filter::Or(
                    ["name", "mail", "displayname"].into_iter().map(|a| Filter::Sub(a.into(), s.into())).collect(),
                ),
            ]),
        }
    }
}

pub(super) async fn search(state: &AppState, headers: &HeaderMap, f: Filter) -> Result<Vec<ProtoEntry>, ApiError> {
    state
        .read(headers, move |r, ident| {
            let found = r.search(ident, &f)?;
            found.iter().map(|e| r.to_proto_entry(e)).collect()
        })
        .await
}

/// The one entry `f` finds, or none; several is an error naming `id`.
pub(super) async fn one(
    state: &AppState,
    headers: &HeaderMap,
    f: Filter,
    id: &str,
) -> Result<Option<ProtoEntry>, ApiError> {
    let mut found = search(state, headers, f).await?;
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(ApiError(OperationError::InvalidRequest(format!("'{id}' names several entries")))),
    }
}

async fn modify(state: &AppState, headers: &HeaderMap, f: Filter, mods: Vec<Modify>) -> Result<Json<()>, ApiError> {
    if mods.is_empty() {
        return Err(ApiError(OperationError::EmptyRequest));
    }
    state.write(headers, move |w, ident| w.modify(ident, &f, &ModifyList::new(mods)).map(drop)).await.map(Json)
}

/// Replacing an attribute: purge it, then add each value (none: it is removed).
fn replace(attr: &str, values: Vec<String>) -> Vec<Modify> {
    std::iter::once(Modify::Purged(attr.into()))
        .chain(values.into_iter().map(|v| Modify::Present(attr.into(), v)))
        .collect()
}

/// A list of values from a body that may be empty (clients send DELETE with `[]`, with
/// nothing, or with the values to remove).
fn optional_values(body: &Bytes) -> Result<Vec<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError(OperationError::InvalidRequest(format!("the body must be a JSON list of strings: {e}"))))
}

pub(super) fn routes(kind: Kind) -> ApiRouter {
    ApiRouter::new()
        .route(
            "/",
            get("List the entries of this kind.", move |State(s): State<AppState>, h: HeaderMap| async move {
                search(&s, &h, kind.listing(None)).await.map(Json)
            })
            .post("Create one: {\"attrs\":{…}} (its classes are added).", move |State(s): State<AppState>, h: HeaderMap, body: Result<Json<ProtoEntry>, JsonRejection>| async move {
                let mut e = json_body(body)?;
                let classes = e.attrs.entry("class".into()).or_default();
                for c in kind.create_classes() {
                    if !classes.iter().any(|x| x.eq_ignore_ascii_case(c)) {
                        classes.push(c.to_string());
                    }
                }
                s.write(&h, move |w, ident| w.create(ident, &[e]).map(drop)).await.map(Json)
            }),
        )
        .route(
            "/_search/{s}",
            get("Those whose name, mail or display name contains the text.", move |State(s): State<AppState>, h: HeaderMap, Path(q): Path<String>| async move {
                search(&s, &h, kind.listing(Some(&q))).await.map(Json)
            }),
        )
        .route(
            "/{id}",
            get("One entry, or null.", move |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                one(&s, &h, kind.named(&id), &id).await.map(Json)
            })
            .patch(
                "Replace the attributes given.",
                move |State(s): State<AppState>,
                      h: HeaderMap,
                      Path(id): Path<String>,
                      body: Result<Json<ProtoEntry>, JsonRejection>| async move {
                    let e = json_body(body)?;
                    let mods = e.attrs.into_iter().flat_map(|(a, vs)| replace(&a, vs)).collect();
                    modify(&s, &h, kind.named(&id), mods).await
                },
            )
            .delete("Delete it (to the recycle bin).", move |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                let f = kind.named(&id);
                s.write(&h, move |w, ident| w.delete(ident, &f).map(drop)).await.map(Json)
            }),
        )
        .route("/{id}/_attr/{attr}", one_attribute(move |(id, attr): (String, String)| (kind.named(&id), id, attr)))
}

/// `GET` (the values, or `null`), `PUT` (set), `POST` (add) and `DELETE` (remove the listed
/// values, or all) of one attribute of the entry `target` finds from the path: the filter,
/// a name for messages, and the attribute.
pub(super) fn one_attribute<P>(
    target: impl Fn(P) -> (Filter, String, String) + Clone + Send + Sync + 'static,
) -> Methods
where
    P: DeserializeOwned + Send + 'static,
{
    let (t1, t2, t3, t4) = (target.clone(), target.clone(), target.clone(), target);
    get(
        "The values of one attribute, or null.",
        move |State(s): State<AppState>, h: HeaderMap, Path(p): Path<P>| async move {
            let (f, id, attr) = t1(p);
            let e = one(&s, &h, f, &id).await?;
            Ok::<_, ApiError>(Json(e.and_then(|mut e| e.attrs.remove(&attr.to_lowercase()))))
        },
    )
    .put(
        "Set the attribute to these values.",
        move |State(s): State<AppState>,
              h: HeaderMap,
              Path(p): Path<P>,
              body: Result<Json<Vec<String>>, JsonRejection>| async move {
            let (f, _, attr) = t2(p);
            let values = json_body(body)?;
            modify(&s, &h, f, replace(&attr, values)).await
        },
    )
    .post(
        "Add these values.",
        move |State(s): State<AppState>,
              h: HeaderMap,
              Path(p): Path<P>,
              body: Result<Json<Vec<String>>, JsonRejection>| async move {
            let (f, _, attr) = t3(p);
            let values = json_body(body)?;
            let mods = values.into_iter().map(|v| Modify::Present(attr.clone(), v)).collect();
            modify(&s, &h, f, mods).await
        },
    )
    .delete(
        "Remove these values (all without a body).",
        move |State(s): State<AppState>, h: HeaderMap, Path(p): Path<P>, body: Bytes| async move {
            let (f, _, attr) = t4(p);
            let values = optional_values(&body)?;
            let mods = if values.is_empty() {
                vec![Modify::Purged(attr)]
            } else {
                values.into_iter().map(|v| Modify::Removed(attr.clone(), v)).collect()
            };
            modify(&s, &h, f, mods).await
        },
    )
}
