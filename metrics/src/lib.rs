//! folio's metrics toolkit: what every component needs to count and to expose in the
//! Prometheus text exposition format (version 0.0.4), and nothing more.
//!
//! - [`Histogram`]: a lock-free latency histogram with fixed bucket bounds
//!   ([`LATENCY_BUCKETS_SECONDS`] or the caller's own); observing is a few relaxed
//!   atomic adds, so hot paths do not contend.
//! - [`header`] writes a family's `# HELP` and `# TYPE` lines, [`sample`] one
//!   `name{labels} value` line, and [`Histogram::render`] a histogram's `_bucket`,
//!   `_sum` and `_count` lines; label values are escaped ([`escape_label_value`]).
//!
//! A family's header must appear once and its samples must be contiguous, so a host
//! that renders several instances of one component (the three in-process bookies of
//! `folio standalone`) writes each header once and then every instance's samples
//! with distinguishing labels. Each component owns its metric names: they carry the
//! component prefix and a unit suffix (`folio_bookie_add_duration_seconds`).

use std::fmt::{Display, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Default upper bounds of latency buckets, in seconds: 100 µs to 10 s.
pub const LATENCY_BUCKETS_SECONDS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 10.0,
];

/// A metric family's type, as written on its `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value that only goes up.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Cumulative buckets plus `_sum` and `_count`.
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Labels of one series: `(name, value)` pairs. Names must be valid Prometheus label
/// names (the caller's constants); values are escaped when written.
pub type Labels<'a> = &'a [(&'a str, &'a str)];

/// Writes a family's `# HELP` and `# TYPE` lines. `help` is one line of text.
pub fn header(out: &mut String, name: &str, help: &str, kind: Kind) {
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {}", kind.name());
}

/// Writes one sample line: `name{labels} value` (no braces without labels).
pub fn sample(out: &mut String, name: &str, labels: Labels<'_>, value: impl Display) {
    out.push_str(name);
    write_labels(out, labels, None);
    let _ = writeln!(out, " {value}");
}

/// Escapes a label value: backslash, double quote and newline, as the text format
/// requires.
pub fn escape_label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// `{a="x",b="y",le="0.5"}`, or nothing when there are no labels at all.
fn write_labels(out: &mut String, labels: Labels<'_>, le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let extra = le.map(|v| ("le", v));
    for (i, (k, v)) in labels.iter().copied().chain(extra).enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{k}=\"{}\"", escape_label_value(v));
    }
    out.push('}');
}

/// A latency histogram with fixed bucket bounds, updated with relaxed atomics.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Observations that fell into each bucket (not cumulative; summed when rendered).
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Default for Histogram {
    /// A histogram over [`LATENCY_BUCKETS_SECONDS`].
    fn default() -> Self {
        Histogram::new(&LATENCY_BUCKETS_SECONDS)
    }
}

impl Histogram {
    /// A histogram with these upper bounds, in seconds, in increasing order.
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|b| seconds <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Writes the `_bucket` (cumulative, then `+Inf`), `_sum` (seconds) and `_count`
    /// samples of `name` with `labels`; the caller writes the [`header`] once per
    /// family.
    pub fn render(&self, out: &mut String, name: &str, labels: Labels<'_>) {
        // Observations racing with a scrape may show in a bucket but not yet in the
        // count; `+Inf` and `_count` take the larger, so buckets stay cumulative.
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let mut cumulative = 0;
        for (bound, n) in self.bounds.iter().zip(self.buckets.iter()) {
            cumulative += n.load(Ordering::Relaxed);
            let le = bound.to_string();
            let _ = write!(out, "{name}_bucket");
            write_labels(out, labels, Some(&le));
            let _ = writeln!(out, " {cumulative}");
        }
        let _ = write!(out, "{name}_bucket");
        write_labels(out, labels, Some("+Inf"));
        let count = count.max(cumulative);
        let _ = writeln!(out, " {count}");
        sample(out, &format!("{name}_sum"), labels, sum);
        sample(out, &format!("{name}_count"), labels, count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// A strict reader of the text format: every line is a HELP/TYPE comment or a
    /// sample; a family's TYPE comes once, before its samples, which are
    /// contiguous; histogram buckets are cumulative and end in `+Inf` = `_count`.
    fn check_exposition(text: &str) -> Result<usize, String> {
        let is_name = |s: &str| {
            !s.is_empty()
                && s.chars().enumerate().all(|(i, c)| {
                    c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
                })
        };
        let mut typed = BTreeSet::new();
        let mut current: Option<(String, &str)> = None;
        let mut finished = BTreeSet::new();
        let mut last_bucket: Option<f64> = None;
        let mut samples = 0;
        for line in text.lines() {
            if let Some(comment) = line.strip_prefix("# ") {
                let mut parts = comment.splitn(3, ' ');
                let (kind, name) = (parts.next(), parts.next().ok_or(line)?);
                if !is_name(name) {
                    return Err(format!("bad name: {line}"));
                }
                if kind == Some("TYPE") {
                    if !typed.insert(name.to_owned()) {
                        return Err(format!("second TYPE: {line}"));
                    }
                    if let Some((prev, _)) = current.take() {
                        finished.insert(prev);
                    }
                    let t = match parts.next() {
                        Some("counter") => "counter",
                        Some("gauge") => "gauge",
                        Some("histogram") => "histogram",
                        _ => return Err(format!("bad type: {line}")),
                    };
                    current = Some((name.to_owned(), t));
                    last_bucket = None;
                } else if kind != Some("HELP") {
                    return Err(format!("bad comment: {line}"));
                }
                continue;
            }
            let (series, value) = line.rsplit_once(' ').ok_or(line)?;
            let value: f64 = value.parse().map_err(|_| format!("bad value: {line}"))?;
            let name = series.split('{').next().unwrap_or_default();
            let Some((family, t)) = &current else {
                return Err(format!("sample before TYPE: {line}"));
            };
            let base = if *t == "histogram" {
                ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(name)
            } else {
                name
            };
            if base != family || finished.contains(base) {
                return Err(format!("sample outside its family: {line}"));
            }
            let labels = series.strip_prefix(name).unwrap_or_default();
            if !(labels.is_empty() || labels.starts_with('{') && labels.ends_with('}')) {
                return Err(format!("bad labels: {line}"));
            }
            if name.ends_with("_bucket") {
                if last_bucket.is_some_and(|b| value < b) {
                    return Err(format!("buckets not cumulative: {line}"));
                }
                last_bucket = if series.contains("le=\"+Inf\"") {
                    None
                } else {
                    Some(value)
                };
            }
            samples += 1;
        }
        Ok(samples)
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_in_the_count() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(20));
        h.observe(Duration::from_secs(30));
        assert_eq!(h.count(), 3);
        let mut out = String::new();
        header(&mut out, "x_seconds", "Test.", Kind::Histogram);
        h.render(&mut out, "x_seconds", &[("op", "a")]);
        assert!(
            out.contains("x_seconds_bucket{op=\"a\",le=\"0.0005\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("x_seconds_bucket{op=\"a\",le=\"0.025\"} 2\n"));
        assert!(out.contains("x_seconds_bucket{op=\"a\",le=\"10\"} 2\n"));
        assert!(out.contains("x_seconds_bucket{op=\"a\",le=\"+Inf\"} 3\n"));
        assert!(out.contains("x_seconds_count{op=\"a\"} 3\n"));
        assert!(out.contains("x_seconds_sum{op=\"a\"} 30.0203\n"));
        assert_eq!(check_exposition(&out), Ok(14 + 3));
    }

    #[test]
    fn unlabelled_samples_have_no_braces_and_values_are_escaped() {
        let mut out = String::new();
        header(&mut out, "c_total", "A counter.", Kind::Counter);
        sample(&mut out, "c_total", &[], 7);
        header(&mut out, "g_bytes", "A gauge.", Kind::Gauge);
        sample(&mut out, "g_bytes", &[("bookie", "a\"b\\c\nd")], 1.5);
        assert!(out.contains("\nc_total 7\n"));
        assert!(
            out.contains("g_bytes{bookie=\"a\\\"b\\\\c\\nd\"} 1.5\n"),
            "{out}"
        );
        assert_eq!(check_exposition(&out), Ok(2));
    }

    #[test]
    fn the_checker_catches_malformed_text() {
        assert!(check_exposition("x 1\n").is_err(), "sample before TYPE");
        let twice = "# TYPE x counter\nx 1\n# TYPE x counter\nx 2\n";
        assert!(check_exposition(twice).is_err());
        let split = "# TYPE x counter\nx 1\n# TYPE y gauge\ny 1\nx 2\n";
        assert!(check_exposition(split).is_err());
        assert!(check_exposition("# TYPE x gauge\nx one\n").is_err());
    }
}
