//! [`BookieMetrics`]: what a bookie counts, rendered in the Prometheus text format by
//! whoever exposes it (`folio bookie`'s optional metrics listener, or `folio
//! standalone`'s gateway `/metrics` with a `bookie="<id>"` label per bookie).
//!
//! - `folio_bookie_journal_fsync_duration_seconds` (histogram): one journal fsync by
//!   the group-commit syncer (one fsync may cover many adds);
//! - `folio_bookie_add_duration_seconds` (histogram): an add, from the request
//!   taken off the connection to its response ready to send, for acknowledged adds
//!   only (status Ok);
//! - `folio_bookie_read_duration_seconds` (histogram): an entry read answered Ok,
//!   long-poll waits included;
//! - `folio_bookie_disk_used_bytes` and `folio_bookie_disk_total_bytes` (gauges):
//!   the data directory's file system, as the periodic disk check last saw it.
//!
//! Updates are relaxed atomics ([`folio_metrics::Histogram`]), so the request paths
//! and the journal threads do not contend.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use folio_metrics::{Histogram, Kind, Labels, header, sample};
use folio_proto::{Response, Status};

use crate::disk::DiskSpace;

/// One bookie's metrics ([`crate::BookieHandle::metrics`]).
#[derive(Debug, Default)]
pub struct BookieMetrics {
    journal_fsync: Histogram,
    add: Histogram,
    read: Histogram,
    disk_used_bytes: AtomicU64,
    disk_total_bytes: AtomicU64,
}

impl BookieMetrics {
    /// Records one journal fsync.
    pub(crate) fn journal_fsync(&self, elapsed: Duration) {
        self.journal_fsync.observe(elapsed);
    }

    /// Records what the disk check saw.
    pub(crate) fn disk(&self, space: DiskSpace) {
        let used = space.total_bytes.saturating_sub(space.free_bytes);
        self.disk_used_bytes.store(used, Ordering::Relaxed);
        self.disk_total_bytes
            .store(space.total_bytes, Ordering::Relaxed);
    }

    /// Runs a request handler and, if it answered an add or a read with Ok, records
    /// its latency.
    pub(crate) async fn timed(&self, handler: impl Future<Output = Response>) -> Response {
        let started = Instant::now();
        let response = handler.await;
        match &response {
            Response::AddEntry(r) if r.status == Status::Ok => self.add.observe(started.elapsed()),
            Response::ReadEntry(r) if r.status == Status::Ok => {
                self.read.observe(started.elapsed())
            }
            _ => {}
        }
        response
    }

    /// Acknowledged adds so far.
    pub fn adds(&self) -> u64 {
        self.add.count()
    }

    /// Journal fsyncs so far.
    pub fn journal_fsyncs(&self) -> u64 {
        self.journal_fsync.count()
    }

    /// Writes this bookie's metrics, every series carrying `labels`.
    pub fn render(&self, out: &mut String, labels: Labels<'_>) {
        render_all(out, &[(labels, self)]);
    }
}

/// Writes the metrics of several bookies, each family's header once and then each
/// bookie's series with its labels (typically `bookie="<id>"`), as the text format
/// requires of one exposition.
pub fn render_all(out: &mut String, bookies: &[(Labels<'_>, &BookieMetrics)]) {
    type Pick = fn(&BookieMetrics) -> &Histogram;
    let histograms: [(&str, &str, Pick); 3] = [
        (
            "folio_bookie_journal_fsync_duration_seconds",
            "Latency of one journal fsync.",
            |m| &m.journal_fsync,
        ),
        (
            "folio_bookie_add_duration_seconds",
            "Latency of an acknowledged add, from request to response.",
            |m| &m.add,
        ),
        (
            "folio_bookie_read_duration_seconds",
            "Latency of an entry read answered Ok.",
            |m| &m.read,
        ),
    ];
    for (name, help, pick) in histograms {
        header(out, name, help, Kind::Histogram);
        for (labels, m) in bookies {
            pick(m).render(out, name, labels);
        }
    }
    type Gauge = fn(&BookieMetrics) -> &AtomicU64;
    let gauges: [(&str, &str, Gauge); 2] = [
        (
            "folio_bookie_disk_used_bytes",
            "Bytes in use on the data directory's file system (at the last disk check).",
            |m| &m.disk_used_bytes,
        ),
        (
            "folio_bookie_disk_total_bytes",
            "Size of the data directory's file system (at the last disk check).",
            |m| &m.disk_total_bytes,
        ),
    ];
    for (name, help, pick) in gauges {
        header(out, name, help, Kind::Gauge);
        for (labels, m) in bookies {
            sample(out, name, labels, pick(m).load(Ordering::Relaxed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use folio_proto::{AddEntryResponse, ReadEntryResponse};

    #[tokio::test]
    async fn ok_answers_are_timed_and_families_are_grouped() {
        let a = BookieMetrics::default();
        let b = BookieMetrics::default();
        let add = |status| async move {
            Response::AddEntry(AddEntryResponse {
                status,
                ledger_id: 1,
                entry_id: 0,
            })
        };
        a.timed(add(Status::Ok)).await;
        a.timed(add(Status::Fenced)).await;
        b.timed(async {
            Response::ReadEntry(ReadEntryResponse {
                status: Status::Ok,
                ledger_id: 1,
                target: folio_proto::ReadTarget::Entry(0),
                lac: 0,
                entry: None,
            })
        })
        .await;
        a.journal_fsync(Duration::from_millis(2));
        a.disk(DiskSpace {
            free_bytes: 30,
            total_bytes: 100,
        });
        assert_eq!(a.adds(), 1);
        let mut out = String::new();
        render_all(
            &mut out,
            &[(&[("bookie", "a")], &a), (&[("bookie", "b")], &b)],
        );
        assert!(out.contains("folio_bookie_add_duration_seconds_count{bookie=\"a\"} 1\n"));
        assert!(out.contains("folio_bookie_add_duration_seconds_count{bookie=\"b\"} 0\n"));
        assert!(out.contains("folio_bookie_read_duration_seconds_count{bookie=\"b\"} 1\n"));
        assert!(
            out.contains("folio_bookie_journal_fsync_duration_seconds_count{bookie=\"a\"} 1\n")
        );
        assert!(out.contains("folio_bookie_disk_used_bytes{bookie=\"a\"} 70\n"));
        assert!(out.contains("folio_bookie_disk_total_bytes{bookie=\"a\"} 100\n"));
        assert_eq!(
            out.matches("# TYPE folio_bookie_add_duration_seconds ")
                .count(),
            1
        );
    }
}
