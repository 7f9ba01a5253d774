//! [`Timestamp`]: a point in time at the store's precision, microseconds
//! since the Unix epoch, UTC. Above the store, times are `Timestamp`s or
//! `OffsetDateTime`s cut to microseconds by [`Timestamp::truncate`], never
//! bare integers; the rounding is written here once.

use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Microseconds since the Unix epoch. Serialised as that integer, so the
/// records that hold one keep the encoding a bare `i64` had.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// Now, cut to microseconds.
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    /// `t` cut (towards the past) to whole microseconds.
    pub fn from_datetime(t: OffsetDateTime) -> Self {
        let micros = t.unix_timestamp_nanos().div_euclid(1000);
        Self(i64::try_from(micros).unwrap_or(if micros < 0 { i64::MIN } else { i64::MAX }))
    }

    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    /// The same instant as a date and time; `None` past the range `time`
    /// represents (only a corrupt record holds such a value).
    pub fn to_datetime(self) -> Option<OffsetDateTime> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1000).ok()
    }

    /// How long after `earlier` this is (zero if it is not after it).
    pub fn duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    /// `d` later, saturating.
    pub fn after(self, d: Duration) -> Self {
        Self(
            self.0
                .saturating_add(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
        )
    }

    /// `d` earlier, saturating.
    pub fn before(self, d: Duration) -> Self {
        Self(
            self.0
                .saturating_sub(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
        )
    }

    /// RFC 3339 in UTC, or an empty string for a time out of range.
    pub fn rfc3339(self) -> String {
        self.to_datetime()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default()
    }

    /// `t` cut to whole microseconds: what the store keeps, so a value
    /// returned equals the same value read back.
    pub fn truncate(t: OffsetDateTime) -> OffsetDateTime {
        t.replace_nanosecond(t.nanosecond() / 1000 * 1000)
            .expect("rounding down nanoseconds stays in range")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_at_microsecond_precision() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        let ts = Timestamp::from_datetime(t);
        assert_eq!(ts.micros(), 1_700_000_000_123_456);
        assert_eq!(ts.to_datetime(), Some(Timestamp::truncate(t)));
        let before = OffsetDateTime::from_unix_timestamp_nanos(-1_500).unwrap();
        assert_eq!(Timestamp::from_datetime(before).micros(), -2);
        assert_eq!(Timestamp::from_micros(i64::MAX).to_datetime(), None);
        assert_eq!(Timestamp::from_micros(i64::MAX).rfc3339(), "");
        assert_eq!(
            Timestamp::from_micros(1)
                .after(Duration::from_secs(1))
                .micros(),
            1_000_001
        );
    }

    #[test]
    fn encodes_as_a_bare_integer_does() {
        let v = 1_700_000_000_123_456i64;
        assert_eq!(
            postcard::to_allocvec(&Timestamp::from_micros(v)).unwrap(),
            postcard::to_allocvec(&v).unwrap()
        );
    }
}
