//! The identity layer in process, on a real SQLite file: the cost of the token → Identity path
//! per request (warm: the token seen before; cold: a new token, signature and all; after a
//! commit that touched the account), and password logins per second with the production
//! argon2id parameters on 1, 2 and 4 threads.
//!
//! usage: identity_bench [PEOPLE] [LOGIN_SECONDS]

use idm_core::modify::{Modify, ModifyList};
use idm_core::proto::{AuthCred, AuthState, AuthStep};
use idm_core::value::Value;
use idm_identity::IdmServer;
use idm_identity::password::{self, PasswordParams};
use idm_testkit::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PASSWORD: &str = "a benchmark passphrase";

fn login(idm: &IdmServer, name: &str) -> String {
    let init = AuthStep::Init2(idm_core::proto::AuthInit2 {
        username: name.into(),
        issue: Default::default(),
        privileged: false,
    });
    let (id, _) = idm.auth_step(init, None, None).unwrap();
    let (id, _) = idm.auth_step(AuthStep::Begin("password".into()), Some(id), None).unwrap();
    match idm.auth_step(AuthStep::Cred(AuthCred::Password(PASSWORD.into())), Some(id), None).unwrap().1 {
        AuthState::Success(t) => t,
        other => panic!("{other:?}"),
    }
}

fn stats(label: &str, mut us: Vec<f64>) {
    us.sort_by(|a, b| a.total_cmp(b));
    let mean = us.iter().sum::<f64>() / us.len() as f64;
    let p = |q: f64| us[((us.len() - 1) as f64 * q) as usize];
    println!("{label}_us mean {mean:.2} p50 {:.2} p99 {:.2} (n={})", p(0.5), p(0.99), us.len());
}

fn main() {
    let mut args = std::env::args().skip(1);
    let people: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let login_secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let db = TestDb::new();
    let qs = db.open();
    for chunk in (0..people).collect::<Vec<_>>().chunks(1000) {
        create(&qs, &chunk.iter().map(|i| person(&format!("user{i:06}"))).collect::<Vec<_>>()).unwrap();
    }
    // The measured accounts are in five groups each, like the dataset's people.
    let names: Vec<String> = (0..4).map(|i| format!("bench{i}")).collect();
    create(&qs, &names.iter().map(|n| person(n)).collect::<Vec<_>>()).unwrap();
    let members: Vec<&str> = names.iter().map(String::as_str).chain(["user000001", "user000002"]).collect();
    create(&qs, &(0..5).map(|g| group(&format!("team{g}"), &members)).collect::<Vec<_>>()).unwrap();
    let params = PasswordParams::default();
    let cred = password::hash(PASSWORD, &params, false).unwrap();
    let mut w = qs.write().unwrap();
    for n in &names {
        let ml = ModifyList::new(vec![Modify::Present("primary_credential".into(), Value::Credential(cred.clone()))]);
        w.internal_modify(&idm_core::filter::Filter::eq("name", n.as_str()), &ml).unwrap();
    }
    w.commit().unwrap();
    let idm = Arc::new(IdmServer::new(Arc::new(qs), params).unwrap());
    println!(
        "argon2id m={} KiB t={} p={}; {people} people, accounts in 5 groups",
        params.memory_kib, params.iterations, params.parallelism
    );

    // Warm: the same token, request after request, in one snapshot and with a snapshot each.
    let token = login(&idm, "bench0");
    let mut r = idm.qs().read().unwrap();
    idm.identify(&mut r, &token).unwrap();
    let mut warm = Vec::with_capacity(200_000);
    for _ in 0..200_000 {
        let t = Instant::now();
        let ident = idm.identify(&mut r, &token).unwrap();
        warm.push(t.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(ident);
    }
    drop(r);
    stats("identify_warm", warm);
    let mut with_txn = Vec::with_capacity(50_000);
    for _ in 0..50_000 {
        let t = Instant::now();
        let mut r = idm.qs().read().unwrap();
        std::hint::black_box(idm.identify(&mut r, &token).unwrap());
        with_txn.push(t.elapsed().as_secs_f64() * 1e6);
    }
    stats("read_txn_plus_identify_warm", with_txn);

    // Cold: new tokens (their signature checked, their session resolved).
    let fresh: Vec<String> = (0..40).map(|_| login(&idm, "bench1")).collect();
    let mut cold = Vec::new();
    for t in &fresh {
        let mut r = idm.qs().read().unwrap();
        let s = Instant::now();
        idm.identify(&mut r, t).unwrap();
        cold.push(s.elapsed().as_secs_f64() * 1e6);
    }
    stats("identify_cold", cold);
    // After a commit touched the account: the session is resolved again, the signature not.
    let mut touched = Vec::new();
    for i in 0..200 {
        let mut w = idm.qs().write().unwrap();
        let ml = ModifyList::new(vec![
            Modify::Purged("displayname".into()),
            Modify::Present("displayname".into(), Value::Utf8(format!("B {i}"))),
        ]);
        w.internal_modify(&idm_core::filter::Filter::eq("name", "bench0"), &ml).unwrap();
        w.commit().unwrap();
        let mut r = idm.qs().read().unwrap();
        let s = Instant::now();
        idm.identify(&mut r, &token).unwrap();
        touched.push(s.elapsed().as_secs_f64() * 1e6);
    }
    stats("identify_after_account_change", touched);

    // Logins per second: hashing runs outside the write transaction, so threads scale.
    for threads in [1usize, 2, 4] {
        let start = Instant::now();
        let until = start + Duration::from_secs(login_secs);
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (idm, name) = (idm.clone(), names[i % names.len()].clone());
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while Instant::now() < until {
                        login(&idm, &name);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let n: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        println!("logins_per_s threads {threads}: {:.1}", n as f64 / start.elapsed().as_secs_f64());
    }
}
