//! The page shell and the small pieces every page uses. Everything a page loads comes from
//! this server (`/ui/static/`); maud escapes every value put into the HTML.

use maud::{DOCTYPE, Markup, html};

/// A whole page: `title`, the navigation (with sign-out for a signed-in browser) and `body`.
pub fn page(title: &str, signed_in: bool, csrf: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " — Identity" }
                link rel="stylesheet" href="/ui/static/style.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.bar {
                    a.brand href="/ui/profile" { "Identity" }
                    @if signed_in {
                        nav aria-label="Account" {
                            a href="/ui/profile" { "Profile" }
                            form.inline method="post" action="/ui/logout" {
                                (csrf_field(csrf))
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main {
                    (body)
                }
            }
        }
    }
}

/// The hidden field every form repeats its CSRF token in.
pub fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// A card telling what went wrong, with a way back.
pub fn problem(msg: &str) -> Markup {
    html! {
        section.card {
            h1 { "Something is not right" }
            (error(Some(msg)))
            p { a href="/ui/profile" { "Back to your profile" } " · " a href="/ui/login" { "Sign in" } }
        }
    }
}

/// An error message, announced to screen readers when it appears.
pub fn error(msg: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = msg {
            p.error role="alert" { (sentence(m)) }
        }
    }
}

/// A message of the identity layer (written to be read in a log or a terminal too) as a
/// sentence: a capital first letter and a full stop.
pub fn sentence(msg: &str) -> String {
    let msg = msg.trim();
    let mut chars = msg.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// A message that something went well.
pub fn notice(msg: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = msg {
            p.notice role="status" { (m) }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_become_sentences() {
        assert_eq!(super::sentence("incorrect code; wait"), "Incorrect code; wait.");
        assert_eq!(super::sentence("Done."), "Done.");
        assert_eq!(super::sentence(""), "");
    }
}
