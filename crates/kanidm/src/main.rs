//! `kanidm`: the command-line client.
//!
//! Parses arguments, finds the server, CA and cached token (flags, then environment, then
//! `~/.config/kanidm`), calls [`idm_client`] and prints the result. Every failure exits
//! non-zero with a message that says what to do.

use clap::{Parser, Subcommand, ValueEnum};
mod credupdate;

use idm_client::{ClientError, KanidmClient, Method, SecondFactor, read_token};
use idm_proto::{Filter, Modify, ModifyList, ProtoEntry};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "kanidm", version, about = "Command-line client for the identity server")]
struct Cli {
    /// Server URL, e.g. https://idm.example.com:8443.
    #[arg(short = 'H', long = "url", env = "KANIDM_URL", global = true)]
    url: Option<String>,
    /// PEM file of the CA to trust instead of the system's roots.
    #[arg(short = 'C', long = "ca", env = "KANIDM_CA_PATH", global = true)]
    ca: Option<PathBuf>,
    /// The account whose session to use (and to log in as).
    #[arg(short = 'D', long = "name", env = "KANIDM_NAME", global = true)]
    account: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text", global = true)]
    output: Output,
    #[command(subcommand)]
    command: Command,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
enum Output {
    Text,
    Json,
}

#[derive(Subcommand, Debug, Clone)]
enum Command {
    /// Log in and cache a session token (password from a prompt or KANIDM_PASSWORD; a TOTP code
    /// or backup code, when the account has them, from a prompt or KANIDM_TOTP).
    Login,
    /// End the cached session of the account (on the server too) and forget it.
    Logout,
    /// Prove the password again so the session may make changes for a while (writes do this
    /// by themselves when needed).
    Reauth,
    /// About the logged-in account.
    #[command(name = "self")]
    SelfCmd {
        #[command(subcommand)]
        cmd: SelfCommand,
    },
    /// People: create, show, list, update, delete, set passwords.
    Person {
        #[command(subcommand)]
        cmd: AccountCommand,
    },
    /// Service accounts: accounts used by software.
    #[command(name = "service-account")]
    ServiceAccount {
        #[command(subcommand)]
        cmd: AccountCommand,
    },
    /// Groups and their members.
    Group {
        #[command(subcommand)]
        cmd: GroupCommand,
    },
    /// Deleted entries: list, show and revive them.
    #[command(name = "recycle-bin")]
    RecycleBin {
        #[command(subcommand)]
        cmd: RecycleCommand,
    },
    /// The identity domain.
    Domain {
        #[command(subcommand)]
        cmd: DomainCommand,
    },
    /// Server administration.
    System {
        #[command(subcommand)]
        cmd: SystemCommand,
    },
    /// Low-level operations on entries matched by a JSON filter.
    Raw {
        #[command(subcommand)]
        cmd: RawCommand,
    },
}

#[derive(Subcommand, Debug, Clone)]
enum SelfCommand {
    /// Show who you are logged in as.
    Whoami,
}

#[derive(Subcommand, Debug, Clone)]
enum AccountCommand {
    /// Create an account. A service account may name the group (or account) that manages it:
    /// that group's members may then change it and issue its API tokens.
    Create { name: String, displayname: String, managed_by: Option<String> },
    /// Show an account.
    Get { name: String },
    /// List accounts, optionally those whose name, mail or display name contains SEARCH.
    List {
        #[arg(long)]
        search: Option<String>,
    },
    /// Change display name, legal name, mail addresses or validity.
    Update {
        name: String,
        #[arg(long)]
        displayname: Option<String>,
        #[arg(long)]
        legalname: Option<String>,
        /// Replaces the mail addresses (repeat for several).
        #[arg(long)]
        mail: Vec<String>,
        /// RFC 3339 time after which the account cannot log in ("" removes it).
        #[arg(long)]
        expire: Option<String>,
        /// RFC 3339 time before which the account cannot log in ("" removes it).
        #[arg(long = "valid-from")]
        valid_from: Option<String>,
    },
    /// Delete an account.
    Delete { name: String },
    /// Credentials.
    Credential {
        #[command(subcommand)]
        cmd: CredentialCommand,
    },
    /// Sessions of an account: list them, revoke one or all.
    Session {
        #[command(subcommand)]
        cmd: SessionCommand,
    },
    /// Expire the account now and revoke every session it holds.
    Lock { name: String },
    /// API tokens of a service account: bearer tokens for software.
    #[command(name = "api-token")]
    ApiToken {
        #[command(subcommand)]
        cmd: ApiTokenCommand,
    },
    /// Remove the account's expiry (and any soft-lock), so it can log in again.
    Unlock { name: String },
}

#[derive(Subcommand, Debug, Clone)]
enum ApiTokenCommand {
    /// Issue a token (printed once); read-only unless --read-write.
    Generate {
        name: String,
        label: String,
        /// RFC 3339 time the token stops working (default: until destroyed).
        #[arg(long)]
        expiry: Option<String>,
        #[arg(long = "read-write")]
        read_write: bool,
    },
    /// The account's tokens: id, label, purpose, issue and expiry times.
    Status { name: String },
    /// Destroy a token: it stops working at once.
    Destroy { name: String, token_id: uuid::Uuid },
}

#[derive(Subcommand, Debug, Clone)]
enum SessionCommand {
    /// Issue and expiry times, mechanism, scope and client address of each session.
    List { name: String },
    /// Revoke one session (by id), or every session with --all.
    Revoke {
        name: String,
        session: Option<uuid::Uuid>,
        #[arg(long, conflicts_with = "session")]
        all: bool,
    },
}

#[derive(Subcommand, Debug, Clone)]
enum CredentialCommand {
    /// Set the password (prompted twice on a terminal, else one line of standard input, or
    /// KANIDM_NEW_PASSWORD).
    #[command(name = "set-password")]
    SetPassword { name: String },
    /// Create a one-time token the account holder uses to set a new password.
    #[command(name = "create-reset-token")]
    CreateResetToken {
        name: String,
        /// Seconds the token stays valid (default 3600), as upstream takes it.
        ttl: Option<u64>,
        /// The same, as a flag.
        #[arg(long = "ttl", conflicts_with = "ttl")]
        ttl_flag: Option<u64>,
    },
    /// Set your new password with a reset token given by an administrator (no login needed).
    #[command(name = "use-reset-token")]
    UseResetToken { token: String },
    /// What credentials the account has, a pending reset token, a soft-lock, its sessions.
    Status { name: String },
    /// Change the account's credentials interactively, saved together at commit: password,
    /// TOTP (shown as a QR code), backup codes. Commands come from the terminal or, one per
    /// line, from standard input.
    Update { name: String },
}

#[derive(Subcommand, Debug, Clone)]
enum GroupCommand {
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// The group (or account) whose members may change this group's members.
        #[arg(long)]
        managed_by: Option<String>,
    },
    Get {
        name: String,
    },
    List {
        #[arg(long)]
        search: Option<String>,
    },
    Delete {
        name: String,
    },
    #[command(name = "add-members")]
    AddMembers {
        name: String,
        members: Vec<String>,
    },
    #[command(name = "remove-members")]
    RemoveMembers {
        name: String,
        members: Vec<String>,
    },
    /// Replace the members.
    #[command(name = "set-members")]
    SetMembers {
        name: String,
        members: Vec<String>,
    },
    /// Direct members, or with --transitive everything that is a member through nesting too.
    #[command(name = "list-members")]
    ListMembers {
        name: String,
        #[arg(long)]
        transitive: bool,
    },
}

#[derive(Subcommand, Debug, Clone)]
enum RecycleCommand {
    List,
    Get {
        name: String,
    },
    /// Bring an entry back (its group memberships are not restored).
    Revive {
        name: String,
    },
}

#[derive(Subcommand, Debug, Clone)]
enum DomainCommand {
    /// Name, uuid, SPN format and entry counts.
    Show,
}

#[derive(Subcommand, Debug, Clone)]
enum SystemCommand {
    /// Show the online backup schedule, the last result and the next run.
    #[command(name = "backup-status")]
    BackupStatus,
    /// Run an online backup now.
    #[command(name = "backup-now")]
    BackupNow,
    /// The keys that sign session tokens.
    Key {
        #[command(subcommand)]
        cmd: KeyCommand,
    },
    /// The applications that sign people in through OAuth2 / OpenID Connect.
    Oauth2 {
        #[command(subcommand)]
        cmd: Oauth2Command,
    },
}

#[derive(Subcommand, Debug, Clone)]
enum Oauth2Command {
    /// Every client.
    List,
    /// One client.
    Get { name: String },
    /// A confidential client (it authenticates with a secret the server makes).
    Create { name: String, displayname: String, landing_url: String },
    /// A public client (no secret; PKCE always), for apps that cannot keep a secret.
    #[command(name = "create-public")]
    CreatePublic { name: String, displayname: String, landing_url: String },
    /// Delete a client.
    Delete { name: String },
    /// Allow another redirect URI (matched exactly).
    #[command(name = "add-redirect-url")]
    AddRedirectUrl { name: String, redirect_url: String },
    /// Stop allowing a redirect URI.
    #[command(name = "remove-redirect-url")]
    RemoveRedirectUrl { name: String, redirect_url: String },
    /// Print a confidential client's secret.
    #[command(name = "show-basic-secret")]
    ShowBasicSecret { name: String },
    /// Give a confidential client a new secret (the old one stops working).
    #[command(name = "reset-secrets", alias = "reset-basic-secret")]
    ResetSecrets { name: String },
    /// The name people see for the client.
    #[command(name = "set-displayname")]
    SetDisplayname { name: String, displayname: String },
    /// Let a group's members use the client, asking for these scopes (replaces its map).
    #[command(name = "update-scope-map", alias = "create-scope-map")]
    UpdateScopeMap { name: String, group: String, scopes: Vec<String> },
    /// Take the group's scopes away.
    #[command(name = "delete-scope-map")]
    DeleteScopeMap { name: String, group: String },
    /// Give a group's members these scopes besides those they ask for.
    #[command(name = "update-sup-scope-map", alias = "create-sup-scope-map")]
    UpdateSupScopeMap { name: String, group: String, scopes: Vec<String> },
    #[command(name = "delete-sup-scope-map")]
    DeleteSupScopeMap { name: String, group: String },
    /// A custom claim's values for a group's members (replaces the group's values).
    #[command(name = "update-claim-map", alias = "create-claim-map")]
    UpdateClaimMap { name: String, claim: String, group: String, values: Vec<String> },
    /// How a claim's values are joined: array, csv or ssv.
    #[command(name = "update-claim-map-join")]
    UpdateClaimMapJoin { name: String, claim: String, join: String },
    /// Take a group's values of a claim away.
    #[command(name = "delete-claim-map")]
    DeleteClaimMap { name: String, claim: String, group: String },
    /// The client's home page (also a redirect URI it may use).
    #[command(name = "set-landing-url")]
    SetLandingUrl { name: String, landing_url: String },
}

#[derive(Subcommand, Debug, Clone)]
enum KeyCommand {
    /// Key ids, status and dates.
    List,
    /// Make a new key active; the old one verifies until its sessions can no longer be alive.
    Rotate,
    /// Stop a retired key verifying anything: its sessions end at once.
    Revoke { kid: String },
}

#[derive(Subcommand, Debug, Clone)]
enum RawCommand {
    /// Create entries from a JSON array of attribute maps (stdin when FILE is omitted).
    Create { file: Option<PathBuf> },
    /// Apply a JSON list of modifications to every entry matching FILTER.
    Modify { filter: String, file: PathBuf },
    /// Show entries matching FILTER.
    Search { filter: String },
    /// Delete every entry matching FILTER.
    Delete { filter: String },
}

/// `~/.config/kanidm`.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct ClientConfig {
    uri: Option<String>,
    ca_path: Option<PathBuf>,
    name: Option<String>,
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."))
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("Error: {msg}");
    ExitCode::FAILURE
}

/// Cached tokens: server URL → account name → token, in a file only the user can read.
struct TokenCache {
    path: PathBuf,
    tokens: BTreeMap<String, BTreeMap<String, String>>,
}

impl TokenCache {
    fn load() -> Result<TokenCache, String> {
        let path = home().join(".cache").join("kanidm_tokens");
        let tokens = match std::fs::read_to_string(&path) {
            Ok(t) => serde_json::from_str(&t)
                .map_err(|e| format!("{} is damaged ({e}); delete it and log in again", path.display()))?,
            Err(_) => BTreeMap::new(),
        };
        Ok(TokenCache { path, tokens })
    }

    fn save(&self) -> Result<(), String> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let text = serde_json::to_string_pretty(&self.tokens).map_err(|e| e.to_string())?;
        let tmp = self.path.with_extension("tmp");
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        std::io::Write::write_all(&mut f, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }
}

fn read_json(path: Option<&Path>) -> Result<serde_json::Value, String> {
    let (text, what) = match path {
        Some(p) => (
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
            p.display().to_string(),
        ),
        None => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| format!("cannot read standard input: {e}"))?;
            (s, "standard input".to_string())
        }
    };
    serde_json::from_str(&text).map_err(|e| format!("{what} is not valid JSON: {e}"))
}

fn parse_filter(text: &str) -> Result<Filter, String> {
    serde_json::from_str(text).map_err(|e| {
        format!("the filter is not valid JSON filter syntax: {e} (example: '{{\"eq\": [\"name\", \"admin\"]}}')")
    })
}

/// Entries from a create file: an array of attribute maps (or of `{"attrs": {...}}`).
fn entries_of(v: serde_json::Value) -> Result<Vec<ProtoEntry>, String> {
    let serde_json::Value::Array(items) = v else { return Err("a create file holds a JSON array of entries".into()) };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let attrs = match item.get("attrs") {
                Some(a) if item.as_object().is_some_and(|o| o.len() == 1) => a.clone(),
                _ => item,
            };
            serde_json::from_value::<BTreeMap<String, Vec<String>>>(attrs)
                .map(|attrs| ProtoEntry { attrs })
                .map_err(|e| format!("entry {} is not a map of attribute names to lists of strings: {e}", i + 1))
        })
        .collect()
}

fn modlist_of(v: serde_json::Value) -> Result<ModifyList, String> {
    let mods = match v {
        serde_json::Value::Object(mut o) if o.contains_key("mods") => o.remove("mods").unwrap_or_default(),
        other => other,
    };
    serde_json::from_value::<Vec<Modify>>(mods).map(ModifyList::new).map_err(|e| {
        format!("a modify file holds a JSON list such as [{{\"present\": [\"member\", \"idm_admin\"]}}]: {e}")
    })
}

fn print_entries(entries: &[ProtoEntry], output: Output) {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&entries).unwrap_or_default()),
        Output::Text => {
            for e in entries {
                println!("---");
                for (attr, values) in &e.attrs {
                    for v in values {
                        println!("{attr}: {v}");
                    }
                }
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config_path = home().join(".config").join("kanidm");
    let config: ClientConfig = match std::fs::read_to_string(&config_path) {
        Ok(t) => match toml::from_str(&t) {
            Ok(c) => c,
            Err(e) => return fail(format!("{}: {e}", config_path.display())),
        },
        Err(_) => ClientConfig::default(),
    };
    let Some(url) = cli.url.clone().or(config.uri.clone()) else {
        return fail("no server given: pass -H https://host:8443, set KANIDM_URL, or set uri in ~/.config/kanidm");
    };
    let ca = cli.ca.clone().or(config.ca_path.clone());
    let name = cli.account.clone().or(config.name.clone());
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start: {e}")),
    };
    match runtime.block_on(run(cli, url, ca, name)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

async fn run(cli: Cli, url: String, ca: Option<PathBuf>, name: Option<String>) -> Result<(), String> {
    let client = KanidmClient::new(&url, ca.as_deref()).map_err(|e| e.to_string())?;
    let mut cache = TokenCache::load()?;
    match &cli.command {
        Command::Login => {
            let name = name.unwrap_or_else(|| "anonymous".into());
            let password = if name == "anonymous" {
                None
            } else if let Ok(pw) = std::env::var("KANIDM_PASSWORD") {
                Some(pw)
            } else if std::io::stdin().is_terminal() {
                Some(
                    rpassword::prompt_password(format!("Password for {name}: "))
                        .map_err(|e| format!("cannot read the password: {e}"))?,
                )
            } else {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).map_err(|e| format!("cannot read the password: {e}"))?;
                Some(line.trim_end_matches(['\n', '\r']).to_string())
            };
            let token = client.login_with(&name, password.as_deref(), second_factor).await.map_err(|e| match e {
                ClientError::Api { status: 404, .. } => format!("there is no account named '{name}'"),
                e => describe(e),
            })?;
            cache.tokens.entry(url.clone()).or_default().insert(name.clone(), token);
            cache.save()?;
            println!("Login Success for {name}");
            return Ok(());
        }
        Command::Logout => {
            let name = pick_name(&cache, &url, name.as_deref())?;
            if let Some(token) = cache.tokens.entry(url.clone()).or_default().remove(&name) {
                // Revoke it on the server too; an expired or already revoked one is fine.
                match client.logout(&token).await {
                    Ok(()) | Err(ClientError::Api { status: 401, .. }) => {}
                    Err(e) => eprintln!("Warning: the server did not revoke the session: {e}"),
                }
            }
            cache.save()?;
            println!("Logged out {name}");
            return Ok(());
        }
        _ => {}
    }
    // Redeeming a reset token needs no session: the token is the proof.
    if let Command::Person { cmd: AccountCommand::Credential { cmd: CredentialCommand::UseResetToken { token } } } =
        &cli.command
    {
        let pw = new_password()?;
        let spn = client.use_reset_token(token, &pw).await.map_err(describe)?;
        println!("Password set for {spn}");
        return Ok(());
    }
    // A bearer token given directly (a service account's API token) is used as it is.
    if let Ok(token) = std::env::var("KANIDM_TOKEN") {
        if matches!(cli.command, Command::Reauth) {
            return Err("reauth works on a session from `kanidm login`, not on KANIDM_TOKEN".into());
        }
        let stdin = match &cli.command {
            Command::Raw { cmd: RawCommand::Create { file: None } } => Some(read_json(None)?),
            _ => None,
        };
        return execute(&client, token.trim(), cli.command, cli.output, stdin).await;
    }
    let who = pick_name(&cache, &url, name.as_deref())?;
    let token = cache
        .tokens
        .get(&url)
        .and_then(|m| m.get(&who))
        .cloned()
        .ok_or_else(|| format!("no session for {who} on {url}: log in with `kanidm login -H {url} -D {who}`"))?;
    if read_token(&token).and_then(|t| t.expiry).is_some_and(|exp| exp <= unix_now()) {
        return Err(format!("the session for {who} has expired: log in again with `kanidm login -H {url} -D {who}`"));
    }
    if let Command::Reauth = cli.command {
        reauthenticate(&client, &mut cache, &url, &who, &token).await?;
        println!("Reauthenticated {who}");
        return Ok(());
    }
    // A change refused because the session may only read is retried once after proving the
    // password again (from KANIDM_PASSWORD or a prompt).
    // Standard input is read once, so a retry sends the same entries.
    let stdin = match &cli.command {
        Command::Raw { cmd: RawCommand::Create { file: None } } => Some(read_json(None)?),
        _ => None,
    };
    let mut token = token;
    if is_write(&cli.command) && !read_token(&token).is_some_and(|t| t.privileged_at(unix_now() + 20)) {
        token = reauthenticate(&client, &mut cache, &url, &who, &token).await?;
    }
    match execute(&client, &token, cli.command.clone(), cli.output, stdin.clone()).await {
        Err(e) if e.contains(idm_proto::READ_ONLY_SESSION) => {
            let token = reauthenticate(&client, &mut cache, &url, &who, &token).await?;
            execute(&client, &token, cli.command, cli.output, stdin).await
        }
        other => other,
    }
}

/// Whether a command changes something, and so needs a session that may make changes.
fn is_write(c: &Command) -> bool {
    let account = |a: &AccountCommand| {
        !matches!(
            a,
            AccountCommand::Get { .. }
                | AccountCommand::List { .. }
                | AccountCommand::Credential { cmd: CredentialCommand::Status { .. } }
                | AccountCommand::Session { cmd: SessionCommand::List { .. } }
                | AccountCommand::ApiToken { cmd: ApiTokenCommand::Status { .. } }
        )
    };
    match c {
        Command::Person { cmd } | Command::ServiceAccount { cmd } => account(cmd),
        Command::Group { cmd } => {
            !matches!(cmd, GroupCommand::Get { .. } | GroupCommand::List { .. } | GroupCommand::ListMembers { .. })
        }
        Command::RecycleBin { cmd } => matches!(cmd, RecycleCommand::Revive { .. }),
        Command::System { cmd } => {
            matches!(
                cmd,
                SystemCommand::BackupNow
                    | SystemCommand::Key { cmd: KeyCommand::Rotate | KeyCommand::Revoke { .. } }
                    | SystemCommand::Oauth2 {
                        cmd: Oauth2Command::Create { .. }
                            | Oauth2Command::CreatePublic { .. }
                            | Oauth2Command::Delete { .. }
                            | Oauth2Command::AddRedirectUrl { .. }
                            | Oauth2Command::RemoveRedirectUrl { .. }
                            | Oauth2Command::ResetSecrets { .. }
                            | Oauth2Command::SetDisplayname { .. }
                            | Oauth2Command::SetLandingUrl { .. }
                            | Oauth2Command::UpdateScopeMap { .. }
                            | Oauth2Command::DeleteScopeMap { .. }
                            | Oauth2Command::UpdateSupScopeMap { .. }
                            | Oauth2Command::DeleteSupScopeMap { .. }
                            | Oauth2Command::UpdateClaimMap { .. }
                            | Oauth2Command::UpdateClaimMapJoin { .. }
                            | Oauth2Command::DeleteClaimMap { .. }
                    }
            )
        }
        Command::Raw { cmd } => !matches!(cmd, RawCommand::Search { .. }),
        _ => false,
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The second factor of an account that has one: `KANIDM_TOTP` (a code, or a backup code),
/// else asked for on the terminal.
fn second_factor() -> Result<SecondFactor, ClientError> {
    if let Ok(typed) = std::env::var("KANIDM_TOTP") {
        return Ok(SecondFactor::parse(&typed));
    }
    if !std::io::stdin().is_terminal() {
        return Err(ClientError::Denied(
            "this account signs in with a TOTP code as well: set KANIDM_TOTP to the code (or a backup code)".into(),
        ));
    }
    eprint!("TOTP code (or a backup code): ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| ClientError::Denied(format!("cannot read the code: {e}")))?;
    Ok(SecondFactor::parse(&line))
}

/// Re-authenticates the cached session of `who`, caching and returning the new token.
async fn reauthenticate(
    client: &KanidmClient,
    cache: &mut TokenCache,
    url: &str,
    who: &str,
    token: &str,
) -> Result<String, String> {
    let pw = match std::env::var("KANIDM_PASSWORD") {
        Ok(pw) => pw,
        Err(_) if std::io::stdin().is_terminal() => {
            eprintln!("This needs a privileged session: re-authenticating {who}.");
            rpassword::prompt_password(format!("Password for {who}: "))
                .map_err(|e| format!("cannot read the password: {e}"))?
        }
        Err(_) => {
            return Err(format!(
                "this needs a privileged session and no password is available: run `kanidm reauth -D {who}` \
                 or set KANIDM_PASSWORD"
            ));
        }
    };
    let new = client.reauth(token, &pw, second_factor).await.map_err(describe)?;
    cache.tokens.entry(url.to_string()).or_default().insert(who.to_string(), new.clone());
    cache.save()?;
    Ok(new)
}

/// Runs one command that needs a session.
async fn execute(
    client: &KanidmClient,
    token: &str,
    command: Command,
    output: Output,
    stdin: Option<serde_json::Value>,
) -> Result<(), String> {
    let token = token.to_string();
    match command {
        Command::Login | Command::Logout | Command::Reauth => unreachable!("handled before a session is needed"),
        Command::SelfCmd { cmd: SelfCommand::Whoami } => {
            let me = client.whoami(&token).await.map_err(describe)?;
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&me).unwrap_or_default()),
                Output::Text => {
                    let spn = me.get("spn").and_then(|s| s.first()).cloned().unwrap_or_default();
                    let display = me.get("displayname").and_then(|s| s.first()).cloned().unwrap_or_default();
                    let uuid = me.get("uuid").and_then(|s| s.first()).cloned().unwrap_or_default();
                    println!("{spn} ({display}) {uuid}");
                }
            }
        }
        Command::Person { cmd } => account_command(client, &token, "/v1/person", cmd, output).await?,
        Command::ServiceAccount { cmd } => account_command(client, &token, "/v1/service_account", cmd, output).await?,
        Command::Group { cmd } => group_command(client, &token, cmd, output).await?,
        Command::RecycleBin { cmd } => match cmd {
            RecycleCommand::List => {
                print_list(client.call(&token, Method::GET, "/v1/recycle_bin", None).await.map_err(describe)?, output)?
            }
            RecycleCommand::Get { name } => {
                let v = client
                    .call(&token, Method::GET, &format!("/v1/recycle_bin/{}", path_part(&name)), None)
                    .await
                    .map_err(describe)?;
                print_list(serde_json::Value::Array(vec![v]), output)?;
            }
            RecycleCommand::Revive { name } => {
                client
                    .call(&token, Method::POST, &format!("/v1/recycle_bin/{}/_revive", path_part(&name)), None)
                    .await
                    .map_err(describe)?;
                println!("Revived {name}");
            }
        },
        Command::Domain { cmd: DomainCommand::Show } => {
            let v = client.call(&token, Method::GET, "/v1/domain", None).await.map_err(describe)?;
            let last = v.as_array().and_then(|a| a.last()).cloned().ok_or("the server sent no domain entry")?;
            print_list(serde_json::Value::Array(vec![last]), output)?;
        }
        Command::System { cmd } => {
            let v = match cmd {
                SystemCommand::BackupStatus => client.backup_status(&token).await.map_err(describe)?,
                SystemCommand::BackupNow => client.backup_now(&token).await.map_err(describe)?,
                SystemCommand::Key { cmd: KeyCommand::List } => {
                    let v = client.call(&token, Method::GET, "/v1/system/key", None).await.map_err(describe)?;
                    print_rows(&v, output);
                    return Ok(());
                }
                SystemCommand::Key { cmd: KeyCommand::Rotate } => {
                    client.call(&token, Method::POST, "/v1/system/key/_rotate", None).await.map_err(describe)?
                }
                SystemCommand::Key { cmd: KeyCommand::Revoke { kid } } => {
                    let path = format!("/v1/system/key/{}/_revoke", path_part(&kid));
                    client.call(&token, Method::POST, &path, None).await.map_err(describe)?;
                    println!("Revoked key {kid}");
                    return Ok(());
                }
                SystemCommand::Oauth2 { cmd } => return oauth2_command(client, &token, cmd, output).await,
            };
            print_map(&v, output);
        }
        Command::Raw { cmd } => match cmd {
            RawCommand::Search { filter } => {
                let found = client.search(&token, &parse_filter(&filter)?).await.map_err(describe)?;
                print_entries(&found, output);
            }
            RawCommand::Create { file } => {
                let entries = entries_of(match stdin {
                    Some(v) => v,
                    None => read_json(file.as_deref())?,
                })?;
                if entries.is_empty() {
                    return Err("nothing to create: the file holds no entries".into());
                }
                // Large files go in batches; each batch is created entirely or not at all.
                const BATCH: usize = 1000;
                let mut done = 0;
                for chunk in entries.chunks(BATCH) {
                    client.create(&token, chunk).await.map_err(|e| match done {
                        0 => describe(e),
                        // Not retried whole: the earlier batches exist.
                        _ if e.needs_reauth() => format!(
                            "the session's privileges ended after {done} entries were created; run `kanidm reauth` \
                             and create the rest"
                        ),
                        _ => format!("{} ({done} entries before this batch were created)", describe(e)),
                    })?;
                    done += chunk.len();
                }
                if entries.len() > BATCH {
                    eprintln!("Created {done} entries");
                }
            }
            RawCommand::Modify { filter, file } => {
                let ml = modlist_of(read_json(Some(&file))?)?;
                client.modify(&token, &parse_filter(&filter)?, &ml).await.map_err(describe)?;
            }
            RawCommand::Delete { filter } => {
                client.delete(&token, &parse_filter(&filter)?).await.map_err(describe)?;
            }
        },
    }
    Ok(())
}

/// Prints a JSON array of objects, one block of `key: value` lines each, or as JSON.
fn print_rows(v: &serde_json::Value, output: Output) {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(v).unwrap_or_default()),
        Output::Text => {
            for row in v.as_array().into_iter().flatten() {
                println!("---");
                print_map(row, Output::Text);
            }
        }
    }
}

/// Prints a JSON object as `key: value` lines, or as JSON.
fn print_map(v: &serde_json::Value, output: Output) {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(v).unwrap_or_default()),
        Output::Text => {
            for (k, val) in v.as_object().into_iter().flatten() {
                let shown = val.as_str().map(str::to_string).unwrap_or_else(|| val.to_string());
                println!("{k}: {shown}");
            }
        }
    }
}

fn path_part(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.@".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn print_list(v: serde_json::Value, output: Output) -> Result<(), String> {
    let entries: Vec<ProtoEntry> = serde_json::from_value(v).map_err(|e| format!("unexpected answer: {e}"))?;
    print_entries(&entries, output);
    Ok(())
}

fn new_password() -> Result<String, String> {
    if let Ok(pw) = std::env::var("KANIDM_NEW_PASSWORD") {
        return Ok(pw);
    }
    if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("New password: ").map_err(|e| format!("cannot read the password: {e}"))?;
        let b = rpassword::prompt_password("Repeat it: ").map_err(|e| format!("cannot read the password: {e}"))?;
        if a != b {
            return Err("the two passwords differ; nothing was changed".into());
        }
        return Ok(a);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| format!("cannot read the password: {e}"))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// `{"attrs":{…}}` from `attr => values` pairs, the entry form of Kanidm's REST API.
fn attrs(pairs: Vec<(&str, Vec<String>)>) -> serde_json::Value {
    serde_json::json!({ "attrs": pairs.into_iter().collect::<BTreeMap<_, _>>() })
}

/// An entry from a `GET …/{id}` answer, which is `null` when there is none.
fn found(v: serde_json::Value, what: &str, name: &str) -> Result<serde_json::Value, String> {
    if v.is_null() { Err(format!("No matching entries: there is no {what} named '{name}'")) } else { Ok(v) }
}

async fn account_command(
    client: &KanidmClient,
    token: &str,
    base: &str,
    cmd: AccountCommand,
    output: Output,
) -> Result<(), String> {
    let call = |m: Method, path: String, body: Option<serde_json::Value>| async move {
        client.call(token, m, &path, body).await
    };
    let what = base.trim_start_matches("/v1/").replace('_', " ");
    match cmd {
        AccountCommand::Create { name, displayname, managed_by } => {
            let mut pairs = vec![("name", vec![name.clone()]), ("displayname", vec![displayname])];
            pairs.extend(managed_by.map(|m| ("entry_managed_by", vec![m])));
            let e = attrs(pairs);
            call(Method::POST, base.to_string(), Some(e)).await.map_err(describe)?;
            println!("Created {name}");
        }
        AccountCommand::Get { name } => {
            let v = call(Method::GET, format!("{base}/{}", path_part(&name)), None).await.map_err(describe)?;
            print_list(serde_json::Value::Array(vec![found(v, &what, &name)?]), output)?;
        }
        AccountCommand::List { search } => {
            let path = match search.filter(|s| !s.trim().is_empty()) {
                Some(s) => format!("{base}/_search/{}", path_part(&s)),
                None => base.to_string(),
            };
            print_list(call(Method::GET, path, None).await.map_err(describe)?, output)?;
        }
        AccountCommand::Update { name, displayname, legalname, mail, expire, valid_from } => {
            // An empty value removes the attribute.
            let set = |v: Option<String>| v.map(|v| if v.is_empty() { Vec::new() } else { vec![v] });
            let mut pairs: Vec<(&str, Vec<String>)> = Vec::new();
            for (attr, v) in [
                ("displayname", set(displayname)),
                ("legalname", set(legalname)),
                ("account_expire", set(expire)),
                ("account_valid_from", set(valid_from)),
            ] {
                if let Some(v) = v {
                    pairs.push((attr, v));
                }
            }
            if !mail.is_empty() {
                pairs.push(("mail", mail.into_iter().filter(|m| !m.is_empty()).collect()));
            }
            if pairs.is_empty() {
                return Err(
                    "nothing to change: give --displayname, --legalname, --mail, --expire or --valid-from".into()
                );
            }
            call(Method::PATCH, format!("{base}/{}", path_part(&name)), Some(attrs(pairs))).await.map_err(describe)?;
            println!("Updated {name}");
        }
        AccountCommand::Delete { name } => {
            call(Method::DELETE, format!("{base}/{}", path_part(&name)), None).await.map_err(describe)?;
            println!("Deleted {name}");
        }
        AccountCommand::Credential { cmd: CredentialCommand::UseResetToken { .. } } => {
            unreachable!("handled before login")
        }
        AccountCommand::Credential { cmd: CredentialCommand::CreateResetToken { name, ttl, ttl_flag } } => {
            let ttl = ttl.or(ttl_flag);
            let mut path = format!("{base}/{}/_credential/_update_intent", path_part(&name));
            if let Some(ttl) = ttl {
                path.push_str(&format!("/{ttl}"));
            }
            let v = call(Method::GET, path, None).await.map_err(describe)?;
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default()),
                Output::Text => {
                    let token = v["token"].as_str().unwrap_or_default();
                    println!("Reset token for {name}: {token}");
                    let left = v["expiry_time"].as_i64().unwrap_or_default() - unix_now();
                    let link = format!("{}/ui/reset?token={token}", client.url().trim_end_matches('/'));
                    println!(
                        "Valid for {left} seconds, once. Open this link to set a password, passkey or authenticator app:"
                    );
                    println!("  {link}");
                    if let Some(qr) = credupdate::terminal_qr(&link) {
                        println!("{qr}");
                    }
                    println!("Or, in a terminal: kanidm person credential use-reset-token {token}");
                }
            }
        }
        AccountCommand::Credential { cmd: CredentialCommand::Status { name } } => {
            let v = call(Method::GET, format!("{base}/{}/_credential/_status", path_part(&name)), None)
                .await
                .map_err(describe)?;
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default()),
                Output::Text => {
                    let kinds: Vec<String> = v["creds"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| match (c["type_"].as_str(), c["type_"]["PasswordMfa"].as_array()) {
                            (Some("GeneratedPassword"), _) => "generated password".to_string(),
                            (Some("Password"), _) => "password".to_string(),
                            (_, Some(mfa)) => format!(
                                "password with TOTP {} and {} backup codes",
                                mfa[0]
                                    .as_array()
                                    .map(|l| l.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", "))
                                    .unwrap_or_default(),
                                mfa[2]
                            ),
                            _ => c["type_"].to_string(),
                        })
                        .collect();
                    println!("password: {}", if kinds.is_empty() { "none".into() } else { kinds.join(", ") });
                    for p in v["passkeys"].as_array().into_iter().flatten() {
                        let stale = if p["stale"] == true {
                            " (enrolled for an earlier domain name: no longer works)"
                        } else {
                            ""
                        };
                        println!(
                            "passkey: {} ({}){stale}",
                            p["tag"].as_str().unwrap_or_default(),
                            p["uuid"].as_str().unwrap_or_default()
                        );
                    }
                    match v["reset_token"].as_object() {
                        Some(t) => println!(
                            "reset token: pending, issued {} by {}, expires {}",
                            t["issued_at"].as_str().unwrap_or_default(),
                            t["issued_by"].as_str().unwrap_or_default(),
                            t["expiry"].as_str().unwrap_or_default()
                        ),
                        None => println!("reset token: none"),
                    }
                    if let Some(until) = v["softlocked_until"].as_str() {
                        println!("password attempts refused until {until} (soft-lock)");
                    }
                    println!("sessions: {}", v["sessions"]);
                }
            }
        }
        AccountCommand::Session { cmd: SessionCommand::List { name } } => {
            let v = call(Method::GET, format!("/v1/account/{}/_user_auth_token", path_part(&name)), None)
                .await
                .map_err(describe)?;
            print_rows(&v, output);
        }
        AccountCommand::Session { cmd: SessionCommand::Revoke { name, session, all } } => {
            let path = match (session, all) {
                (Some(s), _) => format!("/v1/account/{}/_user_auth_token/{s}", path_part(&name)),
                (None, true) => format!("/v1/account/{}/_user_auth_token", path_part(&name)),
                (None, false) => return Err("name the session to revoke, or pass --all".into()),
            };
            let v = call(Method::DELETE, path, None).await.map_err(describe)?;
            println!("Revoked {} session(s) of {name}", v["revoked"]);
        }
        AccountCommand::ApiToken { cmd } => {
            if base != "/v1/service_account" {
                return Err("API tokens are issued to service accounts: use `kanidm service-account api-token`".into());
            }
            match cmd {
                ApiTokenCommand::Generate { name, label, expiry, read_write } => {
                    let expiry = match expiry {
                        None => None,
                        Some(t) => Some(
                            time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339)
                                .map_err(|e| format!("--expiry '{t}' is not an RFC 3339 time: {e}"))?
                                .unix_timestamp(),
                        ),
                    };
                    let body = serde_json::json!({"label": label, "expiry": expiry, "read_write": read_write, "compact": false});
                    let v = call(Method::POST, format!("{base}/{}/_api_token", path_part(&name)), Some(body))
                        .await
                        .map_err(describe)?;
                    println!("{}", v.as_str().unwrap_or_default());
                }
                ApiTokenCommand::Status { name } => {
                    let v = call(Method::GET, format!("{base}/{}/_api_token", path_part(&name)), None)
                        .await
                        .map_err(describe)?;
                    print_rows(&v, output);
                }
                ApiTokenCommand::Destroy { name, token_id } => {
                    call(Method::DELETE, format!("{base}/{}/_api_token/{token_id}", path_part(&name)), None)
                        .await
                        .map_err(describe)?;
                    println!("Destroyed API token {token_id} of {name}");
                }
            }
        }
        AccountCommand::Lock { name } => {
            call(Method::POST, format!("/v1/account/{}/_lock", path_part(&name)), None).await.map_err(describe)?;
            println!("Locked {name}: it has expired and its sessions are revoked");
        }
        AccountCommand::Unlock { name } => {
            call(Method::POST, format!("/v1/account/{}/_unlock", path_part(&name)), None).await.map_err(describe)?;
            println!("Unlocked {name}");
        }
        AccountCommand::Credential { cmd: CredentialCommand::Update { name } } => {
            let (cu, first) = client.cu_begin(token, base, &path_part(&name)).await.map_err(describe)?;
            credupdate::run(client, cu, first).await?;
        }
        AccountCommand::Credential { cmd: CredentialCommand::SetPassword { name } } => {
            let pw = new_password()?;
            client.set_password(token, base, &path_part(&name), &pw).await.map_err(describe)?;
            println!("Password set for {name}");
        }
    }
    Ok(())
}

async fn oauth2_command(client: &KanidmClient, token: &str, cmd: Oauth2Command, output: Output) -> Result<(), String> {
    let call = |m: Method, path: String, body: Option<serde_json::Value>| async move {
        client.call(token, m, &path, body).await
    };
    let at = |name: &str| format!("/v1/oauth2/{}", path_part(name));
    let patch = |name: &str, attr: &str, values: Vec<String>| {
        let (path, body) = (at(name), attrs(vec![(attr, values)]));
        async move { call(Method::PATCH, path, Some(body)).await.map_err(describe) }
    };
    let public = matches!(cmd, Oauth2Command::CreatePublic { .. });
    match cmd {
        Oauth2Command::List => {
            print_list(call(Method::GET, "/v1/oauth2".into(), None).await.map_err(describe)?, output)?
        }
        Oauth2Command::Get { name } => {
            let v = call(Method::GET, at(&name), None).await.map_err(describe)?;
            print_list(serde_json::Value::Array(vec![found(v, "OAuth2 client", &name)?]), output)?;
        }
        Oauth2Command::Create { name, displayname, landing_url }
        | Oauth2Command::CreatePublic { name, displayname, landing_url } => {
            let e = attrs(vec![
                ("name", vec![name.clone()]),
                ("displayname", vec![displayname]),
                ("oauth2_rs_origin_landing", vec![landing_url]),
            ]);
            let path = if public { "/v1/oauth2/_public" } else { "/v1/oauth2/_basic" };
            call(Method::POST, path.into(), Some(e)).await.map_err(describe)?;
            println!("Created {name}");
        }
        Oauth2Command::Delete { name } => {
            call(Method::DELETE, at(&name), None).await.map_err(describe)?;
            println!("Deleted {name}");
        }
        Oauth2Command::AddRedirectUrl { name, redirect_url } => {
            let path = format!("{}/_attr/oauth2_rs_origin", at(&name));
            call(Method::POST, path, Some(serde_json::json!([redirect_url]))).await.map_err(describe)?;
        }
        Oauth2Command::RemoveRedirectUrl { name, redirect_url } => {
            let path = format!("{}/_attr/oauth2_rs_origin", at(&name));
            call(Method::DELETE, path, Some(serde_json::json!([redirect_url]))).await.map_err(describe)?;
        }
        Oauth2Command::ShowBasicSecret { name } => {
            let v = call(Method::GET, format!("{}/_basic_secret", at(&name)), None).await.map_err(describe)?;
            match v.as_str() {
                Some(secret) => println!("{secret}"),
                None => return Err(format!("{name} is a public client: it has no secret")),
            }
        }
        Oauth2Command::ResetSecrets { name } => {
            patch(&name, "oauth2_rs_basic_secret", Vec::new()).await?;
            println!("{name} has a new secret (show it with show-basic-secret)");
        }
        Oauth2Command::SetDisplayname { name, displayname } => {
            patch(&name, "displayname", vec![displayname]).await?;
        }
        Oauth2Command::UpdateScopeMap { name, group, scopes } => {
            let path = format!("{}/_scopemap/{}", at(&name), path_part(&group));
            call(Method::POST, path, Some(serde_json::json!(scopes))).await.map_err(describe)?;
        }
        Oauth2Command::UpdateSupScopeMap { name, group, scopes } => {
            let path = format!("{}/_sup_scopemap/{}", at(&name), path_part(&group));
            call(Method::POST, path, Some(serde_json::json!(scopes))).await.map_err(describe)?;
        }
        Oauth2Command::DeleteScopeMap { name, group } => {
            call(Method::DELETE, format!("{}/_scopemap/{}", at(&name), path_part(&group)), None)
                .await
                .map_err(describe)?;
        }
        Oauth2Command::DeleteSupScopeMap { name, group } => {
            let path = format!("{}/_sup_scopemap/{}", at(&name), path_part(&group));
            call(Method::DELETE, path, None).await.map_err(describe)?;
        }
        Oauth2Command::UpdateClaimMap { name, claim, group, values } => {
            let path = format!("{}/_claimmap/{}/{}", at(&name), path_part(&claim), path_part(&group));
            call(Method::POST, path, Some(serde_json::json!(values))).await.map_err(describe)?;
        }
        Oauth2Command::UpdateClaimMapJoin { name, claim, join } => {
            let path = format!("{}/_claimmap/{}", at(&name), path_part(&claim));
            call(Method::POST, path, Some(serde_json::json!(join))).await.map_err(describe)?;
        }
        Oauth2Command::DeleteClaimMap { name, claim, group } => {
            let path = format!("{}/_claimmap/{}/{}", at(&name), path_part(&claim), path_part(&group));
            call(Method::DELETE, path, None).await.map_err(describe)?;
        }
        Oauth2Command::SetLandingUrl { name, landing_url } => {
            patch(&name, "oauth2_rs_origin_landing", vec![landing_url]).await?;
        }
    }
    Ok(())
}

async fn group_command(client: &KanidmClient, token: &str, cmd: GroupCommand, output: Output) -> Result<(), String> {
    let call = |m: Method, path: String, body: Option<serde_json::Value>| async move {
        client.call(token, m, &path, body).await
    };
    let members_path = |g: &str| format!("/v1/group/{}/_attr/member", path_part(g));
    match cmd {
        GroupCommand::Create { name, description, managed_by } => {
            let mut pairs = vec![("name", vec![name.clone()])];
            if let Some(d) = description.filter(|d| !d.is_empty()) {
                pairs.push(("description", vec![d]));
            }
            pairs.extend(managed_by.map(|m| ("entry_managed_by", vec![m])));
            call(Method::POST, "/v1/group".into(), Some(attrs(pairs))).await.map_err(describe)?;
            println!("Created {name}");
        }
        GroupCommand::Get { name } => {
            let v = call(Method::GET, format!("/v1/group/{}", path_part(&name)), None).await.map_err(describe)?;
            print_list(serde_json::Value::Array(vec![found(v, "group", &name)?]), output)?;
        }
        GroupCommand::List { search } => {
            let path = match search.filter(|s| !s.trim().is_empty()) {
                Some(s) => format!("/v1/group/_search/{}", path_part(&s)),
                None => "/v1/group".into(),
            };
            print_list(call(Method::GET, path, None).await.map_err(describe)?, output)?;
        }
        GroupCommand::Delete { name } => {
            call(Method::DELETE, format!("/v1/group/{}", path_part(&name)), None).await.map_err(describe)?;
            println!("Deleted {name}");
        }
        GroupCommand::AddMembers { name, members } => {
            call(Method::POST, members_path(&name), Some(serde_json::json!(members))).await.map_err(describe)?;
        }
        GroupCommand::RemoveMembers { name, members } => {
            call(Method::DELETE, members_path(&name), Some(serde_json::json!(members))).await.map_err(describe)?;
        }
        GroupCommand::SetMembers { name, members } => {
            call(Method::PUT, members_path(&name), Some(serde_json::json!(members))).await.map_err(describe)?;
        }
        GroupCommand::ListMembers { name, transitive } => {
            let members: Vec<String> = if transitive {
                // Everything whose memberof includes the group: nested members too.
                let v = call(Method::GET, format!("/v1/group/{}", path_part(&name)), None).await.map_err(describe)?;
                let g = found(v, "group", &name)?;
                let uuid = g["attrs"]["uuid"][0].as_str().unwrap_or_default().to_string();
                let f = Filter::Eq("memberof".into(), uuid);
                let mut names: Vec<String> = client
                    .search(token, &f)
                    .await
                    .map_err(describe)?
                    .iter()
                    .filter_map(|e| e.get("spn").or_else(|| e.get("name")).and_then(|v| v.first()).cloned())
                    .collect();
                names.sort();
                names
            } else {
                let v = call(Method::GET, members_path(&name), None).await.map_err(describe)?;
                serde_json::from_value(v).unwrap_or_default()
            };
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&members).unwrap_or_default()),
                Output::Text => members.iter().for_each(|m| println!("{m}")),
            }
        }
    }
    Ok(())
}

/// The account whose cached session to use.
fn pick_name(cache: &TokenCache, url: &str, name: Option<&str>) -> Result<String, String> {
    if let Some(n) = name {
        return Ok(n.to_string());
    }
    let names: Vec<&String> = cache.tokens.get(url).map(|m| m.keys().collect()).unwrap_or_default();
    match names.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(format!("not logged in to {url}: run `kanidm login -H {url} -D NAME`")),
        many => Err(format!(
            "sessions for several accounts are cached ({}): choose one with -D NAME",
            many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn describe(e: ClientError) -> String {
    match &e {
        ClientError::Api { status: 401, .. } => format!("{e} — log in again with `kanidm login`"),
        ClientError::Api { status: 403, .. } => format!("{e} — the account lacks the rights for this"),
        _ => e.to_string(),
    }
}
