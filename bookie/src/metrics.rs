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
//!   the data directory's file system, as the periodic disk check last saw it;
//! - `folio_bookie_inflight_bytes` (gauge): bytes the connections hold against their
//!   backpressure budgets (each connection's, and the bookie's `max_inflight_bytes`),
//!   requests being handled and answers not yet written (docs/protocol.md
//!   §Backpressure);
//! - space reclamation ([`crate::SpaceStats`]): `folio_bookie_compaction_reclaimed_bytes_total`,
//!   `folio_bookie_entry_logs_deleted_total`, `folio_bookie_entry_logs_compacted_total`
//!   (counters), `folio_bookie_entry_log_bytes` and `folio_bookie_entry_log_live_bytes`
//!   (gauges, as the last GC pass measured);
//! - scrubbing ([`crate::ScrubStats`]): `folio_bookie_scrub_passes_total`,
//!   `folio_bookie_scrub_entries_checked_total`, `folio_bookie_corrupt_entries_found_total`
//!   (counters) and `folio_bookie_corrupt_entries` (gauge: found and not yet repaired).
//!
//! [`serve`] is a minimal HTTP listener for `/metrics` (no dependency beyond tokio).
//!
//! Updates are relaxed atomics ([`folio_metrics::Histogram`]), so the request paths
//! and the journal threads do not contend.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use folio_metrics::{Histogram, Kind, Labels, header, sample};
use folio_proto::{Response, Status};

use crate::disk::DiskSpace;
use crate::{ScrubStats, SpaceStats};

/// Reads the space and scrub counters of a running bookie (`None` once it stopped).
type StatsSource = Box<dyn Fn() -> Option<(SpaceStats, ScrubStats)> + Send + Sync>;

/// One bookie's metrics ([`crate::BookieHandle::metrics`]).
#[derive(Default)]
pub struct BookieMetrics {
    journal_fsync: Histogram,
    add: Histogram,
    read: Histogram,
    disk_used_bytes: AtomicU64,
    disk_total_bytes: AtomicU64,
    inflight_bytes: AtomicU64,
    inflight_bytes_peak: AtomicU64,
    /// Set once at start: the compaction and scrubber counters live with them.
    stats: std::sync::OnceLock<StatsSource>,
}

impl std::fmt::Debug for BookieMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BookieMetrics")
            .field("adds", &self.adds())
            .field("journal_fsyncs", &self.journal_fsyncs())
            .finish_non_exhaustive()
    }
}

impl BookieMetrics {
    /// Where the space and scrub counters come from (set by [`crate::Bookie::start`];
    /// the source must not keep the bookie alive, so it holds a weak reference).
    pub(crate) fn set_stats_source(
        &self,
        source: impl Fn() -> Option<(SpaceStats, ScrubStats)> + Send + Sync + 'static,
    ) {
        // Set once per bookie; a second call would be a bug, and is ignored.
        let _ = self.stats.set(Box::new(source));
    }

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

    /// Counts `bytes` more charged against a connection's backpressure budget (and
    /// so the bookie's).
    pub(crate) fn inflight_charged(&self, bytes: usize) {
        let bytes = bytes as u64;
        let now = self.inflight_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.inflight_bytes_peak.fetch_max(now, Ordering::Relaxed);
    }

    /// Counts `bytes` released from a connection's backpressure budget.
    pub(crate) fn inflight_released(&self, bytes: usize) {
        self.inflight_bytes
            .fetch_sub(bytes as u64, Ordering::Relaxed);
    }

    /// Bytes all connections hold now: requests being handled and answers not yet
    /// written to their sockets.
    pub fn inflight_bytes(&self) -> u64 {
        self.inflight_bytes.load(Ordering::Relaxed)
    }

    /// The most [`Self::inflight_bytes`] has been since the bookie started.
    pub fn inflight_bytes_peak(&self) -> u64 {
        self.inflight_bytes_peak.load(Ordering::Relaxed)
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
    let gauges: [(&str, &str, Gauge); 3] = [
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
        (
            "folio_bookie_inflight_bytes",
            "Bytes held for connections: requests being handled and answers not yet written.",
            |m| &m.inflight_bytes,
        ),
    ];
    for (name, help, pick) in gauges {
        header(out, name, help, Kind::Gauge);
        for (labels, m) in bookies {
            sample(out, name, labels, pick(m).load(Ordering::Relaxed));
        }
    }
    let stats: Vec<(Labels<'_>, SpaceStats, ScrubStats)> = bookies
        .iter()
        .filter_map(|(labels, m)| {
            let (space, scrub) = (m.stats.get()?)()?;
            Some((*labels, space, scrub))
        })
        .collect();
    if stats.is_empty() {
        return;
    }
    type Stat = fn(&SpaceStats, &ScrubStats) -> u64;
    let families: [(&str, &str, Kind, Stat); 9] = [
        (
            "folio_bookie_compaction_reclaimed_bytes_total",
            "Entry-log bytes given back by deleting dead logs and compacting sparse ones.",
            Kind::Counter,
            |s, _| s.bytes_reclaimed,
        ),
        (
            "folio_bookie_entry_logs_deleted_total",
            "Entry logs deleted because no live entry was left in them.",
            Kind::Counter,
            |s, _| s.logs_deleted,
        ),
        (
            "folio_bookie_entry_logs_compacted_total",
            "Sparse entry logs whose live entries were copied out before deletion.",
            Kind::Counter,
            |s, _| s.logs_compacted,
        ),
        (
            "folio_bookie_entry_log_bytes",
            "Entry-log bytes on disk when the last GC pass measured.",
            Kind::Gauge,
            |s, _| s.entry_log_bytes,
        ),
        (
            "folio_bookie_entry_log_live_bytes",
            "Live entry-log bytes when the last GC pass measured.",
            Kind::Gauge,
            |s, _| s.live_bytes,
        ),
        (
            "folio_bookie_scrub_passes_total",
            "Scrub passes that walked every stored entry.",
            Kind::Counter,
            |_, c| c.passes_completed,
        ),
        (
            "folio_bookie_scrub_entries_checked_total",
            "Stored entries whose CRC32C and header the scrubber checked.",
            Kind::Counter,
            |_, c| c.entries_checked,
        ),
        (
            "folio_bookie_corrupt_entries_found_total",
            "Corrupt stored copies found by scrub passes.",
            Kind::Counter,
            |_, c| c.corrupt_found,
        ),
        (
            "folio_bookie_corrupt_entries",
            "Stored copies known corrupt and not yet repaired.",
            Kind::Gauge,
            |_, c| c.corrupt_now,
        ),
    ];
    for (name, help, kind, pick) in families {
        header(out, name, help, kind);
        for (labels, space, scrub) in &stats {
            sample(out, name, labels, pick(space, scrub));
        }
    }
}

/// Longest a metrics client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head read; a longer one is refused.
const MAX_REQUEST_BYTES: usize = 8 << 10;

/// Serves `GET /metrics` (Prometheus text, this bookie's metrics) on `listener` until
/// `shutdown` turns true: a deliberately tiny HTTP/1.1 responder (one request per
/// connection, `Connection: close`, no body read, no authentication, so bind it to
/// loopback or a private network). Anything but `GET /metrics` gets 404 (405 for
/// another method on `/metrics`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: std::sync::Arc<BookieMetrics>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                // One small answer per connection: send it without Nagle's delay.
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(error = %e, "set TCP_NODELAY on a metrics connection");
                }
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    if let Err(e) = answer(stream, &metrics).await {
                        tracing::debug!(error = %e, "metrics request failed");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept a metrics connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer(mut stream: tokio::net::TcpStream, metrics: &BookieMetrics) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let read_head = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST_BYTES {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    };
    tokio::time::timeout(REQUEST_TIMEOUT, read_head)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request head"))??;
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let (status, body) = match (method, path) {
        (b"GET", b"/metrics") => {
            let mut text = String::new();
            metrics.render(&mut text, &[]);
            ("200 OK", text)
        }
        (_, b"/metrics") => ("405 Method Not Allowed", "only GET\n".to_owned()),
        _ => ("404 Not Found", "only /metrics is served here\n".to_owned()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
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
        a.inflight_charged(30);
        a.inflight_released(20);
        assert_eq!((a.inflight_bytes(), a.inflight_bytes_peak()), (10, 30));
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
        assert!(out.contains("folio_bookie_inflight_bytes{bookie=\"a\"} 10\n"));
        assert_eq!(
            out.matches("# TYPE folio_bookie_add_duration_seconds ")
                .count(),
            1
        );
    }

    #[tokio::test]
    async fn the_listener_serves_metrics_and_nothing_else() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let metrics = std::sync::Arc::new(BookieMetrics::default());
        metrics.journal_fsync(Duration::from_millis(1));
        let (stop, rx) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(serve(listener, metrics, rx));
        let get = |path: &'static str| async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .expect("send");
            let mut answer = String::new();
            s.read_to_string(&mut answer).await.expect("read");
            answer
        };
        let ok = get("/metrics").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("\nfolio_bookie_journal_fsync_duration_seconds_count 1\n"));
        assert!(get("/other").await.starts_with("HTTP/1.1 404 "));
        stop.send(true).expect("stop");
        tokio::time::timeout(Duration::from_secs(30), server)
            .await
            .expect("stops")
            .expect("joins");
    }
}
