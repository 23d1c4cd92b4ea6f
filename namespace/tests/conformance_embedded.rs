//! The conformance suite on the embedded store.

use folio_namespace::conformance::{self, Backend};
use folio_namespace::{EmbeddedOptions, EmbeddedStore, KvStore};
use std::sync::Arc;

struct Embedded(tempfile::TempDir);

impl Backend for Embedded {
    fn open(&self) -> Arc<dyn KvStore> {
        Arc::new(EmbeddedStore::open(self.0.path(), EmbeddedOptions::default()).expect("open"))
    }
}

fn backend() -> Embedded {
    Embedded(tempfile::tempdir().expect("tempdir"))
}

macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {
        $(#[test] fn $name() { conformance::$name(&backend()); })*

        #[test]
        fn every_check_has_a_test() {
            let ours = [$(stringify!($name)),*];
            for (name, _) in conformance::CHECKS {
                assert!(ours.contains(name), "conformance check {name} is not run");
            }
        }
    };
}

conformance_tests!(
    ordering_and_range_edges,
    range_continuation,
    scan_pages_across_transactions,
    prefix_ranges,
    read_your_writes_and_clears,
    write_skew_is_impossible,
    phantoms_conflict,
    disjoint_transactions_commit,
    retries_resolve_conflicts,
    retry_limit_and_errors,
    atomic_add_under_concurrency,
    limits_are_enforced,
    durability_across_reopen,
);
