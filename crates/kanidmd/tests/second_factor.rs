//! TOTP and backup codes through the real server: enrolment in a credential update session,
//! codes computed by an independent implementation (Python `pyotp` from PyPI, installed by
//! `scripts/upstream_clients.sh`), the skew window, replay refusal and single-use backup
//! codes, and what the mechanisms offered look like to each kind of client.

use idm_testkit::api::Api;
use idm_testkit::server::TestServer;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const BOB_PW: &str = "Tq8!lantern-mosaic-frost";

fn python() -> PathBuf {
    let p = std::env::var_os("KANIDM_UPSTREAM_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
        home.join(".cache/idm-upstream/pykanidm-1.3.0/bin/python")
    });
    assert!(p.exists(), "{} is missing: run scripts/upstream_clients.sh", p.display());
    p
}

/// The code pyotp computes for `secret` (raw bytes, as the server sends them) at unix time `t`.
fn pyotp(secret: &[u8], t: i64) -> u32 {
    let script = "import base64, pyotp, sys\n\
                  key = base64.b32encode(bytes(int(b) for b in sys.argv[1].split(','))).decode()\n\
                  print(pyotp.TOTP(key).at(int(sys.argv[2])))";
    let bytes: Vec<String> = secret.iter().map(u8::to_string).collect();
    let o = Command::new(python()).args(["-c", script, &bytes.join(","), &t.to_string()]).output().unwrap();
    assert!(o.status.success(), "pyotp: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
}

/// The secret of the TOTP a credential update status is enrolling, as raw bytes.
fn totp_key(status: &Value) -> Vec<u8> {
    let secret = status["mfaregstate"]["TotpCheck"]["secret"].as_array().expect("a TOTP being enrolled");
    secret.iter().map(|b| b.as_u64().unwrap() as u8).collect()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Waits, if need be, so that the next few seconds stay inside one 30 s step.
fn away_from_a_step_boundary() {
    let left = 30 - now() % 30;
    if left < 8 {
        std::thread::sleep(std::time::Duration::from_secs(left as u64 + 1));
    }
}

/// Someone signing in with a second factor.
struct Person<'a> {
    api: &'a Api,
    name: &'static str,
}

impl Person<'_> {
    /// A login with `mech`, the first factor `first` and then the password: the token,
    /// or the answer that refused it.
    async fn login(&self, mech: &str, first: Value, password: &str) -> Result<String, String> {
        let init = json!({ "init2": { "username": self.name, "issue": "token", "privileged": false } });
        let (_, _, session) = self.api.step(None, init).await;
        let session = session.ok_or("no login started")?;
        let (_, begun, session) = self.api.step(Some(&session), json!({ "begin": mech })).await;
        let session = session.ok_or_else(|| begun.to_string())?;
        let (_, next, session) = self.api.step(Some(&session), json!({ "cred": first })).await;
        if next["state"]["continue"] != json!(["password"]) {
            return Err(next["state"].to_string());
        }
        self.api.cred(&session.unwrap(), json!({ "password": password })).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn totp_and_backup_codes_enrol_sign_in_once_and_are_checked_independently() {
    let s = TestServer::start(Path::new(env!("CARGO_BIN_EXE_kanidmd")));
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let (c, b) = api.post("/v1/person", &idm, json!({"attrs": {"name": ["bob"], "displayname": ["Bob"]}})).await;
    assert_eq!(c, 200, "{b}");

    // Bob enrols from a reset link: password, then a TOTP, then backup codes.
    let (_, reset) = api.reset_token(&idm, "bob", 3600).await;
    let (c, open) = api.post("/v1/credential/_exchange_intent", "", reset["token"].clone()).await;
    assert_eq!(c, 200, "{open}");
    let cu = open[0].clone();
    let update = |req: Value| {
        let (api, cu) = (api.clone(), cu.clone());
        async move { api.post("/v1/credential/_update", "", json!([req, cu])).await }
    };
    let (c, st) = update(json!("totpgenerate")).await;
    assert_eq!(c, 400, "a TOTP needs a password first: {st}");
    assert_eq!(update(json!({ "password": BOB_PW })).await.0, 200);
    let (c, st) = update(json!("totpgenerate")).await;
    assert_eq!(c, 200, "{st}");
    let secret = &st["mfaregstate"]["TotpCheck"];
    assert_eq!(
        (secret["algo"].as_str(), secret["digits"].as_u64(), secret["step"].as_u64()),
        (Some("sha1"), Some(6), Some(30))
    );
    assert_eq!(
        (secret["accountname"].as_str(), secret["issuer"].as_str()),
        (Some("bob"), Some("localhost")),
        "{secret}"
    );
    let key = totp_key(&st);
    assert_eq!(key.len(), 20);

    away_from_a_step_boundary();
    let t = now();
    let right = pyotp(&key, t - 30);
    let wrong = (right + 1) % 1_000_000;
    let (_, st) = update(json!({ "totpverify": [wrong, "phone"] })).await;
    assert_eq!(st["mfaregstate"], json!("TotpTryAgain"), "{st}");
    let (_, st) = update(json!({ "totpverify": [right, ""] })).await;
    assert!(st["mfaregstate"]["TotpNameTryAgain"].is_string(), "{st}");
    // Last step's code: the skew window accepts it.
    let (_, st) = update(json!({ "totpverify": [right, "phone"] })).await;
    assert_eq!(st["mfaregstate"], json!("None"), "{st}");
    assert_eq!(st["primary"]["type_"]["PasswordMfa"][0], json!(["phone"]), "{st}");
    let (_, st) = update(json!("backupcodegenerate")).await;
    let codes: Vec<String> =
        st["mfaregstate"]["BackupCodes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    assert_eq!(codes.len(), 8, "{st}");
    let (_, st) = api.post("/v1/credential/_status", "", cu.clone()).await;
    assert!(!st.to_string().contains(&codes[0]), "codes are shown once: {st}");
    assert_eq!(st["primary"]["type_"]["PasswordMfa"][2], json!(8), "{st}");
    assert_eq!(api.post("/v1/credential/_commit", "", cu.clone()).await.0, 200);

    // What a login is offered now.
    let bob = Person { api: &api, name: "bob" };
    let init = json!({ "init2": { "username": "bob", "issue": "token", "privileged": false } });
    let (_, b, session) = api.step(None, init).await;
    assert_eq!(b["state"]["choose"], json!(["passwordmfa", "passwordbackupcode"]), "{b}");
    let (_, b, _) = api.step(session.as_deref(), json!({ "begin": "password" })).await;
    assert!(b["state"]["denied"].as_str().unwrap().contains("not available"), "no password-only login: {b}");
    let (_, b, _) = api.step(None, json!({ "init": "bob" })).await;
    assert_eq!(b["state"]["choose"], json!(["passwordmfa"]), "2022 clients know no backup-code mechanism: {b}");

    // The enrolment code is used; the current one works once; the next step's is early but
    // inside the window; two steps back is outside it.
    let err = bob.login("passwordmfa", json!({ "totp": right }), BOB_PW).await.unwrap_err();
    assert!(err.contains("used already"), "{err}");
    let token = bob.login("passwordmfa", json!({ "totp": pyotp(&key, t) }), BOB_PW).await.unwrap();
    let err = bob.login("passwordmfa", json!({ "totp": pyotp(&key, t) }), BOB_PW).await.unwrap_err();
    assert!(err.contains("used already"), "replayed: {err}");
    // A right code does not make up for a wrong password (and is not used up by it).
    let err = bob.login("passwordmfa", json!({ "totp": pyotp(&key, t + 30) }), "not-the-password").await.unwrap_err();
    assert!(err.contains("incorrect password"), "{err}");
    bob.login("passwordmfa", json!({ "totp": pyotp(&key, t + 30) }), BOB_PW).await.unwrap();
    let err = bob.login("passwordmfa", json!({ "totp": pyotp(&key, t - 90) }), BOB_PW).await.unwrap_err();
    assert!(err.contains("incorrect TOTP"), "{err}");
    let (_, me) = api.get("/v1/self", &token).await;
    assert_eq!(me["youare"]["attrs"]["name"], json!(["bob"]), "{me}");

    // Backup codes: each works once, however it is typed.
    let typed = codes[0].to_uppercase();
    bob.login("passwordbackupcode", json!({ "backupcode": typed }), BOB_PW).await.unwrap();
    let err = bob.login("passwordbackupcode", json!({ "backupcode": codes[0] }), BOB_PW).await.unwrap_err();
    assert!(err.contains("incorrect backup code"), "{err}");
    let (_, status) = api.get("/v1/person/bob/_credential/_status", &idm).await;
    assert_eq!(status["creds"][0]["type_"]["PasswordMfa"][2], json!(7), "{status}");
    // A TOTP code is not a backup code, nor the other way round.
    let err = bob.login("passwordmfa", json!({ "backupcode": codes[1] }), BOB_PW).await.unwrap_err();
    assert!(err.contains("totp"), "{err}");

    // Re-authentication asks for the same two factors.
    let (c, b) = api.post("/v1/reauth", &token, json!("token")).await;
    assert_eq!((c, b["state"]["continue"].clone()), (200, json!(["totp"])), "{b}");

    // Removing the last TOTP takes the backup codes with it, and password logins return.
    let (_, open) = api.get("/v1/person/bob/_credential/_update", &idm).await;
    let cu = open[0].clone();
    let (c, st) = api.post("/v1/credential/_update", "", json!([{ "totpremove": "tablet" }, cu])).await;
    assert!(c == 400 && st.to_string().contains("phone"), "names the ones there are: {st}");
    let (_, st) = api.post("/v1/credential/_update", "", json!([{ "totpremove": "phone" }, cu])).await;
    assert_eq!(st["primary"]["type_"], json!("Password"), "{st}");
    assert_eq!(api.post("/v1/credential/_commit", "", cu).await.0, 200);
    api.login("bob", BOB_PW).await.unwrap();
    s.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn account_policy_decides_which_credentials_sign_in_and_may_be_saved() {
    let s = TestServer::start(Path::new(env!("CARGO_BIN_EXE_kanidmd")));
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let admin = api.login("admin", &s.passwords["admin"]).await.unwrap();
    let pw = "Rk2%harbour-willow-pine";
    api.post("/v1/person", &idm, json!({"attrs": {"name": ["dave"], "displayname": ["Dave"]}})).await;
    assert_eq!(api.set_password(&idm, "dave", pw).await.0, 200);
    assert_eq!(api.post("/v1/group", &idm, json!({"attrs": {"name": ["strict"]}})).await.0, 200);
    assert_eq!(api.post("/v1/group/strict/_attr/member", &idm, json!(["dave"])).await.0, 200);
    let set_policy = |attr: &'static str, value: &'static str| {
        let (api, admin) = (api.clone(), admin.clone());
        async move {
            let mods = json!({"mods": [{"present": ["class", "account_policy"]}, {"purged": attr}, {"present": [attr, value]}]});
            api.post("/v1/raw/modify", &admin, json!({"filter": {"eq": ["name", "strict"]}, "modlist": mods})).await
        }
    };
    let (c, b) = set_policy("credential_type_minimum", "strong").await;
    assert!(c == 400 && b.to_string().contains("any, mfa, passkey"), "{c} {b}");
    assert_eq!(set_policy("credential_type_minimum", "mfa").await.0, 200);

    // A password alone is not offered, to today's clients or 2022's.
    for init in [json!({"init2": {"username": "dave", "issue": "token", "privileged": false}}), json!({"init": "dave"})]
    {
        let (_, b, _) = api.step(None, init).await;
        let why = b["state"]["denied"].as_str().unwrap_or_default();
        assert!(why.contains("requires a password with a second factor"), "{b}");
    }
    // An update session cannot save a password alone; with a TOTP it can.
    let (_, open) = api.get("/v1/person/dave/_credential/_update", &idm).await;
    let cu = open[0].clone();
    let update = |req: Value| {
        let (api, cu) = (api.clone(), cu.clone());
        async move { api.post("/v1/credential/_update", "", json!([req, cu])).await }
    };
    let (_, st) = update(json!({ "password": pw })).await;
    assert_eq!((st["can_commit"].clone(), st["warnings"].clone()), (json!(false), json!(["MfaRequired"])), "{st}");
    let (c, b) = api.post("/v1/credential/_commit", "", cu.clone()).await;
    assert!(c == 400 && b.to_string().contains("second factor"), "{c} {b}");
    // The refused commit left the session open: it enrols the TOTP too, and then saves.
    let (_, st) = update(json!("totpgenerate")).await;
    let key = totp_key(&st);
    away_from_a_step_boundary();
    let t = now();
    let (_, st) = update(json!({ "totpverify": [pyotp(&key, t), "phone"] })).await;
    assert_eq!((st["can_commit"].clone(), st["warnings"].clone()), (json!(true), json!([])), "{st}");
    assert_eq!(api.post("/v1/credential/_commit", "", cu).await.0, 200);
    let dave = Person { api: &api, name: "dave" };
    dave.login("passwordmfa", json!({ "totp": pyotp(&key, t + 30) }), pw).await.unwrap();

    // A password staged under one policy is checked again at commit, against the policy then.
    let (_, open) = api.get("/v1/person/dave/_credential/_update", &idm).await;
    let staged = open[0].clone();
    let (c, st) = api.post("/v1/credential/_update", "", json!([{ "password": "Nine-teen!chars-long" }, staged])).await;
    assert_eq!(c, 200, "{st}");
    // A group's password_min_length raises the server's (and may not ask for the impossible).
    let (c, b) = set_policy("password_min_length", "300").await;
    assert!(c == 400 && b.to_string().contains("at most 256"), "{c} {b}");
    assert_eq!(set_policy("password_min_length", "30").await.0, 200);
    let (c, b) = api.post("/v1/credential/_commit", "", staged).await;
    assert!(c == 400 && b.to_string().contains("now needs at least 30"), "{c} {b}");
    let (c, b) = api.set_password(&idm, "dave", "Nine-teen!chars-long").await;
    assert!(c == 400 && b.to_string().contains("at least 30"), "{c} {b}");

    // A passkey policy: nothing this account has will do.
    assert_eq!(set_policy("credential_type_minimum", "passkey").await.0, 200);
    let (_, b, _) = api.step(None, json!({"init2": {"username": "dave", "issue": "token", "privileged": false}})).await;
    assert!(b["state"]["denied"].as_str().unwrap_or_default().contains("requires a passkey"), "{b}");

    // Who a policy binds is the system administrators' to change: idm_admin may no longer move
    // dave out of (or anyone into) the policy group; admin may.
    let (c, _) = api.call(reqwest::Method::DELETE, "/v1/group/strict/_attr/member", &idm, Some(json!(["dave"]))).await;
    assert_eq!(c, 403, "idm_admin removing a member of a policy group");
    assert_eq!(api.post("/v1/group/strict/_attr/member", &idm, json!(["idm_admin"])).await.0, 403);
    assert_eq!(api.post("/v1/group/strict/_attr/member", &admin, json!(["idm_admin"])).await.0, 200);

    // Recovery still works under any policy: a generated password signs in.
    drop(api);
    let mut s = s;
    s.kill();
    let out = idm_testkit::server::kanidmd(
        Path::new(env!("CARGO_BIN_EXE_kanidmd")),
        s.dir.path(),
        &["recover_account", "dave"],
    );
    let generated = out.trim().rsplit(' ').next().unwrap().to_string();
    s.restart(Path::new(env!("CARGO_BIN_EXE_kanidmd")));
    let api = Api::new(&s);
    assert!(api.login("dave", &generated).await.is_ok(), "a recovery password under a passkey policy");
    s.stop();
}

/// Enrols a password and a TOTP labelled "phone" for `name` through an update session opened
/// by `token`; the TOTP's secret.
async fn enrol_totp(api: &Api, token: &str, name: &str, password: &str) -> Vec<u8> {
    let (_, open) = api.get(&format!("/v1/person/{name}/_credential/_update"), token).await;
    let cu = open[0].clone();
    assert_eq!(api.post("/v1/credential/_update", "", json!([{ "password": password }, cu])).await.0, 200);
    let (_, st) = api.post("/v1/credential/_update", "", json!(["totpgenerate", cu])).await;
    let key = totp_key(&st);
    let code = pyotp(&key, now() - 30);
    let (_, st) = api.post("/v1/credential/_update", "", json!([{ "totpverify": [code, "phone"] }, cu])).await;
    assert_eq!(st["mfaregstate"], json!("None"), "{st}");
    assert_eq!(api.post("/v1/credential/_commit", "", cu).await.0, 200);
    key
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_cannot_undo_a_change_made_elsewhere_and_sign_ins_are_no_change() {
    let s = TestServer::start(Path::new(env!("CARGO_BIN_EXE_kanidmd")));
    let api = Api::new(&s);
    let idm = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let pw = "Wm5&meadow-copper-lake";
    api.post("/v1/person", &idm, json!({"attrs": {"name": ["erin"], "displayname": ["Erin"]}})).await;
    away_from_a_step_boundary();
    enrol_totp(&api, &idm, "erin", pw).await;
    let open = |token: String| {
        let api = api.clone();
        async move { api.get("/v1/person/erin/_credential/_update", &token).await.1[0].clone() }
    };
    let update = |cu: Value, req: Value| {
        let api = api.clone();
        async move { api.post("/v1/credential/_update", "", json!([req, cu])).await }
    };

    // A session staged a new password while another removed the lost phone's TOTP: the first
    // cannot bring the TOTP back.
    let first = open(idm.clone()).await;
    assert_eq!(update(first.clone(), json!({ "password": "Zt7^another-good-phrase" })).await.0, 200);
    let second = open(idm.clone()).await;
    assert_eq!(update(second.clone(), json!({ "totpremove": "phone" })).await.0, 200);
    assert_eq!(api.post("/v1/credential/_commit", "", second).await.0, 200);
    let (c, b) = api.post("/v1/credential/_commit", "", first).await;
    assert!(c == 400 && b.to_string().contains("changed elsewhere"), "{c} {b}");
    let (_, status) = api.get("/v1/person/erin/_credential/_status", &idm).await;
    assert_eq!(status["creds"][0]["type_"], json!("Password"), "{status}");

    // Signing in with a second factor is no change: a session opened before still commits,
    // and a pending reset token stays pending.
    let key = enrol_totp(&api, &idm, "erin", pw).await;
    let (_, reset) = api.reset_token(&idm, "erin", 3600).await;
    let pending = open(idm.clone()).await;
    assert_eq!(update(pending.clone(), json!("backupcodegenerate")).await.0, 200);
    let erin = Person { api: &api, name: "erin" };
    erin.login("passwordmfa", json!({ "totp": pyotp(&key, now()) }), pw).await.unwrap();
    let (_, status) = api.get("/v1/person/erin/_credential/_status", &idm).await;
    assert!(status["reset_token"].is_object(), "the reset token survives a sign-in: {status}");
    assert_eq!(api.post("/v1/credential/_commit", "", pending).await.0, 200);
    let (_, status) = api.get("/v1/person/erin/_credential/_status", &idm).await;
    assert_eq!(status["creds"][0]["type_"]["PasswordMfa"][2], json!(8), "{status}");
    assert!(reset["token"].is_string());

    // A session whose opener's login ended commits nothing.
    let other = api.login("idm_admin", &s.passwords["idm_admin"]).await.unwrap();
    let other = api.reauth(&other, &s.passwords["idm_admin"]).await.unwrap();
    let orphan = open(other.clone()).await;
    assert_eq!(update(orphan.clone(), json!("backupcoderemove")).await.0, 200);
    assert_eq!(api.get("/v1/logout", &other).await.0, 200);
    let (c, b) = api.post("/v1/credential/_commit", "", orphan).await;
    assert!(c == 403 && b.to_string().contains("has ended"), "{c} {b}");
    s.stop();
}
