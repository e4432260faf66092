//! Logins in progress: the state between `init`, `begin` and the credential steps.
//!
//! Each step takes its session out of the map and puts it back only if the login goes on, so
//! a session serves one request at a time and a credential step is used once: a second,
//! concurrent step with the same id finds nothing. The map is bounded overall and per client
//! address, so unauthenticated callers cannot grow it without limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// How long a login may take from `init` to its last step.
pub const AUTH_SESSION_LIFETIME: Duration = Duration::seconds(300);
/// Logins in progress at once, overall and from one address.
pub const MAX_AUTH_SESSIONS: usize = 16_384;
pub const MAX_AUTH_SESSIONS_PER_CLIENT: usize = 256;

/// A mechanism as offered to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mech {
    Anonymous,
    Password,
}

impl Mech {
    pub fn name(self) -> &'static str {
        match self {
            Mech::Anonymous => "anonymous",
            Mech::Password => "password",
        }
    }

    pub fn from_name(s: &str) -> Option<Mech> {
        [Mech::Anonymous, Mech::Password].into_iter().find(|m| m.name() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `init` answered with these mechanisms.
    Choosing(Vec<Mech>),
    /// `begin` chose this one; its credential is awaited.
    Waiting(Mech),
}

/// A re-authentication continues an existing session instead of creating one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reauth {
    pub session: Uuid,
}

#[derive(Clone, Debug)]
pub struct AuthSession {
    pub account: Uuid,
    pub phase: Phase,
    /// Asked for a session that may make changes at once.
    pub privileged: bool,
    pub reauth: Option<Reauth>,
    pub client: Option<IpAddr>,
    started: OffsetDateTime,
}

impl AuthSession {
    pub fn new(account: Uuid, phase: Phase, client: Option<IpAddr>, now: OffsetDateTime) -> AuthSession {
        AuthSession { account, phase, privileged: false, reauth: None, client, started: now }
    }

    fn live(&self, now: OffsetDateTime) -> bool {
        now - self.started < AUTH_SESSION_LIFETIME
    }
}

#[derive(Default)]
pub struct AuthSessions {
    sessions: Mutex<HashMap<Uuid, AuthSession>>,
}

/// Why a login could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    Server,
    Client,
}

impl AuthSessions {
    /// Stores a new login and returns its id, unless too many are in progress.
    pub fn start(&self, session: AuthSession, now: OffsetDateTime) -> Result<Uuid, Full> {
        let mut m = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_AUTH_SESSIONS / 2 {
            m.retain(|_, s| s.live(now));
        }
        if m.len() >= MAX_AUTH_SESSIONS {
            return Err(Full::Server);
        }
        if let Some(ip) = session.client
            && m.values().filter(|s| s.client == Some(ip)).count() >= MAX_AUTH_SESSIONS_PER_CLIENT
        {
            m.retain(|_, s| s.live(now));
            if m.values().filter(|s| s.client == Some(ip)).count() >= MAX_AUTH_SESSIONS_PER_CLIENT {
                return Err(Full::Client);
            }
        }
        let id = Uuid::new_v4();
        m.insert(id, session);
        Ok(id)
    }

    /// Takes a live login out of the map for one step.
    pub fn take(&self, id: Uuid, now: OffsetDateTime) -> Option<AuthSession> {
        let mut m = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        m.remove(&id).filter(|s| s.live(now))
    }

    /// Puts a login back after a step that continues it.
    pub fn put(&self, id: Uuid, session: AuthSession) {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner()).insert(id, session);
    }

    pub fn len(&self) -> usize {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_takes_its_session_and_the_map_is_bounded() {
        let s = AuthSessions::default();
        let now = OffsetDateTime::now_utc();
        let a = Uuid::new_v4();
        let id = s.start(AuthSession::new(a, Phase::Choosing(vec![Mech::Password]), None, now), now).unwrap();
        let taken = s.take(id, now).unwrap();
        assert!(s.take(id, now).is_none(), "a concurrent step finds nothing");
        s.put(id, taken);
        assert!(s.take(id, now + AUTH_SESSION_LIFETIME).is_none(), "expired");
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..MAX_AUTH_SESSIONS_PER_CLIENT {
            s.start(AuthSession::new(a, Phase::Choosing(vec![]), Some(ip), now), now).unwrap();
        }
        assert_eq!(s.start(AuthSession::new(a, Phase::Choosing(vec![]), Some(ip), now), now), Err(Full::Client));
        assert!(s.start(AuthSession::new(a, Phase::Choosing(vec![]), None, now), now).is_ok());
    }
}
