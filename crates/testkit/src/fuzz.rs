//! An in-repo mutation fuzzer for everything that parses outside input: filter JSON, modify
//! lists, entry JSON, the backup reader, server.toml, login steps and bearer tokens.
//!
//! Inputs grow from seeds by byte and token mutations. Each input must be handled without a
//! panic and within a time bound; results (accepted or refused) do not matter, only that the
//! code survives and answers.

use crate::{TestDb, person};
use idm_core::identity::{Identity, Limits};
use idm_core::proto::{Filter, ModifyList, ProtoEntry};
use idm_core::server::{QueryServer, QueryServerTransaction};
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Filter,
    ModifyList,
    Entry,
    Backup,
    Config,
    Login,
}

pub const TARGETS: [Target; 6] =
    [Target::Filter, Target::ModifyList, Target::Entry, Target::Backup, Target::Config, Target::Login];

/// The longest any single input may take.
pub const PER_INPUT_LIMIT: Duration = Duration::from_secs(2);

fn seeds(t: Target) -> Vec<Vec<u8>> {
    let s: &[&str] = match t {
        Target::Filter => &[
            r#"{"eq":["name","user1"]}"#,
            r#"{"and":[{"pres":"class"},{"andnot":{"sub":["name","ser"]}}]}"#,
            r#"{"or":[{"eq":["member","group1"]},{"eq":["uuid","00000000-0000-0000-0000-000000000000"]}]}"#,
            r#""self""#,
            r#"{"sub":["mail","@example"]}"#,
        ],
        Target::ModifyList => &[
            r#"{"mods":[{"present":["displayname","X"]},{"purged":"legalname"}]}"#,
            r#"{"mods":[{"removed":["member","user2"]},{"present":["mail","a@b.c"]}]}"#,
        ],
        Target::Entry => &[
            r#"{"attrs":{"class":["person","account"],"name":["n1"],"displayname":["D"]}}"#,
            r#"{"attrs":{"class":["group"],"name":["g1"],"member":["user1"],"description":["d"]}}"#,
        ],
        Target::Backup => &[],
        Target::Config => &[
            "db_path = \"/k.db\"\ndomain = \"a.com\"\n[online_backup]\npath = \"/b\"\nschedule = \"00 22 * * *\"\n",
            "bindaddress = \"127.0.0.1:8443\"\ndb_path = \"k.db\"\ndb_fs_type = \"zfs\"\nlog_level = \"verbose\"\n",
        ],
        Target::Login => &[
            r#"{"step":{"init":"admin"}}"#,
            r#"{"step":{"init2":{"username":"user1","issue":"token","privileged":true}}}"#,
            r#"{"step":{"begin":"password"}}"#,
            r#"{"step":{"cred":{"password":"secret"}}}"#,
            r#"{"step":{"cred":"anonymous"}}"#,
            // Programs: init user1, begin, wrong password ×6 over fresh logins, clock, right one.
            "\x00\x00\x01\x00\x02\x00\x00\x00\x01\x01\x02\x01\x03\x01\x00\x00\x01\x02\x02\x42\x04\x00\x05\x00",
            "\x00\x04\x01\x20\x02\x20\x04\x00\x06\x00\x04\x00",
        ],
    };
    s.iter().map(|x| x.as_bytes().to_vec()).collect()
}

/// Fragments that make mutations structurally interesting.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\u0000",
    "{\"and\":[",
    "{\"or\":[",
    "{\"andnot\":",
    "{\"eq\":[\"name\",",
    "\"self\"",
    "1e999",
    "-0",
    "null",
    "true",
    "\u{fffd}",
    "\u{0}",
    "\n[section]\n",
    " = ",
    "\"@\"",
    "\"\"",
    "99999999999999999999",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.insert(at, rng.next() as u8),
            2 if !v.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(v.len());
                v.drain(at.min(end)..end);
            }
            3 => {
                let tok = TOKENS[rng.below(TOKENS.len())].as_bytes();
                v.splice(at..at, tok.iter().copied());
            }
            4 if !v.is_empty() => {
                // Repeat a slice: deep nesting and long values.
                let start = rng.below(v.len());
                let end = (start + 1 + rng.below(16)).min(v.len());
                let piece = v[start..end].to_vec();
                for _ in 0..1 + rng.below(64) {
                    v.splice(at..at, piece.iter().copied());
                }
            }
            5 => v.truncate(at),
            _ => {
                let nest = "[".repeat(rng.below(300));
                v.splice(at..at, nest.bytes());
            }
        }
    }
    v.truncate(1 << 20);
    v
}

const ATTRS: &[&str] = &[
    "name",
    "mail",
    "member",
    "memberof",
    "uuid",
    "class",
    "displayname",
    "spn",
    "description",
    "primary_credential",
    "acp_targetscope",
    "index",
    "syntax",
    "account_expire",
    "bogus",
    "",
    "NAME",
    "name\u{0}",
];

fn value(rng: &mut Rng) -> String {
    match rng.below(9) {
        0 => format!("user{}", rng.below(25)),
        1 => "group1".into(),
        2 => "00000000-0000-0000-0000-000000000000".into(),
        3 => String::new(),
        4 => "x".repeat(rng.below(5000)),
        5 => "\u{fffd}\u{1f600}\u{0}ǅ".into(),
        6 => "2026-01-01T00:00:00Z".into(),
        7 => "{\"eq\":[\"name\",\"a\"]}".into(),
        _ => "EQUALITY".into(),
    }
}

fn attr(rng: &mut Rng) -> &'static str {
    ATTRS[rng.below(ATTRS.len())]
}

/// A structurally valid filter with arbitrary content: reaches schema checks, resolution,
/// planning and access control rather than stopping at the JSON parser.
fn gen_filter(rng: &mut Rng, depth: usize) -> serde_json::Value {
    use serde_json::json;
    match rng.below(if depth > 24 { 3 } else { 7 }) {
        0 => json!({"eq": [attr(rng), value(rng)]}),
        1 => json!({"sub": [attr(rng), value(rng)]}),
        2 => json!({"pres": attr(rng)}),
        3 => json!({"and": (0..rng.below(5)).map(|_| gen_filter(rng, depth + 1)).collect::<Vec<_>>()}),
        4 => json!({"or": (0..rng.below(5)).map(|_| gen_filter(rng, depth + 1)).collect::<Vec<_>>()}),
        5 => json!({"andnot": gen_filter(rng, depth + 1)}),
        _ => json!("self"),
    }
}

fn generate(rng: &mut Rng, t: Target) -> Option<Vec<u8>> {
    use serde_json::json;
    let v = match t {
        Target::Filter => gen_filter(rng, 0),
        Target::ModifyList => json!({"mods": (0..rng.below(6)).map(|_| match rng.below(3) {
            0 => json!({"present": [attr(rng), value(rng)]}),
            1 => json!({"removed": [attr(rng), value(rng)]}),
            _ => json!({"purged": attr(rng)}),
        }).collect::<Vec<_>>()}),
        Target::Entry => {
            let mut attrs = serde_json::Map::new();
            for _ in 0..rng.below(7) {
                attrs.insert(attr(rng).into(), json!((0..rng.below(3)).map(|_| value(rng)).collect::<Vec<_>>()));
            }
            if rng.below(2) == 0 {
                attrs.insert("class".into(), json!(["person", "account"]));
            }
            json!({ "attrs": attrs })
        }
        _ => return None,
    };
    serde_json::to_vec(&v).ok()
}

/// What the harness needs for targets that run against a live engine.
pub struct Fuzzer {
    _db: TestDb,
    qs: std::sync::Arc<QueryServer>,
    idm: idm_identity::IdmServer,
    clock: std::sync::Arc<crate::fuzz_login::FuzzClock>,
    backup_seed: Vec<u8>,
}

impl Default for Fuzzer {
    fn default() -> Self {
        Self::new()
    }
}

impl Fuzzer {
    pub fn new() -> Fuzzer {
        let db = TestDb::new();
        let qs = db.open();
        crate::create(&qs, &(0..20).map(|i| person(&format!("user{i}"))).collect::<Vec<_>>())
            .unwrap_or_else(|e| panic!("{e}"));
        crate::create(&qs, &[crate::group("group1", &["user1", "user2"])]).unwrap_or_else(|e| panic!("{e}"));
        let mut backup_seed = Vec::new();
        {
            let mut r = qs.read().unwrap_or_else(|e| panic!("{e}"));
            let header = idm_core::backup::BackupHeader {
                format: idm_core::backup::BACKUP_FORMAT.into(),
                version: idm_core::backup::BACKUP_VERSION,
                software: "fuzz".into(),
                created: "2026-01-01T00:00:00Z".into(),
                domain_name: None,
                domain_uuid: None,
                entry_count: 3,
            };
            let mut w =
                idm_core::backup::BackupWriter::new(&mut backup_seed, &header).unwrap_or_else(|e| panic!("{e}"));
            let mut n = 0;
            r.be()
                .for_each_entry(&mut |e| {
                    if n < 3 {
                        w.write_entry(&e.entry).map_err(|e| idm_core::OperationError::Backend(e.to_string()))?;
                        n += 1;
                    }
                    Ok(())
                })
                .unwrap_or_else(|e| panic!("{e}"));
            w.finish().unwrap_or_else(|e| panic!("{e}"));
        }
        for name in crate::fuzz_login::WITH_PASSWORD {
            crate::set_password(&qs, name, &crate::fuzz_login::password_of(name));
        }
        crate::add_totp(&qs, crate::fuzz_login::WITH_TOTP, crate::fuzz_login::TOTP_SECRET);
        let qs = std::sync::Arc::new(qs);
        let clock = crate::fuzz_login::FuzzClock::new();
        let c = clock.clone();
        let idm = idm_identity::IdmServer::new(qs.clone(), idm_identity::password::PasswordParams::insecure_fast())
            .unwrap_or_else(|e| panic!("{e}"))
            .with_clock(std::sync::Arc::new(move || c.now()));
        Fuzzer { _db: db, qs, idm, clock, backup_seed }
    }

    /// The engine the fuzzer runs on, to look at what a program did.
    pub fn qs(&self) -> &QueryServer {
        &self.qs
    }

    /// Feeds one input to `t`. Panics (the failure the fuzzer looks for) propagate.
    pub fn one(&self, t: Target, input: &[u8]) {
        let user = Identity::user(idm_core::builtins::UUID_IDM_ADMIN, Limits::user());
        match t {
            Target::Filter => {
                if let Ok(f) = serde_json::from_slice::<Filter>(input)
                    && let Ok(mut r) = self.qs.read()
                {
                    let _ = r.search(&user, &f);
                    let _ = r.search(&Identity::internal(), &f);
                }
            }
            Target::ModifyList => {
                if let Ok(ml) = serde_json::from_slice::<ModifyList>(input)
                    && let Ok(mut w) = self.qs.write()
                {
                    // Never committed: the database stays as seeded.
                    let _ = w.modify(&user, &Filter::Eq("name".into(), "user3".into()), &ml);
                }
            }
            Target::Entry => {
                if let Ok(e) = serde_json::from_slice::<ProtoEntry>(input)
                    && let Ok(mut w) = self.qs.write()
                {
                    let _ = w.create(&user, &[e]);
                }
            }
            Target::Backup => {
                if let Ok(mut r) = idm_core::backup::BackupReader::new(input) {
                    while let Ok(Some(_)) = r.next_entry() {}
                }
            }
            Target::Config => {
                let _ =
                    idm_server::ServerConfig::parse(&String::from_utf8_lossy(input), Path::new("/fuzz/server.toml"));
            }
            Target::Login => crate::fuzz_login::run(&self.idm, &self.clock, input),
        }
    }

    /// Runs `iterations` mutated inputs against `t`. Returns the number executed and the
    /// slowest input's time.
    pub fn run(&self, t: Target, iterations: usize, seed: u64) -> (usize, Duration) {
        let mut rng = Rng(seed | 1);
        let mut corpus = if t == Target::Backup { vec![self.backup_seed.clone()] } else { seeds(t) };
        let mut slowest = Duration::ZERO;
        for i in 0..iterations {
            let input = match (rng.below(2), generate(&mut rng, t)) {
                (0, Some(generated)) => generated,
                _ => {
                    let base = corpus[rng.below(corpus.len())].clone();
                    mutate(&mut rng, &base)
                }
            };
            let start = Instant::now();
            self.one(t, &input);
            let took = start.elapsed();
            slowest = slowest.max(took);
            assert!(took < PER_INPUT_LIMIT, "{t:?}: input {i} took {took:?}: {:?}", String::from_utf8_lossy(&input));
            // Keep some mutants as new bases so the search wanders away from the seeds.
            if corpus.len() < 256 && rng.below(8) == 0 {
                corpus.push(input);
            }
        }
        (iterations, slowest)
    }
}
