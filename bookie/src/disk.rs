//! Disk usage: the boundary that tells free and total space, and the threshold rule
//! that turns a bookie read-only.

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
}
