//! A short fuzzing run of every input parser (longer runs: `cargo run --release -p
//! idm_testkit --bin fuzz -- SECONDS`, figures in RELIABILITY.md).

use idm_testkit::fuzz::{Fuzzer, TARGETS, Target};

#[test]
fn parsers_survive_mutated_input() {
    let f = Fuzzer::new();
    let n: usize = std::env::var("FUZZ_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(1500);
    for (i, t) in TARGETS.into_iter().enumerate() {
        let (done, slowest) = f.run(t, n, 0x5eed + i as u64);
        assert_eq!(done, n);
        eprintln!("{t:?}: {done} inputs, slowest {slowest:?}");
    }
}

#[test]
fn the_login_programs_reach_a_two_factor_sign_in() {
    use idm_core::value::{Credential, Value};
    let f = Fuzzer::new();
    // init user3; begin passwordmfa; this step's code; the password: a sign-in, whose
    // promises the program checks (a code first, used once).
    f.one(Target::Login, &[0, 2, 1, 0x40, 2, 0x61, 2, 0x40]);
    let user3 = idm_testkit::get(f.qs(), "user3").unwrap();
    let Some(Value::Credential(Credential::PasswordMfa { totp, .. })) = user3.first("primary_credential") else {
        panic!("user3 has a TOTP: {user3:?}")
    };
    assert!(totp["fuzz"].last_step > 0, "the program signed in with the code");
}
