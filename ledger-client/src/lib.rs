//! The thick ledger client.
//!
//! It carries the replication protocol: write sets and ack quorums, in-order
//! acknowledgement, LAC, ensemble change, fencing and recovery, and verified reads.
//! The protocol cores are state machines without I/O, driven by tokio tasks from
//! outside, so that a deterministic simulation can run the same code.
//!
//! Not built yet: this crate is filled by the ledger-client issue.
