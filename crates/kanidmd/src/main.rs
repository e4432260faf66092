//! `kanidmd`: the identity server daemon and its offline administration commands.
//!
//! This binary only parses arguments, sets up logging, calls [`idm_server`] and prints the
//! outcome. Every failure exits non-zero with a message that says what to do.

use clap::{Parser, Subcommand};
use idm_identity::password::PasswordParams;
use idm_server::offline::{AdminError, Offline};
use idm_server::progress::Reporter;
use idm_server::{ServerConfig, config::LogLevel};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc returns memory to the system readily and frees across threads cheaply, which
/// matters for bulk operations that decode on one thread and index on another.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(name = "kanidmd", version, about = "Kanidm-compatible identity server")]
struct Cli {
    /// Path to server.toml.
    #[arg(short = 'c', long = "config", env = "KANIDM_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Log debug detail (overrides log_level; RUST_LOG overrides both).
    #[arg(short = 'd', long = "debug", global = true)]
    debug: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the HTTPS API on bindaddress until stopped (Ctrl-C or SIGTERM).
    Server,
    /// Create a development CA and server certificate at tls_chain/tls_key (CA: ca.pem beside them).
    #[command(name = "cert_generate", alias = "cert-generate")]
    CertGenerate,
    /// Write the database's entries to a backup file (server stopped).
    Backup {
        /// Where to write; default: a timestamped file in [online_backup] path or beside the database.
        file: Option<PathBuf>,
    },
    /// Replace the database with a backup (server stopped). Without FILE, lists the backups found.
    Restore { file: Option<PathBuf> },
    /// Check the database's consistency; exits non-zero if any problem is found.
    Verify,
    /// Rebuild every index declared in the schema.
    Reindex,
    /// Reclaim free space and apply the page size of db_fs_type.
    Vacuum,
    /// Rename the domain to `domain` from server.toml (or NAME), regenerating every SPN.
    #[command(name = "domain_name_change", alias = "domain-name-change")]
    DomainNameChange {
        #[arg(short = 'n', long = "name")]
        name: Option<String>,
        /// Show what the rename would change (SPNs, passkeys and the accounts holding them)
        /// without changing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Set a new random password on an account and print it once.
    #[command(name = "recover_account", alias = "recover-account")]
    RecoverAccount {
        /// The account (name, spn or uuid).
        name: Option<String>,
        #[arg(short = 'n', long = "name", conflicts_with = "name")]
        name_flag: Option<String>,
    },
}

fn init_logging(level: LogLevel, debug: bool) {
    let default = if debug { "debug" } else { level.as_filter() };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(config_path) = cli.config.clone() else {
        eprintln!("Error: no configuration given: pass -c /path/to/server.toml or set KANIDM_CONFIG");
        return ExitCode::from(2);
    };
    let config = match ServerConfig::load(&config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(config.log_level, cli.debug);
    match run(cli.command, config) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command, config: ServerConfig) -> Result<ExitCode, AdminError> {
    match command {
        Command::Server => return serve(config),
        Command::CertGenerate => return cert_generate(&config),
        _ => {}
    }
    let offline = Offline::new(config);
    match command {
        Command::Server | Command::CertGenerate => unreachable!("handled above"),
        Command::Backup { file } => {
            let (path, n) = offline.backup(file, &mut Reporter::new())?;
            println!("Backup of {n} entries written to {}", path.display());
        }
        Command::Restore { file: None } => {
            let found = offline.list_backups();
            if found.is_empty() {
                eprintln!("No backup file given, and no backups found in {}.", offline.config.backup_dir().display());
            } else {
                eprintln!("No backup file given. Backups found (oldest first):");
                for f in &found {
                    let size = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
                    eprintln!("  {}  ({size} bytes)", f.display());
                }
                eprintln!("Restore one with: kanidmd restore -c {} FILE", offline.config.path.display());
            }
            return Ok(ExitCode::FAILURE);
        }
        Command::Restore { file: Some(file) } => {
            let r = offline.restore(&file, &mut Reporter::new())?;
            println!("Restored {} entries from {}.", r.entries, file.display());
            if r.memberof_fixed > 0 {
                println!("Recomputed group membership (memberOf) for {} entries.", r.memberof_fixed);
            }
            if let Some(p) = r.previous {
                println!("The previous database was kept as {}; delete it once you no longer need it.", p.display());
            }
        }
        Command::Verify => {
            let report = offline.verify(&mut Reporter::new())?;
            for w in &report.warnings {
                println!("WARNING: {w}");
            }
            for e in &report.errors {
                println!("ERROR: {e}");
            }
            if !report.is_clean() {
                println!("Verification failed: {} problems in {} entries.", report.errors.len(), report.entries);
                return Ok(ExitCode::FAILURE);
            }
            println!("Verification passed: {} entries checked.", report.entries);
        }
        Command::Reindex => {
            let n = offline.reindex(&mut Reporter::new())?;
            println!("Reindexed {n} entries.");
        }
        Command::Vacuum => {
            let (before, after) = offline.vacuum()?;
            println!(
                "Vacuum complete: {before} bytes before, {after} bytes after (page size {}).",
                offline.config.page_size()
            );
        }
        Command::DomainNameChange { name, dry_run } => {
            let renamed = offline.domain_name_change(name.as_deref(), Box::new(Reporter::new()), |plan| {
                println!("Renaming domain '{}' to '{}'.", plan.old_name, plan.new_name);
                println!("  {} security principal names (SPNs) will be regenerated.", plan.spns);
                println!(
                    "  {} passkey (WebAuthn) credentials are bound to the old name and will stop working.",
                    plan.passkeys
                );
                if !plan.affected.is_empty() {
                    println!(
                        "  Accounts that will need a reset link to enrol new passkeys: {}",
                        plan.affected.join(", ")
                    );
                }
                !dry_run
            })?;
            if dry_run {
                println!("Dry run: nothing was changed.");
                return Ok(ExitCode::SUCCESS);
            }
            match renamed {
                Some(plan) => {
                    println!("Domain renamed to '{}'.", plan.new_name);
                    if offline.config.domain.as_deref().map(str::to_lowercase) != Some(plan.new_name.clone()) {
                        println!("Set domain = \"{}\" in server.toml before starting the server.", plan.new_name);
                    }
                    println!("Update origin in server.toml if it names the old domain.");
                }
                None => println!("The domain already has that name; nothing to change."),
            }
        }
        Command::RecoverAccount { name, name_flag } => {
            let Some(name) = name.or(name_flag) else {
                eprintln!("Error: name the account to recover, e.g. `kanidmd recover_account -c server.toml admin`");
                return Ok(ExitCode::from(2));
            };
            let password = offline.recover_account(&name, &PasswordParams::default())?;
            println!("New password for {name}: {password}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(config: ServerConfig) -> Result<ExitCode, AdminError> {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    runtime.block_on(async {
        // Listen for stop signals before announcing the address, so a stop that follows at
        // once is never lost to the default action.
        let stop = match StopSignals::new() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("Error: cannot listen for stop signals: {e}");
                return Ok(ExitCode::FAILURE);
            }
        };
        let (running, served) = match idm_server::https::start(&config).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("Error: {e}");
                return Ok(ExitCode::FAILURE);
            }
        };
        eprintln!("kanidmd listening on https://{}", running.addr);
        stop.wait().await;
        tracing::info!("stopping");
        if let Err(e) = running.shutdown(served).await {
            eprintln!("Error: {e}");
            return Ok(ExitCode::FAILURE);
        }
        Ok(ExitCode::SUCCESS)
    })
}

struct StopSignals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn new() -> std::io::Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignals { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn cert_generate(config: &ServerConfig) -> Result<ExitCode, AdminError> {
    let (Some(chain), Some(key)) = (&config.tls_chain, &config.tls_key) else {
        eprintln!(
            "Error: set tls_chain and tls_key in {} to say where the certificate and key go",
            config.path.display()
        );
        return Ok(ExitCode::FAILURE);
    };
    let mut hosts = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if let Some(d) = &config.domain {
        hosts.push(d.to_lowercase());
    }
    if let Some(host) =
        config.origin.as_deref().and_then(|o| o.strip_prefix("https://")).and_then(|r| r.split(['/', ':']).next())
    {
        hosts.push(host.to_lowercase());
    }
    hosts.dedup();
    match idm_server::tls::write_dev_certs(chain, key, &hosts) {
        Ok(ca) => {
            println!(
                "Development certificates written: chain {}, key {}, CA {}",
                chain.display(),
                key.display(),
                ca.display()
            );
            println!("Clients trust the server with: -C {}", ca.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("Error: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
