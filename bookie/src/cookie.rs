//! Cookies: the identity stamp of a data directory.
//!
//! Each directory a bookie uses (the data dir, and the journal dir if separate)
//! holds a `COOKIE` file naming the bookie, the cluster instance and the full
//! directory set. At start-up:
//! - an empty (or absent) directory gets a fresh cookie;
//! - a non-empty directory without a cookie is refused: it may be another bookie's,
//!   or this bookie's with files lost, and serving it would answer "no such entry"
//!   for entries that were acknowledged;
//! - a cookie that names another bookie, instance or directory set is refused;
//! - cookies of one bookie's directories must agree with each other, also when no
//!   instance id is configured (which accepts whichever instance is on disk);
//! - `lost+found` (made by mkfs at a file system's root) does not make a directory
//!   non-empty, so a fresh disk mounted as a data or journal dir is usable as is.
//!
//! Format (UTF-8 text, one `key=value` per line, in this order):
//!
//! ```text
//! folio-cookie=1
//! bookie_id=<bookie id>
//! instance_id=<cluster instance id>
//! dirs=<absolute dir>,<absolute dir>...
//! ```

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Context, CookieError};
use crate::journal::sync_dir;

/// Name of the cookie file.
pub const COOKIE_FILE: &str = "COOKIE";
const VERSION_LINE: &str = "folio-cookie=1";

/// The identity a bookie expects of its directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    /// The bookie's id.
    pub bookie_id: String,
    /// The cluster instance id.
    pub instance_id: String,
    /// Every directory of the bookie, as configured (absolute paths).
    pub dirs: Vec<PathBuf>,
}

impl Cookie {
    /// The file contents.
    pub fn to_text(&self) -> String {
        let dirs: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        format!(
            "{VERSION_LINE}\nbookie_id={}\ninstance_id={}\ndirs={}\n",
            self.bookie_id,
            self.instance_id,
            dirs.join(",")
        )
    }

    /// Parses file contents.
    pub fn parse(text: &str) -> Result<Cookie, String> {
        let mut lines = text.lines();
        if lines.next() != Some(VERSION_LINE) {
            return Err(format!("first line is not {VERSION_LINE:?}"));
        }
        let mut field = |name: &str| -> Result<String, String> {
            let line = lines.next().ok_or_else(|| format!("missing {name}"))?;
            line.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('='))
                .map(str::to_string)
                .ok_or_else(|| format!("expected {name}=..., found {line:?}"))
        };
        Ok(Cookie {
            bookie_id: field("bookie_id")?,
            instance_id: field("instance_id")?,
            dirs: field("dirs")?
                .split(',')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect(),
        })
    }
}

/// Made by mkfs at the root of a file system; says nothing about bookie data.
const LOST_FOUND: &str = "lost+found";

/// Empty, absent, or holding only a cookie being written by a start that crashed
/// and `lost+found`.
fn is_empty_dir(dir: &Path) -> Result<bool, CookieError> {
    let tmp = std::ffi::OsString::from(format!("{COOKIE_FILE}.tmp"));
    match fs::read_dir(dir) {
        Ok(rd) => Ok(rd
            .filter_map(Result::ok)
            .all(|entry| entry.file_name() == tmp || entry.file_name() == LOST_FOUND)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(source) => Err(CookieError::Io(crate::error::IoContext {
            context: format!("list {}", dir.display()),
            source,
        })),
    }
}

/// Checks (or, for a new directory, writes) the cookie of every directory.
/// `instance_id` `None` accepts the instance on disk, and names a new one
/// `new_instance` for fresh directories.
pub fn check_or_create(
    dirs: &[PathBuf],
    bookie_id: &str,
    instance_id: Option<&str>,
    new_instance: &str,
) -> Result<Cookie, CookieError> {
    let storable = |s: &str| !s.contains([',', '\n', '\r']);
    if !storable(bookie_id) {
        return Err(CookieError::Unstorable {
            what: "bookie_id",
            value: bookie_id.to_string(),
        });
    }
    for (i, dir) in dirs.iter().enumerate() {
        if !dir.to_str().is_some_and(storable) {
            return Err(CookieError::Unstorable {
                what: if i == 0 { "data_dir" } else { "journal_dir" },
                value: dir.display().to_string(),
            });
        }
    }
    // Look at every directory before writing anything, so a refusal changes nothing.
    let mut found: Option<(PathBuf, Cookie)> = None;
    let mut fresh = Vec::new();
    for dir in dirs {
        let path = dir.join(COOKIE_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => {
                let c = Cookie::parse(&text).map_err(|reason| CookieError::Malformed {
                    dir: dir.clone(),
                    reason,
                })?;
                check(dir, &c, bookie_id, instance_id, dirs)?;
                match &found {
                    // `check` compared bookie id and directory set with the
                    // configuration; the instance is the one field left free when
                    // no instance id is configured.
                    Some((first_dir, first)) if first.instance_id != c.instance_id => {
                        return Err(CookieError::Disagree {
                            dir: dir.clone(),
                            other_dir: first_dir.clone(),
                            field: "instance_id",
                            found: c.instance_id,
                            other_found: first.instance_id.clone(),
                        });
                    }
                    Some(_) => {}
                    None => found = Some((dir.clone(), c)),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !is_empty_dir(dir)? {
                    return Err(CookieError::MissingCookie { dir: dir.clone() });
                }
                fresh.push(dir.clone());
            }
            Err(e) => {
                return Err(CookieError::Io(crate::error::IoContext {
                    context: format!("read {}", path.display()),
                    source: e,
                }));
            }
        }
    }
    if found.is_some() && !fresh.is_empty() {
        // One directory has a cookie and another is empty: the empty one was wiped
        // or replaced, and what it held is gone.
        return Err(CookieError::MissingCookie {
            dir: fresh[0].clone(),
        });
    }
    let cookie = found.map(|(_, c)| c).unwrap_or_else(|| Cookie {
        bookie_id: bookie_id.to_string(),
        instance_id: instance_id.unwrap_or(new_instance).to_string(),
        dirs: dirs.to_vec(),
    });
    for dir in fresh {
        write(&dir, &cookie)?;
    }
    Ok(cookie)
}

fn check(
    dir: &Path,
    c: &Cookie,
    bookie_id: &str,
    instance_id: Option<&str>,
    dirs: &[PathBuf],
) -> Result<(), CookieError> {
    let mismatch = |field, found: String, expected: String| CookieError::Mismatch {
        dir: dir.to_path_buf(),
        field,
        found,
        expected,
    };
    if c.bookie_id != bookie_id {
        return Err(mismatch("bookie_id", c.bookie_id.clone(), bookie_id.into()));
    }
    if let Some(i) = instance_id
        && c.instance_id != i
    {
        return Err(mismatch("instance_id", c.instance_id.clone(), i.into()));
    }
    if c.dirs != dirs {
        let show = |d: &[PathBuf]| {
            d.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        return Err(mismatch("dirs", show(&c.dirs), show(dirs)));
    }
    Ok(())
}

fn write(dir: &Path, cookie: &Cookie) -> Result<(), CookieError> {
    fs::create_dir_all(dir).context(|| format!("create {}", dir.display()))?;
    let tmp = dir.join(format!("{COOKIE_FILE}.tmp"));
    let mut f = fs::File::create(&tmp).context(|| format!("create {}", tmp.display()))?;
    f.write_all(cookie.to_text().as_bytes())
        .and_then(|()| f.sync_all())
        .context(|| format!("write {}", tmp.display()))?;
    fs::rename(&tmp, dir.join(COOKIE_FILE)).context(|| format!("rename {}", tmp.display()))?;
    sync_dir(dir)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_dir_gets_a_cookie_and_mismatches_are_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dirs = vec![tmp.path().join("data")];
        let c = check_or_create(&dirs, "b1", None, "inst").expect("fresh");
        assert_eq!(c.instance_id, "inst");
        assert_eq!(
            check_or_create(&dirs, "b1", Some("inst"), "x").expect("same"),
            c
        );
        assert!(matches!(
            check_or_create(&dirs, "b2", None, "x"),
            Err(CookieError::Mismatch {
                field: "bookie_id",
                ..
            })
        ));
        assert!(matches!(
            check_or_create(&dirs, "b1", Some("other"), "x"),
            Err(CookieError::Mismatch {
                field: "instance_id",
                ..
            })
        ));
        let more = vec![tmp.path().join("data"), tmp.path().join("journal")];
        assert!(check_or_create(&more, "b1", None, "x").is_err());
    }

    #[test]
    fn non_empty_dir_without_cookie_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(tmp.path().join("stray"), b"x").expect("write");
        let dirs = vec![tmp.path().to_path_buf()];
        assert!(matches!(
            check_or_create(&dirs, "b1", None, "x"),
            Err(CookieError::MissingCookie { .. })
        ));
    }

    #[test]
    fn cookies_of_one_bookie_must_agree_without_a_configured_instance() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dirs = vec![tmp.path().join("data"), tmp.path().join("journal")];
        let stamp = |dir: &Path, instance: &str| {
            let c = Cookie {
                bookie_id: "b1".into(),
                instance_id: instance.into(),
                dirs: dirs.clone(),
            };
            write(dir, &c).expect("write cookie");
        };
        stamp(&dirs[0], "cluster-a");
        stamp(&dirs[1], "cluster-b");
        match check_or_create(&dirs, "b1", None, "x") {
            Err(
                e @ CookieError::Disagree {
                    field: "instance_id",
                    ..
                },
            ) => {
                let text = e.to_string();
                assert!(
                    text.contains("cluster-a") && text.contains("cluster-b"),
                    "{text}"
                );
                assert!(text.contains(&dirs[1].display().to_string()), "{text}");
            }
            other => panic!("expected Disagree, got {other:?}"),
        }
        // Configured, the instance is checked against each cookie as before.
        assert!(matches!(
            check_or_create(&dirs, "b1", Some("cluster-a"), "x"),
            Err(CookieError::Mismatch {
                field: "instance_id",
                ..
            })
        ));
        // Nothing was rewritten by the refusals.
        let on_disk = |d: &Path| {
            Cookie::parse(&fs::read_to_string(d.join(COOKIE_FILE)).expect("read"))
                .expect("parse")
                .instance_id
        };
        assert_eq!(on_disk(&dirs[0]), "cluster-a");
        assert_eq!(on_disk(&dirs[1]), "cluster-b");
        stamp(&dirs[1], "cluster-a");
        let c = check_or_create(&dirs, "b1", None, "x").expect("agreeing cookies");
        assert_eq!(c.instance_id, "cluster-a");
    }

    #[test]
    fn lost_and_found_does_not_make_a_directory_non_empty() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let fresh = tmp.path().join("fresh-fs");
        std::fs::create_dir_all(fresh.join(LOST_FOUND)).expect("mkdir");
        let dirs = vec![fresh.clone()];
        let c = check_or_create(&dirs, "b1", None, "inst").expect("fresh despite lost+found");
        assert_eq!(c.instance_id, "inst");
        assert!(fresh.join(COOKIE_FILE).is_file());
        assert!(fresh.join(LOST_FOUND).is_dir(), "lost+found is left alone");
        // Anything else still counts as data.
        let used = tmp.path().join("used-fs");
        std::fs::create_dir_all(used.join(LOST_FOUND)).expect("mkdir");
        std::fs::write(used.join("000001.log"), b"x").expect("write");
        assert!(matches!(
            check_or_create(&[used], "b1", None, "x"),
            Err(CookieError::MissingCookie { .. })
        ));
    }

    /// A path or id that would not read back the same is refused before anything
    /// is written, instead of making the next start-up a confusing mismatch.
    #[test]
    fn names_that_would_not_round_trip_are_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let comma = tmp.path().join("a,b");
        fs::create_dir_all(&comma).expect("mkdir");
        let err =
            check_or_create(std::slice::from_ref(&comma), "b1", None, "i").expect_err("comma");
        assert!(
            matches!(
                err,
                CookieError::Unstorable {
                    what: "data_dir",
                    ..
                }
            ),
            "{err}"
        );
        assert!(!comma.join(COOKIE_FILE).exists());
        let ok = tmp.path().join("ok");
        let err = check_or_create(&[ok.clone(), tmp.path().join("j\nx")], "b1", None, "i")
            .expect_err("newline");
        assert!(
            matches!(
                err,
                CookieError::Unstorable {
                    what: "journal_dir",
                    ..
                }
            ),
            "{err}"
        );
        let err = check_or_create(&[ok], "b1\r", None, "i").expect_err("id");
        assert!(
            matches!(
                err,
                CookieError::Unstorable {
                    what: "bookie_id",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn cookie_text_round_trips() {
        let c = Cookie {
            bookie_id: "127.0.0.1:3181".into(),
            instance_id: "abc".into(),
            dirs: vec!["/a".into(), "/b".into()],
        };
        assert_eq!(Cookie::parse(&c.to_text()), Ok(c));
        assert!(Cookie::parse("garbage").is_err());
    }
}
