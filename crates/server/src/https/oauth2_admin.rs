//! `/v1/oauth2`: OAuth2 clients in Kanidm's REST shapes. Listing, reading and attribute edits
//! are the generic entry operations on class `oauth2_resource_server`; creating a client and
//! changing or reading its secret are the identity layer's (`oauth2::clients`), which makes
//! the secrets.

use super::entries::{one, one_attribute, search};
use super::openapi::Methods;
use super::openapi::{ApiRouter, get, post};
use super::{ApiError, AppState, json_body};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use idm_core::proto::{Filter, ProtoEntry};
use idm_identity::oauth2::clients::client_filter;
use idm_identity::oauth2::{ClientKind, ScopeMapKind};

/// `POST` (a JSON list of scopes: what the group's members get) and `DELETE` of one group's
/// map on a client.
fn scope_map(kind: ScopeMapKind) -> Methods {
    post("Set the group's scopes (a JSON list).", move |State(s): State<AppState>, h: HeaderMap, Path((id, group)): Path<(String, String)>, body: Result<Json<Vec<String>>, JsonRejection>| async move {
        let scopes = json_body(body)?;
        s.with_token(&h, move |idm, t| idm.oauth2_set_scope_map(t, &id, &group, &scopes, kind)).await.map(Json)
    })
    .delete("Remove the group's map.", move |State(s): State<AppState>, h: HeaderMap, Path((id, group)): Path<(String, String)>, _body: Bytes| async move {
        s.with_token(&h, move |idm, t| idm.oauth2_delete_scope_map(t, &id, &group, kind)).await.map(Json)
    })
}

async fn create(
    s: AppState,
    h: HeaderMap,
    kind: ClientKind,
    body: Result<Json<ProtoEntry>, JsonRejection>,
) -> Result<Json<()>, ApiError> {
    let e = json_body(body)?;
    s.with_token(&h, move |idm, t| idm.oauth2_create(t, kind, e)).await.map(Json)
}

pub(super) fn routes() -> ApiRouter {
    ApiRouter::new()
        .route(
            "/",
            get("List the OAuth2 clients.", |State(s): State<AppState>, h: HeaderMap| async move {
                search(&s, &h, Filter::Eq("class".into(), "oauth2_resource_server".into())).await.map(Json)
            }),
        )
        .route(
            "/_basic",
            post("Create a confidential client: {\"attrs\":{name, displayname, oauth2_rs_origin_landing}}; its secret is made.", |State(s): State<AppState>, h: HeaderMap, body: Result<Json<ProtoEntry>, JsonRejection>| async move {
                create(s, h, ClientKind::Basic, body).await
            }),
        )
        .route(
            "/_public",
            post("Create a public client (no secret; PKCE always).", |State(s): State<AppState>, h: HeaderMap, body: Result<Json<ProtoEntry>, JsonRejection>| async move {
                create(s, h, ClientKind::Public, body).await
            }),
        )
        .route(
            "/{id}",
            get("One client, or null.", |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                one(&s, &h, client_filter(&id), &id).await.map(Json)
            })
            .patch("Replace the attributes given (an empty oauth2_rs_basic_secret makes a new secret).", |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>, body: Result<Json<ProtoEntry>, JsonRejection>| async move {
                let e = json_body(body)?;
                s.with_token(&h, move |idm, t| idm.oauth2_update(t, &id, e)).await.map(Json)
            })
            .delete("Delete the client (to the recycle bin).", |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                s.with_token(&h, move |idm, t| idm.oauth2_delete(t, &id)).await.map(Json)
            }),
        )
        .route(
            "/{id}/_basic_secret",
            get("A confidential client's secret (null for a public client).", |State(s): State<AppState>, h: HeaderMap, Path(id): Path<String>| async move {
                s.with_token(&h, move |idm, t| idm.oauth2_basic_secret(t, &id)).await.map(Json)
            }),
        )
        .route("/{id}/_scopemap/{group}", scope_map(ScopeMapKind::Scopes))
        .route("/{id}/_sup_scopemap/{group}", scope_map(ScopeMapKind::Supplementary))
        .route(
            "/{id}/_claimmap/{claim}/{group}",
            post("Set the claim's values for the group's members (a JSON list).", |State(s): State<AppState>, h: HeaderMap, Path((id, claim, group)): Path<(String, String, String)>, body: Result<Json<Vec<String>>, JsonRejection>| async move {
                let values = json_body(body)?;
                s.with_token(&h, move |idm, t| idm.oauth2_set_claim_map(t, &id, &claim, &group, &values)).await.map(Json)
            })
            .delete("Remove the group's values of the claim.", |State(s): State<AppState>, h: HeaderMap, Path((id, claim, group)): Path<(String, String, String)>, _body: Bytes| async move {
                s.with_token(&h, move |idm, t| idm.oauth2_delete_claim_map(t, &id, &claim, &group)).await.map(Json)
            }),
        )
        .route(
            "/{id}/_claimmap/{claim}",
            post("How the claim's values are joined: \"array\", \"csv\" or \"ssv\".", |State(s): State<AppState>, h: HeaderMap, Path((id, claim)): Path<(String, String)>, body: Result<Json<String>, JsonRejection>| async move {
                let join = json_body(body)?;
                s.with_token(&h, move |idm, t| idm.oauth2_set_claim_join(t, &id, &claim, &join)).await.map(Json)
            }),
        )
        .route("/{id}/_attr/{attr}", one_attribute(|(id, attr): (String, String)| (client_filter(&id), id, attr)))
}
