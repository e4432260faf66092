//! The login state machine under a fuzzer: an input is a program of steps (init, begin,
//! credential, re-authentication, token checks, the clock moving) over several logins at once,
//! run against the real identity layer, with its promises checked after every step:
//!
//! - a password login succeeds only with the right password, and its token identifies the
//!   account it was for; the account with a TOTP signs in only after a right code, and a
//!   code signs in at most once;
//! - a step on a login that was used up (denied, finished, or never issued) never succeeds,
//!   and arbitrary input is never accepted as a token;
//! - while the clock stands still, no account gets more than the soft-lock's allowance of
//!   password checks;
//! - anything goes wrong only as an error or a denial, never a panic.

use idm_core::proto::{AuthCred, AuthRequest, AuthState, AuthStep};
use idm_identity::IdmServer;
use idm_identity::softlock::ACCOUNT_ATTEMPTS;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use time::OffsetDateTime;
use uuid::Uuid;

/// Accounts with passwords (`user{i}` has `password-of-user{i}`), one without, and anonymous.
pub const NAMES: [&str; 6] = ["user1", "user2", "user3", "user4", "anonymous", "nobody"];
pub const WITH_PASSWORD: [&str; 3] = ["user1", "user2", "user3"];
/// One of them also has a TOTP with this secret.
pub const WITH_TOTP: &str = "user3";
pub const TOTP_SECRET: &[u8] = b"fuzz-totp-secret-20b";

pub fn password_of(name: &str) -> String {
    format!("password-of-{name}")
}

/// A clock the program moves forward.
pub struct FuzzClock {
    base: OffsetDateTime,
    offset: AtomicI64,
}

impl FuzzClock {
    pub fn new() -> Arc<FuzzClock> {
        Arc::new(FuzzClock { base: OffsetDateTime::now_utc(), offset: AtomicI64::new(0) })
    }

    pub fn now(&self) -> OffsetDateTime {
        self.base + time::Duration::seconds(self.offset.load(Ordering::Relaxed))
    }

    pub fn advance(&self, secs: i64) {
        self.offset.fetch_add(secs, Ordering::Relaxed);
    }
}

/// One run of a program.
struct Run<'a> {
    idm: &'a IdmServer,
    clock: &'a FuzzClock,
    /// Logins in progress: id → (account name, whether begin was answered).
    logins: Vec<(Uuid, &'static str)>,
    /// Ids that were used up: nothing may succeed on them again.
    ended: HashSet<Uuid>,
    tokens: Vec<(String, &'static str)>,
    /// Password checks per account since the clock last moved.
    checked: HashMap<&'static str, u32>,
    /// Logins that proved a right TOTP code, with its time step.
    proved: HashMap<Uuid, u64>,
    /// TOTP steps that signed in.
    used_steps: HashSet<u64>,
}

impl Run<'_> {
    fn pick<T: Clone>(v: &[T], b: u8) -> Option<T> {
        (!v.is_empty()).then(|| v[b as usize % v.len()].clone())
    }

    fn step(&mut self, op: u8, arg: u8) {
        match op % 7 {
            0 => {
                let name = NAMES[arg as usize % NAMES.len()];
                if let Ok((id, AuthState::Choose(_))) = self.idm.auth_step(AuthStep::Init(name.into()), None, None) {
                    self.logins.push((id, name));
                }
            }
            1 => {
                let Some((id, _)) = Self::pick(&self.logins, arg) else { return };
                let mech = ["password", "anonymous", "passwordmfa", "passwordbackupcode"][(arg >> 5) as usize % 4];
                let out = self.idm.auth_step(AuthStep::Begin(mech.into()), Some(id), None);
                if self.ended.contains(&id) {
                    assert!(!matches!(out, Ok((_, AuthState::Continue(_)))), "begin on a used login {id} went on");
                }
                if !matches!(out, Ok((_, AuthState::Continue(_)))) {
                    self.ended.insert(id);
                }
            }
            2 => {
                let Some((id, name)) = Self::pick(&self.logins, arg) else { return };
                let right = arg & 0x40 != 0;
                let totp = |step: u64| idm_identity::second_factor::code_at(&crate::app_totp(TOTP_SECRET), step);
                let now_step = (self.clock.now().unix_timestamp() as u64) / 30;
                let code_step = now_step + u64::from(arg & 3) - 1;
                let cred = match (arg >> 4) & 3 {
                    0 if right => AuthCred::Password(password_of(name)),
                    0 => AuthCred::Password(format!("wrong-{arg}")),
                    1 => AuthCred::Anonymous,
                    2 if right => AuthCred::Totp(totp(code_step)),
                    2 => AuthCred::Totp(u32::from(arg) * 7919 % 1_000_000),
                    _ => AuthCred::BackupCode(format!("code-{arg}")),
                };
                let totp_cred = match &cred {
                    AuthCred::Totp(c) if *c == totp(code_step) && right => Some(code_step),
                    _ => None,
                };
                let is_password = matches!(cred, AuthCred::Password(_));
                let out = self.idm.auth_step(AuthStep::Cred(cred), Some(id), None);
                if let (Some(step), Ok((_, AuthState::Continue(_)))) = (totp_cred, &out) {
                    // A code that proved the factor: the login goes on to the password.
                    self.proved.insert(id, step);
                    return;
                }
                let was_ended = !self.ended.insert(id);
                match &out {
                    Ok((_, AuthState::Success(token))) => {
                        assert!(!was_ended, "a used login {id} succeeded");
                        if is_password {
                            assert!(right, "{name} logged in with a wrong password");
                        }
                        if name == WITH_TOTP && is_password {
                            let step = self.proved.get(&id).copied();
                            assert!(step.is_some(), "{name} signed in without a TOTP code");
                            assert!(self.used_steps.insert(step.unwrap_or_default()), "a TOTP code signed in twice");
                        }
                        let mut r = self.idm.qs().read().unwrap_or_else(|e| panic!("{e}"));
                        let ident = self.idm.identify(&mut r, token).unwrap_or_else(|e| panic!("fresh token: {e}"));
                        let who = idm_identity::account::find(&mut r, name).ok().flatten().and_then(|e| e.uuid());
                        assert_eq!(ident.uuid(), who, "the token is {name}'s");
                        self.tokens.push((token.clone(), name));
                        if is_password {
                            *self.checked.entry(name).or_default() = 0;
                        }
                    }
                    Ok((_, AuthState::Denied(why))) if why == "incorrect password" => {
                        let n = self.checked.entry(name).or_default();
                        *n += 1;
                        assert!(*n <= ACCOUNT_ATTEMPTS, "{name}: {n} passwords checked without the clock moving");
                    }
                    _ => {}
                }
            }
            3 => {
                // Minutes, so locks expire and sessions age.
                self.clock.advance(i64::from(arg) * 60);
                self.checked.clear();
            }
            4 => {
                let Some((token, _)) = Self::pick(&self.tokens, arg) else { return };
                if let Ok(mut r) = self.idm.qs().read() {
                    let _ = self.idm.identify(&mut r, &token);
                }
            }
            5 => {
                let Some((token, name)) = Self::pick(&self.tokens, arg) else { return };
                if let Ok((id, AuthState::Continue(_))) = self.idm.reauth_begin(&token, None) {
                    self.logins.push((id, name));
                }
            }
            _ => {
                let Some((token, _)) = Self::pick(&self.tokens, arg) else { return };
                if arg & 1 == 0 {
                    let _ = self.idm.logout(&token);
                }
            }
        }
    }
}

/// Runs `input` as a program: pairs of bytes are (operation, argument); a byte string that
/// parses as a login step JSON is also fed to the state machine as it stands.
pub fn run(idm: &IdmServer, clock: &FuzzClock, input: &[u8]) {
    if let Ok(req) = serde_json::from_slice::<AuthRequest>(input) {
        // On a login that was never issued, no step goes on or succeeds.
        let never = idm.auth_step(req.step.clone(), Some(Uuid::new_v4()), None);
        if !matches!(req.step, AuthStep::Init(_) | AuthStep::Init2(_)) {
            assert!(
                !matches!(never, Ok((_, AuthState::Success(_) | AuthState::Continue(_)))),
                "a step on a login never issued went on: {never:?}"
            );
        }
        return;
    }
    // Input as a bearer token: never accepted (only tokens the server signed are).
    let text = String::from_utf8_lossy(input);
    assert!(idm.reauth_begin(&text, None).is_err(), "an arbitrary token was accepted");
    let mut run = Run {
        idm,
        clock,
        logins: Vec::new(),
        ended: HashSet::new(),
        tokens: Vec::new(),
        checked: HashMap::new(),
        proved: HashMap::new(),
        used_steps: HashSet::new(),
    };
    for pair in input.chunks(2).take(64) {
        run.step(pair[0], pair.get(1).copied().unwrap_or(0));
    }
}
