//! The soft-lock: how many password attempts an account (and a client address) gets before
//! further attempts are refused for a while, doubling each time.
//!
//! An attempt is counted when it is admitted, before its hash is checked, so concurrent
//! guesses cannot all be evaluated before the lock engages: once the threshold is reached
//! every further attempt is refused without hashing. A correct password clears the account's
//! count. Account locks are written to the account (`softlock_until`, `softlock_level`) when
//! they engage, so they survive a restart; address counts live in memory only.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Attempts an account gets before it locks.
pub const ACCOUNT_ATTEMPTS: u32 = 5;
/// Failed attempts one client network (an IPv4 address, an IPv6 /64) gets, across accounts,
/// before it locks.
pub const CLIENT_ATTEMPTS: u32 = 25;
/// The first lock lasts this long; each further one in a row doubles, up to `MAX_LOCK`.
pub const FIRST_LOCK: Duration = Duration::seconds(60);
pub const MAX_LOCK: Duration = Duration::seconds(3600);
/// A lock level is forgotten after this long without a failure or a lock (longer than the
/// longest lock, so a run of guesses at the cap stays at the cap).
const FORGET_AFTER: Duration = Duration::seconds(24 * 3600);
/// Address states kept at most (oldest forgotten first when full).
const MAX_CLIENTS: usize = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct State {
    /// Attempts admitted since the last lock (or success).
    attempts: u32,
    /// Locks in a row; the next lasts `FIRST_LOCK * 2^level`.
    level: u32,
    until: Option<OffsetDateTime>,
    last: Option<OffsetDateTime>,
}

impl State {
    fn forget_if_old(&mut self, now: OffsetDateTime) {
        let latest = match (self.last, self.until) {
            (Some(l), Some(u)) => Some(l.max(u)),
            (l, u) => l.or(u),
        };
        if latest.is_some_and(|t| now - t > FORGET_AFTER) {
            *self = State::default();
        }
    }

    fn locked(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        self.until.filter(|u| *u > now)
    }

    /// Counts one attempt; engages a lock when it reaches `threshold`.
    fn count(&mut self, threshold: u32, now: OffsetDateTime) -> bool {
        self.attempts += 1;
        self.last = Some(now);
        if self.attempts < threshold {
            return false;
        }
        let factor = 1i32 << self.level.min(10);
        self.until = Some(now + (FIRST_LOCK * factor).min(MAX_LOCK));
        self.level += 1;
        self.attempts = 0;
        true
    }
}

/// Why an attempt was refused, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Account(OffsetDateTime),
    Client(OffsetDateTime),
}

/// An attempt that may go ahead. `engaged` is the account lock this attempt set off (its
/// end and level), which the caller records on the account if the attempt fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    pub engaged: Option<(OffsetDateTime, u32)>,
}

fn map_get<K: Hash + Eq + Copy>(m: &mut HashMap<K, State>, k: K, now: OffsetDateTime) -> &mut State {
    let s = m.entry(k).or_default();
    s.forget_if_old(now);
    s
}

#[derive(Default)]
pub struct SoftLocks {
    accounts: Mutex<HashMap<Uuid, State>>,
    clients: Mutex<HashMap<IpAddr, State>>,
}

impl SoftLocks {
    /// Admits or refuses one attempt at `account`'s password from `client`. `stored` is the
    /// lock recorded on the account (after a restart the memory is empty).
    pub fn admit(
        &self,
        account: Uuid,
        stored: Option<(OffsetDateTime, u32)>,
        client: Option<IpAddr>,
        now: OffsetDateTime,
    ) -> Result<Admitted, Refused> {
        let client = client.map(crate::authsession::network);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ip) = client
            && let Some(until) = map_get(&mut clients, ip, now).locked(now)
        {
            return Err(Refused::Client(until));
        }
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let state = accounts.entry(account).or_insert_with(|| match stored {
            Some((until, level)) => State { attempts: 0, level, until: Some(until), last: Some(now) },
            None => State::default(),
        });
        state.forget_if_old(now);
        if let Some(until) = state.locked(now) {
            return Err(Refused::Account(until));
        }
        let engaged = state.count(ACCOUNT_ATTEMPTS, now).then(|| (state.until.unwrap_or(now), state.level));
        if let Some(ip) = client {
            if clients.len() >= MAX_CLIENTS && !clients.contains_key(&ip) {
                // Forget the quietest unlocked networks rather than grow without bound; a
                // locked one stays locked.
                let mut quiet: Vec<(IpAddr, Option<OffsetDateTime>)> =
                    clients.iter().filter(|(_, s)| s.locked(now).is_none()).map(|(k, s)| (*k, s.last)).collect();
                quiet.sort_by_key(|(_, last)| *last);
                for (k, _) in quiet.into_iter().take(MAX_CLIENTS / 10) {
                    clients.remove(&k);
                }
            }
            map_get(&mut clients, ip, now).count(CLIENT_ATTEMPTS, now);
        }
        Ok(Admitted { engaged })
    }

    /// The attempt was right: the account starts afresh. The address keeps its count minus
    /// this attempt (a valid account of one's own must not reset a guessing run).
    pub fn succeeded(&self, account: Uuid, client: Option<IpAddr>) {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner()).remove(&account);
        if let Some(ip) = client.map(crate::authsession::network)
            && let Some(s) = self.clients.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&ip)
        {
            s.attempts = s.attempts.saturating_sub(1);
        }
    }

    /// The attempt `admitted` proved a second factor: it is given back (the password step
    /// that follows is counted instead), and a lock it set off is withdrawn, so the password
    /// step takes its place as the last attempt before the lock.
    pub fn factor_proved(&self, account: Uuid, client: Option<IpAddr>, admitted: Admitted) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = accounts.get_mut(&account) {
            if admitted.engaged.is_some() {
                s.until = None;
                s.level = s.level.saturating_sub(1);
                s.attempts = ACCOUNT_ATTEMPTS - 1;
            } else {
                s.attempts = s.attempts.saturating_sub(1);
            }
        }
        drop(accounts);
        if let Some(ip) = client.map(crate::authsession::network)
            && let Some(s) = self.clients.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&ip)
        {
            s.attempts = s.attempts.saturating_sub(1);
        }
    }

    /// Forgets an account's lock (an administrator unlocked it or set a new password).
    pub fn clear(&self, account: Uuid) {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner()).remove(&account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_counted_before_checking_and_locks_double() {
        let s = SoftLocks::default();
        let a = Uuid::new_v4();
        let t0 = OffsetDateTime::now_utc();
        for i in 1..ACCOUNT_ATTEMPTS {
            assert_eq!(s.admit(a, None, None, t0), Ok(Admitted { engaged: None }), "attempt {i}");
        }
        // The fifth is admitted and engages the lock; the sixth is refused without a check.
        let fifth = s.admit(a, None, None, t0).unwrap();
        assert_eq!(fifth.engaged, Some((t0 + FIRST_LOCK, 1)));
        assert_eq!(s.admit(a, None, None, t0), Err(Refused::Account(t0 + FIRST_LOCK)));
        // After the lock, five more; the next lock is twice as long.
        let t1 = t0 + FIRST_LOCK;
        for _ in 1..ACCOUNT_ATTEMPTS {
            s.admit(a, None, None, t1).unwrap();
        }
        assert_eq!(s.admit(a, None, None, t1).unwrap().engaged, Some((t1 + FIRST_LOCK * 2, 2)));
        // At the cap, locks stay at the cap: the level is not forgotten when one ends.
        let mut t = t1 + FIRST_LOCK * 2;
        for _ in 0..8 {
            for _ in 1..ACCOUNT_ATTEMPTS {
                s.admit(a, None, None, t).unwrap();
            }
            let (until, _) = s.admit(a, None, None, t).unwrap().engaged.unwrap();
            t = until;
        }
        for _ in 1..ACCOUNT_ATTEMPTS {
            s.admit(a, None, None, t).unwrap();
        }
        let (until, _) = s.admit(a, None, None, t).unwrap().engaged.unwrap();
        assert_eq!(until - t, MAX_LOCK);
        // A success clears it.
        s.succeeded(a, None);
        assert_eq!(s.admit(a, None, None, t).unwrap().engaged, None);
    }

    #[test]
    fn a_proved_factor_gives_its_attempt_back() {
        let s = SoftLocks::default();
        let a = Uuid::new_v4();
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let t0 = OffsetDateTime::now_utc();
        for _ in 1..ACCOUNT_ATTEMPTS {
            s.admit(a, None, Some(ip), t0).unwrap();
        }
        // The fifth attempt is a right TOTP code: the lock it set off is withdrawn, and the
        // password step becomes the fifth attempt.
        let fifth = s.admit(a, None, Some(ip), t0).unwrap();
        assert!(fifth.engaged.is_some());
        s.factor_proved(a, Some(ip), fifth);
        let password = s.admit(a, None, Some(ip), t0).unwrap();
        assert_eq!(password.engaged, Some((t0 + FIRST_LOCK, 1)), "a wrong password now locks");
        // Many two-step logins from one address count nothing against it.
        let b = Uuid::new_v4();
        for _ in 0..CLIENT_ATTEMPTS * 2 {
            let factor = s.admit(b, None, Some(ip), t0).unwrap();
            s.factor_proved(b, Some(ip), factor);
            s.admit(b, None, Some(ip), t0).unwrap();
            s.succeeded(b, Some(ip));
        }
        assert!(s.admit(Uuid::new_v4(), None, Some(ip), t0).is_ok());
    }

    #[test]
    fn a_stored_lock_survives_a_restart_and_addresses_lock_across_accounts() {
        let s = SoftLocks::default();
        let t0 = OffsetDateTime::now_utc();
        let a = Uuid::new_v4();
        let until = t0 + Duration::seconds(120);
        assert_eq!(s.admit(a, Some((until, 2)), None, t0), Err(Refused::Account(until)));
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..CLIENT_ATTEMPTS {
            s.admit(Uuid::new_v4(), None, Some(ip), t0).unwrap();
        }
        assert!(matches!(s.admit(Uuid::new_v4(), None, Some(ip), t0), Err(Refused::Client(_))));
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert!(s.admit(Uuid::new_v4(), None, Some(other), t0).is_ok());
    }
}
