//! Sign-ins per second through the HTTPS API, by mechanism, against a running server
//! (`scripts/bench_signin.sh` starts one): password, password + TOTP, and passkey (answered by
//! a software authenticator, `webauthn-authenticator-rs`'s `SoftPasskey`). Every sign-in is a
//! whole login (init2, begin, the credential steps) over a keep-alive TLS connection, with
//! WORKERS at once.
//!
//! A TOTP code works once, so each TOTP sign-in uses an account of its own, all inside one
//! 30-second step; the accounts are enrolled first.
//!
//! usage: signin_bench URL CA_PEM IDM_ADMIN_PASSWORD ORIGIN [TOTP_ACCOUNTS] [SECONDS]

use idm_core::credential::Totp;
use idm_identity::second_factor::code_at;
use idm_testkit::api::Api;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use webauthn_authenticator_rs::AuthenticatorBackend;
use webauthn_authenticator_rs::prelude::{RequestChallengeResponse, Url};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

const PASSWORD: &str = "Bq7!benchmark-sign-in-phrase";
const WORKERS: usize = 4;

fn unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn totp(secret: Vec<u8>) -> Totp {
    idm_testkit::app_totp(&secret)
}

async fn cu_open(api: &Api, idm: &str, name: &str) -> Value {
    api.get(&format!("/v1/person/{name}/_credential/_update"), idm).await.1[0].clone()
}

async fn cu(api: &Api, session: &Value, req: Value) -> Value {
    let (code, st) = api.post("/v1/credential/_update", "", json!([req, session])).await;
    assert_eq!(code, 200, "{st}");
    st
}

async fn person(api: &Api, idm: &str, name: &str) {
    let (code, b) = api.post("/v1/person", idm, json!({"attrs": {"name": [name], "displayname": [name]}})).await;
    assert_eq!(code, 200, "{b}");
}

/// A person with a password and a TOTP; its secret.
async fn totp_person(api: &Api, idm: &str, name: &str) -> Vec<u8> {
    person(api, idm, name).await;
    let s = cu_open(api, idm, name).await;
    cu(api, &s, json!({ "password": PASSWORD })).await;
    let st = cu(api, &s, json!("totpgenerate")).await;
    let secret: Vec<u8> = st["mfaregstate"]["TotpCheck"]["secret"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).map(|b| b as u8).collect())
        .unwrap_or_default();
    // Last step's code enrols it, leaving this step's for the sign-in.
    let code = code_at(&totp(secret.clone()), unix() / 30 - 1);
    cu(api, &s, json!({ "totpverify": [code, "bench"] })).await;
    assert_eq!(api.post("/v1/credential/_commit", "", s).await.0, 200);
    secret
}

/// A person with only a passkey, held by the returned authenticator.
async fn passkey_person(api: &Api, idm: &str, name: &str, origin: &Url) -> SoftPasskey {
    person(api, idm, name).await;
    let s = cu_open(api, idm, name).await;
    let st = cu(api, &s, json!("passkeyinit")).await;
    let mut key = SoftPasskey::new(true);
    let answer = idm_testkit::soft_register(&mut key, origin.as_str(), &st["mfaregstate"]["Passkey"]);
    cu(api, &s, json!({ "passkeyfinish": ["bench", answer] })).await;
    assert_eq!(api.post("/v1/credential/_commit", "", s).await.0, 200);
    key
}

/// One login: init2, begin `mech`, then each credential in turn (the last answers success).
async fn sign_in(api: &Api, name: &str, mech: &str, creds: Vec<Value>) -> bool {
    let init = json!({ "init2": { "username": name, "issue": "token", "privileged": false } });
    let (_, _, mut session) = api.step(None, init).await;
    let (_, _, next) = api.step(session.as_deref(), json!({ "begin": mech })).await;
    session = next;
    let last = creds.len() - 1;
    for (i, c) in creds.into_iter().enumerate() {
        let (_, b, next) = api.step(session.as_deref(), json!({ "cred": c })).await;
        if i == last {
            return b["state"]["success"].is_string();
        }
        session = next;
    }
    false
}

async fn passkey_sign_in(api: &Api, name: &str, key: &mut SoftPasskey, origin: &Url) -> bool {
    let init = json!({ "init2": { "username": name, "issue": "token", "privileged": false } });
    let (_, _, session) = api.step(None, init).await;
    let (_, b, session) = api.step(session.as_deref(), json!({ "begin": "passkey" })).await;
    let Ok(challenge) =
        serde_json::from_value::<RequestChallengeResponse>(b["state"]["continue"][0]["passkey"].clone())
    else {
        return false;
    };
    let Ok(assertion) = key.perform_auth(origin.clone(), challenge.public_key, 60_000) else { return false };
    let (_, b, _) = api.step(session.as_deref(), json!({ "cred": { "passkey": assertion } })).await;
    b["state"]["success"].is_string()
}

fn report(label: &str, n: usize, elapsed: Duration) {
    println!(
        "signin_{label}_per_s {:.1} ({n} sign-ins in {:.2} s, {WORKERS} clients)",
        n as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: signin_bench URL CA_PEM IDM_ADMIN_PASSWORD ORIGIN [TOTP_ACCOUNTS] [SECONDS]");
        std::process::exit(2);
    }
    let (url, ca, admin_pw) = (&args[1], std::path::Path::new(&args[2]), &args[3]);
    let origin = Url::parse(&args[4]).unwrap_or_else(|e| panic!("origin: {e}"));
    let totp_accounts: usize = args.get(5).and_then(|a| a.parse().ok()).unwrap_or(120);
    let seconds = Duration::from_secs(args.get(6).and_then(|a| a.parse().ok()).unwrap_or(10));
    let api = Api::connect(url, ca);
    let idm = api.login("idm_admin", admin_pw).await.unwrap_or_else(|e| panic!("idm_admin: {e}"));

    // Password: WORKERS accounts, each signing in for `seconds`.
    for w in 0..WORKERS {
        person(&api, &idm, &format!("pw{w}")).await;
        assert_eq!(api.set_password(&idm, &format!("pw{w}"), PASSWORD).await.0, 200);
    }
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let (api, done) = (Api::connect(url, ca), done.clone());
        tasks.push(tokio::spawn(async move {
            while start.elapsed() < seconds {
                if sign_in(&api, &format!("pw{w}"), "password", vec![json!({ "password": PASSWORD })]).await {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    report("password", done.load(Ordering::Relaxed), start.elapsed());

    // Password + TOTP: one account per sign-in, all inside one step.
    let mut secrets = Vec::new();
    for i in 0..totp_accounts {
        secrets.push((format!("totp{i}"), totp_person(&api, &idm, &format!("totp{i}")).await));
    }
    let left = 30 - unix() % 30;
    if left < 20 {
        tokio::time::sleep(Duration::from_secs(left + 1)).await;
    }
    let queue = Arc::new(std::sync::Mutex::new(secrets));
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..WORKERS {
        let (api, done, queue) = (Api::connect(url, ca), done.clone(), queue.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some((name, secret)) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop() else { break };
                let code = code_at(&totp(secret), unix() / 30);
                let creds = vec![json!({ "totp": code }), json!({ "password": PASSWORD })];
                if sign_in(&api, &name, "passwordmfa", creds).await {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    report("totp", done.load(Ordering::Relaxed), start.elapsed());

    // Passkey: WORKERS accounts, each with its authenticator, for `seconds`.
    let mut keys = Vec::new();
    for w in 0..WORKERS {
        keys.push(passkey_person(&api, &idm, &format!("pk{w}"), &origin).await);
    }
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (w, mut key) in keys.into_iter().enumerate() {
        let (api, done, origin) = (Api::connect(url, ca), done.clone(), origin.clone());
        tasks.push(tokio::spawn(async move {
            while start.elapsed() < seconds {
                if passkey_sign_in(&api, &format!("pk{w}"), &mut key, &origin).await {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    report("passkey", done.load(Ordering::Relaxed), start.elapsed());
}
