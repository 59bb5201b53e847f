//! `refreshctl validate [PATH...]`: check plans for CI and people.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{check_settings, read_and_check};
use crate::adapter::AdapterKind;
use crate::cli::{ValidateArgs, ValidateFormat};
use crate::error::{Error, exit};
use crate::input::read_capped;
use crate::plan::discover::{DiscoverError, PlanFile, discover};
use crate::plan::load::MAX_PLAN_BYTES;
use crate::report::{self, ValidationReport};
use crate::rules::{CheckSettings, CheckedFile, FileRecord, check_file, check_records};

/// Where plans are looked for when no path is given.
pub const DEFAULT_PLANS: &str = "plans";

/// How a plan read from standard input (`validate -`) is named in diagnostics.
pub const STDIN: &str = "<stdin>";

/// The plan on standard input, up to one byte past the cap (so that a larger one is reported as
/// too large, as a file is).
fn read_stdin() -> Result<Vec<u8>, Error> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(u64::try_from(MAX_PLAN_BYTES).unwrap_or(u64::MAX) + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Read {
            path: PathBuf::from(STDIN),
            source,
        })?;
    Ok(bytes)
}

pub fn run(
    args: &ValidateArgs,
    adapter: Option<AdapterKind>,
    color: bool,
    out: &mut dyn Write,
) -> Result<u8, Error> {
    let settings = check_settings(&args.check, adapter)?;
    let from_stdin = args.paths.iter().any(|path| path.as_os_str() == "-");
    let paths: Vec<PathBuf> = if args.paths.is_empty() {
        vec![PathBuf::from(DEFAULT_PLANS)]
    } else {
        args.paths
            .iter()
            .filter(|path| path.as_os_str() != "-")
            .cloned()
            .collect()
    };
    let files = discover(&paths).map_err(|error| match error {
        DiscoverError::NotFound(path) => Error::NotFound { path },
        DiscoverError::Read(path, source) => Error::Read { path, source },
    })?;
    if files.is_empty() && !from_stdin {
        return Err(Error::NoPlans { paths });
    }
    let started = std::time::Instant::now();
    let mut records: Vec<FileRecord> = Vec::with_capacity(files.len() + usize::from(from_stdin));
    let mut stdin_text = None;
    if from_stdin {
        let bytes = read_stdin()?;
        // Named `<stdin>`; relative paths (templates, packages, scripts) start at the current
        // directory, as if the plan were a file there.
        records.push(check_file(STDIN, std::path::Path::new(STDIN), &bytes, &settings).into());
        stdin_text = Some(String::from_utf8_lossy(&bytes).into_owned());
    }
    records.extend(check_files(&files, &settings, FileRecord::from)?);
    let diagnostics = check_records(&mut records);
    let elapsed = started.elapsed();
    // Excerpts need the text of the files with diagnostics (usually a few): read again, rather
    // than keeping every file's text while thousands are checked. A file that cannot be read
    // again is shown without an excerpt.
    let mut sources: HashMap<String, String> = HashMap::new();
    if let (Some(text), ValidateFormat::Human) = (stdin_text, args.format) {
        sources.insert(STDIN.to_owned(), text);
    }
    if args.format == ValidateFormat::Human {
        let with_diagnostics: HashSet<&str> = diagnostics.iter().map(|d| d.file.as_str()).collect();
        let from_files = &records[usize::from(from_stdin)..];
        for (file, record) in files.iter().zip(from_files) {
            if with_diagnostics.contains(record.file())
                && let Ok(text) = read_capped(&file.path, MAX_PLAN_BYTES, "plan")
            {
                sources.insert(
                    record.file().to_owned(),
                    String::from_utf8_lossy(&text).into_owned(),
                );
            }
        }
    }
    let report = ValidationReport {
        now: settings.now,
        files: records.len(),
        plans: records
            .iter()
            .filter_map(|record| Some((record.file(), record.plan_name()?)))
            .collect(),
        file_names: records.iter().map(FileRecord::file).collect(),
        diagnostics: &diagnostics,
        sources: &sources,
        deny_warnings: args.deny_warnings,
        elapsed,
    };
    match args.format {
        ValidateFormat::Human => report::human::render(&report, color, out)?,
        ValidateFormat::Json => report::json::render(&report, out)?,
        ValidateFormat::Github => {
            report::github::render(&report, out)?;
            if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
                append(&PathBuf::from(path), &report::github::step_summary(&report))?;
            }
        }
        ValidateFormat::Sarif => report::sarif::render(&report, out)?,
        ValidateFormat::Junit => report::junit::render(&report, out)?,
        ValidateFormat::Azure => report::azure::render(&report, out)?,
    }
    let counts = report.counts();
    Ok(
        if counts.errors > 0 || (args.deny_warnings && counts.warnings > 0) {
            exit::FAILURE
        } else {
            exit::SUCCESS
        },
    )
}

/// Reads and checks every file on all cores, and hands each checked file to `keep` on the
/// worker that checked it; returns what `keep` made of each, in the order of the files. The
/// scheduler keeps the checked files whole (`std::convert::identity`); validation keeps a
/// [`FileRecord`], dropping the plan and the file's text at once, so that only what the rules
/// across plans compare stays in memory while thousands of files are checked.
pub fn check_files<T: Send>(
    files: &[PlanFile],
    settings: &CheckSettings,
    keep: impl Fn(CheckedFile) -> T + Sync,
) -> Result<Vec<T>, Error> {
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<Result<T, Error>>>> =
        Mutex::new(std::iter::repeat_with(|| None).take(files.len()).collect());
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(files.len())
        .max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = files.get(index) else { break };
                    let kept = read_and_check(&file.path, &file.shown, settings, true)
                        .map(|(checked, _)| keep(checked));
                    slots
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)[index] = Some(kept);
                }
            });
        }
    });
    // Every slot is filled (each index is taken once, and a worker's panic goes on at the end
    // of the scope). `filter_map` and not `flatten`: std collects it into the slots' own buffer,
    // where `flatten` makes a new vector beside it (what the scheduler keeps of 10,000 files is
    // 6.7 MB).
    #[expect(
        clippy::filter_map_identity,
        reason = "flatten is not collected in place"
    )]
    slots
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .filter_map(|slot| slot)
        .collect()
}

fn append(path: &PathBuf, text: &str) -> Result<(), Error> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })
}
