//! The stored login: server address and session token in
//! `$WARDEN_CONFIG_DIR` (default: the user's config directory + `/warden`)`/credentials.toml`,
//! written with mode 0600 in a 0700 directory.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// What `warden login` stores.
#[derive(Serialize, Deserialize)]
pub struct Stored {
    /// Server URL.
    pub addr: String,
    /// Session token.
    pub token: String,
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stored")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// The directory holding the stored login.
pub fn dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("WARDEN_CONFIG_DIR") {
        return Ok(PathBuf::from(dir));
    }
    dirs::config_dir()
        .map(|d| d.join("warden"))
        .context("cannot find your config directory; set WARDEN_CONFIG_DIR")
}

fn file() -> Result<PathBuf> {
    Ok(dir()?.join("credentials.toml"))
}

/// The stored login, if there is one.
pub fn load() -> Result<Option<Stored>> {
    let path = file()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            Ok(Some(toml::from_str(&text).with_context(|| {
                format!("cannot read {}", path.display())
            })?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Stores a login, readable by the user only.
pub fn save(stored: &Stored) -> Result<PathBuf> {
    let dir = dir()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = file()?;
    let text = toml::to_string(stored).context("cannot encode the credentials")?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {}", dir.display()))?;
    }
    let mut f = options
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        // An older file may have been created with wider permissions.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(text.as_bytes())?;
    Ok(path)
}

/// Forgets the stored login.
pub fn remove() -> Result<()> {
    match std::fs::remove_file(file()?) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}
