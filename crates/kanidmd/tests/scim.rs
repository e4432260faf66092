//! `/scim/v1/Entry` through the real server: the SCIM filter with sorting, paging and
//! attribute selection; create, update and delete all-or-nothing; bad input refused with
//! the problem named; and everything under the caller's access control.

use idm_testkit::api::Api;
use idm_testkit::server::TestServer;
use serde_json::{Value, json};
use std::path::Path;

/// `/scim/v1/Entry` with these query parameters, encoded.
fn entry_query(params: &[(&str, &str)]) -> String {
    let url = reqwest::Url::parse_with_params("https://x/scim/v1/Entry", params).unwrap();
    format!("{}?{}", url.path(), url.query().unwrap_or_default())
}

fn names(list: &Value) -> Vec<&str> {
    list["resources"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap_or("?")).collect()
}

async fn put(api: &Api, token: &str, body: Value) -> (u16, Value) {
    api.call(reqwest::Method::PUT, "/scim/v1/Entry", token, Some(body)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn scim_searches_sort_page_and_select_attributes() {
    let s = TestServer::start(Path::new(env!("CARGO_BIN_EXE_kanidmd")));
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    for n in ["pg3", "pg1", "pg5", "pg2", "pg4"] {
        let (code, e) = api.post("/scim/v1/Entry", &idm, json!({"class": ["object", "group"], "name": n})).await;
        assert_eq!(code, 200, "{e}");
        // Single-valued attributes are one value, multi-valued ones arrays; the uuid is the id.
        assert_eq!(e["name"], json!(n), "{e}");
        assert!(e["class"].as_array().unwrap().contains(&json!("group")), "{e}");
        assert!(e["id"].as_str().unwrap().len() == 36 && e.get("uuid").is_none(), "{e}");
    }

    let q = entry_query(&[("filter", r#"name sw "pg""#), ("sortBy", "name"), ("sortOrder", "descending")]);
    let (code, all) = api.get(&q, &idm).await;
    assert_eq!(code, 200, "{all}");
    assert_eq!(names(&all), ["pg5", "pg4", "pg3", "pg2", "pg1"]);
    assert_eq!(all["totalResults"], json!(5));
    assert!(all.get("itemsPerPage").is_none(), "not paged: {all}");

    let q = entry_query(&[("filter", r#"NAME SW "pg""#), ("sortBy", "name"), ("startIndex", "2"), ("count", "2")]);
    let (_, page) = api.get(&q, &idm).await;
    assert_eq!(names(&page), ["pg2", "pg3"], "{page}");
    assert_eq!((&page["totalResults"], &page["itemsPerPage"], &page["startIndex"]), (&json!(5), &json!(2), &json!(2)));
    // Past the end: an empty page (RFC 7644 §3.4.2.4), not an error.
    let (code, past) = api.get(&entry_query(&[("filter", r#"name sw "pg""#), ("startIndex", "9")]), &idm).await;
    assert_eq!((code, &past["totalResults"], past["resources"].as_array().unwrap().len()), (200, &json!(5), 0));

    // ne, gt/le and not, composed as the RFC defines them.
    let q = entry_query(&[("filter", r#"name sw "pg" and name ne "pg3" and not (name gt "pg4")"#), ("sortBy", "name")]);
    assert_eq!(names(&api.get(&q, &idm).await.1), ["pg1", "pg2", "pg4"]);

    // Only the attributes asked for (and the id).
    let (_, one) = api.get(&entry_query(&[("filter", r#"name eq "pg1""#), ("attributes", "name")]), &idm).await;
    let keys: Vec<_> = one["resources"][0].as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["id", "name", "schemas"], "{one}");
    let (code, by_name) = api.get("/scim/v1/Entry/pg1?excludedAttributes=class", &idm).await;
    assert_eq!((code, &by_name["name"]), (200, &json!("pg1")), "{by_name}");
    assert!(by_name.get("class").is_none(), "{by_name}");
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn scim_writes_are_all_or_nothing_and_bad_input_is_named() {
    let s = TestServer::start(Path::new(env!("CARGO_BIN_EXE_kanidmd")));
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let (code, g) = api.post("/scim/v1/Entry", &idm, json!({"class": ["object", "group"], "name": "crew"})).await;
    assert_eq!(code, 200, "{g}");
    let id = g["id"].as_str().unwrap().to_string();
    let (code, p) = api
        .post(
            "/scim/v1/Entry",
            &idm,
            json!({"class": ["person", "account", "object"], "name": "ann", "displayname": "Ann"}),
        )
        .await;
    assert_eq!(code, 200, "{p}");

    // Update: replace, add a reference by name, remove with null; the answer is the new entry.
    let (code, g) = put(&api, &idm, json!({"id": id, "description": "the crew", "member": ["ann"]})).await;
    assert_eq!(code, 200, "{g}");
    assert_eq!(g["member"], json!([{"uuid": p["id"], "value": "ann@localhost"}]), "{g}");
    let (code, g) = put(&api, &idm, json!({"id": id, "description": null, "attributes": "name,description"})).await;
    assert_eq!(code, 200, "{g}");
    assert_eq!(g.as_object().unwrap().keys().collect::<Vec<_>>(), ["id", "name", "schemas"], "{g}");

    // Each refused with its problem named, and nothing changed.
    let bad: [(&str, Value, &str); 7] = [
        ("POST", json!({"id": id, "class": ["object", "group"], "name": "x1"}), "id is assigned by the server"),
        ("POST", json!({"class": ["object", "group"], "name": "x2", "description": null}), "null is not a value"),
        ("POST", json!({"class": ["object", "group"], "name": "x3", "nosuchattr": "v"}), "nosuchattr"),
        ("PUT", json!({"description": "x"}), "uuid is required"),
        ("PUT", json!({"id": "crew", "description": "x"}), "is not a uuid"),
        ("PUT", json!({"id": id, "description": "changed", "member": [{"nope": 1}]}), "reference"),
        ("PUT", json!({"id": id, "filter": "name pr", "description": "changed"}), "do not apply"),
    ];
    for (method, body, says) in bad {
        let (code, err) = if method == "POST" {
            api.post("/scim/v1/Entry", &idm, body.clone()).await
        } else {
            put(&api, &idm, body.clone()).await
        };
        assert_eq!(code, 400, "{method} {body}: {err}");
        assert!(err.to_string().contains(says), "{method} {body}: {err} should say {says}");
    }
    let (_, g) = api.get(&format!("/scim/v1/Entry/{id}"), &idm).await;
    assert!(g.get("description").is_none(), "the refused update changed nothing: {g}");
    let (_, found) = api.get(&entry_query(&[("filter", r#"name sw "x""#)]), &idm).await;
    assert_eq!(found["totalResults"], json!(0), "no refused create left an entry: {found}");

    let bad_queries = [
        (vec![("filter", r#"name eq"#)], "character 7"),
        (vec![("filter", r#"name[value eq "x"]"#)], "value path"),
        (vec![("filter", r#"name eq "x""#), ("sortOrder", "sideways")], "sortOrder"),
        (vec![("sortBy", "nosuchattr")], "sortBy"),
        (vec![("attributes", "nosuchattr")], "attributes"),
        (vec![("extAccessCheck", "true")], "extAccessCheck"),
        (vec![("frobnicate", "1")], "frobnicate"),
    ];
    for (params, says) in bad_queries {
        let (code, err) = api.get(&entry_query(&params), &idm).await;
        assert_eq!(code, 400, "{params:?}: {err}");
        assert!(err.to_string().contains(says), "{params:?}: {err} should say {says}");
    }
    let (code, _) = api.get("/scim/v1/Entry/crew?filter=name%20pr", &idm).await;
    assert_eq!(code, 400, "listing options on one entry");

    // Unknown targets are 404; a delete recycles the entry.
    let missing = uuid::Uuid::new_v4().to_string();
    assert_eq!(put(&api, &idm, json!({"id": missing, "description": "x"})).await.0, 404);
    assert_eq!(api.call(reqwest::Method::DELETE, "/scim/v1/Entry/nosuch", &idm, None).await.0, 404);
    let (code, body) = api.call(reqwest::Method::DELETE, "/scim/v1/Entry/crew", &idm, None).await;
    assert_eq!((code, body), (200, json!(null)));
    assert_eq!(api.get(&format!("/scim/v1/Entry/{id}"), &idm).await.0, 404);
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn scim_runs_as_the_caller() {
    let s = TestServer::start(Path::new(env!("CARGO_BIN_EXE_kanidmd")));
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let (code, body) = api
        .post(
            "/v1/person",
            &idm,
            json!({"attrs": {"name": ["bob"], "displayname": ["Bob"], "mail": ["bob@example.com"]}}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = api.set_password(&idm, "bob", "a long enough password 7").await;
    assert_eq!(code, 200, "{body}");
    let bob = api.login("bob", "a long enough password 7").await.unwrap();

    // Bob may not create, update or delete what he does not manage.
    let (code, _) = api.post("/scim/v1/Entry", &bob, json!({"class": ["object", "group"], "name": "bobs"})).await;
    assert_eq!(code, 403);
    let (_, admins) = api.get("/scim/v1/Entry/idm_admins", &idm).await;
    let (code, _) = put(&api, &bob, json!({"id": admins["id"], "description": "pwned"})).await;
    assert!(code == 403 || code == 404, "{code}");
    assert_eq!(api.call(reqwest::Method::DELETE, "/scim/v1/Entry/idm_admins", &bob, None).await.0 / 100, 4);
    let (_, admins) = api.get("/scim/v1/Entry/idm_admins", &idm).await;
    assert!(admins.get("description").is_none_or(|d| d != "pwned"), "{admins}");

    // A filter on an attribute he cannot read finds nothing, and the total says no more.
    let anon = api.login("anonymous", "").await.unwrap();
    for token in [bob.as_str(), anon.as_str()] {
        let (code, found) = api.get(&entry_query(&[("filter", r#"mail eq "bob@example.com""#)]), token).await;
        assert_eq!(code, 200, "{found}");
        let (_, by_admin) = api.get(&entry_query(&[("filter", r#"mail eq "bob@example.com""#)]), &idm).await;
        assert_eq!(by_admin["totalResults"], json!(1), "{by_admin}");
        let readable = found["resources"].as_array().unwrap().iter().all(|e| e.get("mail").is_some());
        assert!(readable, "what is found is found through readable attributes: {found}");
        assert_eq!(found["totalResults"].as_u64().unwrap() as usize, found["resources"].as_array().unwrap().len());
    }
    // Without a token, nothing.
    assert_eq!(api.get("/scim/v1/Entry", "").await.0, 401);
    s.stop();
}
