//! Helpers shared by the real-process tests of `cli/tests/`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use std::time::Instant;

/// A `folio bookie` child process, killed (SIGKILL) when dropped.
pub struct BookieProcess {
    /// The child process.
    pub child: Child,
    /// The address it listens on, from the line it prints once listening.
    pub addr: SocketAddr,
}

impl BookieProcess {
    /// Spawns `command` (a `folio bookie ... --listen 127.0.0.1:0` invocation whose
    /// stderr the caller has set) and waits up to 30 s for the "listening on ADDR"
    /// line on its stdout.
    #[allow(dead_code)] // not every test binary spawns without a retry
    pub fn spawn(command: Command) -> BookieProcess {
        BookieProcess::try_spawn(command).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`BookieProcess::spawn`], but a process that exits before printing its
    /// address (say, because its `--listen` port is in use) is an `Err`, reaped.
    pub fn try_spawn(mut command: Command) -> Result<BookieProcess, String> {
        let mut child = command
            .env("FOLIO_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn folio bookie");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut process = BookieProcess {
            child,
            addr: "127.0.0.1:1".parse().expect("addr"),
        };
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("bookie printed its address within 30s");
        if line.is_empty() {
            // Stdout closed without a line: the process is exiting.
            let status = process.child.wait().expect("reap folio bookie");
            return Err(format!("folio bookie exited ({status}) before listening"));
        }
        process.addr = line
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Ok(process)
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill9(&mut self) {
        // std's kill() sends SIGKILL on Unix.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for BookieProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs `start` until it succeeds, while the failure is a port in use (its message
/// or the log file `log` says "in use"), for at most 30 s.
///
/// A bookie restarted on the address it had before finds its port free only if
/// no socket took it meanwhile: while the bookie was down, a connection made by any
/// process on the machine may have been given that port as its local port, and
/// binding fails until that socket closes.
#[allow(dead_code)] // not every test binary restarts a bookie on its address
pub fn retry_while_port_in_use<T>(
    log: &std::path::Path,
    mut start: impl FnMut() -> Result<T, String>,
) -> T {
    let started = Instant::now();
    loop {
        match start() {
            Ok(t) => return t,
            Err(e) => {
                let logged = std::fs::read_to_string(log).unwrap_or_default();
                assert!(
                    (e.contains("in use") || logged.contains("in use"))
                        && started.elapsed() < Duration::from_secs(30),
                    "{e}; log: {logged}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Stops `child` with SIGTERM (a clean shutdown) and reaps it, or kills it if it has
/// not exited within 30 s.
#[allow(dead_code)] // not every test binary stops a process cleanly
pub fn terminate(child: &mut Child) {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The seed of a randomized test: `$var` if set (to replay a failure), else the clock.
#[allow(dead_code)] // not every test binary is randomized
pub fn seed(var: &str) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}
