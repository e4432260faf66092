//! `kanidm person credential update NAME`: a credential update session driven from a terminal
//! (or from lines on standard input): set the password, enrol a TOTP (its secret shown as a QR
//! code, an `otpauth://` URI and in base32), remove one, generate or remove backup codes, then
//! commit all of it at once or cancel. Every change is the server's to check; this only asks
//! and shows.

use idm_client::{ClientError, KanidmClient};
use idm_proto::credupdate::{CURegState, CURequest, CUSessionToken, CUStatus, CredentialDetailType, TotpSecret};
use std::io::{BufRead, IsTerminal, Write};

const HELP: &str = "\
  password (pw)              set a new password
  totp                       enrol a TOTP authenticator app
  totp-remove LABEL (trm)    remove a TOTP
  backup-codes (bcg)         generate single-use backup codes (replacing any)
  backup-codes-remove        remove the backup codes
  passkey-remove UUID (pkrm) remove a passkey
  status (st)                what will be saved
  commit (save)              save every change and end
  cancel (quit, q)           end without saving";

/// What a person typed at the prompt.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    Password,
    Totp,
    TotpRemove(String),
    BackupCodes,
    BackupCodesRemove,
    PasskeyRemove(uuid::Uuid),
    Status,
    Commit,
    Cancel,
    Help,
}

fn parse(line: &str) -> Option<Action> {
    let (word, rest) = line.trim().split_once(' ').map(|(w, r)| (w, r.trim())).unwrap_or((line.trim(), ""));
    Some(match (word.to_lowercase().as_str(), rest) {
        ("password" | "pw", "") => Action::Password,
        ("totp", "") => Action::Totp,
        ("totp-remove" | "trm", label) if !label.is_empty() => Action::TotpRemove(label.to_string()),
        ("backup-codes" | "bcg", "") => Action::BackupCodes,
        ("backup-codes-remove", "") => Action::BackupCodesRemove,
        ("passkey-remove" | "pkrm", id) => Action::PasskeyRemove(id.parse().ok()?),
        ("status" | "st", "") => Action::Status,
        ("commit" | "save", "") => Action::Commit,
        ("cancel" | "quit" | "q", "") => Action::Cancel,
        ("help" | "?", "") => Action::Help,
        _ => return None,
    })
}

/// Reads one line; `None` at the end of input.
fn read_line(prompt: &str) -> Result<Option<String>, String> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let n = std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("cannot read: {e}"))?;
    Ok((n > 0).then(|| line.trim_end_matches(['\n', '\r']).to_string()))
}

/// A new password: asked twice on a terminal, else the next line of input.
fn read_password() -> Result<Option<String>, String> {
    if !std::io::stdin().is_terminal() {
        return read_line("New password: ");
    }
    let a = rpassword::prompt_password("New password: ").map_err(|e| format!("cannot read the password: {e}"))?;
    let b = rpassword::prompt_password("Repeat it: ").map_err(|e| format!("cannot read the password: {e}"))?;
    if a != b {
        eprintln!("The two passwords differ; nothing was changed.");
        return Ok(None);
    }
    Ok(Some(a))
}

fn show_status(st: &CUStatus) {
    println!("Credentials of {} ({}):", st.spn, st.displayname);
    match st.primary.as_ref().map(|p| &p.type_) {
        None => println!("  password: not set"),
        Some(CredentialDetailType::Password) => println!("  password: set"),
        Some(CredentialDetailType::GeneratedPassword) => println!("  password: generated (choose your own)"),
        Some(CredentialDetailType::PasswordMfa(totp, _, codes)) => {
            println!("  password: set");
            println!("  TOTP: {}", totp.join(", "));
            println!("  backup codes left: {codes}");
        }
        Some(CredentialDetailType::Passkey(labels)) => println!("  passkeys: {}", labels.join(", ")),
    }
    for p in &st.passkeys {
        println!("  passkey: {} ({})", p.tag, p.uuid);
    }
    for w in &st.warnings {
        println!("  warning: {w:?}");
    }
    println!("  changes to save: {}", if st.dirty { "yes" } else { "none" });
}

/// `data` as a QR code drawn with block characters (light on dark, as terminals show best), or
/// `None` (with a note on standard error) when it cannot be drawn.
pub fn terminal_qr(data: &str) -> Option<String> {
    match qrcode::QrCode::new(data.as_bytes()) {
        Ok(code) => Some(
            code.render::<qrcode::render::unicode::Dense1x2>()
                .dark_color(qrcode::render::unicode::Dense1x2::Light)
                .light_color(qrcode::render::unicode::Dense1x2::Dark)
                .build(),
        ),
        Err(e) => {
            eprintln!("(cannot draw a QR code: {e})");
            None
        }
    }
}

/// The secret as an authenticator app takes it: a QR code, the URI, and base32 to type in.
fn show_totp_secret(secret: &TotpSecret) {
    let uri = secret.uri();
    if let Some(image) = terminal_qr(&uri) {
        println!("Scan this QR code with your authenticator app:\n{image}");
    }
    println!("URI: {uri}");
    println!("Secret: {}", secret.base32());
    println!("Algorithm {}, {} digits, every {} s", secret.algo.uri_name(), secret.digits, secret.step);
}

/// Enrols a TOTP: the server's secret, then a label and a code from the app (three tries).
async fn enrol_totp(client: &KanidmClient, cu: &CUSessionToken) -> Result<(), String> {
    let st = client.cu_update(cu, &CURequest::TotpGenerate).await.map_err(describe)?;
    let CURegState::TotpCheck(secret) = st.mfaregstate else {
        return Err("the server did not start a TOTP enrolment".into());
    };
    show_totp_secret(&secret);
    let Some(mut label) = read_line("Label for this authenticator: ")? else { return Ok(()) };
    for _ in 0..3 {
        let Some(code) = read_line("Code shown by the app (or cancel): ")? else { break };
        if code.trim().eq_ignore_ascii_case("cancel") {
            break;
        }
        let Ok(n) = code.trim().parse::<u32>() else {
            eprintln!("A code is six digits.");
            continue;
        };
        let st = client.cu_update(cu, &CURequest::TotpVerify(n, label.clone())).await.map_err(describe)?;
        match st.mfaregstate {
            CURegState::None => {
                println!("TOTP '{label}' added (saved at commit).");
                return Ok(());
            }
            CURegState::TotpNameTryAgain(why) => {
                eprintln!("That label cannot be used: {why}.");
                label = read_line("Another label: ")?.unwrap_or_default();
            }
            _ => eprintln!("That code is not right; try the next one the app shows."),
        }
    }
    client.cu_update(cu, &CURequest::CancelMfaReg).await.map_err(describe)?;
    println!("TOTP enrolment cancelled.");
    Ok(())
}

fn describe(e: ClientError) -> String {
    e.to_string()
}

/// Runs the session until commit, cancel or the end of input (which cancels).
pub async fn run(client: &KanidmClient, cu: CUSessionToken, first: CUStatus) -> Result<(), String> {
    show_status(&first);
    println!("Type a command (? for help).");
    loop {
        let Some(line) = read_line("credential update> ")? else {
            client.cu_end(&cu, false).await.map_err(describe)?;
            return Err("input ended before commit; nothing was changed".into());
        };
        if line.trim().is_empty() {
            continue;
        }
        let Some(action) = parse(&line) else {
            eprintln!("Unknown command '{}'. Commands:\n{HELP}", line.trim());
            continue;
        };
        // A refused change is reported and the session goes on; only commit ends it.
        let done = match action {
            Action::Help => {
                println!("{HELP}");
                Ok(false)
            }
            Action::Status => client.cu_status(&cu).await.map(|st| show_status(&st)).map(|_| false).map_err(describe),
            Action::Password => match read_password()? {
                Some(pw) => client
                    .cu_update(&cu, &CURequest::Password(pw))
                    .await
                    .map(|_| println!("Password set (saved at commit)."))
                    .map(|_| false)
                    .map_err(describe),
                None => Ok(false),
            },
            Action::Totp => enrol_totp(client, &cu).await.map(|_| false),
            Action::TotpRemove(label) => client
                .cu_update(&cu, &CURequest::TotpRemove(label.clone()))
                .await
                .map(|_| println!("TOTP '{label}' removed (saved at commit)."))
                .map(|_| false)
                .map_err(describe),
            Action::BackupCodes => match client.cu_update(&cu, &CURequest::BackupCodeGenerate).await {
                Ok(CUStatus { mfaregstate: CURegState::BackupCodes(codes), .. }) => {
                    println!("Backup codes (each works once; they are shown only now):");
                    for c in codes {
                        println!("  {c}");
                    }
                    Ok(false)
                }
                Ok(_) => Err("the server sent no backup codes".into()),
                Err(e) => Err(describe(e)),
            },
            Action::PasskeyRemove(id) => client
                .cu_update(&cu, &CURequest::PasskeyRemove(id))
                .await
                .map(|_| println!("Passkey {id} removed (saved at commit)."))
                .map(|_| false)
                .map_err(describe),
            Action::BackupCodesRemove => client
                .cu_update(&cu, &CURequest::BackupCodeRemove)
                .await
                .map(|_| println!("Backup codes removed (saved at commit)."))
                .map(|_| false)
                .map_err(describe),
            Action::Commit => {
                client.cu_end(&cu, true).await.map(|_| println!("Saved.")).map(|_| true).map_err(describe)
            }
            Action::Cancel => {
                client.cu_end(&cu, false).await.map_err(describe)?;
                println!("Cancelled; nothing was changed.");
                return Ok(());
            }
        };
        match done {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => eprintln!("Error: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_their_short_forms() {
        assert_eq!(parse("pw"), Some(Action::Password));
        assert_eq!(parse(" trm  work phone "), Some(Action::TotpRemove("work phone".into())));
        assert_eq!(parse("trm"), None, "remove needs a label");
        assert_eq!(parse("SAVE"), Some(Action::Commit));
        assert_eq!(parse("totp now"), None);
    }
}
