//! Finding plan files: paths given on the command line, directories searched recursively.

use std::io;
use std::path::{Path, PathBuf};

/// A plan file to read: how to show it, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanFile {
    pub shown: String,
    pub path: PathBuf,
}

/// Why a path could not be searched.
#[derive(Debug)]
pub enum DiscoverError {
    NotFound(PathBuf),
    Read(PathBuf, io::Error),
}

/// Files are taken as given, whatever their extension; directories are searched recursively for
/// `*.yaml` and `*.yml` in name order. Symbolic links to directories are not followed (no loops);
/// links to files are. Every other entry with a plan's name is found too (a dangling link, a link
/// loop, a FIFO): reading it says what it is, rather than it being skipped without a word.
/// Hidden entries (a name starting with `.`) are not searched: `.git`, editors' files, and the
/// `..2026_12_01…` and `..data` directories of a Kubernetes `ConfigMap` mount, whose plans are
/// already there as links at the top, so each would be found twice.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PlanFile>, DiscoverError> {
    let mut found = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path).map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => DiscoverError::NotFound(path.clone()),
            _ => DiscoverError::Read(path.clone(), error),
        })?;
        if metadata.is_dir() {
            walk(path, &mut found)?;
        } else {
            found.push(PlanFile {
                shown: path.display().to_string(),
                path: path.clone(),
            });
        }
    }
    Ok(found)
}

fn walk(directory: &Path, found: &mut Vec<PlanFile>) -> Result<(), DiscoverError> {
    let read_error = |error| DiscoverError::Read(directory.to_path_buf(), error);
    let mut entries = std::fs::read_dir(directory)
        .map_err(read_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_error)?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        if entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type().map_err(read_error)?;
        if kind.is_dir() {
            walk(&path, found)?;
        } else if is_plan_name(&path) && !(kind.is_symlink() && path.is_dir()) {
            found.push(PlanFile {
                shown: path.display().to_string(),
                path,
            });
        }
    }
    Ok(())
}

fn is_plan_name(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|extension| extension.to_str()),
        Some("yaml" | "yml")
    )
}

/// The directory a file is in, `.` for a bare file name (where `Path::parent` gives `""`).
#[must_use]
pub fn directory_of(file: &Path) -> PathBuf {
    match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_with_a_plan_name_are_found_whatever_they_are_but_linked_directories() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::write(root.join("a.yaml"), "").expect("plan");
        std::fs::write(root.join("notes.txt"), "").expect("other file");
        std::os::unix::fs::symlink(root.join("missing"), root.join("b-dangling.yaml"))
            .expect("dangling link");
        std::os::unix::fs::symlink(root.join("c-loop.yml"), root.join("c-loop.yml")).expect("loop");
        std::fs::create_dir(root.join("d.yaml")).expect("directory");
        std::fs::write(root.join("d.yaml/inner.yaml"), "").expect("inner plan");
        std::os::unix::fs::symlink(root.join("d.yaml"), root.join("e-linked-dir.yaml"))
            .expect("linked directory");
        let found: Vec<String> = discover(&[root.to_path_buf()])
            .expect("discovered")
            .into_iter()
            .map(|file| {
                file.path
                    .strip_prefix(root)
                    .expect("under root")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(
            found,
            [
                "a.yaml",
                "b-dangling.yaml",
                "c-loop.yml",
                "d.yaml/inner.yaml"
            ]
        );
    }

    #[test]
    fn the_directory_of_a_bare_file_name_is_the_current_one() {
        assert_eq!(directory_of(Path::new("plan.yaml")), PathBuf::from("."));
        assert_eq!(
            directory_of(Path::new("plans/a.yaml")),
            PathBuf::from("plans")
        );
        assert_eq!(directory_of(Path::new("/a.yaml")), PathBuf::from("/"));
    }
}
