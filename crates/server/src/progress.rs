//! Progress for long operations: a bar with rate and ETA on a terminal, periodic log lines
//! otherwise.

use idm_core::be::Progress;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};
use tracing::info;

pub enum Reporter {
    Bar(Option<ProgressBar>),
    Log { what: String, total: u64, done: u64, started: Instant, last: Instant },
}

impl Reporter {
    /// A bar when stderr is a terminal, log lines otherwise.
    pub fn new() -> Reporter {
        if std::io::stderr().is_terminal() { Reporter::Bar(None) } else { Reporter::log() }
    }

    fn log() -> Reporter {
        let now = Instant::now();
        Reporter::Log { what: String::new(), total: 0, done: 0, started: now, last: now }
    }
}

impl Default for Reporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for Reporter {
    fn start(&mut self, what: &str, total: u64) {
        match self {
            Reporter::Bar(bar) => {
                let b = ProgressBar::new(total);
                let style =
                    ProgressStyle::with_template("{msg:>24} [{bar:40}] {pos}/{len} entries ({per_sec}, ETA {eta})")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> ");
                b.set_style(style);
                b.set_message(what.to_string());
                *bar = Some(b);
            }
            Reporter::Log { what: w, total: t, done, started, last } => {
                *w = what.to_string();
                *t = total;
                *done = 0;
                *started = Instant::now();
                *last = *started;
                info!("{what}: {total} entries");
            }
        }
    }

    fn advance(&mut self, n: u64) {
        match self {
            Reporter::Bar(Some(b)) => b.inc(n),
            Reporter::Bar(None) => {}
            Reporter::Log { what, total, done, started, last } => {
                *done += n;
                if last.elapsed() >= Duration::from_secs(2) {
                    *last = Instant::now();
                    let rate = *done as f64 / started.elapsed().as_secs_f64().max(1e-3);
                    let eta = total.saturating_sub(*done) as f64 / rate.max(1e-3);
                    info!("{what}: {done}/{total} entries ({rate:.0}/s, about {eta:.0}s left)");
                }
            }
        }
    }

    fn finish(&mut self) {
        match self {
            Reporter::Bar(b) => {
                if let Some(b) = b.take() {
                    b.finish_and_clear();
                }
            }
            Reporter::Log { what, done, started, .. } => {
                info!("{what}: done, {done} entries in {:.1}s", started.elapsed().as_secs_f64());
            }
        }
    }
}
