//! [`BookieProber`]: heartbeats the registry records of a static list of bookies.
//!
//! A gateway or standalone started with a fixed bookie list
//! ([`crate::BookieSource::Static`]) has bookies that do not write to the namespace
//! themselves (the bookie does not depend on the namespace). The prober asks each one
//! for its state and disk space (`GetBookieInfo`) every interval and registers or
//! heartbeats it under its address as bookie id, with a lease of a few intervals. A
//! bookie that does not answer is simply not heartbeated: its lease lapses and it
//! reads as down. This is what the [`super::Auditor`], which only reads the registry,
//! relies on in embedded-namespace clusters.
//!
//! Heartbeats never overwrite a decommissioned state (`bookies::register` and
//! `bookies::heartbeat` keep it).

use std::time::Duration;

use folio_namespace::bookies::{self, BookieRecord, BookieState};
use folio_namespace::{Db, NsError};
use folio_proto::BookieState as ReportedState;
use tokio::sync::watch;

use super::{ProberConfig, millis, unix_ms};
use crate::{BookieId, Candidate, LedgerClient};

/// What one probe round saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeReport {
    /// Bookies that answered and were heartbeated.
    pub alive: Vec<BookieId>,
    /// Bookies that did not answer (not heartbeated).
    pub unreachable: Vec<BookieId>,
}

/// Probes a static list of bookies and heartbeats their registry records.
pub struct BookieProber {
    db: Db,
    client: LedgerClient,
    config: ProberConfig,
}

impl BookieProber {
    /// A prober of the bookies `client` was given as a static list.
    pub fn new(db: Db, client: LedgerClient, config: ProberConfig) -> BookieProber {
        BookieProber { db, client, config }
    }

    /// Probes every bookie once, concurrently, and heartbeats those that answered.
    pub async fn probe_once(&self) -> Result<ProbeReport, NsError> {
        let probes = self.client.static_bookies().iter().map(|c| self.probe(c));
        let answers = futures::future::join_all(probes).await;
        let lease_ms = millis(self.config.interval)
            .saturating_mul(u64::from(self.config.lease_intervals.max(1)));
        let mut report = ProbeReport::default();
        for (candidate, answer) in answers {
            let Some(info) = answer else {
                report.unreachable.push(candidate.id);
                continue;
            };
            let now_ms = unix_ms();
            let record = BookieRecord {
                address: candidate.id.as_str().to_owned(),
                rack: candidate.rack.clone(),
                state: match info.state {
                    ReportedState::ReadWrite => BookieState::ReadWrite,
                    ReportedState::ReadOnly => BookieState::ReadOnly,
                },
                last_heartbeat_ms: now_ms,
                lease_ms,
                capacity_bytes: info.total_bytes,
                free_bytes: info.free_bytes,
            };
            let id = candidate.id.as_str().to_owned();
            self.db
                .transact(move |tx, _| {
                    let mut next = record.clone();
                    if let Some(old) = bookies::get(tx, &id)? {
                        // Heartbeats never move backwards, and a rack set by an
                        // admin stays when the static list has none.
                        next.last_heartbeat_ms = next.last_heartbeat_ms.max(old.last_heartbeat_ms);
                        next.rack = next.rack.or(old.rack);
                    }
                    // `register` keeps a decommissioned state.
                    bookies::register(tx, &id, &next)
                })
                .await?;
            report.alive.push(candidate.id);
        }
        Ok(report)
    }

    async fn probe(
        &self,
        candidate: &Candidate,
    ) -> (Candidate, Option<folio_proto::BookieInfoResponse>) {
        let answer = tokio::time::timeout(
            self.config.probe_timeout,
            self.client.bookie_info(&candidate.id),
        )
        .await;
        let info = match answer {
            Ok(Ok(info)) => Some(info),
            Ok(Err(error)) => {
                tracing::debug!(bookie = %candidate.id, %error, "bookie probe failed");
                None
            }
            Err(_) => {
                tracing::debug!(bookie = %candidate.id, "bookie probe timed out");
                None
            }
        };
        (candidate.clone(), info)
    }

    /// Probes every interval until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            match self.probe_once().await {
                Ok(report) if !report.unreachable.is_empty() => {
                    tracing::debug!(unreachable = ?report.unreachable, "bookies did not answer");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "bookie heartbeat failed; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.interval) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// The probe interval.
    pub fn interval(&self) -> Duration {
        self.config.interval
    }
}
