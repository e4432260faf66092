//! A short fuzzing run of every input parser (longer runs: `cargo run --release -p
//! idm_testkit --bin fuzz -- SECONDS`, figures in RELIABILITY.md).

use idm_testkit::fuzz::{Fuzzer, TARGETS};

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
