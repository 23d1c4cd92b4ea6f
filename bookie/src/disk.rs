//! Disk usage: the boundary that tells free and total space, the set of file systems
//! a bookie writes to, and the threshold rule that turns a bookie read-only.
//!
//! A bookie writes to every configured directory: the data directory (entry logs,
//! index, checkpoint mark) and the journal directory, which operators are told to put
//! on a disk of its own. Running out of space on either is fatal to writes, so the
//! bookie is as full as the fullest of them ([`DiskSet::fullest`]): it turns read-only
//! when any one crosses the threshold, well before a journal write can meet ENOSPC.

use std::path::{Path, PathBuf};

/// Free and total bytes of a file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    /// Bytes available to the bookie.
    pub free_bytes: u64,
    /// Size of the file system.
    pub total_bytes: u64,
}

impl DiskSpace {
    /// Fraction of the disk in use, 0.0–1.0.
    pub fn usage(&self) -> f64 {
        if self.total_bytes == 0 {
            return 1.0;
        }
        1.0 - self.free_bytes as f64 / self.total_bytes as f64
    }
}

/// Something that reports disk space: the real file system, or a fake.
pub trait DiskStats: Send + Sync {
    /// Current space.
    fn space(&self) -> std::io::Result<DiskSpace>;
}

/// The file system holding a directory.
#[derive(Debug, Clone)]
pub struct FsDiskStats {
    dir: PathBuf,
}

impl FsDiskStats {
    /// Reports on the file system of `dir`.
    pub fn new(dir: &Path) -> FsDiskStats {
        FsDiskStats { dir: dir.into() }
    }
}

impl DiskStats for FsDiskStats {
    fn space(&self) -> std::io::Result<DiskSpace> {
        Ok(DiskSpace {
            free_bytes: fs4::available_space(&self.dir)?,
            total_bytes: fs4::total_space(&self.dir)?,
        })
    }
}

/// The file systems of the directories a bookie writes to, each with its
/// [`DiskStats`]. The first directory is the data directory.
pub struct DiskSet {
    dirs: Vec<(PathBuf, Box<dyn DiskStats>)>,
}

impl DiskSet {
    /// Measures `dirs` (the data directory first) with `stats_for`, once per
    /// distinct path.
    pub fn new(dirs: &[PathBuf], stats_for: &dyn Fn(&Path) -> Box<dyn DiskStats>) -> DiskSet {
        let mut out: Vec<(PathBuf, Box<dyn DiskStats>)> = Vec::with_capacity(dirs.len());
        for dir in dirs {
            if !out.iter().any(|(d, _)| d == dir) {
                out.push((dir.clone(), stats_for(dir)));
            }
        }
        DiskSet { dirs: out }
    }

    /// The real file systems of `dirs` (the data directory first).
    pub fn fs(dirs: &[PathBuf]) -> DiskSet {
        DiskSet::new(dirs, &|d| Box::new(FsDiskStats::new(d)))
    }

    /// The directory whose file system is the most used, with its space. An error
    /// from any directory is returned (with the directory's path), since an
    /// unmeasured disk might be the full one.
    pub fn fullest(&self) -> std::io::Result<(&Path, DiskSpace)> {
        let mut fullest: Option<(&Path, DiskSpace)> = None;
        for (dir, stats) in &self.dirs {
            let space = stats.space().map_err(|e| {
                std::io::Error::new(e.kind(), format!("measure {}: {e}", dir.display()))
            })?;
            if fullest.is_none_or(|(_, f)| space.usage() > f.usage()) {
                fullest = Some((dir, space));
            }
        }
        fullest.ok_or_else(|| std::io::Error::other("no directories to measure"))
    }

    /// The data directory's space: what the bookie has for entry logs (reported in
    /// `GetBookieInfo` and the disk metrics).
    pub fn space(&self) -> std::io::Result<DiskSpace> {
        match self.dirs.first() {
            Some((_, stats)) => stats.space(),
            None => Err(std::io::Error::other("no directories to measure")),
        }
    }
}

/// Read-only above `threshold`; back to read-write only below `threshold - 0.05`,
/// so a disk hovering at the threshold does not flap.
pub fn next_read_only(currently_read_only: bool, usage: f64, threshold: f64) -> bool {
    if currently_read_only {
        usage > threshold - 0.05
    } else {
        usage > threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_has_hysteresis() {
        assert!(next_read_only(false, 0.96, 0.95));
        assert!(!next_read_only(false, 0.94, 0.95));
        assert!(next_read_only(true, 0.92, 0.95));
        assert!(!next_read_only(true, 0.89, 0.95));
    }

    struct Fixed(u64, u64);

    impl DiskStats for Fixed {
        fn space(&self) -> std::io::Result<DiskSpace> {
            if self.1 == 0 {
                return Err(std::io::Error::other("unreadable"));
            }
            Ok(DiskSpace {
                free_bytes: self.0,
                total_bytes: self.1,
            })
        }
    }

    fn set(spaces: &[(&str, u64, u64)]) -> DiskSet {
        let dirs: Vec<PathBuf> = spaces.iter().map(|(d, _, _)| PathBuf::from(d)).collect();
        let spaces = spaces.to_vec();
        DiskSet::new(&dirs, &move |d| {
            let (_, free, total) = spaces
                .iter()
                .find(|(p, _, _)| Path::new(p) == d)
                .copied()
                .unwrap_or(("", 0, 0));
            Box::new(Fixed(free, total))
        })
    }

    #[test]
    fn the_fullest_directory_decides() {
        let disks = set(&[("/data", 90, 100), ("/journal", 2, 100)]);
        let (dir, space) = disks.fullest().expect("measured");
        assert_eq!(dir, Path::new("/journal"));
        assert!(space.usage() > 0.97);
        // Reports (GetBookieInfo, metrics) describe the data directory.
        assert_eq!(disks.space().expect("measured").free_bytes, 90);

        let disks = set(&[("/data", 1, 100), ("/journal", 50, 100)]);
        assert_eq!(disks.fullest().expect("measured").0, Path::new("/data"));

        let disks = set(&[("/data", 50, 100), ("/data", 1, 100)]);
        assert_eq!(disks.dirs.len(), 1);

        let err = set(&[("/data", 50, 100), ("/journal", 0, 0)])
            .fullest()
            .expect_err("unmeasured journal disk");
        assert!(err.to_string().contains("/journal"), "{err}");
    }
}
