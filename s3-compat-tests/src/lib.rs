//! End-to-end tests that run real S3 clients against a real `folio standalone`
//! process.
//!
//! [`Server::start`] runs the `folio` binary built next to the test executable
//! (`cargo test --workspace` builds it) on free loopback ports with a fresh data
//! directory, waits for it to announce its addresses, and kills it when dropped. The
//! tests in `tests/` drive it with aws-sdk-s3 and raw HTTP; `.ci/run` also runs the
//! client scripts (aws CLI, boto3, rclone, s3cmd, curl) against it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The root access key the test servers run with.
pub const ACCESS_KEY: &str = "FOLIOTESTROOTKEY";
/// The root secret the test servers run with.
pub const SECRET_KEY: &str = "folio-test-root-secret-key-0123456789";
/// The admin token the test servers run with.
pub const ADMIN_TOKEN: &str = "folio-test-admin-token-0123456789";

/// How long a server may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A running `folio standalone` process, killed on drop.
pub struct Server {
    child: Child,
    data: tempfile::TempDir,
    s3: SocketAddr,
    admin: SocketAddr,
    tls: bool,
}

/// The `folio` binary: next to the test executable's directory (`target/<profile>/`).
pub fn folio_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    profile_dir.join("folio")
}

impl Server {
    /// Starts a server with a fresh data directory.
    pub fn start() -> Server {
        let data = tempfile::tempdir().expect("create a data directory");
        Server::start_in(data, &[])
    }

    /// Starts a server on `data` (which may hold an earlier server's data), with extra
    /// flags.
    pub fn start_in(data: tempfile::TempDir, extra: &[&str]) -> Server {
        let mut args: Vec<String> = vec!["standalone".into(), "--data-dir".into()];
        args.push(data.path().to_string_lossy().into_owned());
        args.extend(
            [
                "--s3-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--bookie-port-base",
                "0",
            ]
            .map(String::from),
        );
        args.extend(extra.iter().map(|s| s.to_string()));
        Server::start_command(&args, data)
    }

    /// Runs `folio <args>` (a command that prints the `... S3 on http(s)://A, admin on
    /// http://B, ...` line when ready, such as `standalone` or `gateway`) with the test
    /// credentials; `data` is kept with the process.
    pub fn start_command(args: &[String], data: tempfile::TempDir) -> Server {
        let binary = folio_binary();
        assert!(
            binary.exists(),
            "{} is missing: run the tests with `cargo test --workspace`, which builds it",
            binary.display()
        );
        let mut child = Command::new(&binary)
            .args(args)
            .env("FOLIO_ROOT_ACCESS_KEY", ACCESS_KEY)
            .env("FOLIO_ROOT_SECRET_KEY", SECRET_KEY)
            .env("FOLIO_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("FOLIO_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn folio standalone");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addrs) = parse_ready(&line) {
                    let _ = tx.send(addrs);
                }
                // Keep the server's log visible in test output.
                eprintln!("[folio] {line}");
            }
        });
        let (s3, admin, tls) = match rx.recv_timeout(START_TIMEOUT) {
            Ok(addrs) => addrs,
            Err(_) => {
                let _ = child.kill();
                panic!("folio {args:?} did not start within {START_TIMEOUT:?}");
            }
        };
        Server {
            child,
            data,
            s3,
            admin,
            tls,
        }
    }

    /// The S3 endpoint, `http://127.0.0.1:PORT` (`https://` when the server was
    /// started with `--tls-cert` and `--tls-key`).
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.s3)
    }

    /// The process id of the server (to read its memory use from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// The S3 listener's address.
    pub fn s3_addr(&self) -> SocketAddr {
        self.s3
    }

    /// The admin endpoint, `http://127.0.0.1:PORT`.
    pub fn admin_endpoint(&self) -> String {
        format!("http://{}", self.admin)
    }

    /// Kills the process with SIGKILL (no shutdown), keeping its data directory for a
    /// restart with [`Server::start_in`].
    pub fn kill(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.data, tempfile::tempdir().expect("temp dir"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `folio gateway` in front of `bookies`, with an embedded namespace in a
    /// fresh directory, E=3, Qw=3, Qa=2, 64 KiB entries, and `extra` flags.
    pub fn start_gateway(bookies: &[BookieProcess], extra: &[&str]) -> Server {
        let list = bookies
            .iter()
            .map(|b| b.addr().to_string())
            .collect::<Vec<_>>()
            .join(",");
        let data = tempfile::tempdir().expect("temp dir");
        let namespace = data.path().join("namespace").to_string_lossy().into_owned();
        let args: Vec<String> = [
            "gateway",
            "--metadata-dir",
            &namespace,
            "--bookies",
            &list,
            "--ensemble-size",
            "3",
            "--write-quorum",
            "3",
            "--ack-quorum",
            "2",
            "--s3-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--entry-size",
            "64KiB",
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
        Server::start_command(&args, data)
    }
}

/// A running `folio bookie` process on a free loopback port, killed on drop.
pub struct BookieProcess {
    child: Child,
    addr: SocketAddr,
    _data: tempfile::TempDir,
}

impl BookieProcess {
    /// Starts `folio bookie` with a fresh data directory and the id `id`.
    pub fn start(id: &str) -> BookieProcess {
        BookieProcess::start_with(id, &[])
    }

    /// Starts `folio bookie` with a fresh data directory, the id `id` and `extra`
    /// flags.
    pub fn start_with(id: &str, extra: &[&str]) -> BookieProcess {
        let data = tempfile::tempdir().expect("create a data directory");
        let mut child = Command::new(folio_binary())
            .args(["bookie", "--listen", "127.0.0.1:0", "--bookie-id", id])
            .args(extra)
            .arg("--data-dir")
            .arg(data.path())
            .env("FOLIO_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn folio bookie");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line
                    .strip_prefix("folio bookie listening on ")
                    .and_then(|a| a.trim().parse::<SocketAddr>().ok())
                {
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("folio bookie did not start within {START_TIMEOUT:?}");
            }
        };
        BookieProcess {
            child,
            addr,
            _data: data,
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its data directory.
    pub fn data_dir(&self) -> &Path {
        self._data.path()
    }

    /// Kills it with SIGKILL (`kill -9`) and reaps it; its data directory stays.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for BookieProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses "folio standalone: S3 on http(s)://A, admin on http://B, ...", and whether
/// the S3 listener speaks TLS.
fn parse_ready(line: &str) -> Option<(SocketAddr, SocketAddr, bool)> {
    let rest = line.split("S3 on ").nth(1)?;
    let (tls, rest) = if let Some(rest) = rest.strip_prefix("https://") {
        (true, rest)
    } else {
        (false, rest.strip_prefix("http://")?)
    };
    let (s3, rest) = rest.split_once(',')?;
    let admin = rest.split("admin on http://").nth(1)?.split(',').next()?;
    Some((s3.trim().parse().ok()?, admin.trim().parse().ok()?, tls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_ready_line() {
        let line = "folio standalone: S3 on http://127.0.0.1:4000, admin on http://127.0.0.1:4001, 3 bookies, data in /tmp/x";
        assert_eq!(
            parse_ready(line),
            Some((
                "127.0.0.1:4000".parse().expect("addr"),
                "127.0.0.1:4001".parse().expect("addr"),
                false
            ))
        );
        let line = "folio standalone: S3 on https://127.0.0.1:4000, admin on http://127.0.0.1:4001, 3 bookies, data in /tmp/x";
        assert_eq!(parse_ready(line).map(|r| r.2), Some(true));
        assert_eq!(parse_ready("something else"), None);
    }
}
