//! The prerequisite catalog (SPEC 3.3): which KBs the reprovisioning tool needs on each release,
//! and which release spellings are known. Data, not code: `catalog.yaml` is embedded and can be
//! replaced with `--catalog FILE`.

use std::cmp::Ordering;
use std::fmt;

use serde::Deserialize;

use crate::plan::{Located, Place};

const EMBEDDED: &str = include_str!("catalog.yaml");

/// An application release as a version: 7.1, 10.0.41.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: Option<u32>,
}

impl Version {
    /// Parses `major.minor` or `major.minor.patch`.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.trim().split('.');
        let number = |part: Option<&str>| -> Option<u32> {
            let part = part?;
            (!part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit()))
                .then(|| part.parse().ok())
                .flatten()
        };
        let major = number(parts.next())?;
        let minor = number(parts.next())?;
        let patch = match parts.next() {
            None => None,
            some => Some(number(some)?),
        };
        parts.next().is_none().then_some(Self {
            major,
            minor,
            patch,
        })
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch.unwrap_or(0))
            .cmp(&(other.major, other.minor, other.patch.unwrap_or(0)))
            .then(self.patch.is_some().cmp(&other.patch.is_some()))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if let Some(patch) = self.patch {
            write!(f, ".{patch}")?;
        }
        Ok(())
    }
}

/// A release the catalog knows, as a plan spelled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownRelease {
    /// The exact version: `7.1` for "1611", `10.0.41` for "10.0.41".
    pub version: Version,
    /// The catalog entry's index.
    entry: usize,
}

#[derive(Debug, Clone)]
pub struct CatalogEntry {
    pub release: Version,
    pub aliases: Vec<String>,
    pub service_updates: bool,
    pub requires: Vec<String>,
    pub source: String,
}

#[derive(Debug, Clone)]
pub struct Catalog {
    entries: Vec<CatalogEntry>,
}

/// A catalog file that cannot be used, with the place at fault.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CatalogError {
    pub place: Option<Place>,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    format_version: Located<u32>,
    releases: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    release: Located<String>,
    #[serde(default)]
    aliases: Vec<Located<String>>,
    #[serde(default)]
    service_updates: bool,
    requires: Vec<Located<String>>,
    source: Located<String>,
}

impl Catalog {
    /// The catalog compiled into the binary.
    ///
    /// # Panics
    ///
    /// Never in a released binary: the embedded catalog is parsed by a unit test.
    #[must_use]
    pub fn embedded() -> Self {
        Self::parse(EMBEDDED).expect("the embedded catalog is valid (tested)")
    }

    /// Parses and checks a catalog file.
    pub fn parse(text: &str) -> Result<Self, CatalogError> {
        let raw: RawCatalog = serde_saphyr::from_str(text).map_err(|error| CatalogError {
            place: error.location().and_then(Place::from_location),
            message: error.without_snippet().to_string(),
        })?;
        let fail = |place: Option<Place>, message: String| CatalogError { place, message };
        if raw.format_version.value != 1 {
            return Err(fail(
                raw.format_version.place,
                format!(
                    "unknown catalog format_version {}; expected 1",
                    raw.format_version.value
                ),
            ));
        }
        let mut entries = Vec::with_capacity(raw.releases.len());
        let mut spellings: Vec<String> = Vec::new();
        for entry in raw.releases {
            let release = Version::parse(&entry.release.value).ok_or_else(|| {
                fail(
                    entry.release.place,
                    format!(
                        "release `{}` is not major.minor or major.minor.patch",
                        entry.release.value
                    ),
                )
            })?;
            let mut requires = Vec::with_capacity(entry.requires.len());
            for kb in entry.requires {
                requires.push(normalize_kb(&kb.value).ok_or_else(|| {
                    fail(
                        kb.place,
                        format!("`{}` is not a KB number such as KB4035399", kb.value),
                    )
                })?);
            }
            for spelling in std::iter::once(&entry.release).chain(&entry.aliases) {
                let key = spelling.value.trim().to_lowercase();
                if spellings.contains(&key) {
                    return Err(fail(
                        spelling.place,
                        format!("release spelling `{}` appears twice", spelling.value),
                    ));
                }
                spellings.push(key);
            }
            if entry.source.value.trim().is_empty() {
                return Err(fail(
                    entry.source.place,
                    "every entry names its source".into(),
                ));
            }
            entries.push(CatalogEntry {
                release,
                aliases: entry.aliases.into_iter().map(|alias| alias.value).collect(),
                service_updates: entry.service_updates,
                requires,
                source: entry.source.value,
            });
        }
        Ok(Self { entries })
    }

    #[must_use]
    pub fn entries(&self) -> &[CatalogEntry] {
        &self.entries
    }

    /// Looks up a release spelling: a version, an alias (any case), or `major.minor.N` for an
    /// entry with service updates.
    #[must_use]
    pub fn lookup(&self, spelling: &str) -> Option<KnownRelease> {
        let spelling = spelling.trim();
        if let Some(version) = Version::parse(spelling) {
            for (index, entry) in self.entries.iter().enumerate() {
                let same_line =
                    entry.release.major == version.major && entry.release.minor == version.minor;
                let matches = entry.release == version
                    || (same_line
                        && entry.service_updates
                        && entry.release.patch.is_none()
                        && version.patch.is_some());
                if matches {
                    return Some(KnownRelease {
                        version,
                        entry: index,
                    });
                }
            }
            return None;
        }
        self.entries
            .iter()
            .position(|entry| {
                entry
                    .aliases
                    .iter()
                    .any(|alias| alias.eq_ignore_ascii_case(spelling))
            })
            .map(|index| KnownRelease {
                version: self.entries[index].release,
                entry: index,
            })
    }

    /// The KBs the reprovisioning tool needs on a release.
    #[must_use]
    pub fn requirements(&self, release: &KnownRelease) -> &[String] {
        &self.entries[release.entry].requires
    }

    /// Where the facts of a release's entry come from.
    #[must_use]
    pub fn source(&self, release: &KnownRelease) -> &str {
        &self.entries[release.entry].source
    }

    /// Every spelling the catalog knows, for help texts.
    #[must_use]
    pub fn spellings(&self) -> Vec<String> {
        let mut list = Vec::new();
        for entry in &self.entries {
            list.push(entry.release.to_string());
            if entry.service_updates {
                list.push(format!("{}.N", entry.release));
            }
            list.extend(entry.aliases.iter().cloned());
        }
        list
    }
}

/// `KB4035399`, `kb4035399` and `4035399` all mean `KB4035399`.
#[must_use]
pub fn normalize_kb(text: &str) -> Option<String> {
    let text = text.trim();
    let digits = if text.len() > 2 && text[..2].eq_ignore_ascii_case("kb") {
        text[2..].trim_start()
    } else {
        text
    };
    (!digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit()))
        .then(|| format!("KB{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_catalog_matches_the_spec_table() {
        let catalog = Catalog::embedded();
        let required = |spelling: &str| {
            let release = catalog.lookup(spelling).expect(spelling);
            catalog.requirements(&release).to_vec()
        };
        let kbs_1611 = ["KB4025631", "KB4035355", "KB4035492", "KB4010947"];
        assert_eq!(required("7.1"), kbs_1611);
        assert_eq!(required("1611"), kbs_1611);
        assert_eq!(required("November 2016"), kbs_1611);
        assert_eq!(
            required("july 2017"),
            ["KB4035399", "KB4045801", "KB4091255"]
        );
        assert_eq!(required("7.3"), ["KB4035399", "KB4091254"]);
        assert_eq!(required("December 2017"), ["KB4035399", "KB4091254"]);
        for spelling in ["7.0", "7.0.1", "8.0", "8.1", "10.0", "10.0.41"] {
            assert!(required(spelling).is_empty(), "{spelling}");
        }
        for entry in catalog.entries() {
            assert!(!entry.source.is_empty());
        }
    }

    #[test]
    fn unknown_spellings() {
        let catalog = Catalog::embedded();
        for spelling in [
            "10.41",
            "7.4",
            "8.1.3",
            "June 2017",
            "",
            "10.0.x",
            "10.0.41.1",
        ] {
            assert!(catalog.lookup(spelling).is_none(), "{spelling}");
        }
    }

    #[test]
    fn versions_order_numerically() {
        let version = |text| Version::parse(text).expect(text);
        assert!(version("7.3") < version("8.0"));
        assert!(version("10.0.9") < version("10.0.41"));
        assert!(version("10.0") < version("10.0.0"));
        assert!(version("7.10") > version("7.9"));
    }

    #[test]
    fn kb_spellings() {
        assert_eq!(normalize_kb("kb4035399").as_deref(), Some("KB4035399"));
        assert_eq!(normalize_kb("4035399").as_deref(), Some("KB4035399"));
        assert_eq!(normalize_kb("KB 4035399").as_deref(), Some("KB4035399"));
        assert_eq!(normalize_kb("KBabc"), None);
        assert_eq!(normalize_kb(""), None);
    }

    #[test]
    fn bad_catalogs_say_where() {
        let error = Catalog::parse(
            "format_version: 1\nreleases:\n  - release: seven\n    requires: []\n    source: x\n",
        )
        .expect_err("bad release");
        assert_eq!(error.place, Some(Place::new(3, 14)));
        let error = Catalog::parse("format_version: 2\nreleases: []\n").expect_err("version");
        assert!(error.message.contains("format_version 2"));
        let error = Catalog::parse("format_version: 1\nreleases:\n  - release: \"7.1\"\n    aliases: [\"7.1\"]\n    requires: []\n    source: x\n")
            .expect_err("duplicate spelling");
        assert!(error.message.contains("appears twice"));
    }
}
