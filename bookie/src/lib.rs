//! The bookie: the storage server that holds ledger entries durably.
//!
//! A bookie journals every add (group commit, fsync before acknowledgement), writes
//! entries from all ledgers sequentially into shared entry logs, and keeps an index from
//! (ledger, entry) to location. It enforces fencing, tracks LAC, refuses to start on a
//! foreign or missing cookie, and turns read-only when its disk fills. See
//! `docs/format.md` for the on-disk layout.
