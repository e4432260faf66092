//! No password, password hash, token signing key, reset token or bearer token is ever
//! returned by the API or written to the server's log (at debug level).

use idm_testkit::server::TestServer;
use std::path::Path;

#[tokio::test(flavor = "multi_thread")]
async fn secrets_never_leave_the_server() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = TestServer::start_with(Path::new(env!("CARGO_BIN_EXE_kanidmd")), &["bob"]);
    let c = idm_client::KanidmClient::new(&s.url, Some(&s.ca)).unwrap();
    let mut responses = String::new();
    let mut secrets: Vec<String> = s.passwords.values().cloned().collect();

    let admin = c.login("admin", Some(&s.passwords["admin"])).await.unwrap();
    let idm = c.login("idm_admin", Some(&s.passwords["idm_admin"])).await.unwrap();
    let anon = c.login("anonymous", None).await.unwrap();
    let wrong = "Wrong-Password-Attempt-123".to_string();
    assert!(c.login("bob", Some(&wrong)).await.is_err());
    secrets.push(wrong);
    let new_pw = "a brand new secret passphrase".to_string();
    c.set_password(&idm, "/v1/person", "bob", &new_pw).await.unwrap();
    secrets.push(new_pw.clone());
    let bob = c.login("bob", Some(&new_pw)).await.unwrap();
    let reset =
        c.call(&idm, idm_client::Method::GET, "/v1/person/bob/_credential/_update_intent/600", None).await.unwrap();
    secrets.push(reset["token"].as_str().unwrap().to_string());
    secrets.extend([admin.clone(), idm.clone(), anon.clone(), bob.clone()]);

    // Everything every caller can read.
    for token in [&admin, &idm, &anon, &bob] {
        let all = c.search(token, &idm_core::proto::Filter::Pres("class".into())).await.unwrap();
        responses.push_str(&serde_json::to_string(&all).unwrap());
        responses.push_str(&serde_json::to_string(&c.whoami(token).await.unwrap()).unwrap());
    }
    responses.push_str(&c.call(&admin, idm_client::Method::GET, "/v1/domain", None).await.unwrap().to_string());
    responses.push_str(&c.call(&idm, idm_client::Method::GET, "/v1/person/bob", None).await.unwrap().to_string());

    // The token signing keys, read from the database, in every form they could leak in.
    use base64::Engine;
    for key in s.signing_keys() {
        secrets.push(base64::engine::general_purpose::STANDARD.encode(&key.private));
        secrets.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&key.private));
        secrets.push(format!("{:?}", key.private).replace(' ', ""));
    }

    let log = s.log();
    assert!(log.contains("DEBUG") || log.contains("INFO"), "the log was captured");
    for secret in &secrets {
        assert!(!responses.contains(secret.as_str()), "a secret was returned by the API");
        assert!(!log.contains(secret.as_str()), "a secret was written to the log");
    }
    for marker in ["$argon2id$", "$argon2"] {
        assert!(!responses.contains(marker), "a password hash was returned");
        assert!(!log.contains(marker), "a password hash was logged");
    }
    // Credentials show only that they exist.
    assert!(responses.contains("password (argon2id)"));
    s.stop();
}
