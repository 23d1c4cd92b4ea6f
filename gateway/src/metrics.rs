//! Gateway metrics in the Prometheus text format ([`folio_metrics`] does the
//! histograms and the text).
//!
//! Names carry the component prefix and a unit suffix; labels are bounded: the
//! operation label comes from the router's enum (`S3Op::name`), never from the URL,
//! and the status label is the HTTP status code.
//!
//! A host that runs more components in the process (the bookies of `folio
//! standalone`) adds their metrics with [`Metrics::add_source`]; `/metrics` renders
//! the gateway's own, then the ledger client's, then every source.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use folio_metrics::{Histogram, Kind, header, sample};

/// Upper bounds of the request latency histogram buckets, in seconds.
const LATENCY_BUCKETS_SECONDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Most GC queue items counted per pass; a deeper queue shows as this number.
pub const GC_QUEUE_DEPTH_CAP: u64 = 100_000;

/// Renders more metrics into a `/metrics` answer (see [`Metrics::add_source`]).
pub type MetricsSource = Arc<dyn Fn(&mut String) + Send + Sync>;

/// The gateway's counters, gauges and histograms.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    latency: Mutex<BTreeMap<&'static str, Arc<Histogram>>>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    gc_queue_depth: AtomicU64,
    sources: Mutex<Vec<MetricsSource>>,
}

impl Metrics {
    /// Records one finished request.
    pub fn request(&self, op: &'static str, status: u16, elapsed: Duration) {
        *lock(&self.requests).entry((op, status)).or_default() += 1;
        let histogram = lock(&self.latency)
            .entry(op)
            .or_insert_with(|| Arc::new(Histogram::new(&LATENCY_BUCKETS_SECONDS)))
            .clone();
        histogram.observe(elapsed);
    }

    /// Counts object bytes received.
    pub fn bytes_in(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts object bytes sent.
    pub fn bytes_out(&self, n: u64) {
        self.bytes_out.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets the GC queue depth the GC worker counted (at most [`GC_QUEUE_DEPTH_CAP`]).
    pub fn set_gc_queue_depth(&self, items: u64) {
        self.gc_queue_depth.store(items, Ordering::Relaxed);
    }

    /// Adds metrics rendered by `source` to every `/metrics` answer, after the
    /// gateway's and the ledger client's. The source writes whole families (HELP and
    /// TYPE lines included) whose names no other source uses.
    pub fn add_source(&self, source: MetricsSource) {
        lock(&self.sources).push(source);
    }

    /// The gateway's own metrics, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let name = "folio_gateway_requests_total";
        header(
            &mut out,
            name,
            "S3 requests by operation and HTTP status.",
            Kind::Counter,
        );
        for ((op, status), n) in lock(&self.requests).iter() {
            let status = status.to_string();
            sample(&mut out, name, &[("op", op), ("status", &status)], n);
        }
        let name = "folio_gateway_request_duration_seconds";
        header(
            &mut out,
            name,
            "S3 request latency by operation.",
            Kind::Histogram,
        );
        let latency: Vec<_> = lock(&self.latency)
            .iter()
            .map(|(op, h)| (*op, h.clone()))
            .collect();
        for (op, h) in latency {
            h.render(&mut out, name, &[("op", op)]);
        }
        for (name, help, value) in [
            (
                "folio_gateway_received_bytes_total",
                "Object bytes received.",
                &self.bytes_in,
            ),
            (
                "folio_gateway_sent_bytes_total",
                "Object bytes sent.",
                &self.bytes_out,
            ),
        ] {
            header(&mut out, name, help, Kind::Counter);
            sample(&mut out, name, &[], value.load(Ordering::Relaxed));
        }
        let name = "folio_gateway_gc_queue_depth";
        header(
            &mut out,
            name,
            "Ledgers in the GC queue (due or not) at the last GC pass, counted up to 100000.",
            Kind::Gauge,
        );
        sample(
            &mut out,
            name,
            &[],
            self.gc_queue_depth.load(Ordering::Relaxed),
        );
        out
    }

    /// Appends what every [`Metrics::add_source`] source renders.
    pub fn render_sources(&self, out: &mut String) {
        let sources = lock(&self.sources).clone();
        for source in sources {
            source(out);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.request("GetObject", 200, Duration::from_millis(3));
        m.request("GetObject", 200, Duration::from_millis(300));
        m.request("PutObject", 403, Duration::from_micros(10));
        m.bytes_in(5);
        m.set_gc_queue_depth(7);
        let text = m.render();
        assert!(text.contains("folio_gateway_requests_total{op=\"GetObject\",status=\"200\"} 2"));
        assert!(text.contains("folio_gateway_requests_total{op=\"PutObject\",status=\"403\"} 1"));
        assert!(text.contains(
            "folio_gateway_request_duration_seconds_bucket{op=\"GetObject\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "folio_gateway_request_duration_seconds_bucket{op=\"GetObject\",le=\"+Inf\"} 2"
        ));
        assert!(text.contains("folio_gateway_received_bytes_total 5"));
        assert!(text.contains("\nfolio_gateway_gc_queue_depth 7\n"));
    }

    #[test]
    fn sources_render_after_the_gateway() {
        let m = Metrics::default();
        m.add_source(Arc::new(|out: &mut String| out.push_str("x_total 1\n")));
        let mut out = String::new();
        m.render_sources(&mut out);
        assert_eq!(out, "x_total 1\n");
    }
}
