//! A value together with the place in the YAML source it came from.
//!
//! `Located<T>` wraps serde-saphyr's `Spanned<T>` so that this crate can also implement
//! `JsonSchema` for it (the schema of a located value is the schema of the value). It also
//! takes its place from `plan::fast`, the reader for the YAML plans are written in, which
//! answers the newtype `fast::LOCATED` with the place; serde-saphyr (and any other
//! deserializer) passes that newtype through to `Spanned<T>`.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::fast;

/// A 1-based line and column in a plan file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Place {
    pub line: u32,
    pub column: u32,
}

impl Place {
    #[must_use]
    pub const fn new(line: u32, column: u32) -> Self {
        Self { line, column }
    }

    /// Converts a serde-saphyr location; `None` when the parser did not know it.
    #[must_use]
    pub fn from_location(location: serde_saphyr::Location) -> Option<Self> {
        let line = u32::try_from(location.line()).ok()?;
        let column = u32::try_from(location.column()).ok()?;
        (line > 0).then_some(Self { line, column })
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A deserialized value and where it stands in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    pub value: T,
    /// Unknown only for values serde buffered (never the case for this crate's types, which avoid
    /// `flatten`, `untagged` and internally tagged enums).
    pub place: Option<Place>,
}

impl<T> Located<T> {
    #[must_use]
    pub fn new(value: T, place: Option<Place>) -> Self {
        Self { value, place }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(fast::LOCATED, LocatedVisitor(PhantomData))
    }
}

/// Takes the place from serde-saphyr's `Spanned<T>` (through the newtype) or from
/// `plan::fast` (a line, a column and the value).
struct LocatedVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for LocatedVisitor<T> {
    type Value = Located<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value with its place")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Located<T>, D::Error> {
        let spanned = serde_saphyr::Spanned::<T>::deserialize(deserializer)?;
        Ok(Located {
            value: spanned.value,
            place: Place::from_location(spanned.referenced),
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Located<T>, A::Error> {
        let missing = || de::Error::invalid_length(0, &"a line, a column and a value");
        let line: u32 = seq.next_element()?.ok_or_else(missing)?;
        let column: u32 = seq.next_element()?.ok_or_else(missing)?;
        let value: T = seq.next_element()?.ok_or_else(missing)?;
        Ok(Located::new(value, Some(Place::new(line, column))))
    }
}

impl<T: JsonSchema> JsonSchema for Located<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}
