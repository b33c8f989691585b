//! Durations in scenario files are the real products' durations (Cloudflare
//! cuts idle WebSockets after `100s`). A run compresses them by one factor so
//! a 100 s timeout is tested in about a second, while keeping every ratio
//! between timeouts and idle periods intact.

use std::time::Duration;

/// Multiplies scenario durations before they reach a timer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeScale(f64);

impl TimeScale {
    /// 100 s of scenario time take one second of wall time.
    pub const DEFAULT: TimeScale = TimeScale(0.01);

    /// Real time, for running a mock in front of real clients by hand.
    pub const REAL: TimeScale = TimeScale(1.0);

    /// A factor in (0, 1000]; anything else is not a scale a run can use.
    pub fn new(factor: f64) -> Option<TimeScale> {
        (factor.is_finite() && factor > 0.0 && factor <= 1000.0).then_some(TimeScale(factor))
    }

    pub fn factor(self) -> f64 {
        self.0
    }

    /// The wall-clock duration that stands for `scenario_time`.
    pub fn apply(self, scenario_time: Duration) -> Duration {
        scenario_time.mul_f64(self.0)
    }
}

impl Default for TimeScale {
    fn default() -> Self {
        TimeScale::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scale_turns_a_hundred_seconds_into_one() {
        assert_eq!(
            TimeScale::DEFAULT.apply(Duration::from_secs(100)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn rejects_scales_that_stop_or_reverse_time() {
        assert!(TimeScale::new(0.0).is_none());
        assert!(TimeScale::new(-1.0).is_none());
        assert!(TimeScale::new(f64::NAN).is_none());
        assert_eq!(TimeScale::new(0.5).map(TimeScale::factor), Some(0.5));
    }
}
