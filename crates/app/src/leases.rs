//! The identity under which a process holds worker leases.
//!
//! Singleton workers (grants, outbox, vault rotation, reconcile, access jobs, audit
//! checkpoints, SIEM sinks) run on one replica at a time, under a lease in the `leases`
//! table that names its owner and lasts [`crate::state::LEASE`] unless renewed. A lease
//! whose owner comes back renews at once; anyone else waits for it to lapse.
//!
//! The owner is therefore stable per data directory: `worker_id` in the data directory
//! (mode 0600, created once) holds a random id, and the owner is derived from it, the host
//! name and the directory's path. A process started again on the same data directory, on
//! the same host, is the same owner and takes over at once whatever the previous process
//! held, even one that was killed. A copy of the directory (replicas share the SSH CA and
//! the audit signing key, so operators copy it) on another host or at another path is a
//! different owner, so two live replicas never share one.
//!
//! While it runs, the process holds an exclusive lock on the file (released by the kernel
//! when the process ends, however it ends). A second process started on the same data
//! directory by mistake cannot take the identity: it runs under an id of its own, as a
//! separate replica would. So does a process whose data directory cannot be written.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The file in the data directory holding its worker id.
pub const WORKER_ID_FILE: &str = "worker_id";

/// The worker id this process holds leases under.
#[derive(Debug)]
pub struct WorkerIdentity {
    owner: Uuid,
    /// The locked `worker_id` file, when the id comes from the data directory.
    file: Option<(PathBuf, File)>,
}

/// Why a data directory's worker id cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WorkerIdError {
    /// The file could not be created, locked, read or written.
    #[error("cannot {action} the worker id file {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Another running process holds the file's lock.
    #[error(
        "the data directory {} is in use by another running Warden process (it holds {})",
        dir.display(),
        WORKER_ID_FILE
    )]
    InUse {
        /// The data directory.
        dir: PathBuf,
    },
    /// The file holds something other than an id.
    #[error(
        "the worker id file {} does not hold a worker id (a UUID); remove it, and the next start makes a new one",
        path.display()
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
    },
}

impl WorkerIdentity {
    /// An id of this process alone: its leases are taken over by a later process only
    /// when it releases them or they lapse.
    pub fn process() -> Self {
        Self {
            // Random: the id names this process, it says nothing of time.
            owner: Uuid::new_v4(),
            file: None,
        }
    }

    /// The identity of the data directory `dir` on this host, holding the lock on its
    /// `worker_id` (created, 0600, when missing).
    pub fn of_data_dir(dir: &Path) -> Result<Self, WorkerIdError> {
        let path = dir.join(WORKER_ID_FILE);
        let io = |action| {
            let path = path.clone();
            move |source| WorkerIdError::Io {
                action,
                path,
                source,
            }
        };
        let mut file = {
            use std::os::unix::fs::OpenOptionsExt;
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
                .map_err(io("open"))?
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(WorkerIdError::InUse {
                    dir: dir.to_owned(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io("lock")(e)),
        }
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(io("read"))?;
        let id = if text.trim().is_empty() {
            // A new data directory (or a file left empty by a start that died writing it:
            // nobody can have used that id).
            let id = Uuid::new_v4();
            file.rewind().map_err(io("write"))?;
            file.write_all(format!("{id}\n").as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(io("write"))?;
            id
        } else {
            Uuid::parse_str(text.trim())
                .map_err(|_| WorkerIdError::Corrupt { path: path.clone() })?
        };
        let dir = std::fs::canonicalize(dir).map_err(io("resolve the directory of"))?;
        let host = hostname::get().unwrap_or_default();
        Ok(Self {
            owner: owner_of(id, &host.to_string_lossy(), &dir),
            file: Some((path, file)),
        })
    }

    /// The data directory's identity, or one of this process alone (with a warning
    /// saying why) when the directory's cannot be had. A `worker_id` that holds no id
    /// is an error: the operator must look at it.
    pub fn for_serving(dir: &Path) -> Result<Self, WorkerIdError> {
        if !dir.exists()
            && let Err(source) = crate::state::make_private_dir(dir)
        {
            tracing::warn!(dir = %dir.display(), error = %source, "cannot create the data directory");
        }
        match Self::of_data_dir(dir) {
            Ok(id) => Ok(id),
            Err(e @ WorkerIdError::Corrupt { .. }) => Err(e),
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "worker leases are held under an id of this process alone: when it stops \
                     without releasing them (killed), the next start waits up to 15 s for them \
                     to lapse"
                );
                Ok(Self::process())
            }
        }
    }

    /// The owner written into the leases this process holds.
    pub fn owner(&self) -> Uuid {
        self.owner
    }

    /// The `worker_id` file the id comes from, if it comes from the data directory.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_ref().map(|(path, _)| path.as_path())
    }
}

/// The owner for the data directory id `id` at `dir` on `host`: a version 8 UUID from
/// their SHA-256, so a copy of the directory elsewhere is a different owner.
fn owner_of(id: Uuid, host: &str, dir: &Path) -> Uuid {
    let mut h = Sha256::new();
    h.update(id.as_bytes());
    h.update(host.as_bytes());
    h.update([0]);
    h.update(dir.as_os_str().as_encoded_bytes());
    let digest = h.finalize();
    let bytes: [u8; 16] = digest
        .get(..16)
        .and_then(|b| b.try_into().ok())
        .unwrap_or_default();
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_data_directory_keeps_its_owner_and_is_held_by_one_process() {
        let dir = tempfile::tempdir().unwrap();
        let first = WorkerIdentity::of_data_dir(dir.path()).unwrap();
        let file = dir.path().join(WORKER_ID_FILE);
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // Held while the first runs: another cannot take it.
        let second = WorkerIdentity::of_data_dir(dir.path()).unwrap_err();
        assert!(matches!(second, WorkerIdError::InUse { .. }), "{second:?}");
        assert!(second.to_string().contains("in use"), "{second}");
        let fallback = WorkerIdentity::for_serving(dir.path()).unwrap();
        assert_ne!(fallback.owner(), first.owner());
        assert!(fallback.file().is_none());
        // Once it stops, the next start is the same owner.
        let owner = first.owner();
        drop(first);
        let again = WorkerIdentity::of_data_dir(dir.path()).unwrap();
        assert_eq!(again.owner(), owner);
        assert_eq!(again.file(), Some(file.as_path()));
        drop(again);

        // A copy of the directory elsewhere is another owner.
        let copy = tempfile::tempdir().unwrap();
        std::fs::copy(&file, copy.path().join(WORKER_ID_FILE)).unwrap();
        let copied = WorkerIdentity::of_data_dir(copy.path()).unwrap();
        assert_ne!(copied.owner(), owner);
        drop(copied);

        // A file holding something else stops the start, naming the file.
        std::fs::write(&file, "not an id\n").unwrap();
        let err = WorkerIdentity::for_serving(dir.path()).unwrap_err();
        assert!(matches!(err, WorkerIdError::Corrupt { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&file.display().to_string()),
            "{err}"
        );
    }
}
