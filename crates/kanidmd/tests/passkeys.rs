//! Passkeys through the real server, with a software authenticator (`webauthn-authenticator-rs`'s
//! `SoftPasskey`, which signs real WebAuthn ceremonies): enrolment from a reset link, sign-in,
//! refusals (a replayed assertion, another origin), and a domain rename, which invalidates
//! them with a message until a new reset link enrols new ones.

use idm_testkit::api::Api;
use idm_testkit::server::{TestServer, kanidmd};
use serde_json::{Value, json};
use std::path::Path;
use webauthn_authenticator_rs::AuthenticatorBackend;
use webauthn_authenticator_rs::prelude::{RequestChallengeResponse, Url};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kanidmd"))
}

/// Enrols a passkey labelled `label` for `name` from a fresh reset link, answering as
/// `authenticator` at `origin`; the final status.
async fn enrol(
    api: &Api,
    admin: &str,
    name: &str,
    label: &str,
    authenticator: &mut SoftPasskey,
    origin: &str,
) -> Value {
    let (_, reset) = api.reset_token(admin, name, 3600).await;
    let (c, open) = api.post("/v1/credential/_exchange_intent", "", reset["token"].clone()).await;
    assert_eq!(c, 200, "{open}");
    let cu = open[0].clone();
    let (c, st) = api.post("/v1/credential/_update", "", json!(["passkeyinit", cu])).await;
    assert_eq!(c, 200, "{st}");
    let answer = idm_testkit::soft_register(authenticator, origin, &st["mfaregstate"]["Passkey"]);
    let (c, st) = api.post("/v1/credential/_update", "", json!([{ "passkeyfinish": [label, answer] }, cu])).await;
    assert_eq!(c, 200, "{st}");
    assert_eq!((st["mfaregstate"].clone(), st["can_commit"].clone()), (json!("None"), json!(true)), "{st}");
    assert_eq!(api.post("/v1/credential/_commit", "", cu).await.0, 200);
    st
}

/// A passkey login as `name`, answered at `origin`: the token and the assertion sent, or the
/// answer that refused it.
async fn sign_in(
    api: &Api,
    name: &str,
    authenticator: &mut SoftPasskey,
    origin: &str,
) -> Result<(String, Value), String> {
    let init = json!({ "init2": { "username": name, "issue": "token", "privileged": false } });
    let (_, b, session) = api.step(None, init).await;
    if b["state"]["choose"] != json!(["passkey"]) {
        return Err(b["state"].to_string());
    }
    let (_, b, session) = api.step(session.as_deref(), json!({ "begin": "passkey" })).await;
    let challenge: RequestChallengeResponse =
        serde_json::from_value(b["state"]["continue"][0]["passkey"].clone()).map_err(|e| format!("{e}: {b}"))?;
    // The low-level call: it answers for any origin, so the server's own checks are tested.
    let assertion = authenticator.perform_auth(Url::parse(origin).unwrap(), challenge.public_key, 60_000).unwrap();
    let assertion = serde_json::to_value(assertion).unwrap();
    let token = api.cred(session.as_deref().unwrap(), json!({ "passkey": assertion })).await?;
    Ok((token, assertion))
}

#[tokio::test(flavor = "multi_thread")]
async fn passkeys_enrol_sign_in_break_on_a_rename_and_are_enrolled_again() {
    let mut s = TestServer::start(bin());
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    api.post("/v1/person", &idm, json!({"attrs": {"name": ["pam"], "displayname": ["Pam"]}})).await;
    let origin = "https://localhost:8443";
    let mut key = SoftPasskey::new(true);

    // A passkey alone is a complete credential.
    let st = enrol(&api, &idm, "pam", "laptop", &mut key, origin).await;
    assert_eq!(st["passkeys"][0]["tag"], json!("laptop"), "{st}");
    assert_eq!(st["primary"], json!(null), "{st}");
    let (token, assertion) = sign_in(&api, "pam", &mut key, origin).await.unwrap();
    let (_, me) = api.get("/v1/self", &token).await;
    assert_eq!(me["youare"]["attrs"]["name"], json!(["pam"]), "{me}");
    let (_, sessions) = api.get("/v1/account/pam/_user_auth_token", &idm).await;
    assert!(sessions.to_string().contains("passkey"), "{sessions}");

    // An assertion answers one challenge only; another origin's is refused.
    let init = json!({ "init2": { "username": "pam", "issue": "token", "privileged": false } });
    let (_, _, session) = api.step(None, init.clone()).await;
    let (_, _, session) = api.step(session.as_deref(), json!({ "begin": "passkey" })).await;
    let err = api.cred(session.as_deref().unwrap(), json!({ "passkey": assertion })).await.unwrap_err();
    assert!(err.contains("not accepted"), "replayed: {err}");
    let err = sign_in(&api, "pam", &mut key, "https://evil.example").await.unwrap_err();
    assert!(err.contains("not accepted"), "another origin: {err}");
    // Nor is a passkey enrolled at another origin.
    let (_, reset) = api.reset_token(&idm, "pam", 3600).await;
    let (_, open) = api.post("/v1/credential/_exchange_intent", "", reset["token"].clone()).await;
    let (_, st) = api.post("/v1/credential/_update", "", json!(["passkeyinit", open[0]])).await;
    let mut other = SoftPasskey::new(true);
    let answer = idm_testkit::soft_register(&mut other, "https://evil.example", &st["mfaregstate"]["Passkey"]);
    let (c, b) = api.post("/v1/credential/_update", "", json!([{ "passkeyfinish": ["evil", answer] }, open[0]])).await;
    assert!(c == 400 && b.to_string().contains("not accepted"), "{c} {b}");
    assert_eq!(api.post("/v1/credential/_cancel", "", open[0].clone()).await.0, 200);

    // The rename reports what it will break, first as a dry run that changes nothing.
    s.kill();
    let out = kanidmd(bin(), s.dir.path(), &["domain_name_change", "-n", "idm.localhost", "--dry-run"]);
    assert!(out.contains("1 passkey") && out.contains("pam") && out.contains("Dry run"), "{out}");
    s.restart(bin());
    let api = Api::new(&s);
    sign_in(&api, "pam", &mut key, origin).await.unwrap();
    s.kill();
    let out = kanidmd(bin(), s.dir.path(), &["domain_name_change", "-n", "idm.localhost"]);
    assert!(out.contains("Domain renamed"), "{out}");
    let config = s.dir.path().join("server.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replace("domain = \"localhost\"", "domain = \"idm.localhost\"")
        .replace("https://localhost:8443", "https://idm.localhost:8443");
    std::fs::write(&config, text).unwrap();
    s.restart(bin());
    let api = Api::new(&s);
    let (_, b, _) = api.step(None, init).await;
    let why = b["state"]["denied"].as_str().unwrap_or_default();
    assert!(why.contains("enrolled for 'localhost'") && why.contains("reset link"), "{b}");

    // A new reset link enrols a passkey for the new name, which signs in.
    s.kill();
    let out = kanidmd(bin(), s.dir.path(), &["recover_account", "idm_admin"]);
    let pw = out.trim().rsplit(' ').next().unwrap().to_string();
    s.restart(bin());
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &pw).await.unwrap();
    let new_origin = "https://idm.localhost:8443";
    let mut new_key = SoftPasskey::new(true);
    let st = enrol(&api, &idm, "pam", "new laptop", &mut new_key, new_origin).await;
    assert_eq!(st["passkeys"].as_array().map(Vec::len), Some(2), "the old one is still listed: {st}");
    sign_in(&api, "pam", &mut new_key, new_origin).await.unwrap();
    let (_, status) = api.get("/v1/person/pam/_credential/_status", &idm).await;
    let stale: Vec<_> =
        status["passkeys"].as_array().unwrap().iter().map(|p| (p["tag"].clone(), p["stale"].clone())).collect();
    assert_eq!(stale, vec![(json!("laptop"), json!(true)), (json!("new laptop"), json!(false))], "{status}");
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn passkeys_meet_strict_policies_and_an_account_keeps_a_way_in() {
    let s = TestServer::start(bin());
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let admin = api.login("admin", &s.passwords["admin"]).await.unwrap();
    let origin = "https://localhost:8443";
    api.post("/v1/person", &idm, json!({"attrs": {"name": ["quinn"], "displayname": ["Quinn"]}})).await;
    let mut key = SoftPasskey::new(true);
    let st = enrol(&api, &idm, "quinn", "phone", &mut key, origin).await;
    let pk = st["passkeys"][0]["uuid"].clone();

    // With a password as well, both are offered: the password is the way in without the key.
    assert_eq!(api.set_password(&idm, "quinn", "Lp4@granite-meadow-fog").await.0, 200);
    let init = json!({ "init2": { "username": "quinn", "issue": "token", "privileged": false } });
    let (_, b, _) = api.step(None, init.clone()).await;
    assert_eq!(b["state"]["choose"], json!(["passkey", "password"]), "{b}");

    // A passkey policy: only the passkey is offered, and it signs in.
    assert_eq!(api.post("/v1/group", &idm, json!({"attrs": {"name": ["keyholders"]}})).await.0, 200);
    assert_eq!(api.post("/v1/group/keyholders/_attr/member", &idm, json!(["quinn"])).await.0, 200);
    let mods = json!({"mods": [{"present": ["class", "account_policy"]}, {"present": ["credential_type_minimum", "passkey"]}]});
    let (c, b) =
        api.post("/v1/raw/modify", &admin, json!({"filter": {"eq": ["name", "keyholders"]}, "modlist": mods})).await;
    assert_eq!(c, 200, "{b}");
    let (_, b, _) = api.step(None, init.clone()).await;
    assert_eq!(b["state"]["choose"], json!(["passkey"]), "{b}");
    let (token, _) = sign_in(&api, "quinn", &mut key, origin).await.unwrap();
    assert_eq!(api.get("/v1/self", &token).await.0, 200);

    // Removing the only passkey under that policy cannot be saved; neither can removing
    // everything from an account.
    let (_, open) = api.get("/v1/person/quinn/_credential/_update", &idm).await;
    let cu = open[0].clone();
    let (_, st) = api.post("/v1/credential/_update", "", json!([{ "passkeyremove": pk }, cu])).await;
    assert_eq!((st["can_commit"].clone(), st["warnings"].clone()), (json!(false), json!(["PasskeyRequired"])), "{st}");
    let (_, st) = api.post("/v1/credential/_update", "", json!(["primaryremove", cu])).await;
    assert_eq!(st["warnings"], json!(["NoValidCredentials"]), "{st}");
    let (c, b) = api.post("/v1/credential/_commit", "", cu.clone()).await;
    assert!(c == 400 && b.to_string().contains("without any credential"), "{c} {b}");
    assert_eq!(api.post("/v1/credential/_cancel", "", cu).await.0, 200);
    s.stop();
}
