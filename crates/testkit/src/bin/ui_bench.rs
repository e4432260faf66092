//! Latency of each web UI page against a running server (`scripts/bench_ui.sh` starts one
//! holding 100k persons and 1k groups): the sign-in pages (name, password, passkey), the
//! profile, the reset link, the credential editor with a TOTP QR code, sign-out. Each round
//! walks every page once, as one browser over a keep-alive TLS connection on loopback; the
//! time is the client's (request sent to answer read), so it bounds the server's from above.
//!
//! usage: ui_bench URL CA_PEM IDM_ADMIN_PASSWORD ORIGIN PERSON [ROUNDS]
//! PERSON is a person of the loaded data (in its groups); it is given a password here.

use idm_testkit::api::Api;
use idm_testkit::web::{Page, Web};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use webauthn_authenticator_rs::AuthenticatorBackend;
use webauthn_authenticator_rs::prelude::{RequestChallengeResponse, Url};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

const PASSWORD: &str = "Bq7!benchmark-ui-phrase";

/// Latencies per page, in the order pages are first seen.
#[derive(Default)]
struct Timings {
    order: Vec<&'static str>,
    samples: BTreeMap<&'static str, Vec<Duration>>,
}

impl Timings {
    async fn time(&mut self, page: &'static str, f: impl std::future::Future<Output = Page>) -> Page {
        let start = Instant::now();
        let p = f.await;
        let took = start.elapsed();
        assert!(p.status == 200 || p.status == 303, "{page}: {} {}", p.status, p.body);
        if !self.samples.contains_key(page) {
            self.order.push(page);
        }
        self.samples.entry(page).or_default().push(took);
        p
    }

    fn report(&self) {
        println!("{:<44} {:>8} {:>8} {:>8} {:>8}", "page", "p50_ms", "p95_ms", "max_ms", "n");
        for page in &self.order {
            let mut v = self.samples[page].clone();
            v.sort();
            let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0;
            println!("{page:<44} {:>8.2} {:>8.2} {:>8.2} {:>8}", at(0.5), at(0.95), at(1.0), v.len());
        }
    }
}

/// The assertion answering the passkey page's challenge (read from the page, as the script
/// in a browser reads it).
fn assertion(p: &Page, key: &mut SoftPasskey, origin: &Url) -> String {
    let options = p.between("data-options=\"", "\"").unwrap_or_else(|| panic!("no challenge: {}", p.body));
    let options = options.replace("&quot;", "\"").replace("&amp;", "&");
    let rcr: RequestChallengeResponse = serde_json::from_str(&options).unwrap_or_else(|e| panic!("{e}: {options}"));
    let a = key.perform_auth(origin.clone(), rcr.public_key, 60_000).unwrap_or_else(|e| panic!("{e:?}"));
    serde_json::to_string(&a).unwrap_or_default()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!("usage: ui_bench URL CA_PEM IDM_ADMIN_PASSWORD ORIGIN PERSON [ROUNDS]");
        std::process::exit(2);
    }
    let (url, ca, admin_pw, person) = (&args[1], std::path::Path::new(&args[2]), &args[3], &args[5]);
    let origin = Url::parse(&args[4]).unwrap_or_else(|e| panic!("origin: {e}"));
    let rounds: usize = args.get(6).and_then(|a| a.parse().ok()).unwrap_or(100);
    let api = Api::connect(url, ca);
    let idm = api.login("idm_admin", admin_pw).await.unwrap_or_else(|e| panic!("idm_admin: {e}"));
    let (c, b) = api.set_password(&idm, person, PASSWORD).await;
    assert_eq!(c, 200, "{b}");
    // A second account with only a passkey, for the passkey pages.
    let (c, b) =
        api.post("/v1/person", &idm, json!({"attrs": {"name": ["uibench_pk"], "displayname": ["UI bench"]}})).await;
    assert_eq!(c, 200, "{b}");
    let (_, open) = api.get("/v1/person/uibench_pk/_credential/_update", &idm).await;
    let (_, st) = api.post("/v1/credential/_update", "", json!(["passkeyinit", open[0]])).await;
    let mut key = SoftPasskey::new(true);
    let answer = idm_testkit::soft_register(&mut key, origin.as_str(), &st["mfaregstate"]["Passkey"]);
    api.post("/v1/credential/_update", "", json!([{ "passkeyfinish": ["bench", answer] }, open[0]])).await;
    assert_eq!(api.post("/v1/credential/_commit", "", open[0].clone()).await.0, 200);
    let (_, groups) = api.get(&format!("/v1/person/{person}/_attr/memberof"), &idm).await;
    println!("ui_bench person {person} in {} groups, {rounds} rounds", groups.as_array().map_or(0, Vec::len));

    let mut t = Timings::default();
    for _ in 0..rounds {
        let web = Web::connect(url, ca);
        // The connection's TLS handshake is not a page's time.
        web.get("/status").await;
        t.time("GET /ui/login", web.get("/ui/login")).await;
        let p = t.time("POST /ui/login (name; password page)", web.form("/ui/login", &[("username", person)])).await;
        assert!(p.body.contains("name=\"password\""), "{}", p.body);
        let p = t
            .time("POST /ui/login/step (password, argon2)", web.form("/ui/login/step", &[("password", PASSWORD)]))
            .await;
        assert_eq!(p.location(), "/ui/profile", "{}", p.body);
        t.time("GET /ui/profile", web.get("/ui/profile")).await;
        let p = t.time("POST /ui/reauth (password page)", web.form("/ui/reauth", &[("next", "/ui/profile")])).await;
        assert!(p.body.contains("name=\"password\""), "{}", p.body);
        t.time("POST /ui/login/step (reauth, argon2)", web.form("/ui/login/step", &[("password", PASSWORD)])).await;
        let p = t.time("POST /ui/credentials/begin", web.form("/ui/credentials/begin", &[])).await;
        assert_eq!(p.location(), "/ui/credentials", "{}", p.body);
        t.time("GET /ui/credentials", web.get("/ui/credentials")).await;
        t.time(
            "POST /ui/credentials/update (totp-start)",
            web.form("/ui/credentials/update", &[("action", "totp-start")]),
        )
        .await;
        let p = t.time("GET /ui/credentials (TOTP QR code)", web.get("/ui/credentials")).await;
        assert!(p.body.contains("<svg class=\"qr\""), "{}", p.body);
        t.time("POST /ui/credentials/cancel", web.form("/ui/credentials/cancel", &[])).await;
        t.time("POST /ui/logout", web.form("/ui/logout", &[])).await;

        // The reset link (its token made through the API, not timed).
        let (_, reset) = api.reset_token(&idm, person, 3600).await;
        let token = reset["token"].as_str().unwrap_or_default().to_string();
        t.time("GET /ui/reset?token=", web.get(&format!("/ui/reset?token={token}"))).await;
        let p = t.time("POST /ui/reset (exchange)", web.form("/ui/reset", &[("token", &token)])).await;
        assert_eq!(p.location(), "/ui/credentials", "{}", p.body);
        web.form("/ui/credentials/cancel", &[]).await;

        // Passkey sign-in.
        let pk = Web::connect(url, ca);
        pk.get("/status").await;
        pk.get("/ui/login").await;
        let p =
            t.time("POST /ui/login (name; passkey page)", pk.form("/ui/login", &[("username", "uibench_pk")])).await;
        let a = assertion(&p, &mut key, &origin);
        let p = t.time("POST /ui/login/step (passkey)", pk.form("/ui/login/step", &[("credential", &a)])).await;
        assert_eq!(p.location(), "/ui/profile", "{}", p.body);
        pk.form("/ui/logout", &[]).await;
        t.time("GET /ui/static/style.css", web.get("/ui/static/style.css")).await;
    }
    t.report();
}
