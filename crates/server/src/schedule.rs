//! Online-backup schedules: cron expressions in UTC.
//!
//! Accepts the document's 5-field form (`00 22 * * *`), 6 and 7-field forms with seconds and
//! years, and `@hourly`/`@daily`/`@weekly`-style names. Day-of-week numbers follow the 2022
//! server (1–7 = Sunday–Saturday), so existing configurations keep their meaning.

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    text: String,
}

impl Schedule {
    /// Parses `text` and checks that it fires at least once in the future.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Optional)
            .alternative_weekdays(true)
            .build()
            .parse(text)
            .map_err(|e| {
                format!("'{text}' is not a cron schedule: {e} (example: \"00 22 * * *\" for 22:00 UTC daily)")
            })?;
        let s = Schedule { cron, text: text.to_string() };
        if s.next_after(Utc::now()).is_none() {
            return Err(format!("'{text}' never fires"));
        }
        Ok(s)
    }

    /// The first time strictly after `t` that the schedule fires.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&t, false).ok()
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The schedule in words, for logs.
    pub fn describe(&self) -> String {
        self.cron.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn next(text: &str) -> DateTime<Utc> {
        let from = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        Schedule::parse(text).unwrap().next_after(from).unwrap()
    }

    #[test]
    fn forms_and_semantics() {
        // The same answers the 2022 server's parser gave for these expressions.
        assert_eq!(next("00 22 * * *"), Utc.with_ymd_and_hms(2026, 11, 28, 22, 0, 0).unwrap());
        assert_eq!(next("0 3 * * 1"), Utc.with_ymd_and_hms(2026, 11, 29, 3, 0, 0).unwrap());
        assert_eq!(next("*/15 * * * *"), Utc.with_ymd_and_hms(2026, 11, 28, 12, 15, 0).unwrap());
        assert_eq!(next("30 0 22 * * *"), Utc.with_ymd_and_hms(2026, 11, 28, 22, 0, 30).unwrap());
        assert_eq!(next("@daily"), Utc.with_ymd_and_hms(2026, 11, 29, 0, 0, 0).unwrap());
        assert_eq!(next("@hourly"), Utc.with_ymd_and_hms(2026, 11, 28, 13, 0, 0).unwrap());
        for bad in ["", "every day", "61 * * * *", "* * 31 2 *"] {
            assert!(Schedule::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
