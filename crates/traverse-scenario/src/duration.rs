//! Durations as people write them in scenario files: `"100s"`, `"250ms"`,
//! `"1.5s"`, `"2m"`, `"1h"`, or a sum such as `"1m30s"`.

use std::time::Duration;

const UNITS: [(&str, f64); 4] = [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)];

/// Parses a human duration; the error says what was wrong and shows the form.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let hint = "expected a number with a unit (ms, s, m, h), like \"100s\", \"250ms\" or \"1m30s\"";
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!("empty duration: {hint}"));
    }
    let mut rest = trimmed;
    let mut total = 0.0_f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("bad duration \"{text}\": {hint}"))?;
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after_unit) = after.split_at(unit_len);
        let seconds_per_unit = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, factor)| *factor)
            .ok_or_else(|| {
                if unit.is_empty() && after.is_empty() {
                    format!("duration \"{text}\" has no unit: {hint}")
                } else if unit.is_empty() {
                    // Something other than a unit follows the number, such
                    // as the space in "10 s": the text is not a duration.
                    format!("bad duration \"{text}\": {hint}")
                } else {
                    format!("duration \"{text}\" has an unknown unit \"{unit}\": {hint}")
                }
            })?;
        total += value * seconds_per_unit;
        rest = after_unit;
    }
    if total > 365.0 * 86_400.0 {
        return Err(format!("duration \"{text}\" is longer than a year"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// The inverse of [`parse_duration`] for display: `100s`, `250ms`, `1.5s`.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis % 1000 == 0 {
        format!("{}s", millis / 1000)
    } else if millis < 1000 {
        format!("{millis}ms")
    } else {
        format!("{}s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_forms_people_write() {
        let cases = [
            ("100s", 100_000),
            ("250ms", 250),
            ("1.5s", 1_500),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("1m30s", 90_000),
        ];
        for (text, millis) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(millis)),
                "{text}"
            );
        }
    }

    #[test]
    fn explains_what_is_wrong() {
        assert!(parse_duration("100").unwrap_err().contains("has no unit"));
        assert!(
            parse_duration("10 parsecs")
                .unwrap_err()
                .contains("bad duration")
        );
        assert!(
            parse_duration("5d")
                .unwrap_err()
                .contains("unknown unit \"d\"")
        );
        assert!(parse_duration("").unwrap_err().contains("empty"));
    }

    #[test]
    fn formats_back_to_the_written_form() {
        assert_eq!(format_duration(Duration::from_secs(100)), "100s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
    }
}
