//! End-to-end tests of the HTTPS API: the real `kanidmd server` on 127.0.0.1 with generated
//! certificates, driven over TLS.

use idm_testkit::server::TestServer;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

struct Server(TestServer);

impl std::ops::Deref for Server {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.0
    }
}

impl Server {
    fn start() -> Server {
        Server(TestServer::start(Path::new(env!("CARGO_BIN_EXE_kanidmd"))))
    }

    fn client(&self) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&self.ca).unwrap()).unwrap();
        reqwest::Client::builder().tls_certs_only([ca]).timeout(Duration::from_secs(30)).build().unwrap()
    }

    /// A login as today's clients do it (`init2`): today's token form.
    async fn login(&self, name: &str, password: &str) -> Result<String, String> {
        let init = json!({"init2": {"username": name, "issue": "token", "privileged": false}});
        self.login_with(init, name, password).await
    }

    /// A login as the 2022 CLI does it (`init`): the 2022 token form.
    async fn login_2022(&self, name: &str, password: &str) -> Result<String, String> {
        self.login_with(json!({"init": name}), name, password).await
    }

    async fn login_with(&self, init: Value, name: &str, password: &str) -> Result<String, String> {
        let c = self.client();
        let url = format!("{}/v1/auth", self.url);
        let r = c.post(&url).json(&json!({ "step": init })).send().await.unwrap();
        let session = r.headers().get("x-kanidm-auth-session-id").map(|v| v.to_str().unwrap().to_string());
        let body: Value = r.json().await.unwrap();
        let Some(session) = session.filter(|_| body["state"]["choose"].is_array()) else {
            return Err(body.to_string());
        };
        let mech = if name == "anonymous" { "anonymous" } else { "password" };
        let step =
            |s: Value| c.post(&url).header("x-kanidm-auth-session-id", &session).json(&json!({"step": s})).send();
        let b: Value = step(json!({"begin": mech})).await.unwrap().json().await.unwrap();
        assert_eq!(b["state"]["continue"], json!([mech]), "{b}");
        let cred = if mech == "anonymous" { json!("anonymous") } else { json!({"password": password}) };
        let b: Value = step(json!({"cred": cred})).await.unwrap().json().await.unwrap();
        b["state"]["success"].as_str().map(str::to_string).ok_or_else(|| b.to_string())
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, token, path, Some(body)).await
    }

    /// A request as the 2022 client makes it: DELETE and GET without a body.
    async fn call(&self, method: reqwest::Method, token: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.client().request(method, format!("{}{path}", self.url)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap_or_else(|e| panic!("{path}: {e:?}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    fn stop(self) {
        self.0.stop();
    }
}
#[tokio::test(flavor = "multi_thread")]
async fn the_documents_raw_commands_over_https() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = Server::start();
    let status: Value = s.client().get(format!("{}/status", s.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(status, json!(true));

    // The document is from 2022: its client logs in with `init`.
    let admin = s.login_2022("admin", &s.passwords["admin"]).await.unwrap();
    let me: Value =
        s.client().get(format!("{}/v1/self", s.url)).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["youare"]["attrs"]["name"], json!(["admin"]), "{me}");

    // kanidm raw search ... '{"eq": ["name", "idm_admin"]}'
    let (code, body) = s.post(&admin, "/v1/raw/search", json!({"filter": {"eq": ["name", "idm_admin"]}})).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["entries"][0]["attrs"]["spn"], json!(["idm_admin@localhost"]));

    // The document's first raw modify, as admin.
    let six = idm_testkit::DOCUMENT_PRIVILEGE_GROUPS;
    let filter = json!({"or": six.iter().map(|n| json!({"eq": ["name", n]})).collect::<Vec<_>>()});
    let add = json!({"mods": [{"present": ["member", "idm_admin"]}]});
    let (code, body) = s.post(&admin, "/v1/raw/modify", json!({"filter": filter, "modlist": add})).await;
    assert_eq!(code, 200, "{body}");

    // idm_admin creates a group and a person, but may not change idm_admins.
    let idm = s.login_2022("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let (code, body) = s
        .post(&idm, "/v1/raw/create", json!({"entries": [
            {"attrs": {"class": ["person", "account"], "name": ["test_account_delete_me"], "displayname": ["Test"]}},
            {"attrs": {"class": ["group"], "name": ["demo_group"], "member": ["test_account_delete_me"]}}
        ]}))
        .await;
    assert_eq!(code, 200, "{body}");
    let (code, body) =
        s.post(&idm, "/v1/raw/modify", json!({"filter": {"eq": ["name", "idm_admins"]}, "modlist": add})).await;
    assert_eq!(code, 403, "{body}");
    assert!(body.to_string().contains("idm_admins"), "{body}");
    let (code, body) =
        s.post(&idm, "/v1/raw/delete", json!({"filter": {"eq": ["name", "test_account_delete_me"]}})).await;
    assert_eq!(code, 200, "{body}");

    // Errors carry statuses that fit.
    let (code, body) =
        s.post(&idm, "/v1/raw/delete", json!({"filter": {"eq": ["name", "test_account_delete_me"]}})).await;
    assert_eq!(code, 404, "{body}");
    let (code, body) = s.post(&idm, "/v1/raw/search", json!({"filter": {"eq": ["nonsense_attr", "x"]}})).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.to_string().contains("nonsense_attr"), "{body}");
    let (code, _) = s.post("not-a-token", "/v1/raw/search", json!({"filter": "self"})).await;
    assert_eq!(code, 401);
    let r = s
        .client()
        .post(format!("{}/v1/raw/search", s.url))
        .bearer_auth(&idm)
        .header("content-type", "application/json")
        .body("{\"filter\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("line 1"), "malformed JSON errors give the position");

    // Wrong passwords are refused; anonymous logs in and reads only public attributes.
    assert!(s.login("admin", "wrong password").await.unwrap_err().contains("incorrect password"));
    let anon = s.login("anonymous", "").await.unwrap();
    let (code, body) = s.post(&anon, "/v1/raw/search", json!({"filter": {"eq": ["name", "admin"]}})).await;
    assert_eq!(code, 200);
    assert!(body["entries"][0]["attrs"].get("primary_credential").is_none(), "{body}");

    // Oversized bodies are refused with the limit named.
    let huge = "x".repeat(17 * 1024 * 1024);
    // The server stops reading at the limit and answers, so the client may lose the answer
    // while still sending: the harness's `oversized` retries on a fresh connection.
    let api = idm_testkit::api::Api::new(&s);
    let (code, body) = api.oversized("/v1/raw/search", &idm, json!({"filter": {"eq": ["name", huge]}})).await.unwrap();
    assert_eq!(code, 413, "{body}");
    assert!(body.to_string().contains("limit"), "{body}");

    // Sessions are listed on the account and revoked by logout; a revoked token is refused.
    let second = s.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let (_, me) = s.post(&second, "/v1/raw/search", json!({"filter": "self"})).await;
    assert!(me["entries"][0]["attrs"]["user_auth_session"].as_array().unwrap().len() >= 2, "{me}");
    let (code, _) = s.post(&idm, "/v1/logout", json!(null)).await;
    assert_eq!(code, 200);
    let (code, body) = s.post(&idm, "/v1/raw/search", json!({"filter": "self"})).await;
    assert_eq!(code, 401, "a revoked session must be refused: {body}");
    let (code, _) = s.post(&second, "/v1/raw/search", json!({"filter": "self"})).await;
    assert_eq!(code, 200, "other sessions stay valid");
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_does_not_trust_the_ca_is_refused() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = Server::start();
    let other = idm_server::tls::generate_dev_certs(&["localhost".into()]).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(other.ca.as_bytes()).unwrap()])
        .build()
        .unwrap();
    assert!(client.get(format!("{}/status", s.url)).send().await.is_err());
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_and_forged_tokens_are_refused() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = Server::start();
    let token = s.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let (code, _) = s.post(&token, "/v1/raw/search", json!({"filter": "self"})).await;
    assert_eq!(code, 200);
    let uat = idm_client::read_token(&token).unwrap();
    // Signed with the server's own key (read from the database as a second reader may), but
    // expired: refused as expired.
    let expired = s.sign(&idm_core::proto::UserAuthToken { expiry: Some(uat.issued_at - 1), ..uat.clone() });
    let (code, body) = s.post(&expired, "/v1/raw/search", json!({"filter": "self"})).await;
    assert_eq!(code, 401, "{body}");
    assert_eq!(body, json!("sessionexpired"));
    // Correctly signed, for a session that was never recorded: refused.
    let invented = s.sign(&idm_core::proto::UserAuthToken { session_id: uuid::Uuid::new_v4(), ..uat.clone() });
    let (code, _) = s.post(&invented, "/v1/raw/search", json!({"filter": "self"})).await;
    assert_eq!(code, 401);
    // Signed by another key that claims the same key id: refused.
    let mut other = idm_identity::keys::generate(time::OffsetDateTime::now_utc()).unwrap();
    other.kid = s.signing_keys()[0].kid.clone();
    let forger = idm_identity::keys::KeySet::load(&[other], 0).unwrap();
    let forged = forger.sign(&serde_json::to_vec(&uat).unwrap(), idm_core::proto::TokenForm::Current).unwrap();
    let (code, _) = s.post(&forged, "/v1/raw/search", json!({"filter": "self"})).await;
    assert_eq!(code, 401);
    // A token with its privilege window stretched by editing the payload: the signature fails.
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut stretched = uat.clone();
    stretched.purpose = idm_core::proto::UatPurpose::ReadWrite { expiry: Some(uat.issued_at + 99_999) };
    use base64::Engine;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&stretched).unwrap());
    let (code, _) = s.post(&parts.join("."), "/v1/raw/search", json!({"filter": "self"})).await;
    assert_eq!(code, 401);
    s.stop();
}

#[test]
fn the_server_explains_bad_tls_settings() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(
        dir.path().join("server.toml"),
        "bindaddress = \"127.0.0.1:0\"\ndb_path = \"data/kanidm.db\"\ndomain = \"localhost\"\ntls_chain = \"none/chain.pem\"\ntls_key = \"none/key.pem\"\n",
    )
    .unwrap();
    let err = idm_testkit::server::kanidmd_fails(Path::new(env!("CARGO_BIN_EXE_kanidmd")), dir.path(), &["server"]);
    assert!(err.contains("none/chain.pem"), "{err}");
}

#[test]
fn a_read_only_replica_role_is_refused_rather_than_ignored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(
        dir.path().join("server.toml"),
        "db_path = \"data/kanidm.db\"\ndomain = \"localhost\"\nrole = \"ReadOnlyReplica\"\n",
    )
    .unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_kanidmd"));
    for cmd in ["server", "verify"] {
        let err = idm_testkit::server::kanidmd_fails(bin, dir.path(), &[cmd]);
        assert!(err.contains("role") && err.contains("replication"), "{cmd}: {err}");
    }
}

/// The part of a compact JWS at `i`, decoded.
fn jws_part(token: &str, i: usize) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_2022_login_gets_the_token_the_2022_cli_verifies_and_it_works_like_any_other() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = Server::start();
    let old = s.login_2022("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    // The header embeds the public key, and the signature verifies with it (as alpha.8's
    // `validate_embeded` does), and it names the key the server verifies with.
    let header = jws_part(&old, 0);
    assert_eq!((&header["alg"], &header["typ"], &header["jwk"]["kty"]), (&json!("ES256"), &json!("JWT"), &json!("EC")));
    assert_eq!(header["kid"], json!(s.signing_keys()[0].kid), "{header}");
    let coord = |c: &str| URL_SAFE_NO_PAD.decode(header["jwk"][c].as_str().unwrap()).unwrap();
    let point = [vec![4u8], coord("x"), coord("y")].concat();
    let (signed, sig) = old.rsplit_once('.').unwrap();
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
        .verify(signed.as_bytes(), &URL_SAFE_NO_PAD.decode(sig).unwrap())
        .expect("verifies with the embedded key");
    // The 2022 payload: expiry as [year, ordinal day, seconds, nanoseconds], auth_type, lim_*.
    let uat = jws_part(&old, 1);
    let expiry = uat["expiry"].as_array().unwrap();
    assert_eq!(expiry.len(), 4, "{uat}");
    let year = time::OffsetDateTime::now_utc().year();
    assert!(expiry[0].as_i64().unwrap() >= i64::from(year) && expiry[1].as_u64().unwrap() <= 366, "{uat}");
    assert_eq!(uat["auth_type"], json!("generatedpassword"), "{uat}");
    for lim in ["lim_uidx", "lim_rmax", "lim_pmax", "lim_fmax"] {
        assert!(!uat[lim].is_null(), "{lim}: {uat}");
    }
    assert_eq!(uat["spn"], json!("idm_admin@localhost"));
    // /v1/self shows it as `uat`, which the 2022 CLI requires; and it reads and writes.
    let me: Value =
        s.client().get(format!("{}/v1/self", s.url)).bearer_auth(&old).send().await.unwrap().json().await.unwrap();
    assert_eq!((&me["uat"], &me["youare"]["attrs"]["name"]), (&uat, &json!(["idm_admin"])), "{me}");
    let group = json!({"entries": [{"attrs": {"class": ["object", "group"], "name": ["from_2022"]}}]});
    assert_eq!(s.post(&old, "/v1/raw/create", group).await.0, 200);
    // Today's login still gets today's form: a kid and no embedded key.
    let new = s.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    assert!(jws_part(&new, 0).get("jwk").is_none() && jws_part(&new, 1)["expiry"].is_i64());
    // A token that brings its own key is not trusted for it: signed by another key, with
    // that key embedded and our kid claimed, it is refused.
    let mut other = idm_identity::keys::generate(time::OffsetDateTime::now_utc()).unwrap();
    other.kid = s.signing_keys()[0].kid.clone();
    let forger = idm_identity::keys::KeySet::load(&[other], 0).unwrap();
    let forged = forger.sign(&serde_json::to_vec(&uat).unwrap(), idm_core::proto::TokenForm::Legacy2022).unwrap();
    let (code, _) = s.post(&forged, "/v1/raw/search", json!({"filter": "self"})).await;
    assert_eq!(code, 401);
    // The 2022 CLI's account routes.
    use reqwest::Method;
    let (code, list) = s.call(Method::GET, &old, "/v1/account", None).await;
    assert_eq!(code, 200, "{list}");
    assert!(list.to_string().contains("idm_admin@localhost"), "{list}");
    let svc = json!({"attrs": {"name": ["svc22"], "displayname": ["Svc 22"]}});
    assert_eq!(s.post(&old, "/v1/account", svc).await.0, 200);
    let (_, e) = s.call(Method::GET, &old, "/v1/account/svc22", None).await;
    assert!(e["attrs"]["class"].as_array().unwrap().contains(&json!("service_account")), "{e}");
    let expire = json!(["2999-01-01T00:00:00Z"]);
    assert_eq!(s.call(Method::PUT, &old, "/v1/account/svc22/_attr/account_expire", Some(expire)).await.0, 200);
    let pw = json!({"password": "a passphrase from 2022"});
    let (code, said) = s.call(Method::PUT, &old, "/v1/account/svc22/_credential/primary", Some(pw)).await;
    assert_eq!((code, said), (200, json!("success")));
    s.login_2022("svc22", "a passphrase from 2022").await.unwrap();
    let (code, said) =
        s.call(Method::PUT, &old, "/v1/account/svc22/_credential/primary", Some(json!("generatepassword"))).await;
    assert_eq!(code, 200, "{said}");
    s.login_2022("svc22", said["token"].as_str().unwrap()).await.unwrap();
    let (code, said) =
        s.call(Method::PUT, &old, "/v1/account/svc22/_credential/primary", Some(json!("totpgenerate"))).await;
    assert_eq!(code, 400, "{said}");
    assert!(said.to_string().contains("credential update session"), "{said}");
    assert_eq!(s.call(Method::DELETE, &old, "/v1/account/svc22", None).await.0, 200);
    assert_eq!(s.call(Method::GET, &old, "/v1/account/svc22", None).await, (200, json!(null)));
    // Logging out ends a 2022 session like any other.
    let r = s.client().get(format!("{}/v1/logout", s.url)).bearer_auth(&old).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(s.post(&old, "/v1/raw/search", json!({"filter": "self"})).await.0, 401);
    // Changing one's own password the 2022 way.
    let again = s.login_2022("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let body = json!({"value": "a new passphrase of 2022"});
    let (code, said) = s.post(&again, "/v1/self/_credential/primary/set_password", body).await;
    assert_eq!(code, 200, "{said}");
    s.login_2022("idm_admin", "a new passphrase of 2022").await.unwrap();
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_login_in_progress_rides_in_the_cookie_as_well_as_the_header() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = Server::start();
    let c = s.client();
    let url = format!("{}/v1/auth", s.url);
    let init = json!({"step": {"init2": {"username": "idm_admin", "issue": "token", "privileged": false}}});
    let r = c.post(&url).json(&init).send().await.unwrap();
    let set = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    for attr in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/v1"] {
        assert!(set.contains(attr), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_string();
    assert!(cookie.starts_with("auth-session-id="), "{cookie}");
    // Only the cookie from here on: begin, then the credential.
    let step = |body: Value| c.post(&url).header("cookie", format!("theme=dark; {cookie}")).json(&body).send();
    let b: Value = step(json!({"step": {"begin": "password"}})).await.unwrap().json().await.unwrap();
    assert_eq!(b["state"]["continue"], json!(["password"]), "{b}");
    let r = step(json!({"step": {"cred": {"password": s.passwords["idm_admin"]}}})).await.unwrap();
    let cleared = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(cleared.contains("Max-Age=0"), "the ended login's cookie is cleared: {cleared}");
    let b: Value = r.json().await.unwrap();
    assert!(b["state"]["success"].is_string(), "{b}");
    // A cookie naming no login in progress is no login.
    let b: Value = c
        .post(&url)
        .header("cookie", format!("auth-session-id={}", uuid::Uuid::new_v4()))
        .json(&json!({"step": {"begin": "password"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(b["state"]["denied"].is_string(), "{b}");
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_lists_exactly_the_routes_served() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = Server::start();
    let doc: Value =
        s.client().get(format!("{}/docs/v1/openapi.json", s.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], json!("3.1.0"));
    let paths = doc["paths"].as_object().unwrap();
    for must in ["/v1/auth", "/v1/person/{id}/_attr/{attr}", "/scim/v1/Entry", "/v1/system", "/docs/v1/openapi.json"] {
        assert!(paths.contains_key(must), "{must} is not documented");
    }
    assert!(doc["paths"]["/v1/auth"]["post"]["security"].is_null(), "login needs no token");
    assert_eq!(doc["paths"]["/v1/self"]["get"]["security"], json!([{"bearer": []}]));
    // Every documented method of every documented path is served: it never falls through to
    // "Route not found" nor answers 405 (ids that name nothing; a caller without rights).
    let token = s.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let mut checked = 0;
    for (path, item) in paths {
        let concrete =
            path.split('/').map(|seg| if seg.starts_with('{') { "nosuch" } else { seg }).collect::<Vec<_>>().join("/");
        for method in item.as_object().unwrap().keys() {
            if path == "/v1/logout" {
                continue;
            }
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = s
                .client()
                .request(m, format!("{}{concrete}", s.url))
                .bearer_auth(&token)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            assert!(status != 405 && text != "Route not found", "{method} {path}: {status} {text}");
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked}");
    // And what is not documented is not served.
    let r = s.client().get(format!("{}/v1/person/x/_nothing", s.url)).bearer_auth(&token).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (404, "Route not found".to_string()));
    s.stop();
}
