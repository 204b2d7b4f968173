//! The file sink: one OCSF event per line (JSON lines), appended to a local file that a
//! log shipper can follow, fsync'd after every batch and rotated by size.
//!
//! Rotation happens before a line would take the file past `max_bytes`: `path` becomes
//! `path.1`, `path.1` becomes `path.2`, and so on; `keep` rotated files are kept and older
//! ones deleted (`keep = 0` keeps none). A line longer than `max_bytes` gets a file of
//! its own. The file is created with mode 0600 in a directory that must already exist;
//! the mode of an existing file is left as it is, with a warning if others may read it.
//!
//! File work blocks, so a batch runs on tokio's blocking pool. After any error the file is
//! closed and reopened by the next delivery; if the error cut a line short, the reopened
//! file gets a newline first, so the retried batch starts on a line of its own.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use warden_audit::Record;

use super::ocsf;
use super::transport::{FileConfig, PRODUCT_VERSION, SinkError};

/// Appends to one file, rotating it by size.
#[derive(Debug)]
pub struct FileTransport {
    /// The file.
    pub path: PathBuf,
    /// Rotate before the file would grow past this.
    pub max_bytes: u64,
    /// Rotated files kept.
    pub keep: u32,
    open: Option<OpenFile>,
}

#[derive(Debug)]
struct OpenFile {
    file: File,
    size: u64,
}

impl FileTransport {
    /// A transport for `config`; the file is opened by the first delivery.
    pub fn open(config: &FileConfig) -> Self {
        Self {
            path: config.path.clone(),
            max_bytes: config.max_bytes,
            keep: config.keep,
            open: None,
        }
    }

    /// Appends the records' events, rotating as needed, and syncs the file.
    pub async fn deliver(&mut self, records: &[Record<'static>]) -> Result<(), SinkError> {
        if records.is_empty() {
            return Ok(());
        }
        let lines: Vec<String> = records
            .iter()
            .map(|r| {
                let mut line = ocsf::event(r, PRODUCT_VERSION).to_string();
                line.push('\n');
                line
            })
            .collect();
        let job = Job {
            path: self.path.clone(),
            max_bytes: self.max_bytes,
            keep: self.keep,
        };
        let open = self.open.take();
        let path = self.path.clone();
        let (open, result) = tokio::task::spawn_blocking(move || {
            let mut open = open;
            let result = job.append(&mut open, &lines);
            (open, result)
        })
        .await
        .map_err(|e| SinkError::File {
            path,
            action: "write",
            source: io::Error::other(format!("the writing task failed: {e}")),
        })?;
        // After an error the handle is dropped and the next call reopens the file.
        if result.is_ok() {
            self.open = open;
        }
        result
    }
}

struct Job {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
}

impl Job {
    fn append(&self, open: &mut Option<OpenFile>, lines: &[String]) -> Result<(), SinkError> {
        let mut current = match open.take() {
            Some(current) => current,
            None => self.open_file()?,
        };
        let mut pending: Vec<u8> = Vec::new();
        for line in lines {
            let len = line.len() as u64;
            let used = current.size + pending.len() as u64;
            if used > 0 && used + len > self.max_bytes {
                self.write(&mut current, &pending)?;
                pending.clear();
                self.sync(&current)?;
                drop(current);
                self.rotate()?;
                current = self.open_file()?;
            }
            pending.extend_from_slice(line.as_bytes());
        }
        self.write(&mut current, &pending)?;
        self.sync(&current)?;
        *open = Some(current);
        Ok(())
    }

    fn error(&self, action: &'static str) -> impl FnOnce(io::Error) -> SinkError + '_ {
        move |source| SinkError::File {
            path: self.path.clone(),
            action,
            source,
        }
    }

    fn open_file(&self) -> Result<OpenFile, SinkError> {
        let directory = self.directory();
        if !directory.is_dir() {
            return Err(SinkError::NoDirectory {
                path: self.path.clone(),
                directory: directory.to_owned(),
            });
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(self.error("open"))?;
        let meta = file.metadata().map_err(self.error("open"))?;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                path = %self.path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the audit export file may be read by others than its owner"
            );
        }
        let mut open = OpenFile {
            file,
            size: meta.len(),
        };
        // A write cut short by an earlier error left half a line: end it, so the retried
        // batch starts on a line of its own.
        if open.size > 0 {
            let mut last = [0u8; 1];
            open.file
                .read_exact_at(&mut last, open.size - 1)
                .map_err(self.error("open"))?;
            if last != *b"\n" {
                self.write(&mut open, b"\n")?;
            }
        }
        Ok(open)
    }

    fn write(&self, open: &mut OpenFile, bytes: &[u8]) -> Result<(), SinkError> {
        if bytes.is_empty() {
            return Ok(());
        }
        open.file.write_all(bytes).map_err(self.error("write"))?;
        open.size += bytes.len() as u64;
        Ok(())
    }

    fn sync(&self, open: &OpenFile) -> Result<(), SinkError> {
        open.file.sync_data().map_err(self.error("sync"))
    }

    fn directory(&self) -> &Path {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
    }

    /// `path.n` → `path.n+1` from the oldest kept down, `path` → `path.1`, then deletes
    /// what is past `keep` (also what a larger `keep` left before).
    fn rotate(&self) -> Result<(), SinkError> {
        let rotate_error = self.error("rotate");
        let result = (|| -> io::Result<()> {
            if self.keep == 0 {
                remove_if_present(&self.path)?;
            } else {
                remove_if_present(&numbered(&self.path, self.keep))?;
                for n in (1..self.keep).rev() {
                    rename_if_present(&numbered(&self.path, n), &numbered(&self.path, n + 1))?;
                }
                std::fs::rename(&self.path, numbered(&self.path, 1))?;
            }
            self.remove_past_keep()?;
            // Make the renames durable before the new file is written.
            File::open(self.directory())?.sync_all()
        })();
        result.map_err(rotate_error)
    }
}

impl Job {
    /// Deletes every `path.N` with N past `keep`, such as those a larger `keep` left.
    fn remove_past_keep(&self) -> io::Result<()> {
        let Some(name) = self.path.file_name().and_then(|n| n.to_str()) else {
            return Ok(());
        };
        let prefix = format!("{name}.");
        for entry in std::fs::read_dir(self.directory())? {
            let entry = entry?;
            let file_name = entry.file_name();
            let past_keep = file_name
                .to_str()
                .and_then(|n| n.strip_prefix(&prefix))
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n > u64::from(self.keep));
            if past_keep {
                remove_if_present(&entry.path())?;
            }
        }
        Ok(())
    }
}

/// `path.n`.
pub fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Removes `path`; whether it was there.
fn remove_if_present(path: &Path) -> io::Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
