//! Logins in progress: the state between `init`, `begin` and the credential steps.
//!
//! Each step takes its session out of the map and puts it back only if the login goes on, so
//! a session serves one request at a time and a credential step is used once: a second,
//! concurrent step with the same id finds nothing. The map is bounded overall and per client
//! network (an IPv4 address, an IPv6 /64), and when it is full the network holding the most
//! logins loses its oldest, so one source cannot lock everyone else out.

use idm_core::proto::{AuthAllowed, TokenForm};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// How long a login may wait for its mechanism to be chosen (`begin`), and then for its
/// credential (a person typing a password).
pub const CHOOSE_LIFETIME: Duration = Duration::seconds(60);
pub const AUTH_SESSION_LIFETIME: Duration = Duration::seconds(300);
/// Logins in progress at once, overall and from one address.
pub const MAX_AUTH_SESSIONS: usize = 16_384;
pub const MAX_AUTH_SESSIONS_PER_CLIENT: usize = 256;

/// A mechanism as offered to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mech {
    Anonymous,
    Password,
    /// A TOTP code, then the password.
    PasswordMfa,
    /// A backup code, then the password.
    PasswordBackupCode,
    /// A passkey's assertion.
    Passkey,
}

impl Mech {
    pub const ALL: [Mech; 5] =
        [Mech::Anonymous, Mech::Password, Mech::PasswordMfa, Mech::PasswordBackupCode, Mech::Passkey];

    pub fn name(self) -> &'static str {
        match self {
            Mech::Anonymous => "anonymous",
            Mech::Password => "password",
            Mech::PasswordMfa => "passwordmfa",
            Mech::PasswordBackupCode => "passwordbackupcode",
            Mech::Passkey => "passkey",
        }
    }

    pub fn from_name(s: &str) -> Option<Mech> {
        Mech::ALL.into_iter().find(|m| m.name() == s)
    }

    /// The credential asked for first, once the mechanism is chosen (a passkey's comes with
    /// its challenge, made at `begin`).
    pub fn first_step(self) -> AuthAllowed {
        match self {
            Mech::Anonymous => AuthAllowed::Anonymous,
            Mech::Password => AuthAllowed::Password,
            Mech::PasswordMfa => AuthAllowed::Totp,
            Mech::PasswordBackupCode => AuthAllowed::BackupCode,
            Mech::Passkey => AuthAllowed::Passkey(serde_json::Value::Null),
        }
    }

    /// [`Self::first_step`] as a word, for messages.
    pub fn first_step_name(self) -> &'static str {
        match self {
            Mech::Anonymous => "anonymous",
            Mech::Password => "password",
            Mech::PasswordMfa => "totp",
            Mech::PasswordBackupCode => "backupcode",
            Mech::Passkey => "passkey",
        }
    }

    /// The mechanism a session it opens is recorded with (a generated password is told apart
    /// only once the password is checked).
    pub fn session_mech(self) -> idm_core::session::AuthMech {
        use idm_core::session::AuthMech;
        match self {
            Mech::Anonymous => AuthMech::Anonymous,
            Mech::Password => AuthMech::Password,
            Mech::PasswordMfa => AuthMech::PasswordMfa,
            Mech::PasswordBackupCode => AuthMech::PasswordBackupCode,
            Mech::Passkey => AuthMech::Passkey,
        }
    }

    /// Whether the 2022 clients (kanidm_tools 1.1.0-alpha.8) know this mechanism: they fail
    /// on a name they do not know.
    pub fn known_in_2022(self) -> bool {
        !matches!(self, Mech::PasswordBackupCode | Mech::Passkey)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `init` answered with these mechanisms.
    Choosing(Vec<Mech>),
    /// `begin` chose this one; its (next) credential is awaited.
    Waiting(Mech),
}

/// A second factor proved in this login, to be used up when the login succeeds.
#[derive(Clone, Debug)]
pub enum Factor {
    /// The TOTP of this label (with the secret of this fingerprint) accepted a code of this
    /// time step.
    Totp { label: String, secret: String, step: u64 },
    /// The backup code with this hash.
    BackupCode(String),
    /// A passkey's assertion was verified: which passkey, and the result (its signature
    /// counter) to check against the stored passkey and keep when the login succeeds.
    Passkey(Uuid, Box<webauthn_rs::prelude::AuthenticationResult>),
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
    /// How the token is written: the 2022 form for clients that started with `init`.
    pub form: TokenForm,
    pub reauth: Option<Reauth>,
    /// The second factor already proved, when the mechanism has one.
    pub factor: Option<Factor>,
    /// The challenge a passkey login must answer.
    pub passkey: Option<Box<webauthn_rs::prelude::PasskeyAuthentication>>,
    pub client: Option<IpAddr>,
    started: OffsetDateTime,
    deadline: OffsetDateTime,
}

impl AuthSession {
    pub fn new(account: Uuid, phase: Phase, client: Option<IpAddr>, now: OffsetDateTime) -> AuthSession {
        let life = if matches!(phase, Phase::Choosing(_)) { CHOOSE_LIFETIME } else { AUTH_SESSION_LIFETIME };
        AuthSession {
            account,
            phase,
            privileged: false,
            form: TokenForm::Current,
            reauth: None,
            factor: None,
            passkey: None,
            client,
            started: now,
            deadline: now + life,
        }
    }

    /// Moves the login on to waiting for `mech`'s credential.
    pub fn chose(&mut self, mech: Mech, now: OffsetDateTime) {
        self.phase = Phase::Waiting(mech);
        self.deadline = now + AUTH_SESSION_LIFETIME;
    }

    fn live(&self, now: OffsetDateTime) -> bool {
        now < self.deadline
    }
}

/// The network a client address belongs to, for the per-client bound: one IPv6 host holds a
/// whole /64.
pub fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

/// A wider net for deciding who loses a login when the map is full: an IPv4 /24, an IPv6
/// /48 (what one site, or one tunnel broker customer, can easily hold).
fn wide(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            IpAddr::V4(std::net::Ipv4Addr::new(o[0], o[1], o[2], 0))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
        }
    }
}

#[derive(Default)]
struct Map {
    sessions: HashMap<Uuid, AuthSession>,
    per_network: HashMap<Option<IpAddr>, usize>,
    last_prune: Option<OffsetDateTime>,
}

impl Map {
    fn insert(&mut self, id: Uuid, s: AuthSession) {
        *self.per_network.entry(s.client.map(network)).or_default() += 1;
        self.sessions.insert(id, s);
    }

    fn remove(&mut self, id: &Uuid) -> Option<AuthSession> {
        let s = self.sessions.remove(id)?;
        let key = s.client.map(network);
        if let Some(n) = self.per_network.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.per_network.remove(&key);
            }
        }
        Some(s)
    }

    /// Drops expired logins, at most once a second (it walks the whole map).
    fn prune(&mut self, now: OffsetDateTime) {
        if self.last_prune.is_some_and(|t| now - t < Duration::seconds(1)) {
            return;
        }
        self.last_prune = Some(now);
        let dead: Vec<Uuid> = self.sessions.iter().filter(|(_, s)| !s.live(now)).map(|(id, _)| *id).collect();
        for id in dead {
            self.remove(&id);
        }
    }
}

#[derive(Default)]
pub struct AuthSessions {
    map: Mutex<Map>,
}

/// Why a login could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    Server,
    Client,
}

impl AuthSessions {
    /// Stores a new login and returns its id, unless its network already has too many in
    /// progress. When the map is full, the network holding the most loses its oldest login.
    pub fn start(&self, session: AuthSession, now: OffsetDateTime) -> Result<Uuid, Full> {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let net = session.client.map(network);
        if m.per_network.get(&net).copied().unwrap_or(0) >= MAX_AUTH_SESSIONS_PER_CLIENT {
            m.prune(now);
            if m.per_network.get(&net).copied().unwrap_or(0) >= MAX_AUTH_SESSIONS_PER_CLIENT {
                return Err(Full::Client);
            }
        }
        if m.sessions.len() >= MAX_AUTH_SESSIONS {
            m.prune(now);
        }
        if m.sessions.len() >= MAX_AUTH_SESSIONS {
            // The widest holder loses a login, one still choosing its mechanism before one
            // whose holder may be typing a password, oldest first. A newcomer from the
            // heaviest net is refused instead.
            let mut per_wide: HashMap<Option<IpAddr>, usize> = HashMap::new();
            for s in m.sessions.values() {
                *per_wide.entry(s.client.map(wide)).or_default() += 1;
            }
            let heaviest = per_wide.into_iter().max_by_key(|(_, n)| *n).map(|(k, _)| k);
            let mine = session.client.map(wide);
            if heaviest.is_none() || heaviest == Some(mine) {
                return Err(Full::Server);
            }
            let victim = m
                .sessions
                .iter()
                .filter(|(_, s)| Some(s.client.map(wide)) == heaviest)
                .min_by_key(|(_, s)| (!matches!(s.phase, Phase::Choosing(_)), s.started))
                .map(|(id, _)| *id);
            if let Some(id) = victim {
                m.remove(&id);
            }
        }
        let id = Uuid::new_v4();
        m.insert(id, session);
        Ok(id)
    }

    /// Takes a live login out of the map for one step.
    pub fn take(&self, id: Uuid, now: OffsetDateTime) -> Option<AuthSession> {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        m.remove(&id).filter(|s| s.live(now))
    }

    /// Puts a login back after a step that continues it.
    pub fn put(&self, id: Uuid, session: AuthSession) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).insert(id, session);
    }

    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ip: Option<IpAddr>, now: OffsetDateTime) -> AuthSession {
        AuthSession::new(Uuid::nil(), Phase::Choosing(vec![]), ip, now)
    }

    #[test]
    fn a_step_takes_its_session_and_logins_expire() {
        let m = AuthSessions::default();
        let now = OffsetDateTime::now_utc();
        let id =
            m.start(AuthSession::new(Uuid::new_v4(), Phase::Choosing(vec![Mech::Password]), None, now), now).unwrap();
        let mut taken = m.take(id, now).unwrap();
        assert!(m.take(id, now).is_none(), "a concurrent step finds nothing");
        m.put(id, taken.clone());
        assert!(m.take(id, now + CHOOSE_LIFETIME).is_none(), "a mechanism must be chosen within a minute");
        taken.chose(Mech::Password, now);
        m.put(id, taken);
        assert!(m.take(id, now + CHOOSE_LIFETIME).is_some(), "then there are five minutes for the password");
    }

    #[test]
    fn networks_are_bounded_and_a_full_map_evicts_the_heaviest() {
        let m = AuthSessions::default();
        let now = OffsetDateTime::now_utc();
        // One IPv6 host uses many addresses of its /64: they count together.
        for i in 0..MAX_AUTH_SESSIONS_PER_CLIENT {
            let ip: IpAddr = format!("2001:db8::{:x}", i + 1).parse().unwrap();
            m.start(s(Some(ip), now), now).unwrap();
        }
        let same_net: IpAddr = "2001:db8::ffff".parse().unwrap();
        assert_eq!(m.start(s(Some(same_net), now), now), Err(Full::Client));
        // Fill the rest from many IPv4 addresses, a few each.
        let mut n = 0u32;
        while m.len() < MAX_AUTH_SESSIONS {
            let ip: IpAddr = std::net::Ipv4Addr::from(0x0a00_0000 + n / 4).into();
            m.start(s(Some(ip), now), now).unwrap();
            n += 1;
        }
        // A newcomer still gets in, at the heaviest network's expense.
        let newcomer: IpAddr = "192.0.2.200".parse().unwrap();
        assert!(m.start(s(Some(newcomer), now), now).is_ok());
        assert_eq!(m.len(), MAX_AUTH_SESSIONS);
    }
}
