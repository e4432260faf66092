//! Long fuzzing runs: `fuzz SECONDS [SEED]` spreads the time over every target and prints
//! executions per target and the peak memory. A panic or an input over the time bound stops
//! the run.

use idm_testkit::fuzz::{Fuzzer, TARGETS};
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(60);
    let mut seed: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let f = Fuzzer::new();
    let per_target = Duration::from_secs(secs) / TARGETS.len() as u32;
    let mut total = 0;
    for t in TARGETS {
        let start = Instant::now();
        let (mut n, mut slowest) = (0, Duration::ZERO);
        while start.elapsed() < per_target {
            let (done, s) = f.run(t, 2000, seed);
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            n += done;
            slowest = slowest.max(s);
        }
        total += n;
        println!("{t:?}: {n} inputs in {:.0}s, slowest {slowest:?}", start.elapsed().as_secs_f64());
    }
    println!("fuzz_total {total} inputs in {secs}s, no panic, no input over the time bound");
    if let Some(peak) = peak_rss() {
        println!("peak_rss {peak}");
    }
}

/// The process's peak resident memory, which shows memory stayed bounded over the run.
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.trim_start_matches("VmHWM:").trim().to_string())
}
