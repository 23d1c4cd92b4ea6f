//! Opening a store from a metadata URL.

use super::{EmbeddedOptions, EmbeddedStore, KvStore};
use crate::KvError;
use std::sync::Arc;

/// Opens the store a metadata URL names:
///
/// - `embedded:///abs/dir` — the embedded store in that directory;
/// - `fdb:///path/to/fdb.cluster` — FoundationDB with that cluster file (`fdb://` alone:
///   the default cluster file). Needs a build with the `fdb` feature.
pub fn open_url(url: &str) -> Result<Arc<dyn KvStore>, KvError> {
    let invalid = |reason| KvError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    if let Some(path) = url.strip_prefix("embedded://") {
        if path.is_empty() {
            return Err(invalid(
                "embedded:// needs a directory, as in embedded:///var/lib/folio/ns",
            ));
        }
        return Ok(Arc::new(EmbeddedStore::open(
            path,
            EmbeddedOptions::default(),
        )?));
    }
    if let Some(path) = url.strip_prefix("fdb://") {
        return open_fdb(path, url);
    }
    Err(invalid(
        "expected embedded:///dir or fdb:///path/to/fdb.cluster",
    ))
}

#[cfg(feature = "fdb")]
fn open_fdb(path: &str, _url: &str) -> Result<Arc<dyn KvStore>, KvError> {
    let cluster_file = (!path.is_empty()).then_some(path);
    Ok(Arc::new(super::FdbStore::open(cluster_file)?))
}

#[cfg(not(feature = "fdb"))]
fn open_fdb(_path: &str, url: &str) -> Result<Arc<dyn KvStore>, KvError> {
    Err(KvError::InvalidUrl {
        url: url.to_owned(),
        reason: "this build has no FoundationDB support (cargo feature `fdb`)",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_schemes_are_rejected() {
        assert!(matches!(
            open_url("redis://x"),
            Err(KvError::InvalidUrl { .. })
        ));
        assert!(matches!(
            open_url("embedded://"),
            Err(KvError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn embedded_url_opens_a_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("embedded://{}", dir.path().display());
        let store = open_url(&url).expect("open");
        assert_eq!(store.backend_name(), "embedded");
    }
}
