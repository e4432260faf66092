//! Typed attribute values: syntaxes, normalisation, and the index keys each value produces.
//!
//! The same key functions feed the indexes and the in-memory filter test, so an indexed
//! lookup and a full scan can never disagree about what matches.

use crate::Result;
use idm_proto::{Filter as ProtoFilter, OperationError, SchemaError};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// The kinds of index an attribute may declare.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IndexType {
    #[serde(rename = "EQUALITY")]
    Equality,
    #[serde(rename = "PRESENCE")]
    Presence,
    #[serde(rename = "SUBSTRING")]
    SubString,
}

impl IndexType {
    pub const ALL: [IndexType; 3] = [IndexType::Equality, IndexType::Presence, IndexType::SubString];

    /// Short form used in storage names, e.g. `idx_eq_name`.
    pub fn short(self) -> &'static str {
        match self {
            IndexType::Equality => "eq",
            IndexType::Presence => "pres",
            IndexType::SubString => "sub",
        }
    }

    pub fn from_short(s: &str) -> Option<Self> {
        IndexType::ALL.into_iter().find(|t| t.short() == s)
    }
}

impl fmt::Display for IndexType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IndexType::Equality => "EQUALITY",
            IndexType::Presence => "PRESENCE",
            IndexType::SubString => "SUBSTRING",
        })
    }
}

impl FromStr for IndexType {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "EQUALITY" | "EQ" | "0" => Ok(IndexType::Equality),
            "PRESENCE" | "PRES" | "1" => Ok(IndexType::Presence),
            "SUBSTRING" | "SUB" | "2" => Ok(IndexType::SubString),
            _ => Err("expected EQUALITY, PRESENCE or SUBSTRING".into()),
        }
    }
}

macro_rules! syntaxes {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// The syntax of an attribute: how its values are parsed, normalised, compared and indexed.
        #[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum SyntaxType { $(#[serde(rename = $name)] $variant),* }

        impl SyntaxType {
            pub const ALL: &'static [SyntaxType] = &[$(SyntaxType::$variant),*];
            pub fn name(self) -> &'static str {
                match self { $(SyntaxType::$variant => $name),* }
            }
        }
    };
}

syntaxes! {
    Utf8String => "UTF8STRING",
    Utf8StringInsensitive => "UTF8STRING_INSENSITIVE",
    Utf8StringIname => "UTF8STRING_INAME",
    Uuid => "UUID",
    Boolean => "BOOLEAN",
    SyntaxId => "SYNTAX_ID",
    IndexId => "INDEX_ID",
    ReferenceUuid => "REFERENCE_UUID",
    JsonFilter => "JSON_FILTER",
    Credential => "CREDENTIAL",
    SecretUtf8String => "SECRET_UTF8STRING",
    SecurityPrincipalName => "SECURITY_PRINCIPAL_NAME",
    Uint32 => "UINT32",
    DateTime => "DATETIME",
    EmailAddress => "EMAIL_ADDRESS",
    Url => "URL",
    Session => "SESSION",
    KeyInternal => "KEY_INTERNAL",
    IntentToken => "INTENT_TOKEN",
    ServerRight => "SERVER_RIGHT",
    CredentialType => "CREDENTIAL_TYPE",
    Passkey => "PASSKEY",
    OauthScopeMap => "OAUTH_SCOPE_MAP",
    OauthClaimMap => "OAUTH_CLAIM_MAP",
}

impl fmt::Display for SyntaxType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SyntaxType {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let up = s.to_ascii_uppercase();
        SyntaxType::ALL.iter().copied().find(|t| t.name() == up).ok_or_else(|| {
            format!(
                "unknown syntax; expected one of {}",
                SyntaxType::ALL.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
            )
        })
    }
}

impl SyntaxType {
    /// Syntaxes whose values name other entries and are kept consistent by referential integrity.
    pub fn is_reference(self) -> bool {
        matches!(self, SyntaxType::ReferenceUuid | SyntaxType::OauthScopeMap | SyntaxType::OauthClaimMap)
    }

    /// Syntaxes that have no equality key: their values can never be searched for.
    pub fn is_secret(self) -> bool {
        matches!(self, SyntaxType::Credential | SyntaxType::SecretUtf8String)
    }

    /// Syntaxes whose values only the server makes (hashes, keys, sessions): callers can
    /// neither supply them as text nor filter on them, so they cannot be planted or probed.
    pub fn server_made(self) -> bool {
        matches!(
            self,
            SyntaxType::Credential
                | SyntaxType::Session
                | SyntaxType::KeyInternal
                | SyntaxType::IntentToken
                | SyntaxType::Passkey
        )
    }
}

/// A stored primary credential. The password hash is a PHC string (argon2id); no part of a
/// credential is ever shown to callers or produces an index key.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Credential {
    Password {
        phc: String,
    },
    /// A password the server generated and showed once (`recover_account`).
    GeneratedPassword {
        phc: String,
    },
    /// A password with second factors (Kanidm's `PasswordMfa`): TOTP authenticators by label,
    /// and backup codes. There is always at least one TOTP; backup codes need one.
    PasswordMfa {
        phc: String,
        totp: std::collections::BTreeMap<String, crate::credential::Totp>,
        #[serde(default)]
        backup_codes: Option<crate::credential::BackupCodes>,
    },
}

impl Credential {
    /// The credential apart from its use (the TOTP steps used, which backup codes are left):
    /// it differs only when its holder or an administrator changed the credential.
    pub fn without_usage(&self) -> Credential {
        let Credential::PasswordMfa { phc, totp, backup_codes } = self else { return self.clone() };
        let totp = totp
            .iter()
            .map(|(label, t)| {
                let mut t = t.clone();
                t.last_step = 0;
                t.last_used = None;
                (label.clone(), t)
            })
            .collect();
        let backup_codes = backup_codes.as_ref().map(|b| crate::credential::BackupCodes {
            codes: Default::default(),
            created: b.created,
            salt: b.salt.clone(),
        });
        Credential::PasswordMfa { phc: phc.clone(), totp, backup_codes }
    }

    /// The password hash every form holds.
    pub fn phc(&self) -> &str {
        match self {
            Credential::Password { phc }
            | Credential::GeneratedPassword { phc }
            | Credential::PasswordMfa { phc, .. } => phc,
        }
    }
}

/// One typed attribute value. The short serde tags keep stored entries and backups compact and
/// follow upstream's `DbValue` naming.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    #[serde(rename = "U8")]
    Utf8(String),
    #[serde(rename = "I8")]
    Iutf8(String),
    #[serde(rename = "N8")]
    Iname(String),
    #[serde(rename = "UU")]
    Uuid(Uuid),
    #[serde(rename = "RF")]
    Refer(Uuid),
    #[serde(rename = "BO")]
    Bool(bool),
    #[serde(rename = "UI")]
    Uint32(u32),
    #[serde(rename = "DT", with = "time::serde::rfc3339")]
    DateTime(OffsetDateTime),
    #[serde(rename = "SP")]
    Spn(String, String),
    #[serde(rename = "IN")]
    Index(IndexType),
    #[serde(rename = "SY")]
    Syntax(SyntaxType),
    #[serde(rename = "JF")]
    JsonFilter(ProtoFilter),
    #[serde(rename = "CR")]
    Credential(Credential),
    #[serde(rename = "EM")]
    Email(String),
    #[serde(rename = "UR")]
    Url(String),
    #[serde(rename = "RU")]
    Secret(String),
    #[serde(rename = "SE")]
    Session(Box<crate::session::Session>),
    #[serde(rename = "KY")]
    Key(Box<crate::keys::KeyRecord>),
    #[serde(rename = "IT")]
    Intent(Box<crate::credential::IntentToken>),
    #[serde(rename = "SR")]
    Right(crate::identity::ServerRight),
    #[serde(rename = "CT")]
    CredType(crate::credential::CredentialType),
    #[serde(rename = "PK")]
    Passkey(Box<crate::credential::PasskeyRecord>),
    /// The OAuth2 scopes a group's members are granted by a client (stored entries encode
    /// variants by position: new ones go last).
    #[serde(rename = "OS")]
    OauthScopeMap(Uuid, std::collections::BTreeSet<String>),
    /// A custom claim's values for a group's members.
    #[serde(rename = "OC")]
    OauthClaimMap(Box<crate::oauth2::ClaimMapping>),
}

/// What an OAuth2 scope may look like (Kanidm's rule): words joined by `:`, `-`, `.` or `://`.
static OAUTH_SCOPE: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(r"^[0-9a-zA-Z_]+(([:\-.]|(://))[0-9a-zA-Z_]+)*$").expect("static regex")
});

/// `scope` if it is a well-formed OAuth2 scope.
pub fn oauth_scope(scope: &str) -> std::result::Result<&str, String> {
    if scope.len() <= 256 && OAUTH_SCOPE.is_match(scope) {
        Ok(scope)
    } else {
        let shown: String = scope.chars().take(64).collect();
        Err(format!("'{shown}' is not an OAuth2 scope (letters, digits and _, joined by : - . or ://)"))
    }
}

static INAME_DENY: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(r"^((\.|_).*|.*(\s|:|;|@|,|/|\\|=).*|\d+|root|nobody|nogroup|wheel|sshd|shadow|systemd.*)$")
        .expect("static regex")
});

fn syntax_err(attr: &str, value: &str, reason: impl Into<String>) -> OperationError {
    OperationError::SchemaViolation(SchemaError::InvalidAttributeSyntax {
        attr: attr.to_string(),
        value: value.chars().take(128).collect(),
        reason: reason.into(),
    })
}

/// Checks the rules for an iname (a lowercase identifier): not empty, not a uuid, no spaces or
/// separators, not all digits, not a reserved system name.
pub fn iname_problem(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        Some("must not be empty")
    } else if Uuid::parse_str(s).is_ok() {
        Some("must not be a uuid")
    } else if INAME_DENY.is_match(s) {
        Some(
            "must not start with '.' or '_', contain whitespace or any of : ; @ , / \\ =, be all digits, or be a reserved system name",
        )
    } else {
        None
    }
}

/// Serde for `Option<OffsetDateTime>` as an optional RFC 3339 string. (`time`'s own option
/// helper asks the deserializer to describe itself, which postcard, the storage format,
/// cannot.)
pub mod opt_rfc3339 {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub fn serialize<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
        t.as_ref().map(super::format_datetime).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OffsetDateTime>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| OffsetDateTime::parse(&s, &Rfc3339).map_err(serde::de::Error::custom))
            .transpose()
    }
}

pub fn format_datetime(dt: &OffsetDateTime) -> String {
    dt.to_offset(time::UtcOffset::UTC).format(&Rfc3339).unwrap_or_else(|_| dt.unix_timestamp().to_string())
}

fn parse_email(attr: &str, s: &str) -> Result<String> {
    let s = s.trim();
    let Some((local, domain)) = s.rsplit_once('@') else {
        return Err(syntax_err(attr, s, "an email address needs an '@'"));
    };
    if local.is_empty() || domain.is_empty() || !domain.contains('.') && domain != "localhost" {
        return Err(syntax_err(attr, s, "an email address needs a local part and a domain"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) || local.contains('@') {
        return Err(syntax_err(attr, s, "an email address must not contain whitespace or a second '@'"));
    }
    Ok(format!("{local}@{}", domain.to_lowercase()))
}

impl Value {
    pub fn syntax(&self) -> SyntaxType {
        match self {
            Value::Utf8(_) => SyntaxType::Utf8String,
            Value::Iutf8(_) => SyntaxType::Utf8StringInsensitive,
            Value::Iname(_) => SyntaxType::Utf8StringIname,
            Value::Uuid(_) => SyntaxType::Uuid,
            Value::Refer(_) => SyntaxType::ReferenceUuid,
            Value::Bool(_) => SyntaxType::Boolean,
            Value::Uint32(_) => SyntaxType::Uint32,
            Value::DateTime(_) => SyntaxType::DateTime,
            Value::Spn(..) => SyntaxType::SecurityPrincipalName,
            Value::Index(_) => SyntaxType::IndexId,
            Value::Syntax(_) => SyntaxType::SyntaxId,
            Value::JsonFilter(_) => SyntaxType::JsonFilter,
            Value::Credential(_) => SyntaxType::Credential,
            Value::Email(_) => SyntaxType::EmailAddress,
            Value::Url(_) => SyntaxType::Url,
            Value::Secret(_) => SyntaxType::SecretUtf8String,
            Value::Session(_) => SyntaxType::Session,
            Value::Key(_) => SyntaxType::KeyInternal,
            Value::Intent(_) => SyntaxType::IntentToken,
            Value::Right(_) => SyntaxType::ServerRight,
            Value::CredType(_) => SyntaxType::CredentialType,
            Value::Passkey(_) => SyntaxType::Passkey,
            Value::OauthScopeMap(..) => SyntaxType::OauthScopeMap,
            Value::OauthClaimMap(_) => SyntaxType::OauthClaimMap,
        }
    }

    /// Parses caller input for an attribute of `syntax`, normalising it. References given as
    /// names are resolved with `resolve`; an unknown name is an error naming the attribute.
    pub fn from_input(
        attr: &str,
        syntax: SyntaxType,
        input: &str,
        resolve: &mut dyn FnMut(&str) -> Result<Option<Uuid>>,
    ) -> Result<Value> {
        Ok(match syntax {
            SyntaxType::Utf8String => {
                if input.is_empty() {
                    return Err(syntax_err(attr, input, "must not be empty"));
                }
                Value::Utf8(input.to_string())
            }
            SyntaxType::Utf8StringInsensitive => {
                if input.is_empty() {
                    return Err(syntax_err(attr, input, "must not be empty"));
                }
                Value::Iutf8(input.to_lowercase())
            }
            SyntaxType::Utf8StringIname => {
                let v = input.to_lowercase();
                if let Some(p) = iname_problem(&v) {
                    return Err(syntax_err(attr, input, p));
                }
                Value::Iname(v)
            }
            SyntaxType::Uuid => {
                Value::Uuid(Uuid::parse_str(input.trim()).map_err(|_| syntax_err(attr, input, "not a uuid"))?)
            }
            SyntaxType::ReferenceUuid => Value::Refer(named_entry(attr, input, resolve)?),
            SyntaxType::Boolean => match input.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(syntax_err(attr, input, "expected true or false")),
            },
            SyntaxType::Uint32 => Value::Uint32(
                input.trim().parse().map_err(|_| syntax_err(attr, input, "expected an unsigned 32-bit integer"))?,
            ),
            SyntaxType::DateTime => Value::DateTime(
                OffsetDateTime::parse(input.trim(), &Rfc3339)
                    .map_err(|_| {
                        syntax_err(attr, input, "expected an RFC 3339 date and time, e.g. 2026-01-31T12:00:00Z")
                    })?
                    .to_offset(time::UtcOffset::UTC),
            ),
            SyntaxType::SecurityPrincipalName => {
                let lower = input.to_lowercase();
                match lower.rsplit_once('@') {
                    Some((n, d)) if !n.is_empty() && !d.is_empty() => Value::Spn(n.to_string(), d.to_string()),
                    _ => return Err(syntax_err(attr, input, "expected name@domain")),
                }
            }
            SyntaxType::IndexId => Value::Index(input.parse().map_err(|e: String| syntax_err(attr, input, e))?),
            SyntaxType::SyntaxId => Value::Syntax(input.parse().map_err(|e: String| syntax_err(attr, input, e))?),
            SyntaxType::JsonFilter => Value::JsonFilter(
                serde_json::from_str(input).map_err(|e| syntax_err(attr, input, format!("not a JSON filter: {e}")))?,
            ),
            SyntaxType::EmailAddress => Value::Email(parse_email(attr, input)?),
            SyntaxType::Url => {
                let ok = (input.starts_with("https://") || input.starts_with("http://"))
                    && input.len() > 8
                    && !input.chars().any(|c| c.is_whitespace() || c.is_control());
                if !ok {
                    return Err(syntax_err(attr, input, "expected an http:// or https:// URL"));
                }
                Value::Url(input.to_string())
            }
            SyntaxType::SecretUtf8String => Value::Secret(input.to_string()),
            SyntaxType::ServerRight => Value::Right(
                crate::identity::ServerRight::from_name(&input.trim().to_lowercase()).ok_or_else(|| {
                    let known: Vec<&str> = crate::identity::ServerRight::ALL.iter().map(|r| r.name()).collect();
                    syntax_err(attr, input, format!("unknown server right; expected one of {}", known.join(", ")))
                })?,
            ),
            SyntaxType::CredentialType => Value::CredType(
                crate::credential::CredentialType::from_name(&input.trim().to_lowercase()).ok_or_else(|| {
                    let known: Vec<&str> = crate::credential::CredentialType::ALL.iter().map(|c| c.name()).collect();
                    syntax_err(attr, input, format!("unknown credential type; expected one of {}", known.join(", ")))
                })?,
            ),
            SyntaxType::Credential => {
                return Err(OperationError::InvalidAttribute(format!(
                    "{attr}: credentials cannot be supplied as text; use the credential commands"
                )));
            }
            SyntaxType::Session => {
                return Err(OperationError::InvalidAttribute(format!(
                    "{attr}: sessions are made by logging in; list and revoke them with `kanidm person session`"
                )));
            }
            SyntaxType::KeyInternal => {
                return Err(OperationError::InvalidAttribute(format!(
                    "{attr}: keys are generated by the server; use `kanidm system key rotate`"
                )));
            }
            SyntaxType::Passkey => {
                return Err(OperationError::InvalidAttribute(format!(
                    "{attr}: passkeys are enrolled with an authenticator in a credential update session"
                )));
            }
            SyntaxType::IntentToken => {
                return Err(OperationError::InvalidAttribute(format!(
                    "{attr}: reset tokens are issued by `kanidm person credential create-reset-token`"
                )));
            }
            // `GROUP: scope scope …` (the scopes may be quoted, in braces, or comma-separated).
            SyntaxType::OauthScopeMap => {
                let Some((group, scopes)) = input.split_once(':') else {
                    return Err(syntax_err(attr, input, "expected GROUP: scope scope …"));
                };
                let u = named_entry(attr, group, resolve)?;
                let mut set = std::collections::BTreeSet::new();
                for s in scopes.split(|c: char| c.is_whitespace() || c == ',' || c == '{' || c == '}') {
                    let s = s.trim_matches('"');
                    if !s.is_empty() {
                        set.insert(oauth_scope(s).map_err(|why| syntax_err(attr, input, why))?.to_string());
                    }
                }
                if set.is_empty() {
                    return Err(syntax_err(attr, input, "a scope map grants at least one scope"));
                }
                Value::OauthScopeMap(u, set)
            }
            // `claim:GROUP:join:v1,v2` (join: array, csv or ssv; the values may be quoted).
            SyntaxType::OauthClaimMap => {
                let parts: Vec<&str> = input.splitn(4, ':').collect();
                let [claim, group, join, values] = parts[..] else {
                    return Err(syntax_err(attr, input, "expected claim:GROUP:join:value,value"));
                };
                let claim = claim.trim().to_string();
                if let Some(why) = crate::oauth2::claim_name_problem(&claim) {
                    return Err(syntax_err(attr, input, why));
                }
                let join = crate::oauth2::ClaimJoin::from_name(join)
                    .ok_or_else(|| syntax_err(attr, input, "the join is array, csv or ssv"))?;
                let u = named_entry(attr, group, resolve)?;
                let values: std::collections::BTreeSet<String> =
                    values.trim().trim_matches('"').split(',').map(|v| v.trim().to_string()).collect();
                if let Some(why) = values.iter().find_map(|v| join.refuses(v)) {
                    return Err(syntax_err(attr, input, why));
                }
                Value::OauthClaimMap(Box::new(crate::oauth2::ClaimMapping { claim, group: u, join, values }))
            }
        })
    }

    /// The equality index key. Secrets and credentials have none, so they can never be found by
    /// value.
    pub fn eq_key(&self) -> Option<String> {
        Some(match self {
            Value::Utf8(s) | Value::Iutf8(s) | Value::Iname(s) | Value::Email(s) | Value::Url(s) => {
                if let Value::Email(e) = self {
                    e.to_lowercase()
                } else {
                    s.clone()
                }
            }
            Value::Uuid(u) | Value::Refer(u) => u.hyphenated().to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Uint32(i) => i.to_string(),
            Value::DateTime(d) => format_datetime(d),
            Value::Spn(n, d) => format!("{n}@{d}"),
            Value::Index(i) => i.to_string(),
            Value::Syntax(s) => s.to_string(),
            Value::JsonFilter(f) => serde_json::to_string(f).unwrap_or_default(),
            Value::Session(s) => s.id.hyphenated().to_string(),
            Value::Key(k) => k.kid.clone(),
            // The hash of the token, so redemption finds the account through the index.
            Value::Intent(t) => t.hash.clone(),
            Value::Right(r) => r.name().to_string(),
            Value::CredType(c) => c.name().to_string(),
            Value::Passkey(p) => p.credential_id_hash.clone(),
            // The group: one map per group, found by it (and removed with it).
            Value::OauthScopeMap(u, _) => u.hyphenated().to_string(),
            // One set of values per claim and group: removing one leaves the group's others.
            Value::OauthClaimMap(m) => format!("{}:{}", m.claim, m.group.hyphenated()),
            Value::Credential(_) | Value::Secret(_) => return None,
        })
    }

    /// The text that substring filters and substring index keys look inside, lowercased so that
    /// searching is case-insensitive for every string syntax.
    pub fn sub_source(&self) -> Option<Cow<'_, str>> {
        match self {
            Value::Utf8(s) | Value::Email(s) | Value::Url(s) => Some(Cow::Owned(s.to_lowercase())),
            Value::Iutf8(s) | Value::Iname(s) => Some(Cow::Borrowed(s)),
            Value::Spn(n, d) => Some(Cow::Owned(format!("{n}@{d}"))),
            _ => None,
        }
    }

    /// How the value is shown to callers. Secrets are never shown.
    pub fn to_proto_string(&self) -> String {
        match self {
            Value::Credential(Credential::Password { .. }) => "password (argon2id)".to_string(),
            Value::Credential(Credential::GeneratedPassword { .. }) => "generated password (argon2id)".to_string(),
            Value::Credential(Credential::PasswordMfa { totp, backup_codes, .. }) => format!(
                "password (argon2id) with {} TOTP and {} backup codes",
                totp.len(),
                backup_codes.as_ref().map_or(0, |b| b.codes.len())
            ),
            Value::Secret(_) => "(hidden)".to_string(),
            Value::Session(s) => s.to_string(),
            Value::Key(k) => k.to_string(),
            Value::Intent(t) => t.to_string(),
            Value::Passkey(p) => p.to_string(),
            Value::OauthScopeMap(u, scopes) => scope_map_text(&u.hyphenated().to_string(), scopes),
            Value::OauthClaimMap(m) => m.text(&m.group.hyphenated().to_string()),
            other => other.eq_key().unwrap_or_default(),
        }
    }

    /// The entry this value names, for the syntaxes that name one (referential integrity
    /// keeps it live).
    pub fn referenced(&self) -> Option<Uuid> {
        match self {
            Value::Refer(u) | Value::OauthScopeMap(u, _) => Some(*u),
            Value::OauthClaimMap(m) => Some(m.group),
            _ => None,
        }
    }

    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Value::Uuid(u) | Value::Refer(u) => Some(*u),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Utf8(s) | Value::Iutf8(s) | Value::Iname(s) | Value::Email(s) | Value::Url(s) | Value::Secret(s) => {
                Some(s)
            }
            _ => None,
        }
    }
}

/// The entry a reference names: its uuid, or a name `resolve` finds; an unknown name is an
/// error naming the attribute.
fn named_entry(attr: &str, name: &str, resolve: &mut dyn FnMut(&str) -> Result<Option<Uuid>>) -> Result<Uuid> {
    let name = name.trim();
    match Uuid::parse_str(name) {
        Ok(u) => Ok(u),
        Err(_) => resolve(name)?.ok_or_else(|| {
            OperationError::Plugin(idm_proto::PluginError::ReferentialIntegrity(format!(
                "attribute '{attr}': no entry named '{name}'"
            )))
        }),
    }
}

/// A scope map as Kanidm shows it: `group: {"openid", "profile"}`.
pub fn scope_map_text(group: &str, scopes: &std::collections::BTreeSet<String>) -> String {
    let quoted: Vec<String> = scopes.iter().map(|s| format!("\"{s}\"")).collect();
    format!("{group}: {{{}}}", quoted.join(", "))
}

/// Substring index keys: every window of three characters. Needles shorter than this cannot
/// use the index and are answered by testing candidates.
pub const SUBSTRING_GRAM: usize = 3;

pub fn trigrams(s: &str) -> impl Iterator<Item = String> + '_ {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    (0..n.saturating_sub(SUBSTRING_GRAM - 1)).map(move |i| chars[i..i + SUBSTRING_GRAM].iter().collect())
}

/// The key a filter term compares against: `input` normalised the way stored values of this
/// syntax produce their [`Value::eq_key`]. Reference and uuid attributes are handled by the
/// caller (they need name resolution).
pub fn filter_eq_key(attr: &str, syntax: SyntaxType, input: &str) -> Result<String> {
    match syntax {
        // A name that breaks the iname rules simply matches nothing; it is not an error to look.
        SyntaxType::Utf8StringIname | SyntaxType::Utf8StringInsensitive => Ok(input.to_lowercase()),
        SyntaxType::Utf8String | SyntaxType::Url => Ok(input.to_string()),
        SyntaxType::EmailAddress => Ok(input.trim().to_lowercase()),
        s if s.is_secret() || s.server_made() => {
            Err(OperationError::InvalidAttribute(format!("{attr}: values of this attribute cannot be searched for")))
        }
        _ => {
            let v = Value::from_input(attr, syntax, input, &mut |_| Ok(None))?;
            Ok(v.eq_key().unwrap_or_default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: SyntaxType, i: &str) -> Result<Value> {
        Value::from_input("a", s, i, &mut |n| Ok((n == "known").then(|| Uuid::from_u128(7))))
    }

    #[test]
    fn scope_maps() {
        let v = parse(SyntaxType::OauthScopeMap, r#"known: {"openid", "email"} profile"#).unwrap();
        let scopes: std::collections::BTreeSet<String> = ["email", "openid", "profile"].map(String::from).into();
        assert_eq!(v, Value::OauthScopeMap(Uuid::from_u128(7), scopes));
        assert_eq!(v.eq_key(), Some(Uuid::from_u128(7).hyphenated().to_string()), "found by its group");
        assert_eq!(v.referenced(), Some(Uuid::from_u128(7)));
        assert!(v.to_proto_string().ends_with(r#": {"email", "openid", "profile"}"#), "{}", v.to_proto_string());
        for bad in ["known", "known:", "known: not a scope!", "unknown: openid", "known: a..b"] {
            assert!(parse(SyntaxType::OauthScopeMap, bad).is_err(), "{bad}");
        }
        assert!(oauth_scope("urn:x://y.z-w").is_ok() && oauth_scope("").is_err());
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), v);
        let bytes = postcard::to_stdvec(&v).unwrap();
        assert_eq!(postcard::from_bytes::<Value>(&bytes).unwrap(), v);
    }

    #[test]
    fn claim_maps() {
        let v = parse(SyntaxType::OauthClaimMap, r#"team:known:csv:"eng,ops""#).unwrap();
        let Value::OauthClaimMap(m) = &v else { panic!("{v:?}") };
        assert_eq!((m.claim.as_str(), m.group, m.join), ("team", Uuid::from_u128(7), crate::oauth2::ClaimJoin::Csv));
        assert_eq!(m.values.iter().map(String::as_str).collect::<Vec<_>>(), ["eng", "ops"]);
        assert_eq!(v.referenced(), Some(Uuid::from_u128(7)));
        assert_eq!(v.eq_key(), Some(format!("team:{}", Uuid::from_u128(7).hyphenated())));
        for bad in [
            "team:known:csv",
            "bad claim:known:array:x",
            "team:known:sideways:x",
            "team:known:ssv:a b",
            "team:unknown:array:x",
            "sub:known:array:x",
            "urn:x:known:array:y",
        ] {
            assert!(parse(SyntaxType::OauthClaimMap, bad).is_err(), "{bad}");
        }
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), v);
        assert_eq!(postcard::from_bytes::<Value>(&postcard::to_stdvec(&v).unwrap()).unwrap(), v);
    }

    #[test]
    fn normalisation() {
        assert_eq!(parse(SyntaxType::Utf8StringIname, "Alice").unwrap(), Value::Iname("alice".into()));
        for bad in ["_x", ".x", "a b", "a@b", "123", "root", "systemd-x", "", "00000000-0000-0000-0000-000000000001"] {
            assert!(parse(SyntaxType::Utf8StringIname, bad).is_err(), "{bad}");
        }
        assert_eq!(parse(SyntaxType::Utf8StringInsensitive, "PeRsOn").unwrap().eq_key().unwrap(), "person");
        assert_eq!(parse(SyntaxType::ReferenceUuid, "known").unwrap(), Value::Refer(Uuid::from_u128(7)));
        assert!(parse(SyntaxType::ReferenceUuid, "unknown").is_err());
        assert_eq!(
            parse(SyntaxType::SecurityPrincipalName, "Bob@Example.com").unwrap().eq_key().unwrap(),
            "bob@example.com"
        );
        assert_eq!(parse(SyntaxType::IndexId, "equality").unwrap(), Value::Index(IndexType::Equality));
        assert_eq!(parse(SyntaxType::Boolean, "TRUE").unwrap(), Value::Bool(true));
        assert_eq!(
            parse(SyntaxType::DateTime, "2026-01-01T10:00:00+02:00").unwrap().eq_key().unwrap(),
            "2026-01-01T08:00:00Z"
        );
        assert_eq!(parse(SyntaxType::EmailAddress, "A@Example.COM").unwrap().eq_key().unwrap(), "a@example.com");
        assert!(parse(SyntaxType::EmailAddress, "nope").is_err());
        assert!(parse(SyntaxType::Credential, "x").is_err());
        assert_eq!(Value::Secret("s".into()).eq_key(), None);
        let e = parse(SyntaxType::Uint32, "-1").unwrap_err();
        assert!(e.to_string().contains("'a'"), "{e}");
    }

    #[test]
    fn trigram_keys() {
        assert_eq!(trigrams("abcd").collect::<Vec<_>>(), vec!["abc", "bcd"]);
        assert_eq!(trigrams("ab").count(), 0);
        assert_eq!(trigrams("äöüß").count(), 2);
    }

    #[test]
    fn value_storage_round_trip() {
        let vs = vec![
            Value::Utf8("x".into()),
            Value::DateTime(OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()),
            Value::JsonFilter(ProtoFilter::And(vec![ProtoFilter::Pres("class".into()), ProtoFilter::SelfUuid])),
            Value::Spn("a".into(), "b.c".into()),
            Value::Index(IndexType::SubString),
            Value::Right(crate::identity::ServerRight::SigningKeys),
            Value::CredType(crate::credential::CredentialType::Mfa),
            Value::Credential(Credential::PasswordMfa {
                phc: "$argon2id$x".into(),
                totp: [(
                    "phone".to_string(),
                    crate::credential::Totp {
                        secret: vec![1, 2, 3],
                        algo: crate::credential::TotpAlgo::Sha1,
                        step: 30,
                        digits: 6,
                        created: 1_700_000_000,
                        last_step: 56_666_666,
                        last_used: None,
                    },
                )]
                .into(),
                backup_codes: None,
            }),
            Value::Credential(Credential::GeneratedPassword { phc: "$argon2id$x".into() }),
            Value::Intent(Box::new(crate::credential::IntentToken {
                hash: "ab".into(),
                issued_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
                expiry: OffsetDateTime::from_unix_timestamp(1_700_003_600).unwrap(),
                issued_by: Uuid::from_u128(1),
                memberships: "cd".into(),
            })),
            Value::Key(Box::new(crate::keys::KeyRecord {
                kid: "0123456789ab".into(),
                alg: crate::keys::KeyAlg::Es256,
                status: crate::keys::KeyStatus::Retired {
                    until: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
                },
                created: OffsetDateTime::from_unix_timestamp(1_600_000_000).unwrap(),
                private: vec![1, 2, 3],
            })),
        ];
        let bin = postcard::to_allocvec(&vs).unwrap();
        assert_eq!(postcard::from_bytes::<Vec<Value>>(&bin).unwrap(), vs);
        let json = serde_json::to_string(&vs).unwrap();
        assert_eq!(serde_json::from_str::<Vec<Value>>(&json).unwrap(), vs);
    }
}
