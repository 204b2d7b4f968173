//! Private key files (the SSH CA's, the audit signing key): read only when nobody but the
//! owner may access them, and made with mode 0600 from the start, written and synced, or
//! removed again, so a half-written key never stays behind.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// The largest key file read (an OpenSSH Ed25519 key is under 500 bytes).
pub const MAX_KEY_FILE: usize = 16 * 1024;

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// It could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`read`, `create`, `write`).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Group or others may access it.
    #[error(
        "{} has mode {mode:04o}: it must be 0600, not accessible to group or others (chmod 600)",
        path.display()
    )]
    Insecure {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// It is not a regular file of a key's size.
    #[error("{} is not usable: {reason}", path.display())]
    Bad {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// The text of the key file at `path`; when there is none, `make` gives the text of a new
/// key, which is written there first. When another process makes the file at the same
/// time, its file is read instead.
pub fn read_or_create<E: From<KeyFileError>>(
    path: &Path,
    make: impl FnOnce() -> Result<Zeroizing<String>, E>,
) -> Result<Zeroizing<String>, E> {
    Ok(match File::open(path) {
        Ok(file) => read(path, file)?,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let text = make()?;
            match create(path, &text) {
                Err(KeyFileError::Io { source, .. })
                    if source.kind() == ErrorKind::AlreadyExists =>
                {
                    let file = File::open(path).map_err(|source| KeyFileError::Io {
                        action: "read",
                        path: path.to_owned(),
                        source,
                    })?;
                    read(path, file)?
                }
                Err(e) => return Err(e.into()),
                Ok(()) => text,
            }
        }
        Err(source) => {
            return Err(KeyFileError::Io {
                action: "read",
                path: path.to_owned(),
                source,
            }
            .into());
        }
    })
}

fn read(path: &Path, file: File) -> Result<Zeroizing<String>, KeyFileError> {
    let io = |source| KeyFileError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    };
    let bad = |reason: String| KeyFileError::Bad {
        path: path.to_owned(),
        reason,
    };
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(bad("not a regular file".to_owned()));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Insecure {
            path: path.to_owned(),
            mode,
        });
    }
    let len = usize::try_from(meta.len()).unwrap_or(usize::MAX);
    if len > MAX_KEY_FILE {
        return Err(bad(format!("larger than {MAX_KEY_FILE} bytes")));
    }
    // Sized up front, so the buffer holding the key never moves (and leaves no copy
    // behind) while being read.
    let mut text = Zeroizing::new(String::with_capacity(MAX_KEY_FILE + 1));
    file.take(u64::try_from(MAX_KEY_FILE).unwrap_or(u64::MAX))
        .read_to_string(&mut text)
        .map_err(io)?;
    Ok(text)
}

fn create(path: &Path, text: &str) -> Result<(), KeyFileError> {
    let io = |action, source| KeyFileError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io("create", e))?;
    if let Err(e) = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
    {
        // A partial key file would be refused on the next start; remove it.
        let _ = std::fs::remove_file(path);
        return Err(io("write", e));
    }
    Ok(())
}
