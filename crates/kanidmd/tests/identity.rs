//! The identity layer through the real server, attacked as the review found it could be:
//! deleted and expired accounts, count oracles, planted and stale reset tokens, concurrent
//! guessing, single-use logins, anonymous write amplification, read-only sessions, signing-key
//! rotation, and rights and limits that come from data.

use idm_testkit::api::Api;
use idm_testkit::server::TestServer;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_kanidmd"))
}

/// `PATCH` with attributes given as `{"attr": "value"}` (`""` removes the attribute), sent in
/// Kanidm's form `{"attrs":{"attr":["value"]}}`.
async fn patch(api: &Api, token: &str, path: &str, body: Value) -> (u16, Value) {
    let attrs: serde_json::Map<String, Value> = body
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), if v == "" { json!([]) } else { json!([v]) }))
        .collect();
    api.call(reqwest::Method::PATCH, path, token, Some(json!({ "attrs": attrs }))).await
}

async fn delete(api: &Api, token: &str, path: &str) -> (u16, Value) {
    api.call(reqwest::Method::DELETE, path, token, None).await
}

async fn me(api: &Api, token: &str) -> (u16, Value) {
    api.get("/v1/self", token).await
}

/// Creates a person with an ordinary (not generated) password, as idm_admin.
async fn person_with_password(api: &Api, idm: &str, name: &str, password: &str) {
    let (code, body) = api.post("/v1/person", idm, json!({"attrs": {"name": [name], "displayname": [name]}})).await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = api.set_password(idm, name, password).await;
    assert_eq!(code, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_account_cannot_log_in_and_its_tokens_stop() {
    let s = TestServer::start_with(bin(), &["bob"]);
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let bob = api.login("bob", &s.passwords["bob"]).await.unwrap();
    let (code, who) = me(&api, &bob).await;
    assert_eq!(code, 200);
    let uuid = who["youare"]["attrs"]["uuid"][0].as_str().unwrap().to_string();

    let (code, body) = delete(&api, &idm, "/v1/person/bob").await;
    assert_eq!(code, 200, "{body}");
    // Every token it held stops at once, whatever it asks.
    assert_eq!(me(&api, &bob).await.0, 401);
    assert_eq!(api.search(&bob, json!({"eq": ["name", "idm_admins"]})).await.0, 401);
    assert_eq!(api.get("/v1/auth/valid", &bob).await.0, 401);
    // And it cannot log in by any of its names: today's code let the uuid through.
    for name in ["bob", "bob@localhost", uuid.as_str()] {
        let err = api.login(name, &s.passwords["bob"]).await.unwrap_err();
        assert!(err.starts_with("404"), "{name}: {err}");
    }
    // Revived, it logs in again, but the old sessions stay dead.
    let (code, body) = api.post("/v1/recycle_bin/bob/_revive", &idm, json!(null)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(me(&api, &bob).await.0, 401, "a revive does not bring sessions back");
    let again = api.login(&uuid, &s.passwords["bob"]).await.unwrap();
    assert_eq!(me(&api, &again).await.0, 200);
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expiry_that_passes_mid_session_ends_it() {
    let s = TestServer::start_with(bin(), &["bob"]);
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let bob = api.login("bob", &s.passwords["bob"]).await.unwrap();
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(3);
    let soon = soon.format(&time::format_description::well_known::Rfc3339).unwrap();
    let (code, body) = patch(&api, &idm, "/v1/person/bob", json!({"account_expire": soon})).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(me(&api, &bob).await.0, 200, "valid until the expiry");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (code, body) = me(&api, &bob).await;
    assert_eq!((code, body), (401, json!("sessionexpired")));
    assert!(api.login("bob", &s.passwords["bob"]).await.unwrap_err().contains("expired"));
    // Only someone who knows the password learns that the account expired; an account
    // without a password looks like any other to a guesser.
    assert!(api.login("bob", "a wrong guess at it").await.unwrap_err().contains("incorrect password"));
    assert_eq!(api.post("/v1/person", &idm, json!({"attrs": {"name": ["nopass"], "displayname": ["N"]}})).await.0, 200);
    let err = api.login("nopass", "a wrong guess at it").await.unwrap_err();
    assert!(err.contains("incorrect password"), "{err}");
    // Not valid yet: refused the same way.
    let later = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (code, _) =
        patch(&api, &idm, "/v1/person/bob", json!({"account_expire": "", "account_valid_from": later})).await;
    assert_eq!(code, 200);
    assert!(api.login("bob", &s.passwords["bob"]).await.unwrap_err().contains("not valid yet"));
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn searches_tell_nobody_how_many_entries_hold_what_they_cannot_read() {
    let s = TestServer::start_with(bin(), &["bob"]);
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let people: Vec<Value> = (0..1100)
        .map(|i| {
            json!({"attrs": {"class": ["person", "account"], "name": [format!("p{i:04}")],
                   "displayname": ["P"], "mail": [format!("p{i:04}@example.com")]}})
        })
        .collect();
    let (code, body) = api.post("/v1/raw/create", &idm, json!({"entries": people})).await;
    assert_eq!(code, 200, "{body}");
    let bob = api.login("bob", &s.passwords["bob"]).await.unwrap();
    let anon = api.login("anonymous", "").await.unwrap();
    for token in [&bob, &anon] {
        // Today's code answered "search matched 1100 entries, more than the limit of 1000".
        for f in [json!({"sub": ["mail", "@example"]}), json!({"sub": ["mail", "p0"]}), json!({"pres": "mail"})] {
            let (code, body) = api.search(token, f.clone()).await;
            assert_eq!((code, &body["entries"]), (200, &json!([])), "{f}: {body}");
        }
        let (code, body) = api.search(token, json!({"eq": ["class", "person"]})).await;
        assert_eq!(code, 400, "{body}");
        let text = body.to_string();
        assert!(text.contains("1000") && !text.contains("1101") && !text.contains("1100"), "{text}");
    }
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_tokens_cannot_be_planted_and_do_not_outlive_their_situation() {
    let s = TestServer::start_with(bin(), &["bob", "carl", "dave"]);
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let admin = api.login("admin", &s.passwords["admin"]).await.unwrap();
    let raw_modify = |who: &str, attr: &str, value: &str| {
        let body = json!({"filter": {"eq": ["name", who]}, "modlist": {"mods": [{"present": [attr, value]}]}});
        let api = api.clone();
        let idm = idm.clone();
        async move { api.post("/v1/raw/modify", &idm, body).await }
    };
    // Planting a token of one's choosing through the raw API is refused, in both schemas.
    let (code, body) = raw_modify("bob", "credential_update_intent_token", "0123abcd").await;
    assert_eq!(code, 400, "{body}");
    let (code, _) = raw_modify("bob", "credential_reset_token", "0123abcd").await;
    assert_eq!(code, 400);
    let status = |who: &str| {
        let (api, idm, path) = (api.clone(), idm.clone(), format!("/v1/person/{who}/_credential/_status"));
        async move { api.get(&path, &idm).await.1 }
    };
    let issue = |who: &str, ttl: u64| {
        let (api, idm, who) = (api.clone(), idm.clone(), who.to_string());
        async move {
            let (code, body) = api.reset_token(&idm, &who, ttl).await;
            assert_eq!(code, 200, "{body}");
            body
        }
    };
    let redeem = |token: &str, pw: &str| {
        let (api, token, pw) = (api.clone(), token.to_string(), pw.to_string());
        async move { api.redeem(&token, &pw).await }
    };

    // The lifetime is clamped, and a pending token shows in the credential status.
    let t = issue("bob", 10 * 365 * 86_400).await;
    let left = t["expiry_time"].as_i64().unwrap() - time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((7 * 86_400 - 60..=7 * 86_400).contains(&left), "clamped to a week: {t}");
    assert!(status("bob").await["reset_token"].is_object(), "{}", status("bob").await);
    // Any credential change clears it.
    let (code, body) = api.set_password(&idm, "bob", "a new passphrase for him").await;
    assert_eq!(code, 200, "{body}");
    assert!(status("bob").await["reset_token"].is_null());
    let (code, body) = redeem(t["token"].as_str().unwrap(), "my own passphrase now").await;
    assert_eq!(code, 400, "{body}");

    // Becoming high privilege clears it too.
    let t = issue("carl", 600).await;
    let body =
        json!({"filter": {"eq": ["name", "idm_admins"]}, "modlist": {"mods": [{"present": ["member", "carl"]}]}});
    let (code, b) = api.post("/v1/raw/modify", &admin, body).await;
    assert_eq!(code, 200, "{b}");
    // (carl is now high privilege: only admin may read his credential status.)
    let (code, st) = api.get("/v1/person/carl/_credential/_status", &admin).await;
    assert_eq!(code, 200, "{st}");
    assert!(st["reset_token"].is_null(), "entering a high-privilege group drops the token: {st}");
    let (code, body) = redeem(t["token"].as_str().unwrap(), "a takeover of the idm").await;
    assert_eq!(code, 400, "{body}");
    assert!(body.to_string().contains("not valid"), "dropped, not merely stale: {body}");

    // Any change of memberships since issue refuses redemption (and drops the token).
    let t = issue("dave", 600).await;
    let (code, _) = api.post("/v1/group", &idm, json!({"attrs": {"name": ["night_shift"]}})).await;
    assert_eq!(code, 200);
    let (code, _) = api.post("/v1/group/night_shift/_attr/member", &idm, json!(["dave"])).await;
    assert_eq!(code, 200);
    let (code, body) = redeem(t["token"].as_str().unwrap(), "someone chooses a passphrase").await;
    assert_eq!(code, 400);
    assert!(body.to_string().contains("memberships changed"), "{body}");
    assert!(status("dave").await["reset_token"].is_null());
    // A fresh one works, once.
    let t = issue("dave", 600).await;
    let (code, body) = redeem(t["token"].as_str().unwrap(), "someone chooses a passphrase").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(redeem(t["token"].as_str().unwrap(), "and again, another one").await.0, 400);
    assert!(api.login("dave", "someone chooses a passphrase").await.is_ok());
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_guesses_are_counted_before_checking_and_the_lock_survives_a_restart() {
    let mut s = TestServer::start_with(bin(), &["bob"]);
    let api = Api::new(&s);
    // Twenty logins ready for their password, then all twenty wrong guesses at once.
    let mut sessions = Vec::new();
    for _ in 0..20 {
        let (_, _, id) = api.step(None, json!({"init": "bob"})).await;
        let (_, _, id) = api.step(id.as_deref(), json!({"begin": "password"})).await;
        sessions.push(id.unwrap());
    }
    let guesses = sessions.iter().map(|id| {
        let (api, id) = (api.clone(), id.clone());
        tokio::spawn(async move { api.cred(&id, json!({"password": "wrong guess!"})).await.unwrap_err() })
    });
    let mut checked = 0;
    let mut locked = 0;
    for g in guesses {
        let answer = g.await.unwrap();
        if answer.contains("incorrect password") {
            checked += 1;
        } else if answer.contains("locked") {
            locked += 1;
        } else {
            panic!("unexpected answer: {answer}");
        }
    }
    assert!(checked <= 5, "{checked} of 20 concurrent guesses were checked");
    assert_eq!(checked + locked, 20);
    // The right password is refused while locked, and failures name the client's address.
    assert!(api.login("bob", &s.passwords["bob"]).await.unwrap_err().contains("locked"));
    let log = s.log();
    assert!(log.lines().any(|l| l.contains("wrong password") && l.contains("127.0.0.1")), "no address in the log");
    // A restart does not lift the lock.
    s.kill();
    s.restart(bin());
    let api = Api::new(&s);
    assert!(api.login("bob", &s.passwords["bob"]).await.unwrap_err().contains("locked"));
    // An administrator can.
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let (code, body) = api.post("/v1/account/bob/_unlock", &idm, json!(null)).await;
    assert_eq!(code, 200, "{body}");
    assert!(api.login("bob", &s.passwords["bob"]).await.is_ok());
    // Locked again, then given a new password by an administrator: the lock goes with it.
    for _ in 0..5 {
        let _ = api.login("bob", "wrong guess!").await;
    }
    assert!(api.login("bob", &s.passwords["bob"]).await.unwrap_err().contains("locked"));
    let (code, body) = api.set_password(&idm, "bob", "a fresh start for him").await;
    assert_eq!(code, 200, "{body}");
    assert!(api.login("bob", "a fresh start for him").await.is_ok());
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_step_is_used_once() {
    let s = TestServer::start_with(bin(), &["bob"]);
    let api = Api::new(&s);
    let (_, _, id) = api.step(None, json!({"init": "bob"})).await;
    let (_, _, id) = api.step(id.as_deref(), json!({"begin": "password"})).await;
    let id = id.unwrap();
    let tries = (0..8).map(|_| {
        let (api, id, pw) = (api.clone(), id.clone(), s.passwords["bob"].clone());
        tokio::spawn(async move { api.cred(&id, json!({"password": pw})).await })
    });
    let mut ok = 0;
    for t in tries {
        if t.await.unwrap().is_ok() {
            ok += 1;
        }
    }
    assert_eq!(ok, 1, "one credential step per login");
    // Steps out of order are denied, not honoured.
    let (_, _, id) = api.step(None, json!({"init": "bob"})).await;
    let (_, body, _) = api.step(id.as_deref(), json!({"cred": {"password": s.passwords["bob"]}})).await;
    assert!(body["state"]["denied"].is_string(), "{body}");
    let (_, body, _) = api.step(id.as_deref(), json!({"begin": "password"})).await;
    assert!(body["state"]["denied"].is_string(), "a denied login is over: {body}");
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_logins_store_nothing() {
    let s = TestServer::start(bin());
    let api = Api::new(&s);
    // idm_admin reads anonymous's every attribute, sessions included.
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let anon_entry = || {
        let (api, idm) = (api.clone(), idm.clone());
        async move { api.search(&idm, json!({"eq": ["name", "anonymous"]})).await.1 }
    };
    let before = anon_entry().await;
    assert!(before["entries"][0]["attrs"]["uuid"].is_array(), "{before}");
    let mut last = String::new();
    for _ in 0..1000 {
        last = api.login("anonymous", "").await.unwrap();
    }
    assert_eq!(anon_entry().await, before, "the anonymous entry grew");
    let (code, sessions) = api.get("/v1/account/anonymous/_user_auth_token", &idm).await;
    assert_eq!((code, sessions), (200, json!([])));
    // Its tokens work, read only; they cannot reauthenticate; logging out ends them.
    assert_eq!(me(&api, &last).await.0, 200);
    let (code, _) = patch(&api, &last, "/v1/person/admin", json!({"displayname": "x"})).await;
    assert_eq!(code, 403);
    assert!(api.reauth(&last, "").await.unwrap_err().starts_with("403"));
    assert_eq!(api.post("/v1/logout", &last, json!(null)).await.0, 200);
    assert_eq!(me(&api, &last).await.0, 401);
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn ordinary_sessions_read_until_their_holder_reauthenticates() {
    let s = TestServer::start_with(bin(), &["bob"]);
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    person_with_password(&api, &idm, "erin", "a quiet first passphrase").await;
    let erin = api.login("erin", "a quiet first passphrase").await.unwrap();
    // Reads work; changes, her own password included, need a re-authentication.
    assert_eq!(me(&api, &erin).await.0, 200);
    let (code, body) = patch(&api, &erin, "/v1/person/erin", json!({"displayname": "Erin"})).await;
    assert_eq!(code, 403, "{body}");
    assert!(body.to_string().contains("re-authenticate"), "{body}");
    let (code, _) = api.set_password(&erin, "erin", "taken over by a thief").await;
    assert_eq!(code, 403, "a stolen read session cannot change the password");
    // The wrong password does not reauthenticate.
    assert!(api.reauth(&erin, "not her passphrase").await.unwrap_err().contains("incorrect"));
    let rw = api.reauth(&erin, "a quiet first passphrase").await.unwrap();
    let uat = idm_client::read_token(&rw).unwrap();
    assert_eq!(uat.session_id, idm_client::read_token(&erin).unwrap().session_id, "the same session");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let idm_core::proto::UatPurpose::ReadWrite { expiry: Some(until) } = uat.purpose else { panic!("{uat:?}") };
    assert!((now + 590..=now + 610).contains(&until), "ten minutes by default: {}", until - now);
    assert_eq!(patch(&api, &rw, "/v1/person/erin", json!({"displayname": "Erin"})).await.0, 200);
    // The old token of the same session still only reads.
    assert_eq!(patch(&api, &erin, "/v1/person/erin", json!({"displayname": "E"})).await.0, 403);
    // Changing her own password ends her other sessions, not the one she changed it from.
    let elsewhere = api.login("erin", "a quiet first passphrase").await.unwrap();
    let (code, body) = api.set_password(&rw, "erin", "a quiet second passphrase").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!((me(&api, &rw).await.0, me(&api, &elsewhere).await.0), (200, 401));
    let erin = api.login("erin", "a quiet second passphrase").await.unwrap();

    // An account policy shortens the window; the strictest of her groups applies.
    let admin = api.login("admin", &s.passwords["admin"]).await.unwrap();
    for (g, secs) in [("brief", "120"), ("briefer", "90")] {
        assert_eq!(api.post("/v1/group", &idm, json!({"attrs": {"name": [g]}})).await.0, 200);
        assert_eq!(api.post(&format!("/v1/group/{g}/_attr/member"), &idm, json!(["erin"])).await.0, 200);
        let mods = json!({"mods": [{"present": ["class", "account_policy"]}, {"present": ["privilege_expiry", secs]}]});
        let (code, body) =
            api.post("/v1/raw/modify", &admin, json!({"filter": {"eq": ["name", g]}, "modlist": mods})).await;
        assert_eq!(code, 200, "{body}");
    }
    let rw = api.reauth(&erin, "a quiet second passphrase").await.unwrap();
    let idm_core::proto::UatPurpose::ReadWrite { expiry: Some(until) } = idm_client::read_token(&rw).unwrap().purpose
    else {
        panic!()
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now + 80..=now + 95).contains(&until), "{}", until - now);
    // Asking for privileges at login (init2) gives the window at once.
    let (_, _, id) = api.step(None, json!({"init2": {"username": "erin", "issue": "token", "privileged": true}})).await;
    let (_, _, id) = api.step(id.as_deref(), json!({"begin": "password"})).await;
    let t = api.cred(&id.unwrap(), json!({"password": "a quiet second passphrase"})).await.unwrap();
    assert_eq!(patch(&api, &t, "/v1/person/erin", json!({"displayname": "Erin E"})).await.0, 200);
    // Accounts whose password was generated (recover_account) may make changes at once.
    let bob = api.login("bob", &s.passwords["bob"]).await.unwrap();
    assert_eq!(patch(&api, &bob, "/v1/person/bob", json!({"displayname": "Bob"})).await.0, 200);
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_are_listed_revoked_and_ended_by_a_lock() {
    let s = TestServer::start_with(bin(), &["bob"]);
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let one = api.login("bob", &s.passwords["bob"]).await.unwrap();
    let two = api.login("bob", &s.passwords["bob"]).await.unwrap();
    let (code, list) = api.get("/v1/account/bob/_user_auth_token", &idm).await;
    assert_eq!(code, 200, "{list}");
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["mechanism"], json!("generatedpassword"));
    assert_eq!(list[0]["client"], json!("127.0.0.1"));
    // Another person may not see or revoke them.
    person_with_password(&api, &idm, "mallory", "a passphrase of hers!").await;
    let mal = api.login("mallory", "a passphrase of hers!").await.unwrap();
    let mal = api.reauth(&mal, "a passphrase of hers!").await.unwrap();
    let (code, seen) = api.get("/v1/account/bob/_user_auth_token", &mal).await;
    assert_eq!((code, seen), (200, json!([])), "sessions are not public");
    assert_eq!(delete(&api, &mal, "/v1/account/bob/_user_auth_token").await.0, 403);
    // Revoking one leaves the other.
    let first = idm_client::read_token(&one).unwrap().session_id;
    let (code, body) = delete(&api, &idm, &format!("/v1/account/bob/_user_auth_token/{first}")).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!((me(&api, &one).await.0, me(&api, &two).await.0), (401, 200));
    // A lock expires the account, ends every session and drops a pending reset token;
    // unlocking lets it log in again.
    let (code, reset) = api.reset_token(&idm, "bob", 600).await;
    assert_eq!(code, 200, "{reset}");
    let (code, body) = api.post("/v1/account/bob/_lock", &idm, json!(null)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(me(&api, &two).await.0, 401);
    assert!(api.login("bob", &s.passwords["bob"]).await.unwrap_err().contains("expired"));
    assert_eq!(api.post("/v1/account/bob/_unlock", &idm, json!(null)).await.0, 200);
    // The token was dropped by the lock: it does not work after the unlock either.
    let (code, body) = api.redeem(reset["token"].as_str().unwrap(), "the way back in, I hope").await;
    assert_eq!(code, 400);
    assert!(body.to_string().contains("not valid"), "{body}");
    let three = api.login("bob", &s.passwords["bob"]).await.unwrap();
    // Logging out ends the session itself.
    assert_eq!(api.get("/v1/logout", &three).await.0, 200);
    assert_eq!(me(&api, &three).await.0, 401);
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_keys_rotate_online_and_revocation_ends_their_sessions() {
    let s = TestServer::start_with(bin(), &["bob"]);
    let api = Api::new(&s);
    let admin = api.login("admin", &s.passwords["admin"]).await.unwrap();
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let old_kid = s.signing_keys()[0].kid.clone();
    // Rotation is a server right of system_admins, not of idm_admins.
    assert_eq!(api.post("/v1/system/key/_rotate", &idm, json!(null)).await.0, 403);
    let (code, body) = api.post("/v1/system/key/_rotate", &admin, json!(null)).await;
    assert_eq!(code, 200, "{body}");
    let new_kid = body["kid"].as_str().unwrap().to_string();
    assert_ne!(new_kid, old_kid);
    // Tokens signed before keep working; new ones are signed with the new key.
    assert_eq!(me(&api, &idm).await.0, 200);
    let fresh = api.login("bob", &s.passwords["bob"]).await.unwrap();
    let (_, keys) = api.get("/v1/system/key", &admin).await;
    let status = |kid: &str| keys.as_array().unwrap().iter().find(|k| k["kid"] == kid).unwrap()["status"].clone();
    assert_eq!((status(&old_kid), status(&new_kid)), (json!("retired"), json!("active")), "{keys}");
    assert!(!keys.to_string().contains("private"), "{keys}");
    // The active key cannot be revoked; the retired one can, and its tokens stop at once.
    assert_eq!(api.post(&format!("/v1/system/key/{new_kid}/_revoke"), &admin, json!(null)).await.0, 400);
    assert_eq!(api.post(&format!("/v1/system/key/{old_kid}/_revoke"), &admin, json!(null)).await.0, 200);
    assert_eq!(me(&api, &admin).await.0, 401, "the token that asked was signed by it too");
    assert_eq!(me(&api, &idm).await.0, 401);
    let admin = api.login("admin", &s.passwords["admin"]).await.unwrap();
    assert_eq!(me(&api, &fresh).await.0, 200);
    assert_eq!(me(&api, &admin).await.0, 200);
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn rights_and_limits_come_from_group_data() {
    let s = TestServer::start_with(bin(), &["bob"]);
    let api = Api::new(&s);
    let admin = api.login("admin", &s.passwords["admin"]).await.unwrap();
    let bob = api.login("bob", &s.passwords["bob"]).await.unwrap();
    // No right: refused. (No backups are configured, so holding the right gets a 400 instead.)
    assert_eq!(api.get("/v1/system/backup", &bob).await.0, 403);
    let group = json!({"entries": [{"attrs": {"class": ["group"], "name": ["backup_ops"], "member": ["bob"]}}]});
    assert_eq!(api.post("/v1/raw/create", &admin, group).await.0, 200);
    let hp = json!({"filter": {"eq": ["name", "idm_high_privilege"]}, "modlist": {"mods": [{"present": ["member", "backup_ops"]}]}});
    assert_eq!(api.post("/v1/raw/modify", &admin, hp).await.0, 200);
    let grant = |right: &str| json!({"filter": {"eq": ["name", "backup_ops"]}, "modlist": {"mods": [{"present": ["server_right", right]}]}});
    let (code, body) = api.post("/v1/raw/modify", &admin, grant("no_such_right")).await;
    assert_eq!(code, 400, "unknown rights are refused: {body}");
    assert_eq!(api.post("/v1/raw/modify", &admin, grant("online_backup")).await.0, 200);
    let (code, body) = api.get("/v1/system/backup", &bob).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.to_string().contains("not configured"), "{body}");
    // An idm_admin cannot grant rights, and cannot add themselves to a group that has them.
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let (code, _) = api.post("/v1/group/backup_ops/_attr/member", &idm, json!(["idm_admin"])).await;
    assert_eq!(code, 403);
    // Limits: a group may lower or raise them for its members.
    let small = json!({"filter": {"eq": ["name", "backup_ops"]}, "modlist": {"mods": [{"present": ["limit_search_max_results", "3"]}]}});
    assert_eq!(api.post("/v1/raw/modify", &admin, small).await.0, 200);
    let (code, body) = api.search(&bob, json!({"eq": ["class", "group"]})).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.to_string().contains("limit of 3"), "{body}");
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn unauthenticated_requests_are_small_and_status_reads_the_database() {
    let s = TestServer::start(bin());
    let api = Api::new(&s);
    assert_eq!(api.get("/status", "").await, (200, json!(true)));
    let (code, body) = api.oversized("/v1/auth", "", json!({"step": {"init": "x".repeat(9 * 1024)}})).await.unwrap();
    assert_eq!(code, 413, "{body}");
    assert!(body.to_string().contains("8192"), "{body}");
    let (code, _) = api.oversized("/v1/credential/_exchange_intent", "", json!("t".repeat(9 * 1024))).await.unwrap();
    assert_eq!(code, 413);
    // Authenticated routes look at the token before the body: unauthenticated bodies are not
    // read, let alone parsed (invalid JSON would be a 400).
    let junk = "{".repeat(1 << 20);
    for token in ["", "not-a-token", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA"] {
        let r = api.oversized("/v1/raw/create", token, json!(junk)).await.unwrap();
        assert_eq!(r.0, 401, "{token}: {:?}", r.1);
    }
    // A bearer token on a login is ignored, not an error (some clients send a stale one).
    let r =
        api.call(reqwest::Method::POST, "/v1/auth", "not-a-token", Some(json!({"step": {"init": "anonymous"}}))).await;
    assert_eq!(r.0, 200, "{:?}", r.1);
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn domain_counts_are_what_the_caller_may_see() {
    let s = TestServer::start_with(bin(), &["bob", "carl"]);
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let anon = api.login("anonymous", "").await.unwrap();
    let (code, before) = api.get("/v1/domain", &anon).await;
    assert_eq!(code, 200, "{before}");
    assert_eq!(delete(&api, &idm, "/v1/person/carl").await.0, 200);
    let (_, after) = api.get("/v1/domain", &anon).await;
    let n = |v: &Value, k: &str| v[0]["attrs"][k][0].as_str().unwrap_or_default().parse::<u64>().unwrap();
    assert_eq!(n(&after, "domain_persons") + 1, n(&before, "domain_persons"), "{after}");
    // Without the public read profile, anonymous sees (and counts) nothing.
    let admin = api.login("admin", &s.passwords["admin"]).await.unwrap();
    let off = json!({"filter": {"eq": ["name", "idm_acp_all_read"]}, "modlist": {"mods": [{"purged": "acp_enable"}, {"present": ["acp_enable", "false"]}]}});
    let (code, body) = api.post("/v1/raw/modify", &admin, off).await;
    assert_eq!(code, 200, "{body}");
    let (_, hidden) = api.get("/v1/domain", &anon).await;
    assert_eq!(n(&hidden, "domain_persons"), 0, "{hidden}");
    assert_eq!(n(&hidden, "domain_entries"), 1, "anonymous still reads itself: {hidden}");
    s.stop();
}

/// A backup written by the previous system version (2: text sessions, an HMAC token key,
/// reset tokens as plain attributes), made with that build from a throwaway database: alice has
/// a password, a pending reset token and a session; staff holds her.
const V2_BACKUP: &str = "tests/fixtures/backup-system-version-2.json";

#[tokio::test(flavor = "multi_thread")]
async fn a_database_of_the_previous_version_is_upgraded_on_start() {
    let mut s = TestServer::start(bin());
    s.kill();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join(V2_BACKUP);
    idm_testkit::server::kanidmd(bin(), s.dir.path(), &["restore", fixture.to_str().unwrap()]);
    s.restart(bin());
    let api = Api::new(&s);
    // Old sessions and the old reset token are gone; the password and memberships stay.
    let alice = api.login("alice", "an old format passphrase").await.unwrap();
    let (code, who) = me(&api, &alice).await;
    assert_eq!(code, 200, "{who}");
    assert!(who.to_string().contains("staff@localhost"), "{who}");
    let sessions = who["youare"]["attrs"]["user_auth_session"].as_array().map(Vec::len);
    assert_eq!(sessions, Some(1), "only the new session: {who}");
    let (code, _) = api.redeem("zpaz3X68h66QmrttTRf9CPmHAUkUsQRg", &"x".repeat(20)).await;
    assert_eq!(code, 400);
    let log = s.log();
    assert!(log.contains("dropping") && log.contains("user_auth_session"), "{log}");
    for gone in ["credential_reset_token", "credential_reset_expire", "domain_token_key"] {
        let (code, found) = api.search(&alice, json!({"eq": ["attributename", gone]})).await;
        assert_eq!((code, &found["entries"]), (200, &json!([])), "{gone} is still defined");
    }
    // The upgraded database passes every check.
    s.kill();
    idm_testkit::server::kanidmd(bin(), s.dir.path(), &["verify"]);
    // Version 3's data is in place: the administrators' server rights and a signing key.
    let out = idm_testkit::server::kanidmd(bin(), s.dir.path(), &["recover_account", "admin"]);
    let pw = out.trim().rsplit(' ').next().unwrap().to_string();
    s.restart(bin());
    let api = Api::new(&s);
    let admin = api.login("admin", &pw).await.unwrap();
    let (code, keys) = api.get("/v1/system/key", &admin).await;
    assert_eq!(code, 200, "{keys}");
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
    // Version 4's: existing profiles let administrators name an entry's managers.
    s.kill();
    let out = idm_testkit::server::kanidmd(bin(), s.dir.path(), &["recover_account", "idm_admin"]);
    let pw = out.trim().rsplit(' ').next().unwrap().to_string();
    s.restart(bin());
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &pw).await.unwrap();
    let robot = json!({"attrs": {"name": ["robot"], "displayname": ["Robot"], "entry_managed_by": ["staff"]}});
    let (code, body) = api.post("/v1/service_account", &idm, robot).await;
    assert_eq!(code, 200, "{body}");
    // Version 5's: system administrators set credential policy on groups.
    let mods =
        json!({"mods": [{"present": ["class", "account_policy"]}, {"present": ["credential_type_minimum", "mfa"]}]});
    let (code, body) =
        api.post("/v1/raw/modify", &admin, json!({"filter": {"eq": ["name", "staff"]}, "modlist": mods})).await;
    assert_eq!(code, 200, "{body}");
    let (_, b, _) = api.step(None, json!({"init": "alice"})).await;
    assert!(b["state"]["denied"].as_str().unwrap_or_default().contains("second factor"), "{b}");
    // Version 7's: the group profiles of lower administrators no longer reach policy groups.
    assert_eq!(api.post("/v1/group/staff/_attr/member", &idm, json!(["robot"])).await.0, 403);
    // Version 8's: OAuth2 clients, managed by idm_oauth2_admins (idm_admins among them),
    // which is high privilege like every built-in administrators' group.
    let wiki = json!({"attrs": {"name": ["wiki"], "displayname": ["Wiki"], "oauth2_rs_origin_landing": ["https://wiki.example.com/"]}});
    let (code, body) = api.post("/v1/oauth2/_basic", &idm, wiki).await;
    assert_eq!(code, 200, "{body}");
    let (_, hp) = api.get("/v1/group/idm_high_privilege/_attr/member", &admin).await;
    assert!(hp.to_string().contains("idm_oauth2_admins"), "{hp}");
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_token_is_worth_no_more_than_its_issuer_now() {
    let s = TestServer::start_with(bin(), &["ian", "dora"]);
    let api = Api::new(&s);
    let admin = api.login("admin", &s.passwords["admin"]).await.unwrap();
    let members =
        |op: &str| json!({"filter": {"eq": ["name", "idm_admins"]}, "modlist": {"mods": [{op: ["member", "ian"]}]}});
    assert_eq!(api.post("/v1/raw/modify", &admin, members("present")).await.0, 200);
    let ian = api.login("ian", &s.passwords["ian"]).await.unwrap();
    let (code, t) = api.reset_token(&ian, "dora", 3600).await;
    assert_eq!(code, 200, "{t}");
    // ian stops being an account manager before the token is used.
    assert_eq!(api.post("/v1/raw/modify", &admin, members("removed")).await.0, 200);
    let secret = t["token"].as_str().unwrap().to_string();
    let (code, body) = api.redeem(&secret, "someone else's passphrase").await;
    assert_eq!(code, 400, "{body}");
    assert!(body.to_string().contains("issuer"), "{body}");
    let (_, again) = api.redeem(&secret, "someone else's passphrase").await;
    assert!(again.to_string().contains("not valid"), "the token was dropped: {again}");
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn api_tokens_are_sessions_of_a_service_account() {
    let s = TestServer::start_with(bin(), &["bob"]);
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let robot = json!({"attrs": {"name": ["robot"], "displayname": ["Robot"]}});
    assert_eq!(api.post("/v1/service_account", &idm, robot).await.0, 200);
    let request = |label: &str, rw: bool, expiry: Option<i64>| json!({"label": label, "expiry": expiry, "read_write": rw, "compact": false});
    let (code, ro) = api.post("/v1/service_account/robot/_api_token", &idm, request("reader", false, None)).await;
    assert_eq!(code, 200, "{ro}");
    let ro = ro.as_str().unwrap().to_string();
    let (code, rw) = api.post("/v1/service_account/robot/_api_token", &idm, request("writer", true, None)).await;
    assert_eq!(code, 200, "{rw}");
    let rw = rw.as_str().unwrap().to_string();
    // Listed with label and purpose, never the token.
    let (code, list) = api.get("/v1/service_account/robot/_api_token", &idm).await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert!(list.to_string().contains("\"readonly\"") && list.to_string().contains("\"writer\""), "{list}");
    assert!(!list.to_string().contains(&ro) && !list.to_string().contains(&rw));
    // Used as bearer tokens: the read-only one reads, the read-write one also writes.
    assert_eq!(me(&api, &ro).await.0, 200);
    assert_eq!(patch(&api, &ro, "/v1/service_account/robot", json!({"displayname": "R"})).await.0, 403);
    assert_eq!(patch(&api, &rw, "/v1/service_account/robot", json!({"displayname": "R2"})).await.0, 200);
    // A key rotation keeps the old key verifying for as long as a token it signed lives: for
    // ever, for a token without an expiry.
    let admin = api.login("admin", &s.passwords["admin"]).await.unwrap();
    assert_eq!(api.post("/v1/system/key/_rotate", &admin, json!(null)).await.0, 200);
    let (_, keys) = api.get("/v1/system/key", &admin).await;
    let retired = keys.as_array().unwrap().iter().find(|k| k["status"] == "retired").unwrap().clone();
    let year: i32 = retired["verifies_until"].as_str().unwrap()[..4].parse().unwrap();
    assert!(year > 2100, "{retired}");
    assert_eq!(me(&api, &rw).await.0, 200);
    // Refused: a person, a past expiry, a caller without the right.
    let (code, _) = api.post("/v1/service_account/bob/_api_token", &idm, request("x", false, None)).await;
    assert_ne!(code, 200);
    let (code, body) = api.post("/v1/service_account/robot/_api_token", &idm, request("late", false, Some(1))).await;
    assert_eq!(code, 400, "{body}");
    let bob = api.login("bob", &s.passwords["bob"]).await.unwrap();
    assert_eq!(api.post("/v1/service_account/robot/_api_token", &bob, request("mine", true, None)).await.0, 403);
    // Destroyed: it stops at once; the other keeps working until the account is deleted.
    let id = list.as_array().unwrap().iter().find(|t| t["label"] == "reader").unwrap()["token_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(delete(&api, &idm, &format!("/v1/service_account/robot/_api_token/{id}")).await.0, 200);
    assert_eq!(me(&api, &ro).await.0, 401);
    assert_eq!(me(&api, &rw).await.0, 200);
    assert_eq!(delete(&api, &idm, "/v1/service_account/robot").await.0, 200);
    assert_eq!(me(&api, &rw).await.0, 401);
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn entry_managers_manage_what_they_are_given_and_no_more() {
    let s = TestServer::start_with(bin(), &["alice"]);
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let create = |path: &'static str, attrs: Value| {
        let (api, idm) = (api.clone(), idm.clone());
        async move {
            let (code, body) = api.post(path, &idm, json!({ "attrs": attrs })).await;
            assert_eq!(code, 200, "{path} {body}");
        }
    };
    create("/v1/group", json!({"name": ["keepers"], "member": ["alice"]})).await;
    create("/v1/service_account", json!({"name": ["kept"], "displayname": ["Kept"], "entry_managed_by": ["keepers"]}))
        .await;
    create("/v1/service_account", json!({"name": ["other"], "displayname": ["Other"]})).await;
    create(
        "/v1/service_account",
        json!({"name": ["lofty"], "displayname": ["Lofty"], "entry_managed_by": ["keepers"]}),
    )
    .await;
    create("/v1/group", json!({"name": ["team"], "entry_managed_by": ["keepers"]})).await;
    // A managed account that becomes high privilege is out of its managers' reach.
    let admin = api.login("admin", &s.passwords["admin"]).await.unwrap();
    let (code, body) = api.post("/v1/group/idm_admins/_attr/member", &admin, json!(["lofty"])).await;
    assert_eq!(code, 200, "{body}");

    let alice = api.login("alice", &s.passwords["alice"]).await.unwrap();
    let alice = api.reauth(&alice, &s.passwords["alice"]).await.unwrap();
    let request = json!({"label": "deploy", "expiry": null, "read_write": false});
    // What alice's group manages she may read and change, and issue tokens for.
    let (_, kept) = api.get("/v1/service_account/kept", &alice).await;
    assert_eq!(kept["attrs"]["displayname"], json!(["Kept"]), "{kept}");
    assert_eq!(patch(&api, &alice, "/v1/service_account/kept", json!({"displayname": "Kept 2"})).await.0, 200);
    let (code, token) = api.post("/v1/service_account/kept/_api_token", &alice, request.clone()).await;
    assert_eq!(code, 200, "{token}");
    assert_eq!(me(&api, token.as_str().unwrap()).await.1["youare"]["attrs"]["name"], json!(["kept"]));
    let (code, body) = api.post("/v1/group/team/_attr/member", &alice, json!(["kept"])).await;
    assert_eq!(code, 200, "{body}");
    // Not who manages it, nor anything else.
    let (code, _) = patch(&api, &alice, "/v1/service_account/kept", json!({"entry_managed_by": "alice"})).await;
    assert_eq!(code, 403);
    for target in ["other", "lofty"] {
        let (code, _) = api.post(&format!("/v1/service_account/{target}/_api_token"), &alice, request.clone()).await;
        assert!(code == 403 || code == 404, "{target}: {code}");
        assert_eq!(
            patch(&api, &alice, &format!("/v1/service_account/{target}"), json!({"displayname": "X"})).await.0 / 100,
            4
        );
    }
    let (code, _) = api.post("/v1/group/keepers/_attr/member", &alice, json!(["kept"])).await;
    assert!(code == 403 || code == 404, "{code}");
    // Leaving the managing group ends it at her next request.
    let (code, _) = delete(&api, &idm, "/v1/group/keepers/_attr/member").await;
    assert_eq!(code, 200);
    let (code, _) = api.post("/v1/service_account/kept/_api_token", &alice, request).await;
    assert!(code == 403 || code == 404, "{code}");
    assert_eq!(api.get("/v1/service_account/kept", &alice).await.1["attrs"].get("entry_managed_by"), None);
    s.stop();
}
