//! Reading the files a user names (plans, templates, the catalog, the simulator's inventory):
//! regular files only, and never more than a cap.
//!
//! A path that names a FIFO, a device or a directory would block `read` forever or feed it
//! without end (`/dev/zero`), and a huge file would be read whole before any size check. Every
//! such file goes through [`read_capped`], which refuses what is not a regular file before
//! opening it, opens without blocking, and reads at most `cap + 1` bytes.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("`{}` does not exist", path.display())]
    NotFound { path: PathBuf },

    #[error("`{}` is a dangling symbolic link (its target does not exist)", path.display())]
    DanglingLink { path: PathBuf },

    #[error("`{}` is a symbolic link loop", path.display())]
    LinkLoop { path: PathBuf },

    #[error("`{}` is {what}, not a regular file", path.display())]
    NotRegular { path: PathBuf, what: &'static str },

    #[error("`{}` is larger than the {} a {what} may be", path.display(), size(*cap))]
    TooLarge {
        path: PathBuf,
        cap: usize,
        what: &'static str,
    },

    #[error("`{}` is not UTF-8 text", path.display())]
    NotText { path: PathBuf },

    #[error("cannot read `{}`: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl InputError {
    /// The path the error is about.
    #[must_use]
    pub fn path(&self) -> &Path {
        match self {
            Self::NotFound { path }
            | Self::DanglingLink { path }
            | Self::LinkLoop { path }
            | Self::NotRegular { path, .. }
            | Self::TooLarge { path, .. }
            | Self::NotText { path }
            | Self::Io { path, .. } => path,
        }
    }

    /// What is wrong, without the path (for diagnostics, which carry the file separately).
    #[must_use]
    pub fn reason(&self) -> String {
        match self {
            Self::NotFound { .. } => "the file does not exist".into(),
            Self::DanglingLink { .. } => {
                "the file is a dangling symbolic link (its target does not exist)".into()
            }
            Self::LinkLoop { .. } => "the file is a symbolic link loop".into(),
            Self::NotRegular { what, .. } => format!("the file is {what}, not a regular file"),
            Self::TooLarge { cap, what, .. } => {
                format!("the file is larger than the {} a {what} may be", size(*cap))
            }
            Self::NotText { .. } => "the file is not UTF-8 text".into(),
            Self::Io { source, .. } => format!("the file cannot be read: {source}"),
        }
    }
}

/// The largest template file read (a notification body or a preview layout).
pub const MAX_TEMPLATE_BYTES: usize = 256 * 1024;

/// The largest catalog or simulator inventory read.
pub const MAX_DATA_BYTES: usize = 4 * 1024 * 1024;

/// Reads at most `cap` bytes of the regular file at `path`; `what` names the kind of file in the
/// error ("plan", "template", …).
pub fn read_capped(path: &Path, cap: usize, what: &'static str) -> Result<Vec<u8>, InputError> {
    let (file, length) = open_regular_sized(path)?;
    // Room for the whole file and the read that finds its end: read into an empty buffer, a
    // 600-byte plan took six reads (32, 32, 64, … bytes), most of the reads of a pass.
    let expected = usize::try_from(length).unwrap_or(usize::MAX).min(cap);
    let mut bytes = Vec::with_capacity(expected.saturating_add(1));
    file.take(u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|error| classify(path, error))?;
    if bytes.len() > cap {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            cap,
            what,
        });
    }
    Ok(bytes)
}

/// Opens the regular file at `path` for reading, refusing anything else (a FIFO, a device, a
/// directory) without blocking on it. For files read in pieces (packages to upload).
pub fn open_regular(path: &Path) -> Result<File, InputError> {
    open_regular_sized(path).map(|(file, _)| file)
}

/// [`open_regular`], with the open file's length when it was opened.
fn open_regular_sized(path: &Path) -> Result<(File, u64), InputError> {
    let metadata = std::fs::metadata(path).map_err(|error| classify(path, error))?;
    refuse_irregular(path, &metadata)?;
    let file = open(path).map_err(|error| classify(path, error))?;
    // The path may have changed between the two looks; the open file is what is read.
    let opened = file.metadata().map_err(|error| classify(path, error))?;
    refuse_irregular(path, &opened)?;
    Ok((file, opened.len()))
}

/// Like [`read_capped`], for files that must be UTF-8 text.
pub fn read_text_capped(path: &Path, cap: usize, what: &'static str) -> Result<String, InputError> {
    String::from_utf8(read_capped(path, cap, what)?).map_err(|_| InputError::NotText {
        path: path.to_path_buf(),
    })
}

/// Opens without blocking: opening a FIFO for reading otherwise waits for a writer.
fn open(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // O_NONBLOCK on Linux (every architecture Rust supports there but alpha and sparc,
        // which it does not build for); it changes nothing for a regular file.
        const O_NONBLOCK: i32 = 0o4000;
        options.custom_flags(O_NONBLOCK);
    }
    options.open(path)
}

fn refuse_irregular(path: &Path, metadata: &Metadata) -> Result<(), InputError> {
    let kind = metadata.file_type();
    if kind.is_file() {
        return Ok(());
    }
    Err(InputError::NotRegular {
        path: path.to_path_buf(),
        what: describe_kind(kind),
    })
}

/// What a file that is not a regular file is, in words.
#[must_use]
pub fn describe_kind(kind: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// Names the common failures: a missing file, a dangling link, a link loop.
fn classify(path: &Path, error: io::Error) -> InputError {
    match error.kind() {
        io::ErrorKind::NotFound => {
            if std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.is_symlink()) {
                InputError::DanglingLink {
                    path: path.to_path_buf(),
                }
            } else {
                InputError::NotFound {
                    path: path.to_path_buf(),
                }
            }
        }
        // ELOOP; `io::ErrorKind::FilesystemLoop` is not stable yet.
        _ if error.raw_os_error() == Some(40) && cfg!(target_os = "linux") => {
            InputError::LinkLoop {
                path: path.to_path_buf(),
            }
        }
        _ => InputError::Io {
            path: path.to_path_buf(),
            source: error,
        },
    }
}

fn size(bytes: usize) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fifo(dir: &Path) -> PathBuf {
        let path = dir.join("pipe.yaml");
        let status = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("mkfifo runs");
        assert!(status.success(), "mkfifo failed");
        path
    }

    #[test]
    fn every_kind_of_unreadable_file_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let dangling = dir.path().join("dangling.yaml");
        std::os::unix::fs::symlink(dir.path().join("missing"), &dangling).expect("link");
        let looping = dir.path().join("loop.yaml");
        std::os::unix::fs::symlink(&looping, &looping).expect("loop");
        let directory = dir.path().join("dir.yaml");
        std::fs::create_dir(&directory).expect("dir");
        let sparse = dir.path().join("sparse.yaml");
        File::create(&sparse)
            .and_then(|file| file.set_len(64 * 1024 * 1024 * 1024))
            .expect("sparse file");
        let cases: [(PathBuf, &str); 7] = [
            (dir.path().join("missing.yaml"), "does not exist"),
            (dangling, "is a dangling symbolic link"),
            (looping, "is a symbolic link loop"),
            (directory, "is a directory, not a regular file"),
            (
                fifo(dir.path()),
                "is a FIFO (named pipe), not a regular file",
            ),
            (
                PathBuf::from("/dev/zero"),
                "is a character device, not a regular file",
            ),
            (sparse, "is larger than the 1 MiB a plan may be"),
        ];
        for (path, expected) in cases {
            let error = read_capped(&path, 1024 * 1024, "plan").expect_err("refused");
            let message = error.to_string();
            assert!(
                message.contains(expected) && message.contains(&*path.to_string_lossy()),
                "{}: {message}",
                path.display()
            );
            assert_eq!(error.path(), path);
        }
    }

    #[test]
    fn a_file_at_the_cap_is_read_and_one_byte_more_is_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("plan.yaml");
        std::fs::write(&path, vec![b'a'; 10]).expect("write");
        assert_eq!(
            read_capped(&path, 10, "plan").expect("at the cap").len(),
            10
        );
        let error = read_capped(&path, 9, "plan").expect_err("over the cap");
        assert!(
            matches!(error, InputError::TooLarge { cap: 9, .. }),
            "{error}"
        );
        std::fs::write(&path, b"\xff").expect("write");
        assert!(matches!(
            read_text_capped(&path, 10, "template"),
            Err(InputError::NotText { .. })
        ));
    }

    #[test]
    fn sizes_read_in_the_largest_whole_unit() {
        assert_eq!(size(1024 * 1024), "1 MiB");
        assert_eq!(size(256 * 1024), "256 KiB");
        assert_eq!(size(1000), "1000 bytes");
    }
}
