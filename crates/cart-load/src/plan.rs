//! What a simulated shopper does next, sans IO: seeded, so a run can be repeated with `--seed`.

use std::time::Duration;

/// How many different products the shoppers pick from.
pub const CATALOG: usize = 20;

/// One edit of a shopper's cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Add `quantity` units of `sku`, stored at `add:<sku>#<tag>`.
    Add {
        sku: String,
        quantity: i64,
        tag: String,
    },
    /// Set the quantity of an existing line.
    SetQuantity { sku: String, quantity: i64 },
    /// Remove a line.
    Remove { sku: String },
}

/// The choices of one shopper: which edit comes next and how long to think before it.
#[derive(Debug)]
pub struct Plan {
    rng: fastrand::Rng,
    shopper: usize,
    adds: usize,
    think: Duration,
}

impl Plan {
    /// The plan of shopper number `shopper` in a run seeded with `seed`; think times average
    /// `think` (uniform between half and one and a half of it).
    pub fn new(seed: u64, shopper: usize, think: Duration) -> Plan {
        Plan {
            rng: fastrand::Rng::with_seed(
                seed ^ (shopper as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            ),
            shopper,
            adds: 0,
            think,
        }
    }

    /// How long to wait before the next edit.
    pub fn think(&mut self) -> Duration {
        let ms = self.think.as_millis() as u64;
        Duration::from_millis(self.rng.u64(ms / 2..=ms + ms / 2))
    }

    /// Whether the shopper loses its network after an edit, and for how long: 2% of edits,
    /// for 10 to 30 think times (the edit and those made meanwhile wait on the device).
    pub fn offline(&mut self) -> Option<Duration> {
        (self.rng.u8(0..100) < 2).then(|| self.think * self.rng.u32(10..=30))
    }

    /// The next edit, given the cart's lines as `(sku, quantity)`: mostly adds (60%), then
    /// quantity changes (25%) and removes (15%) of lines the shopper sees. Add tags are unique
    /// in the run (`s<shopper>-<n>`), so every add can be found in the final document.
    pub fn next(&mut self, lines: &[(String, i64)]) -> Action {
        let roll = self.rng.u8(0..100);
        if lines.is_empty() || roll < 60 {
            let sku = format!("SKU-{:02}", self.rng.usize(0..CATALOG));
            let quantity = self.rng.i64(1..=3);
            let current = lines.iter().find(|(s, _)| *s == sku).map_or(0, |(_, q)| *q);
            if current + quantity > 999 {
                return Action::Remove { sku };
            }
            self.adds += 1;
            let tag = format!("s{}-{}", self.shopper, self.adds);
            return Action::Add { sku, quantity, tag };
        }
        let (sku, _) = &lines[self.rng.usize(0..lines.len())];
        if roll < 85 {
            Action::SetQuantity {
                sku: sku.clone(),
                quantity: self.rng.i64(1..=5),
            }
        } else {
            Action::Remove { sku: sku.clone() }
        }
    }
}

/// Parses a duration such as `40s`, `2m`, `500ms` or `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number.parse().map_err(|_| {
        format!("{text:?} is not a duration; write a whole number and a unit, such as 40s or 2m")
    })?;
    let duration = match unit {
        "ms" => Duration::from_millis(value),
        "s" => Duration::from_secs(value),
        "m" => Duration::from_secs(value * 60),
        "h" => Duration::from_secs(value * 3600),
        _ => {
            return Err(format!(
                "{text:?} has no known unit; use ms, s, m or h, such as 40s or 2m"
            ))
        }
    };
    if duration.is_zero() {
        return Err(format!("{text:?} is zero; give a duration above zero"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_their_units() {
        assert_eq!(parse_duration("40s"), Ok(Duration::from_secs(40)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn bad_durations_say_what_to_write() {
        for bad in ["40", "s", "forty", "4.5s", "0s", "10d"] {
            let error = parse_duration(bad).unwrap_err();
            assert!(
                error.contains("40s") || error.contains("zero"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn the_first_edit_of_an_empty_cart_is_an_add() {
        let mut plan = Plan::new(7, 0, Duration::from_millis(100));
        assert!(matches!(plan.next(&[]), Action::Add { .. }));
    }

    #[test]
    fn the_same_seed_gives_the_same_edits_and_tags_are_unique() {
        let lines = vec![("SKU-01".to_string(), 2), ("SKU-02".to_string(), 1)];
        let run = |seed| {
            let mut plan = Plan::new(seed, 3, Duration::from_millis(100));
            (0..200).map(|_| plan.next(&lines)).collect::<Vec<_>>()
        };
        let edits = run(42);
        assert_eq!(edits, run(42));
        assert_ne!(edits, run(43));
        let tags: Vec<&String> = edits
            .iter()
            .filter_map(|a| match a {
                Action::Add { tag, .. } => Some(tag),
                _ => None,
            })
            .collect();
        let unique: std::collections::BTreeSet<_> = tags.iter().collect();
        assert_eq!(unique.len(), tags.len());
        assert!(edits
            .iter()
            .any(|a| matches!(a, Action::SetQuantity { .. })));
        assert!(edits.iter().any(|a| matches!(a, Action::Remove { .. })));
    }

    #[test]
    fn edits_of_lines_name_lines_the_cart_has() {
        let lines = vec![("SKU-07".to_string(), 1)];
        let mut plan = Plan::new(1, 0, Duration::from_millis(100));
        for _ in 0..100 {
            match plan.next(&lines) {
                Action::SetQuantity { sku, quantity } => {
                    assert_eq!(sku, "SKU-07");
                    assert!((1..=5).contains(&quantity));
                }
                Action::Remove { sku } => assert_eq!(sku, "SKU-07"),
                Action::Add { quantity, .. } => assert!((1..=3).contains(&quantity)),
            }
        }
    }

    #[test]
    fn offline_periods_are_rare_and_last_several_think_times() {
        let think = Duration::from_millis(100);
        let mut plan = Plan::new(5, 0, think);
        let periods: Vec<Duration> = (0..10_000).filter_map(|_| plan.offline()).collect();
        assert!((100..=300).contains(&periods.len()), "{}", periods.len());
        assert!(periods.iter().all(|p| *p >= think * 10 && *p <= think * 30));
    }

    #[test]
    fn think_times_stay_around_the_mean() {
        let mut plan = Plan::new(1, 0, Duration::from_millis(100));
        for _ in 0..100 {
            let t = plan.think();
            assert!(t >= Duration::from_millis(50) && t <= Duration::from_millis(150));
        }
    }
}
