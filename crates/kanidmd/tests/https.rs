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

    async fn login(&self, name: &str, password: &str) -> Result<String, String> {
        let c = self.client();
        let url = format!("{}/v1/auth", self.url);
        let r = c.post(&url).json(&json!({"step": {"init": name}})).send().await.unwrap();
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
        let r = self
            .client()
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e:?}"));
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

    let admin = s.login("admin", &s.passwords["admin"]).await.unwrap();
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
    let idm = s.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
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
    let (code, body) = s.post(&idm, "/v1/raw/search", json!({"filter": {"eq": ["name", huge]}})).await;
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
    let forged = forger.sign(&serde_json::to_vec(&uat).unwrap()).unwrap();
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
