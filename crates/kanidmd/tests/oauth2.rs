//! OAuth2 clients through the REST API (`/v1/oauth2`), as Kanidm's clients call it: created
//! confidential or public, their secret made by the server and read only by their
//! administrators, and malformed clients refused with a reason, changing nothing.

use idm_testkit::api::Api;
use idm_testkit::server::TestServer;
use serde_json::json;
use std::path::Path;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kanidmd"))
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_are_entries_with_server_made_secrets_and_refused_when_malformed() {
    let s = TestServer::start(bin());
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let client = |name: &str| json!({"attrs": {"name": [name], "displayname": ["An app"], "oauth2_rs_origin_landing": ["https://app.example.com/"]}});
    // Today's CLI also sends oauth2_strict_redirect_uri: true (the only matching there is).
    let mut strict = client("app");
    strict["attrs"]["oauth2_strict_redirect_uri"] = json!(["true"]);
    let (code, body) = api.post("/v1/oauth2/_basic", &idm, strict).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(api.post("/v1/group", &idm, json!({"attrs": {"name": ["staff"]}})).await.0, 200);
    // Someone who may not read the secret is told so, not told the client is public.
    let (code, b) = api.post("/v1/person", &idm, json!({"attrs": {"name": ["eve"], "displayname": ["Eve"]}})).await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(api.set_password(&idm, "eve", "Long-horse-battery-92x").await.0, 200);
    let eve = api.login("eve", "Long-horse-battery-92x").await.unwrap();
    assert_eq!(api.get("/v1/oauth2/app/_basic_secret", &eve).await.0, 403);
    let (_, raw) = api.search(&eve, json!({"eq": ["name", "app"]})).await;
    assert!(!raw.to_string().contains("oauth2_rs_basic_secret"), "{raw}");
    let (_, got) = api.get("/v1/oauth2/app", &idm).await;
    assert_eq!(got["attrs"]["oauth2_rs_basic_secret"], json!(["(hidden)"]), "{got}");
    let classes = got["attrs"]["class"].to_string();
    assert!(classes.contains("oauth2_resource_server_basic") && !classes.contains("_public"), "{classes}");
    let (_, secret) = api.get("/v1/oauth2/app/_basic_secret", &idm).await;
    assert_eq!(secret.as_str().map(str::len), Some(48), "{secret}");
    // 2022's Python client names the attributes as Kanidm did then.
    let old = json!({"attrs": {"oauth2_rs_name": ["old_app"], "displayname": ["Old"], "oauth2_rs_origin": ["https://old.example.com/"]}});
    let (code, body) = api.post("/v1/oauth2/_public", &idm, old).await;
    assert_eq!(code, 200, "{body}");
    let (_, got) = api.get("/v1/oauth2/old_app", &idm).await;
    assert_eq!(got["attrs"]["oauth2_rs_origin_landing"], json!(["https://old.example.com/"]), "{got}");
    assert_eq!(api.get("/v1/oauth2/old_app/_basic_secret", &idm).await.1, json!(null), "public: no secret");

    // Refused, each naming the problem; nothing is created.
    let mut with_secret = client("bad1");
    with_secret["attrs"]["oauth2_rs_basic_secret"] = json!(["chosen-by-me"]);
    let mut lax = client("bad2");
    lax["attrs"]["oauth2_strict_redirect_uri"] = json!(["false"]);
    let mut fragment = client("bad3");
    fragment["attrs"]["oauth2_rs_origin"] = json!(["https://app.example.com/cb#frag"]);
    let mut no_landing = client("bad4");
    no_landing["attrs"].as_object_mut().unwrap().remove("oauth2_rs_origin_landing");
    let not_a_url = json!({"attrs": {"name": ["bad5"], "displayname": ["X"], "oauth2_rs_origin_landing": ["ftp://x"]}});
    for (body, why) in [
        (with_secret, "made by the server"),
        (lax, "always matched exactly"),
        (fragment, "fragment"),
        (no_landing, "oauth2_rs_origin_landing"),
        (not_a_url, "URL"),
    ] {
        let (code, b) = api.post("/v1/oauth2/_basic", &idm, body).await;
        assert!(code == 400 && b.to_string().contains(why), "{why}: {code} {b}");
    }
    // Confidential and public at once, through the raw API: refused (by the rule, not the
    // access profile, which allows both classes).
    let both = json!({"entries": [{"attrs": {"class": ["object", "oauth2_resource_server", "oauth2_resource_server_basic", "oauth2_resource_server_public"], "name": ["bad6"], "displayname": ["X"], "oauth2_rs_origin_landing": ["https://x.example.com/"], "oauth2_rs_basic_secret": ["x"]}}]});
    let (code, b) = api.post("/v1/raw/create", &idm, both).await;
    assert!(code == 400 && b.to_string().contains("exactly one"), "{code} {b}");
    let (_, list) = api.get("/v1/oauth2", &idm).await;
    let names: Vec<&str> = list.as_array().unwrap().iter().filter_map(|e| e["attrs"]["name"][0].as_str()).collect();
    assert_eq!(names.len(), 2, "only the two good clients exist: {names:?}");

    // However the attribute is spelled, and by whatever route: no chosen, weak secret.
    let (code, b) = api
        .call(reqwest::Method::PATCH, "/v1/oauth2/app", &idm, Some(json!({"attrs": {"OAUTH2_RS_BASIC_SECRET": ["a"]}})))
        .await;
    assert!(code == 400 && b.to_string().contains("made by the server"), "{code} {b}");
    let (code, b) = api
        .call(reqwest::Method::PUT, "/v1/oauth2/app/_attr/oauth2_rs_basic_secret", &idm, Some(json!(["weak"])))
        .await;
    assert!(code == 400 && b.to_string().contains("at least 48"), "{code} {b}");
    // Custom claims cannot stand in for the claims the server sets, nor hold separators.
    for (claim, value, why) in [
        ("sub", "x", "the server sets"),
        ("email", "x", "the server sets"),
        ("team", "a\"b", "double quotes"),
        ("bad:name", "x", "not a claim name"),
    ] {
        let path = format!("/v1/oauth2/app/_claimmap/{claim}/staff");
        let (code, b) = api.post(&path, &idm, json!([value])).await;
        assert!(code == 400 && b.to_string().contains(why), "{claim}: {code} {b}");
    }
    // A map grants to a group's members: naming a person (or any other entry) is refused.
    let person_map = json!({"filter": {"eq": ["name", "app"]}, "modlist": {"mods": [{"present": ["oauth2_rs_sup_scope_map", "eve: openid"]}]}});
    let (code, b) = api.post("/v1/raw/modify", &idm, person_map).await;
    assert!(code == 400 && b.to_string().contains("not a group"), "{code} {b}");
    // Removing one claim's values for a group leaves the group's other claims.
    for claim in ["team", "role"] {
        let (code, b) = api.post(&format!("/v1/oauth2/app/_claimmap/{claim}/staff"), &idm, json!(["x"])).await;
        assert_eq!(code, 200, "{b}");
    }
    let (code, b) = api
        .call(
            reqwest::Method::DELETE,
            "/v1/oauth2/app/_attr/oauth2_rs_claim_map",
            &idm,
            Some(json!(["team:staff:array:x"])),
        )
        .await;
    assert_eq!(code, 200, "{b}");
    let (_, maps) = api.get("/v1/oauth2/app/_attr/oauth2_rs_claim_map", &idm).await;
    assert_eq!(maps, json!([r#"role:staff@localhost:array:"x""#]), "only team's went");
    // The secret cannot be set by PATCH either; emptying it makes a new one.
    let (code, b) = api
        .call(
            reqwest::Method::PATCH,
            "/v1/oauth2/app",
            &idm,
            Some(json!({"attrs": {"oauth2_rs_basic_secret": ["mine"]}})),
        )
        .await;
    assert!(code == 400 && b.to_string().contains("made by the server"), "{code} {b}");
    let (code, _) = api
        .call(reqwest::Method::PATCH, "/v1/oauth2/app", &idm, Some(json!({"attrs": {"oauth2_rs_basic_secret": []}})))
        .await;
    assert_eq!(code, 200);
    let (_, again) = api.get("/v1/oauth2/app/_basic_secret", &idm).await;
    assert!(again.as_str().is_some_and(|s| s.len() == 48) && again != secret, "{again}");
    // A group has one map per client: two through the raw API are refused.
    let (code, b) = api.post("/v1/oauth2/app/_scopemap/staff", &idm, json!(["openid", "email"])).await;
    assert_eq!(code, 200, "{b}");
    let (_, got) = api.get("/v1/oauth2/app", &idm).await;
    assert_eq!(got["attrs"]["oauth2_rs_scope_map"], json!([r#"staff@localhost: {"email", "openid"}"#]), "{got}");
    let twice = json!({"filter": {"eq": ["name", "app"]}, "modlist": {"mods": [{"present": ["oauth2_rs_scope_map", "staff: profile"]}]}});
    let (code, b) = api.post("/v1/raw/modify", &idm, twice).await;
    assert!(code == 400 && b.to_string().contains("one map per client"), "{code} {b}");
    let (code, b) = api.post("/v1/oauth2/app/_scopemap/staff", &idm, json!([])).await;
    assert!(code == 400 && b.to_string().contains("at least one scope"), "{code} {b}");
    // Unknown client: 404, as for any entry.
    let (code, _) =
        api.call(reqwest::Method::PATCH, "/v1/oauth2/nope", &idm, Some(json!({"attrs": {"displayname": ["X"]}}))).await;
    assert_eq!(code, 404);
    s.stop();
}

/// The client routes for each kind of caller: anonymous reads names only and changes nothing;
/// an administrator's read-only session changes nothing until it re-authenticates; a deleted
/// administrator's token works nowhere.
#[tokio::test(flavor = "multi_thread")]
async fn client_routes_for_anonymous_read_only_and_deleted_callers() {
    let s = TestServer::start_with(bin(), &["olga"]);
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let admin = api.login("admin", &s.passwords["admin"]).await.unwrap();
    let app = json!({"attrs": {"name": ["app"], "displayname": ["App"], "oauth2_rs_origin_landing": ["https://app.example.com/"]}});
    assert_eq!(api.post("/v1/oauth2/_basic", &idm, app).await.0, 200);

    let anon = api.login("anonymous", "").await.unwrap();
    let (code, list) = api.get("/v1/oauth2", &anon).await;
    assert_eq!(code, 200);
    assert!(list.to_string().contains("\"app\"") && !list.to_string().contains("https://"), "{list}");
    assert_eq!(api.get("/v1/oauth2/app/_basic_secret", &anon).await.0, 403);
    let other =
        json!({"attrs": {"name": ["x"], "displayname": ["X"], "oauth2_rs_origin_landing": ["https://x.example.com/"]}});
    assert!(api.post("/v1/oauth2/_basic", &anon, other.clone()).await.0 >= 400);
    assert!(api.call(reqwest::Method::DELETE, "/v1/oauth2/app", &anon, None).await.0 >= 400);

    // olga administers clients; her password login is read-only.
    let members = json!({"filter": {"eq": ["name", "idm_oauth2_admins"]}, "modlist": {"mods": [{"present": ["member", "olga"]}]}});
    assert_eq!(api.post("/v1/raw/modify", &admin, members).await.0, 200);
    let pw = "Keeps-a-long-passphrase-7x";
    assert_eq!(api.set_password(&admin, "olga", pw).await.0, 200);
    let olga = api.login("olga", pw).await.unwrap();
    let (code, b) = api.post("/v1/oauth2/_basic", &olga, other.clone()).await;
    assert!(code == 403 && b.to_string().contains("may only read"), "{code} {b}");
    let (code, b) = api.post("/v1/oauth2/app/_scopemap/idm_all_persons", &olga, json!(["openid"])).await;
    assert!(code == 403 || code == 400, "{code} {b}");
    assert_eq!(api.get("/v1/oauth2/app/_basic_secret", &olga).await.0, 200, "reading needs no re-authentication");
    let olga = api.reauth(&olga, pw).await.unwrap();
    assert_eq!(api.post("/v1/oauth2/_basic", &olga, other).await.0, 200, "after re-authenticating");

    // Deleted: her token works nowhere.
    assert_eq!(api.call(reqwest::Method::DELETE, "/v1/person/olga", &admin, None).await.0, 200);
    assert_eq!(api.get("/v1/oauth2", &olga).await.0, 401);
    assert_eq!(api.get("/v1/oauth2/app/_basic_secret", &olga).await.0, 401);
    assert_eq!(api.call(reqwest::Method::DELETE, "/v1/oauth2/x", &olga, None).await.0, 401);
    s.stop();
}
