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
//! Updates are lock-free atomics ([`folio_metrics::Histogram`]), so the hot paths do
//! not contend.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use folio_metrics::{Histogram, Kind, header, sample};

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
        for (name, help, histogram) in [
            (
                "folio_ledger_append_duration_seconds",
                "Ledger append latency, from send to acknowledgement.",
                &self.append,
            ),
            (
                "folio_ledger_read_duration_seconds",
                "Latency of one verified ledger entry read.",
                &self.read,
            ),
        ] {
            header(&mut out, name, help, Kind::Histogram);
            histogram.render(&mut out, name, &[]);
        }
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
            header(&mut out, name, help, Kind::Counter);
            sample(&mut out, name, &[], counter.load(Ordering::Relaxed));
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
