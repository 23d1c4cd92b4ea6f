//! An in-process cluster for the ledger client's tests: bookies started with
//! `folio_bookie::Bookie::start` on free loopback ports, each with its own data
//! directory, and a real embedded namespace.

use std::sync::Arc;

use folio_bookie::{Bookie, BookieConfig, BookieHandle};
use std::time::Duration;

use folio_ledger::{BookieId, BookieSource, Candidate, ClientConfig, LedgerClient, WriterConfig};
use folio_namespace::{Db, EmbeddedOptions, EmbeddedStore};

/// Bookies and a namespace, removed with their temp directory on drop.
pub struct Cluster {
    dir: tempfile::TempDir,
    bookies: Vec<Option<BookieHandle>>,
    /// Bookie addresses, by index.
    pub addresses: Vec<BookieId>,
    /// The namespace.
    pub db: Db,
}

impl Cluster {
    /// Starts `n` bookies and an empty namespace.
    pub async fn start(n: usize) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut bookies = Vec::new();
        let mut addresses = Vec::new();
        for i in 0..n {
            let listen = "127.0.0.1:0".parse().expect("address");
            let handle = start_bookie(dir.path(), i, listen).await;
            addresses.push(BookieId::new(handle.local_addr().to_string()));
            bookies.push(Some(handle));
        }
        let store = EmbeddedStore::open(dir.path().join("ns"), EmbeddedOptions::default())
            .expect("namespace opens");
        Cluster {
            dir,
            bookies,
            addresses,
            db: Db::new(Arc::new(store)),
        }
    }

    /// A client over every bookie of the cluster.
    pub fn client(&self, config: ClientConfig) -> LedgerClient {
        let candidates = self
            .addresses
            .iter()
            .map(|id| Candidate {
                id: id.clone(),
                rack: None,
            })
            .collect();
        LedgerClient::new(self.db.clone(), BookieSource::Static(candidates), config)
    }

    /// The index of the bookie at `address`.
    pub fn index_of(&self, address: &str) -> usize {
        self.addresses
            .iter()
            .position(|a| a.as_str() == address)
            .expect("a bookie of this cluster")
    }

    /// Starts bookie `i` again after [`Cluster::stop`], on its address and data
    /// directory (a machine that comes back).
    ///
    /// While the bookie was down its port was free, and a connection made meanwhile
    /// (by this or another test process) may have been given it as its local port.
    /// Binding then fails with "address in use" until that socket closes, so the
    /// bind is retried for up to 30 s before the test fails.
    #[allow(dead_code)] // not every test binary restarts a bookie
    pub async fn restart(&mut self, i: usize) {
        assert!(self.bookies[i].is_none(), "bookie {i} is running");
        let listen: std::net::SocketAddr = self.addresses[i].as_str().parse().expect("address");
        let started = std::time::Instant::now();
        let listener = loop {
            match std::net::TcpListener::bind(listen) {
                Ok(listener) => break listener,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    assert!(
                        started.elapsed() < Duration::from_secs(30),
                        "{listen} still in use after 30 s: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("bind {listen}: {e}"),
            }
        };
        let handle = Bookie::start_on(bookie_config(self.dir.path(), i, listen), listener)
            .await
            .expect("bookie restarts");
        self.bookies[i] = Some(handle);
    }

    /// Stops bookie `i` (it stops answering, like a lost machine).
    pub async fn stop(&mut self, i: usize) {
        if let Some(handle) = self.bookies[i].take() {
            handle.shutdown().await.expect("bookie shuts down");
        }
    }
}

fn bookie_config(dir: &std::path::Path, i: usize, listen: std::net::SocketAddr) -> BookieConfig {
    let mut config = BookieConfig::new(dir.join(format!("bookie-{i}")), listen);
    config.bookie_id = format!("bookie-{i}");
    config
}

async fn start_bookie(
    dir: &std::path::Path,
    i: usize,
    listen: std::net::SocketAddr,
) -> BookieHandle {
    Bookie::start(bookie_config(dir, i, listen))
        .await
        .expect("bookie starts")
}

/// Client settings for tests: a short connect timeout and speculative read delay, so
/// a stopped bookie is noticed fast. (A stopped bookie closes its connections and
/// refuses new ones, so it is noticed at once whatever the request timeout.) Request
/// and add timeouts stay long: on a loaded machine a live bookie's fsync can take
/// seconds, and a 2 s timeout then replaced a healthy bookie, or failed the write
/// when no spare was left.
#[allow(dead_code)] // not every test binary uses it
pub fn fast_config() -> ClientConfig {
    ClientConfig {
        request_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_millis(500),
        speculative_read_delay: Duration::from_millis(50),
        writer: WriterConfig {
            add_timeout_ms: 10_000,
            ..WriterConfig::default()
        },
        ..ClientConfig::default()
    }
}
