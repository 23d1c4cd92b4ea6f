//! Gateway metrics in the Prometheus text format.
//!
//! Names carry the component prefix and a unit suffix; labels are bounded: the
//! operation label comes from the router's enum (`S3Op::name`), never from the URL,
//! and the status label is the HTTP status code.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram buckets, in seconds.
const LATENCY_BUCKETS_SECONDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS_SECONDS.len()],
    count: u64,
    sum_seconds: f64,
}

/// The gateway's counters and histograms.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

impl Metrics {
    /// Records one finished request.
    pub fn request(&self, op: &'static str, status: u16, elapsed: Duration) {
        *lock(&self.requests).entry((op, status)).or_default() += 1;
        let seconds = elapsed.as_secs_f64();
        let mut latency = lock(&self.latency);
        let h = latency.entry(op).or_default();
        for (i, bound) in LATENCY_BUCKETS_SECONDS.iter().enumerate() {
            if seconds <= *bound {
                h.buckets[i] += 1;
            }
        }
        h.count += 1;
        h.sum_seconds += seconds;
    }

    /// Counts object bytes received.
    pub fn bytes_in(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts object bytes sent.
    pub fn bytes_out(&self, n: u64) {
        self.bytes_out.fetch_add(n, Ordering::Relaxed);
    }

    /// Everything, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP folio_gateway_requests_total S3 requests by operation and HTTP status.\n",
        );
        out.push_str("# TYPE folio_gateway_requests_total counter\n");
        for ((op, status), n) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "folio_gateway_requests_total{{op=\"{op}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP folio_gateway_request_duration_seconds S3 request latency by operation.\n",
        );
        out.push_str("# TYPE folio_gateway_request_duration_seconds histogram\n");
        for (op, h) in lock(&self.latency).iter() {
            for (bound, n) in LATENCY_BUCKETS_SECONDS.iter().zip(h.buckets) {
                let _ = writeln!(
                    out,
                    "folio_gateway_request_duration_seconds_bucket{{op=\"{op}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "folio_gateway_request_duration_seconds_bucket{{op=\"{op}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "folio_gateway_request_duration_seconds_sum{{op=\"{op}\"}} {}",
                h.sum_seconds
            );
            let _ = writeln!(
                out,
                "folio_gateway_request_duration_seconds_count{{op=\"{op}\"}} {}",
                h.count
            );
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
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        out
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
    }
}
