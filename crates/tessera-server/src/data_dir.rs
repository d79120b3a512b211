//! The data directory and the embedded database's files are private to the account Tessera
//! runs as: the database holds the sealed signing keys, password hashes and one-time-code
//! secrets. The directory is created 0700 (the database files 0600, by the store) whatever the
//! umask, and a directory or file that other users can read stops the start, unless
//! `security.allow_readable_data_dir` says otherwise.

use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::config::ServerConfig;

/// Why the data directory is not fit to hold keys.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// It could not be created or read.
    #[error("cannot create data directory {path}: {message}")]
    Create {
        /// The directory.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Other users can read (or change) it.
    #[error(
        "{path} is open to other users of this machine (mode {mode:03o}), and it holds Tessera's keys and password hashes. \
         Run `{fix}`, and since another account may have read the signing key, rotate the keys \
         (`tessera keys rotate`). To start anyway, set security.allow_readable_data_dir = true."
    )]
    Readable {
        /// The directory or file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// The command that fixes it.
        fix: String,
    },
}

/// The files of the embedded database at `database_url`, if it is one.
fn sqlite_files(database_url: &str) -> Option<[PathBuf; 3]> {
    let path = tessera_store::sqlite_path(database_url)?;
    let with = |suffix: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    };
    Some([path.to_owned(), with("-wal"), with("-shm")])
}

/// Creates the data directory (0700) if missing, and checks it and the database files.
///
/// # Errors
/// [`DataDirError`] saying what to run.
pub fn prepare(config: &ServerConfig) -> Result<(), DataDirError> {
    let dir = &config.data_dir;
    let files = sqlite_files(&config.database_url);
    let needed = files.is_some()
        || matches!(&config.key_encryption, tessera_directory::keys::KekSource::File { path, .. } if path.starts_with(dir));
    if !dir.exists() {
        if !needed {
            return Ok(());
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| DataDirError::Create {
                path: dir.clone(),
                message: e.to_string(),
            })?;
    }
    if config.security.allow_readable_data_dir {
        return Ok(());
    }
    check(dir, "chmod 700")?;
    for file in files.into_iter().flatten() {
        if file.exists() {
            check(&file, "chmod 600")?;
        }
    }
    Ok(())
}

fn check(path: &Path, fix: &str) -> Result<(), DataDirError> {
    let meta = std::fs::metadata(path).map_err(|e| DataDirError::Create {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(DataDirError::Readable {
            path: path.to_owned(),
            mode,
            fix: format!("{fix} {}", path.display()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_of_a_sqlite_url() {
        let files = sqlite_files("sqlite:/d/tessera.db").unwrap_or_else(|| unreachable!());
        assert_eq!(files[1], Path::new("/d/tessera.db-wal"));
        assert_eq!(files[2], Path::new("/d/tessera.db-shm"));
        assert!(sqlite_files("postgres://x").is_none());
    }
}
