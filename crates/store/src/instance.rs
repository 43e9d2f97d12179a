//! One `serve` per SQLite file: an OS file lock on `<db>.lock` holding the
//! holder's host, pid, listen address and start time.
//!
//! SQLite has a single writer and no way to share probing, so a second `serve`
//! on the same file must refuse to start, naming the one that runs. The lock is
//! `flock(2)` (std's `File::try_lock`): released when the guard is dropped and by
//! the kernel when the process dies, however it dies, so a crash never leaves a
//! stale lock behind. The file itself stays; only the lock matters.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Who holds (or wants) a database: what the refusal names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceInfo {
    /// The machine's host name.
    pub hostname: String,
    /// The process id.
    pub pid: u32,
    /// The address its HTTP server listens on.
    pub listen_addr: String,
    /// When it started serving.
    pub started_at: OffsetDateTime,
}

/// Why the instance lock was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstanceLockError {
    /// Another process holds it; the holder's details when they could be read.
    #[error("{}", held_text(.holder, .lock_path))]
    Held {
        /// The running instance, as it wrote itself into the lock file.
        holder: Option<InstanceInfo>,
        /// The lock file.
        lock_path: PathBuf,
    },
    /// The lock file could not be opened, locked or written.
    #[error("cannot lock {}: {message}", .lock_path.display())]
    Io {
        /// The lock file.
        lock_path: PathBuf,
        /// The OS error.
        message: String,
    },
}

fn held_text(holder: &Option<InstanceInfo>, lock_path: &Path) -> String {
    match holder {
        Some(h) => format!(
            "another proxyhealth is already serving this database: host {}, pid {}, \
             listening on {} (since {})",
            h.hostname,
            h.pid,
            h.listen_addr,
            h.started_at.format(&Rfc3339).unwrap_or_default()
        ),
        None => format!(
            "another proxyhealth is already serving this database (its details could not \
             be read from {})",
            lock_path.display()
        ),
    }
}

/// The held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct InstanceGuard {
    file: File,
    path: PathBuf,
}

impl InstanceGuard {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for InstanceGuard {
    fn drop(&mut self) {
        // Clear the holder's details before the lock goes with the file.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// The lock file of a database file: `<db>.lock` beside it.
pub fn lock_path_for(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the instance lock of the database at `db`, writing `info` into the
/// lock file, or names the holder in [`InstanceLockError::Held`].
pub fn acquire(db: &Path, info: &InstanceInfo) -> Result<InstanceGuard, InstanceLockError> {
    let lock_path = lock_path_for(db);
    let io = |err: std::io::Error| InstanceLockError::Io {
        lock_path: lock_path.clone(),
        message: err.to_string(),
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(InstanceLockError::Held {
                holder: read_holder(&mut file),
                lock_path,
            });
        }
        Err(std::fs::TryLockError::Error(err)) => return Err(io(err)),
    }
    file.set_len(0).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(encode(info).as_bytes()).map_err(io)?;
    file.sync_data().map_err(io)?;
    Ok(InstanceGuard {
        file,
        path: lock_path,
    })
}

/// Reads the holder's details; retries briefly, since a holder that has just
/// taken the lock may not have written them yet.
fn read_holder(file: &mut File) -> Option<InstanceInfo> {
    for _ in 0..10 {
        let mut text = String::new();
        if file.seek(SeekFrom::Start(0)).is_ok()
            && file.read_to_string(&mut text).is_ok()
            && let Some(info) = decode(&text)
        {
            return Some(info);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// `key=value` lines; values never hold a newline.
fn encode(info: &InstanceInfo) -> String {
    let clean = |s: &str| s.replace(['\n', '\r'], " ");
    format!(
        "host={}\npid={}\naddr={}\nsince={}\n",
        clean(&info.hostname),
        info.pid,
        clean(&info.listen_addr),
        info.started_at.format(&Rfc3339).unwrap_or_default()
    )
}

fn decode(text: &str) -> Option<InstanceInfo> {
    let mut host = None;
    let mut pid = None;
    let mut addr = None;
    let mut since = None;
    for line in text.lines() {
        match line.split_once('=')? {
            ("host", v) => host = Some(v.to_owned()),
            ("pid", v) => pid = v.parse().ok(),
            ("addr", v) => addr = Some(v.to_owned()),
            ("since", v) => since = OffsetDateTime::parse(v, &Rfc3339).ok(),
            _ => {}
        }
    }
    Some(InstanceInfo {
        hostname: host?,
        pid: pid?,
        listen_addr: addr?,
        started_at: since?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_round_trip_through_the_file_format() {
        let info = InstanceInfo {
            hostname: "box\nevil".into(),
            pid: 42,
            listen_addr: "127.0.0.1:8080".into(),
            started_at: OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time"),
        };
        let back = decode(&encode(&info)).expect("decodes");
        assert_eq!(back.hostname, "box evil");
        assert_eq!(back.pid, 42);
        assert_eq!(back.listen_addr, "127.0.0.1:8080");
        assert_eq!(back.started_at, info.started_at);
        assert_eq!(decode(""), None);
    }

    #[test]
    fn the_lock_file_sits_beside_the_database() {
        assert_eq!(
            lock_path_for(Path::new("/d/proxyhealth.db")),
            PathBuf::from("/d/proxyhealth.db.lock")
        );
    }
}
