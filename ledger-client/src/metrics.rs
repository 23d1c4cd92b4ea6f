//! [`LedgerMetrics`]: what the ledger client counts, rendered in the Prometheus text
//! format by whoever serves `/metrics` (the gateway's admin API).
//!
//! - `folio_ledger_append_duration_seconds` (histogram): from the moment the write
//!   core accepts an entry (it is in the window and sent to its write set) to its
//!   acknowledgement (ack quorum reached and every earlier entry acknowledged);
//! - `folio_ledger_read_duration_seconds` (histogram): one verified entry read,
//!   speculative retries included;
//! - `folio_ledger_ensemble_changes_total` (counter) and
//!   `folio_ledger_ensemble_change_failures_total` (counter).
//!
//! Updates are lock-free atomics, so the hot paths do not contend.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS_SECONDS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 10.0,
];

/// A latency histogram with fixed buckets.
#[derive(Default)]
struct Histogram {
    /// Observations ≤ each bound (not cumulative; summed when rendered).
    buckets: [AtomicU64; BUCKETS_SECONDS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS_SECONDS.iter().position(|b| seconds <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, n) in BUCKETS_SECONDS.iter().zip(&self.buckets) {
            cumulative += n.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// The ledger client's metrics ([`crate::LedgerClient::metrics`]).
#[derive(Default)]
pub struct LedgerMetrics {
    append: Histogram,
    read: Histogram,
    ensemble_changes: AtomicU64,
    ensemble_change_failures: AtomicU64,
}

impl LedgerMetrics {
    /// Records an acknowledged append.
    pub(crate) fn append(&self, elapsed: Duration) {
        self.append.observe(elapsed);
    }

    /// Records a successful entry read.
    pub(crate) fn read(&self, elapsed: Duration) {
        self.read.observe(elapsed);
    }

    /// Counts a completed ensemble change.
    pub(crate) fn ensemble_changed(&self) {
        self.ensemble_changes.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an ensemble change that failed.
    pub(crate) fn ensemble_change_failed(&self) {
        self.ensemble_change_failures
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Everything, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.append.render(
            &mut out,
            "folio_ledger_append_duration_seconds",
            "Ledger append latency, from send to acknowledgement.",
        );
        self.read.render(
            &mut out,
            "folio_ledger_read_duration_seconds",
            "Latency of one verified ledger entry read.",
        );
        for (name, help, counter) in [
            (
                "folio_ledger_ensemble_changes_total",
                "Ensemble changes after a bookie failed or timed out.",
                &self.ensemble_changes,
            ),
            (
                "folio_ledger_ensemble_change_failures_total",
                "Ensemble changes that could not be made.",
                &self.ensemble_change_failures,
            ),
        ] {
            let n = counter.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {n}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_counters_count() {
        let m = LedgerMetrics::default();
        m.append(Duration::from_micros(300));
        m.append(Duration::from_millis(20));
        m.append(Duration::from_secs(30));
        m.ensemble_changed();
        let text = m.render();
        assert!(text.contains("folio_ledger_append_duration_seconds_bucket{le=\"0.0005\"} 1\n"));
        assert!(text.contains("folio_ledger_append_duration_seconds_bucket{le=\"0.025\"} 2\n"));
        assert!(text.contains("folio_ledger_append_duration_seconds_bucket{le=\"10\"} 2\n"));
        assert!(text.contains("folio_ledger_append_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("folio_ledger_append_duration_seconds_count 3\n"));
        assert!(text.contains("folio_ledger_read_duration_seconds_count 0\n"));
        assert!(text.contains("folio_ledger_ensemble_changes_total 1\n"));
        assert!(text.contains("folio_ledger_ensemble_change_failures_total 0\n"));
    }
}
