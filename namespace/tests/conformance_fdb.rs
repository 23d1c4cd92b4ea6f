//! The conformance suite on FoundationDB. Built only with `--features fdb`; it needs
//! libfdb_c and a running cluster named by `FDB_CLUSTER_FILE`, and fails (rather than
//! passing vacuously) when that variable is unset. See docs/operations.md.
#![cfg(feature = "fdb")]

use folio_namespace::KvStore;
use folio_namespace::conformance::{self, Backend};
use folio_namespace::kv::FdbStore;
use std::sync::Arc;

struct Fdb(String);

impl Backend for Fdb {
    fn open(&self) -> Arc<dyn KvStore> {
        Arc::new(FdbStore::open(Some(&self.0)).expect("open FoundationDB"))
    }
}

fn backend() -> Fdb {
    let file = std::env::var("FDB_CLUSTER_FILE")
        .expect("FDB_CLUSTER_FILE must name the cluster file of a test cluster");
    Fdb(file)
}

#[test]
fn conformance_suite_passes_on_foundationdb() {
    let backend = backend();
    for (name, check) in conformance::CHECKS {
        eprintln!("fdb conformance: {name}");
        check(&backend);
    }
}
