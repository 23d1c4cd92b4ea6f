//! Backpressure budgets (docs/protocol.md §Backpressure): what the TCP server
//! ([`crate::server`]) lets the connections make the bookie hold in memory.
//!
//! Two budgets, both counted in the bytes the bookie holds for clients: requests
//! being handled and answers not yet written to their sockets.
//! - [`Budget`], one per connection, of `max_inflight_bytes_per_connection` (B);
//! - [`BookieBudget`], one per bookie and shared by all its connections, of
//!   `max_inflight_bytes` (G), so N connections cannot make it hold N·B.
//!
//! Every byte is held as a [`Charge`], which counts against both at once and gives
//! both back when dropped, whatever drops it (an answer written, a refusal, a
//! connection failing or closing), exactly once.
//!
//! **Answers reserved.** A request whose answer may be much larger than the request
//! (an entry read, a listing) is charged only its own small size while it is
//! handled; its answer is charged when it exists. Per connection, the number of
//! such requests is capped (B / max frame). Bookie-wide, each one also *reserves*
//! one maximum frame of G until it is answered, and admissions are judged on the
//! bytes charged plus those reserved. So the answers of the reads being handled are
//! paid for before they are made, and the bookie-wide charge stays below G plus the
//! exempt requests below, however many reads are in flight.
//!
//! **Progress (no deadlock).** Bytes held by unwritten answers are only freed when
//! the peer reads them. Were a connection to wait for bookie-wide room while every
//! byte is held by answers to other connections, and their peers waited in turn for
//! that connection's answers (one client reading its connections one after the
//! other), nobody would move. So the bookie-wide budget never holds back a
//! connection that holds nothing: a connection with nothing charged is always
//! admitted one request (and may read the socket to find it). Its peer is then
//! waiting on this connection only, so it reads that answer, the connection holds
//! nothing again, and it takes its next request: every connection whose peer reads
//! makes progress, one request at a time at worst, whatever the others do. The
//! price is bounded: a connection holds at most one such exempt request (or its
//! answer, at most one frame) at a time, as the exemption needs it to hold nothing.
//! Waits on the per-connection budget cannot deadlock: they wait for that
//! connection's own handlers (which finish without any peer) and its own peer.
//!
//! **Wake-ups.** A connection waiting for its own budget is woken by its own
//! releases (`Notify::notify_one`, which keeps a permit if nobody waits yet). One
//! waiting for bookie-wide room registers as a waiter; while any waiter is
//! registered, every release wakes all of them (`Notify::notify_waiters`), and
//! each re-checks. With no waiter, releases skip the notification.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

use crate::metrics::BookieMetrics;

/// The least a request is charged. Every answer to a request that is not a
/// large-answer one (an add, a LAC, bookie info, a delete, a scrub start, a
/// refusal) encodes in at most this many bytes (tested below), so an answer's
/// charge never exceeds the charge of the request it replaces.
pub(crate) const MIN_REQUEST_CHARGE_BYTES: usize = 64;

/// The bookie-wide budget, shared by every connection of one bookie.
pub(crate) struct BookieBudget {
    /// Bytes charged by all connections (requests and answers).
    charged: AtomicUsize,
    /// Of them, bytes of requests being handled.
    requests: AtomicUsize,
    /// Large-answer requests being handled; each reserves `answer_reserve_bytes`.
    large_answers: AtomicUsize,
    max_bytes: usize,
    answer_reserve_bytes: usize,
    /// Connections waiting for bookie-wide room; releases notify only if nonzero.
    waiters: AtomicUsize,
    freed: Notify,
    metrics: Arc<BookieMetrics>,
}

impl BookieBudget {
    /// A budget of `max_bytes` (at least 1) whose large-answer requests each reserve
    /// `max_frame_bytes`, the largest answer they can make.
    pub(crate) fn new(
        max_bytes: usize,
        max_frame_bytes: usize,
        metrics: Arc<BookieMetrics>,
    ) -> Arc<BookieBudget> {
        Arc::new(BookieBudget {
            charged: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            large_answers: AtomicUsize::new(0),
            max_bytes: max_bytes.max(1),
            answer_reserve_bytes: max_frame_bytes,
            waiters: AtomicUsize::new(0),
            freed: Notify::new(),
            metrics,
        })
    }

    /// Bytes charged plus those reserved for the answers of large-answer requests.
    fn committed(&self) -> usize {
        let charged = self.charged.load(Ordering::SeqCst);
        let large = self.large_answers.load(Ordering::SeqCst);
        charged.saturating_add(large.saturating_mul(self.answer_reserve_bytes))
    }

    /// Whether a request of `bytes` (`large`: with a large answer) fits.
    fn fits(&self, bytes: usize, large: bool) -> bool {
        let reserve = if large { self.answer_reserve_bytes } else { 0 };
        self.committed()
            .saturating_add(bytes)
            .saturating_add(reserve)
            <= self.max_bytes
    }

    /// Whether an add of `bytes` fits, judged on the requests being handled only,
    /// as on a connection (answers waiting for slow peers already stop the reading,
    /// and a refused add costs the writer an ensemble change).
    fn fits_add(&self, bytes: usize) -> bool {
        self.requests.load(Ordering::SeqCst).saturating_add(bytes) <= self.max_bytes
    }

    fn spent(&self) -> bool {
        self.committed() >= self.max_bytes
    }

    /// Registers a waiter until the guard drops; releases notify while any is.
    pub(crate) fn waiter(self: &Arc<Self>) -> Waiter {
        // SeqCst, paired with the releases: either a release sees this waiter and
        // notifies, or the waiter's check (made after its `notified()`) sees the
        // release.
        self.waiters.fetch_add(1, Ordering::SeqCst);
        Waiter {
            budget: self.clone(),
        }
    }

    /// Bytes charged bookie-wide now (the same sum as the in-flight gauge).
    #[cfg(test)]
    fn charged(&self) -> usize {
        self.charged.load(Ordering::SeqCst)
    }
}

/// A registered waiter for bookie-wide room ([`BookieBudget::waiter`]).
pub(crate) struct Waiter {
    budget: Arc<BookieBudget>,
}

impl Waiter {
    /// A future resolved by the next release; made before the check it guards.
    pub(crate) fn freed(&self) -> tokio::sync::futures::Notified<'_> {
        self.budget.freed.notified()
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.budget.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One connection's budget: bytes charged (requests and answers), of them the
/// bytes of requests being handled, large-answer requests being handled, and a
/// wake-up for its reader waiting for any of them to drop. It charges the bookie's
/// budget too.
pub(crate) struct Budget {
    charged: AtomicUsize,
    requests: AtomicUsize,
    large_answers: AtomicUsize,
    max_bytes: usize,
    max_large_answers: usize,
    freed: Notify,
    bookie: Arc<BookieBudget>,
}

impl Budget {
    /// A connection's budget of `max_bytes` (at least 1) within `bookie`'s.
    pub(crate) fn new(
        max_bytes: usize,
        max_frame_bytes: usize,
        bookie: Arc<BookieBudget>,
    ) -> Arc<Budget> {
        let max_bytes = max_bytes.max(1);
        Arc::new(Budget {
            charged: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            large_answers: AtomicUsize::new(0),
            max_bytes,
            max_large_answers: (max_bytes / max_frame_bytes.max(1)).max(1),
            freed: Notify::new(),
            bookie,
        })
    }

    /// The bookie-wide budget this one charges too.
    pub(crate) fn bookie(&self) -> &Arc<BookieBudget> {
        &self.bookie
    }

    /// A future resolved by this connection's next release (or a permit left by an
    /// earlier one); made before the check it guards.
    pub(crate) fn freed(&self) -> tokio::sync::futures::Notified<'_> {
        self.freed.notified()
    }

    /// Whether this connection holds nothing: it is then exempt from the
    /// bookie-wide budget (see the module header).
    fn holds_nothing(&self) -> bool {
        self.charged.load(Ordering::SeqCst) == 0
    }

    /// Whether a request of `bytes` that is not an add may be admitted now: in the
    /// connection's budget (always when it holds nothing; a large answer also needs
    /// one of its slots) and in the bookie's (always when the connection holds
    /// nothing).
    pub(crate) fn fits(&self, bytes: usize, large: bool) -> bool {
        let now = self.charged.load(Ordering::SeqCst);
        if now == 0 {
            return true;
        }
        let slot = !large || self.large_answers.load(Ordering::SeqCst) < self.max_large_answers;
        slot && now.saturating_add(bytes) <= self.max_bytes && self.bookie.fits(bytes, large)
    }

    /// Whether an add of `bytes` may be admitted now, judged on requests being
    /// handled: by this connection (always when it handles none) and bookie-wide
    /// (always when the connection holds nothing).
    pub(crate) fn fits_add(&self, bytes: usize) -> bool {
        let requests = self.requests.load(Ordering::SeqCst);
        let own = requests == 0 || requests.saturating_add(bytes) <= self.max_bytes;
        own && (self.holds_nothing() || self.bookie.fits_add(bytes))
    }

    /// Whether the reader must stop reading the socket: this connection's budget is
    /// spent, or the bookie's is and this connection holds something.
    pub(crate) fn spent(&self) -> bool {
        let now = self.charged.load(Ordering::SeqCst);
        now >= self.max_bytes || (now > 0 && self.bookie.spent())
    }

    /// Charges an answer (or a refusal) until it is written.
    pub(crate) fn charge_answer(self: &Arc<Self>, bytes: usize) -> Charge {
        self.charge(bytes, false, false)
    }

    /// Charges a request until it is answered, at least
    /// [`MIN_REQUEST_CHARGE_BYTES`]; `large` takes a large-answer slot here and
    /// reserves a frame bookie-wide.
    pub(crate) fn charge_request(self: &Arc<Self>, bytes: usize, large: bool) -> Charge {
        self.charge(bytes.max(MIN_REQUEST_CHARGE_BYTES), true, large)
    }

    fn charge(self: &Arc<Self>, bytes: usize, request: bool, large_answer: bool) -> Charge {
        let bookie = &self.bookie;
        self.charged.fetch_add(bytes, Ordering::SeqCst);
        bookie.charged.fetch_add(bytes, Ordering::SeqCst);
        if request {
            self.requests.fetch_add(bytes, Ordering::SeqCst);
            bookie.requests.fetch_add(bytes, Ordering::SeqCst);
        }
        if large_answer {
            self.large_answers.fetch_add(1, Ordering::SeqCst);
            bookie.large_answers.fetch_add(1, Ordering::SeqCst);
        }
        bookie.metrics.inflight_charged(bytes);
        Charge {
            budget: self.clone(),
            bytes,
            request,
            large_answer,
        }
    }
}

/// Bytes (and perhaps a large-answer slot and reservation) held against a
/// connection's [`Budget`] and its bookie's [`BookieBudget`]; released from both
/// on drop.
pub(crate) struct Charge {
    budget: Arc<Budget>,
    bytes: usize,
    request: bool,
    large_answer: bool,
}

impl Drop for Charge {
    fn drop(&mut self) {
        let conn = &self.budget;
        let bookie = &conn.bookie;
        conn.charged.fetch_sub(self.bytes, Ordering::SeqCst);
        bookie.charged.fetch_sub(self.bytes, Ordering::SeqCst);
        if self.request {
            conn.requests.fetch_sub(self.bytes, Ordering::SeqCst);
            bookie.requests.fetch_sub(self.bytes, Ordering::SeqCst);
        }
        if self.large_answer {
            conn.large_answers.fetch_sub(1, Ordering::SeqCst);
            bookie.large_answers.fetch_sub(1, Ordering::SeqCst);
        }
        bookie.metrics.inflight_released(self.bytes);
        conn.freed.notify_one();
        // After the release above (SeqCst): a waiter registered before this load is
        // woken; one registered after it sees the release in its own check.
        if bookie.waiters.load(Ordering::SeqCst) > 0 {
            bookie.freed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use folio_proto::*;

    const FRAME: usize = 1000;

    fn budgets(conn_bytes: usize, bookie_bytes: usize) -> (Arc<BookieBudget>, Arc<Budget>) {
        let bookie = BookieBudget::new(bookie_bytes, FRAME, Arc::new(BookieMetrics::default()));
        let conn = Budget::new(conn_bytes, FRAME, bookie.clone());
        (bookie, conn)
    }

    #[test]
    fn a_charge_counts_against_both_budgets_and_is_released_from_both() {
        let (bookie, a) = budgets(10_000, 20_000);
        let b = Budget::new(10_000, FRAME, bookie.clone());
        let ca = a.charge_request(500, false);
        let cb = b.charge_answer(300);
        assert_eq!(bookie.charged(), 800);
        assert_eq!(bookie.metrics.inflight_bytes(), 800);
        drop(ca);
        assert_eq!(bookie.charged(), 300);
        assert!(a.holds_nothing());
        drop(cb);
        assert_eq!(bookie.charged(), 0);
        assert_eq!(bookie.metrics.inflight_bytes(), 0);
    }

    #[test]
    fn the_bookie_budget_holds_back_connections_that_hold_something() {
        // Connections of 10 000 bytes each within 4 000 bookie-wide.
        let (bookie, a) = budgets(10_000, 4_000);
        let b = Budget::new(10_000, FRAME, bookie.clone());
        let _held_a = a.charge_answer(3_000);
        let _held_b = b.charge_answer(500);
        // b holds something: 3 500 + 600 passes 4 000 although b's own budget has room.
        assert!(!b.fits(600, false));
        assert!(b.fits(400, false));
        // A read reserves a frame: 3 500 + 100 + 1 000 passes 4 000.
        assert!(!b.fits(100, true));
        // An idle connection is always admitted one request.
        let c = Budget::new(10_000, FRAME, bookie.clone());
        assert!(c.fits(5_000, true));
        assert!(c.fits_add(5_000));
        assert!(!c.spent());
        let _held_c = c.charge_answer(600);
        assert!(
            c.spent(),
            "4 100 of 4 000: c holds something and stops reading"
        );
        assert!(b.spent() && a.spent());
        assert!(!c.fits(10, false));
    }

    #[test]
    fn reads_reserve_a_frame_each_until_answered() {
        let (bookie, a) = budgets(100_000, 3_000);
        let _first = a.charge_answer(100);
        let r1 = a.charge_request(10, true);
        let _r2 = a.charge_request(10, true);
        // 100 + 2·64 charged, 2 000 reserved: a third read would pass 3 000.
        assert!(!a.fits(10, true));
        assert!(a.fits(10, false));
        drop(r1);
        assert!(a.fits(10, true));
        assert!(bookie.committed() < 3_000);
    }

    #[test]
    fn adds_are_judged_on_requests_being_handled() {
        let (_bookie, a) = budgets(10_000, 4_000);
        let b = Budget::new(10_000, FRAME, a.bookie().clone());
        // Unread answers of a do not get b's adds refused ...
        let _answers = a.charge_answer(3_900);
        let _one = b.charge_request(100, false);
        assert!(b.fits_add(3_000));
        // ... requests being handled bookie-wide do.
        let _adds = a.charge_request(2_000, false);
        assert!(!b.fits_add(2_000));
        assert!(b.fits_add(1_000));
    }

    #[tokio::test]
    async fn a_release_on_one_connection_wakes_a_waiter_on_another() {
        let (bookie, a) = budgets(10_000, 1_000);
        let b = Budget::new(10_000, FRAME, bookie.clone());
        let held = a.charge_answer(900);
        let _own = b.charge_answer(50);
        assert!(!b.fits(200, false));
        let waiter = bookie.waiter();
        let freed = waiter.freed();
        drop(held);
        tokio::time::timeout(std::time::Duration::from_secs(5), freed)
            .await
            .expect("woken by the release on the other connection");
        assert!(b.fits(200, false));
    }

    /// [`MIN_REQUEST_CHARGE_BYTES`] covers every answer that is not a large one.
    #[test]
    fn small_answers_fit_the_least_request_charge() {
        let small = [
            Response::AddEntry(AddEntryResponse {
                status: Status::TooManyRequests,
                ledger_id: u64::MAX,
                entry_id: u64::MAX,
            }),
            Response::ReadLac(ReadLacResponse {
                status: Status::Ok,
                ledger_id: u64::MAX,
                lac: i64::MAX,
            }),
            Response::WriteLac(WriteLacResponse {
                status: Status::Ok,
                ledger_id: u64::MAX,
            }),
            Response::GetBookieInfo(BookieInfoResponse {
                status: Status::Ok,
                free_bytes: u64::MAX,
                total_bytes: u64::MAX,
                state: BookieState::ReadOnly,
            }),
            Response::DeleteLedger(DeleteLedgerResponse {
                status: Status::Ok,
                ledger_id: u64::MAX,
            }),
            Response::Scrub(ScrubResponse { status: Status::Ok }),
            Response::Error(Status::BadRequest),
        ];
        for resp in small {
            let bytes = Frame::new(u64::MAX, resp.clone()).to_bytes().len();
            assert!(bytes <= MIN_REQUEST_CHARGE_BYTES, "{resp:?}: {bytes} B");
        }
    }
}
