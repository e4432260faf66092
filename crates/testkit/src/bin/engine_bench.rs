//! Engine benchmark: bulk load of a generated dataset through the create API, then indexed
//! equality searches. Usage: `engine_bench DATASET_DIR [PERSON_BATCH] [GROUP_BATCH]` where
//! DATASET_DIR holds `persons.json` and `groups.json` from `shared/bench/gen_dataset.py`.
//! Set `KEEP_DB=PATH` to keep the loaded database (for the offline command benchmarks).

use idm_core::identity::Identity;
use idm_core::proto::{Filter, ProtoEntry};
use idm_core::server::QueryServerTransaction;
use idm_testkit::TestDb;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The same allocator as the shipped binaries.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn load(path: &std::path::Path) -> Vec<ProtoEntry> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let maps: Vec<BTreeMap<String, Vec<String>>> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    maps.into_iter().map(|attrs| ProtoEntry { attrs }).collect()
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

/// Returns freed heap pages to the operating system.
fn trim() {
    // SAFETY: mi_collect only releases memory the allocator holds but no longer uses.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir =
        std::path::PathBuf::from(args.next().expect("usage: engine_bench DATASET_DIR [PERSON_BATCH] [GROUP_BATCH]"));
    let pbatch: usize = args.next().map(|s| s.parse().expect("batch size")).unwrap_or(1000);
    let gbatch: usize = args.next().map(|s| s.parse().expect("batch size")).unwrap_or(100);
    let persons = load(&dir.join("persons.json"));
    let groups = load(&dir.join("groups.json"));
    let memberships: usize = groups.iter().map(|g| g.get("member").map_or(0, |m| m.len())).sum();

    // With KEEP_DB=path the loaded database is written there (for the offline benchmarks).
    let db = TestDb::new();
    let keep = std::env::var_os("KEEP_DB").map(std::path::PathBuf::from);
    let db_path = keep.clone().unwrap_or_else(|| db.path.clone());
    let qs = idm_testkit::open_qs(&db_path, "idm.example.com");
    let ident = Identity::internal();
    let start = Instant::now();
    let mut batch_times = Vec::new();
    for chunk in persons.chunks(pbatch) {
        let t = Instant::now();
        let mut w = qs.write().expect("write");
        w.create(&ident, chunk).expect("create persons");
        w.commit().expect("commit");
        batch_times.push(t.elapsed());
    }
    let persons_time = start.elapsed();
    let g_start = Instant::now();
    let mut group_times = Vec::new();
    for chunk in groups.chunks(gbatch) {
        let t = Instant::now();
        let mut w = qs.write().expect("write");
        w.create(&ident, chunk).expect("create groups");
        w.commit().expect("commit");
        group_times.push(t.elapsed());
    }
    let groups_time = g_start.elapsed();
    let total = start.elapsed();
    let n = batch_times.len();
    let avg = |s: &[Duration]| s.iter().sum::<Duration>() / s.len().max(1) as u32;
    println!("dataset: {} persons, {} groups, {} memberships", persons.len(), groups.len(), memberships);
    println!("load_persons_s {:.2} (batch {pbatch})", persons_time.as_secs_f64());
    println!(
        "person_batch_ms first10 {:.1} middle10 {:.1} last10 {:.1}",
        avg(&batch_times[..10.min(n)]).as_secs_f64() * 1e3,
        avg(&batch_times[n / 2..(n / 2 + 10).min(n)]).as_secs_f64() * 1e3,
        avg(&batch_times[n.saturating_sub(10)..]).as_secs_f64() * 1e3
    );
    println!("load_groups_s {:.2} (batch {gbatch})", groups_time.as_secs_f64());
    let g = group_times.len();
    println!(
        "group_batch_ms first {:.1} last {:.1}",
        group_times[0].as_secs_f64() * 1e3,
        group_times[g - 1].as_secs_f64() * 1e3
    );
    println!("load_total_s {:.2}", total.as_secs_f64());
    let peak_load = rss_kib("VmHWM:");
    let n_persons = persons.len() as u64;
    // The dataset is the harness's memory, not the engine's: drop it and hand freed pages back
    // before measuring what the engine keeps resident.
    drop(persons);
    drop(groups);
    trim();
    println!(
        "rss_after_load_mib {:.1} (peak during load {:.1}, including the dataset this harness holds)",
        rss_kib("VmRSS:") as f64 / 1024.0,
        peak_load as f64 / 1024.0
    );

    // Indexed equality search on name, one read transaction per search, as a request would.
    let mut rng = 0x2545F4914F6CDD1Du64;
    let mut times = Vec::with_capacity(20_000);
    for _ in 0..20_000 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let name = format!("user{:06}", rng % n_persons);
        let t = Instant::now();
        let mut r = qs.read().expect("read");
        let found = r.search(&ident, &Filter::Eq("name".into(), name)).expect("search");
        drop(r);
        times.push(t.elapsed());
        assert_eq!(found.len(), 1);
    }
    times.sort();
    println!(
        "search_eq_name_us median {:.1} p99 {:.1}",
        percentile(&times, 0.5).as_secs_f64() * 1e6,
        percentile(&times, 0.99).as_secs_f64() * 1e6
    );
    let t = Instant::now();
    let mut r = qs.read().expect("read");
    let report = r.verify(&mut ()).expect("verify");
    println!("verify_s {:.2} errors {}", t.elapsed().as_secs_f64(), report.errors.len());
    for e in report.errors.iter().take(5) {
        println!("  {e}");
    }
    println!("rss_end_mib {:.1} (peak {:.1})", rss_kib("VmRSS:") as f64 / 1024.0, rss_kib("VmHWM:") as f64 / 1024.0);
    println!("db_bytes {}", std::fs::metadata(&db_path).map(|m| m.len()).unwrap_or(0));
}
