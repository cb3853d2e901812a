//! UTC timestamps as RFC 3339 text (`2026-11-23T13:22:25Z`), without a
//! date-time dependency: records need only whole seconds, ordering and
//! arithmetic. Also the clock that leases and records read, injectable so
//! tests can move time instead of waiting for it.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Whole seconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    pub fn now() -> Self {
        Self(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        )
    }

    pub fn from_unix(secs: u64) -> Self {
        Self(secs)
    }

    pub fn unix(self) -> u64 {
        self.0
    }

    pub fn plus(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d.as_secs()))
    }

    /// How long after `earlier` this is (zero if it is not later).
    pub fn since(self, earlier: Self) -> Duration {
        Duration::from_secs(self.0.saturating_sub(earlier.0))
    }

    /// `2026-11-23 13:22 UTC`, for people.
    pub fn human(self) -> String {
        let s = self.to_string();
        format!("{} {} UTC", &s[..10], &s[11..16])
    }

    /// Parses exactly the form [`Display`](fmt::Display) writes.
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
            || b[19] != b'Z'
        {
            return None;
        }
        let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u64>().ok();
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&mo)
            || d == 0
            || d > days_in_month(y, mo)
            || h > 23
            || mi > 59
            || sec > 59
            || y < 1970
        {
            return None;
        }
        let days = days_from_civil(y, mo, d);
        Some(Self(days * 86_400 + h * 3_600 + mi * 60 + sec))
    }
}

/// Where the lifecycle reads the time and waits. Leases expire by the
/// wall clock (they are compared across machines); waits are measured on a
/// monotonic clock so a wall-clock step cannot stretch or cut them.
pub trait Clock: Send + Sync {
    /// The wall-clock time, for records and lease expiry.
    fn now(&self) -> Timestamp;
    /// Time since an arbitrary fixed point, for measuring waits.
    fn elapsed(&self) -> Duration;
    fn sleep(&self, d: Duration);
}

/// The machine's own clock, optionally set to another time (a testing
/// hook): it then runs at the machine's pace from there.
#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
    /// Seconds added to the machine's time.
    offset: i64,
}

impl Default for SystemClock {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            offset: 0,
        }
    }
}

impl SystemClock {
    /// A clock that reads `start` now and runs on from there.
    pub fn starting_at(start: Timestamp) -> Self {
        let signed = |t: Timestamp| i64::try_from(t.unix()).unwrap_or(i64::MAX);
        Self {
            origin: Instant::now(),
            offset: signed(start).saturating_sub(signed(Timestamp::now())),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let now = Timestamp::now().unix();
        Timestamp(now.saturating_add_signed(self.offset))
    }

    fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }

    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// A clock that only moves when told to, or when someone sleeps on it:
/// `sleep` returns at once, having moved the time forward. For tests.
#[derive(Debug)]
pub struct ManualClock {
    millis: Mutex<u64>,
}

impl ManualClock {
    pub fn at(t: Timestamp) -> Self {
        Self {
            millis: Mutex::new(t.unix().saturating_mul(1_000)),
        }
    }

    pub fn advance(&self, d: Duration) {
        let mut m = self
            .millis
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *m = m.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    }

    fn millis(&self) -> u64 {
        *self
            .millis
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.millis() / 1_000)
    }

    fn elapsed(&self) -> Duration {
        Duration::from_millis(self.millis())
    }

    fn sleep(&self, d: Duration) {
        self.advance(d);
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d) = civil_from_days(self.0 / 86_400);
        let s = self.0 % 86_400;
        write!(
            f,
            "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
            s / 3_600,
            s % 3_600 / 60,
            s % 60
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| {
            serde::de::Error::invalid_value(
                serde::de::Unexpected::Str(&s),
                &"a UTC time like 2026-11-23T13:22:25Z",
            )
        })
    }
}

fn is_leap(y: u64) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's civil calendar algorithms, for dates from 1970 on.
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: u64) -> (u64, u64, u64) {
    let z = z + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_instants() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(1_795_353_745).to_string(), "2026-11-22T13:22:25Z");
        assert_eq!(
            Timestamp::parse("2024-02-29T23:59:59Z"),
            Some(Timestamp(1_709_251_199))
        );
        assert_eq!(Timestamp::parse("2023-02-29T00:00:00Z"), None);
        assert_eq!(Timestamp::parse("2026-11-23 07:22:25Z"), None);
    }

    proptest! {
        #[test]
        fn display_and_parse_round_trip(secs in 0u64..8_000_000_000) {
            let t = Timestamp(secs);
            prop_assert_eq!(Timestamp::parse(&t.to_string()), Some(t));
        }
    }
}
