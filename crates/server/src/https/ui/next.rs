//! Where a browser goes after signing in: the `next` a page was asked for, only when it is a
//! page of this server's UI. Anything else (another site, `//host`, `/\host`, a scheme,
//! control characters, percent-encoded path segments that a browser would decode into `..`,
//! something very long) is refused and the profile is shown instead, so a link cannot use the
//! sign-in page to send people elsewhere.

use tracing::warn;

/// Where to go when no (acceptable) `next` is given.
pub const DEFAULT: &str = "/ui/profile";
const MAX_LEN: usize = 1024;

/// `next` if it is a path of the UI, else `None`.
pub fn checked(next: &str) -> Option<&str> {
    let ok = next.len() <= MAX_LEN
        && next.starts_with("/ui/")
        && next.bytes().all(|b| b.is_ascii_graphic())
        && !next.contains('\\')
        && !next.contains("//")
        && path_of(next).bytes().all(|b| b != b'%')
        && !path_of(next).split('/').any(|seg| seg == ".." || seg == ".");
    ok.then_some(next)
}

fn path_of(next: &str) -> &str {
    next.split(['?', '#']).next().unwrap_or_default()
}

/// `next` if acceptable, else the default (a refusal is logged: someone may be trying).
pub fn or_default(next: Option<&str>) -> String {
    match next.filter(|n| !n.is_empty()) {
        None => DEFAULT.to_string(),
        Some(n) => match checked(n) {
            Some(ok) => ok.to_string(),
            None => {
                warn!(next = %n.chars().take(200).collect::<String>(), "return path refused: not a page of this server");
                DEFAULT.to_string()
            }
        },
    }
}

/// The sign-in page, returning to `here` afterwards.
pub fn login_then(here: &str) -> String {
    match checked(here) {
        Some(h) if h != DEFAULT => format!("/ui/login?next={}", encode(h)),
        _ => "/ui/login".to_string(),
    }
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pages_of_the_ui() {
        for ok in ["/ui/profile", "/ui/credentials", "/ui/profile?x=1"] {
            assert_eq!(checked(ok), Some(ok), "{ok}");
        }
        for bad in [
            "https://evil.example/",
            "//evil.example/ui/",
            "/\\evil.example",
            "/ui/\\evil",
            "/ui//evil.example",
            "/ui/../v1/self",
            "/ui/./x",
            "/ui/%2e%2e/v1/self",
            "/ui/%2E%2E/v1/self",
            "javascript:alert(1)",
            "/ui/\nx",
            "/ui/ x",
            "/v1/self",
            "ui/profile",
            "",
            "/ui/caf\u{e9}",
        ] {
            assert_eq!(checked(bad), None, "{bad:?}");
        }
        assert_eq!(checked(&format!("/ui/{}", "a".repeat(MAX_LEN))), None);
        assert_eq!(or_default(Some("https://evil.example")), DEFAULT);
        assert_eq!(or_default(None), DEFAULT);
        assert_eq!(or_default(Some("/ui/credentials")), "/ui/credentials");
        assert_eq!(login_then("/ui/credentials"), "/ui/login?next=/ui/credentials");
        assert_eq!(login_then("/ui/profile"), "/ui/login");
        assert_eq!(login_then("/ui/x?a=b&c"), "/ui/login?next=/ui/x%3Fa%3Db%26c");
    }
}
