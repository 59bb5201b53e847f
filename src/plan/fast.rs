//! A fast reader for the block-style YAML that plans are written in, in front of serde-saphyr.
//!
//! Reading a plan with serde-saphyr costs several times reading its bytes: a general YAML
//! parser builds and copies tokens, tracks every context YAML has, and hashes each key for its
//! duplicate check. Plans use a small part of YAML, and this module reads only that part:
//!
//! - block mappings whose keys are plain words (`[A-Za-z_][A-Za-z0-9_-]*`), each key once;
//! - block sequences (`- item`), also at the indentation of the key that holds them, and maps
//!   that start on the line of their `- `;
//! - plain scalars on one line, single- and double-quoted scalars on one line (with every
//!   escape YAML has), and `|` and `>` block scalars with their chomping (`-`, `+`);
//! - flow sequences of scalars on one line (`[a, "b", 'c']`);
//! - comments, blank lines, and a `---` on the first line.
//!
//! Everything else it gives up on, without an error: anchors, aliases, tags, flow maps,
//! nested or multi-line flow, merge and complex keys, quoted keys, multi-line plain or quoted
//! scalars, explicit indentation indicators, a blank line before a block scalar's first line,
//! a more-indented line in a folded scalar, a block scalar that ends the file without a line
//! break, tabs, carriage returns and other control characters, a byte order mark, lines over
//! 4 KiB, directives and further documents, nesting deeper than 16 or more than 20,000 events
//! (far inside the parser's budgets), scalars longer together than the parser's budget for
//! them (escapes such as `\L` make scalars longer than their text), and every plain scalar
//! whose meaning depends on how serde-saphyr resolves types beyond the plainest cases: an
//! empty value or another null, a number other than a decimal without sign or leading zero, a
//! boolean other than `true` and `false`, a word that could be a null, a boolean or a number
//! where any type is taken. It also gives up when the plan's types refuse what it read (an
//! unknown key, a missing one, a wrong type): any error at all. The caller then reads the file
//! again with serde-saphyr, so every diagnostic of a bad file is the parser's own, word for
//! word, and the budgets hold.
//!
//! What it accepts it reads exactly as serde-saphyr does, places included (a value's place is
//! where its node starts: the first key of a block map, the first `-` of a block sequence, the
//! `[` of a flow sequence, the first content of a block scalar or of a sequence at its key's
//! indentation, the opening quote). Tests compare the two on every plan and fixture in the
//! repository, on a generated fleet and on random plan-like texts with mutations
//! (`fast/differential.rs`).
//!
//! It reads in two steps: a scanner turns the text into a list of events (as a YAML parser
//! does), then a serde `Deserializer` walks the list. `Located<T>` asks for its place through
//! a newtype named [`LOCATED`]: this deserializer answers with the place, serde-saphyr passes
//! it through to its own `Spanned<T>`.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};

/// The newtype name through which `Located<T>` asks for its place.
pub const LOCATED: &str = "__refreshctl_located";

/// Nesting deeper than this is left to serde-saphyr (its budget is 32).
const MAX_DEPTH: usize = 16;
/// More events than this are left to serde-saphyr (its budgets are 50,000 nodes and 200,000
/// events).
const MAX_EVENTS: usize = 20_000;
/// Keys in one map are checked for repeats one by one; a longer map is left to serde-saphyr.
const MAX_KEYS: usize = 64;
/// The longest key read (YAML's limit for a key on one line is 1,024 characters).
const MAX_KEY_BYTES: usize = 128;
/// A longer line is left to serde-saphyr, so that finding the character column of each item
/// of a flow sequence stays cheap.
const MAX_LINE_BYTES: usize = 4096;
/// serde-saphyr's budget for the bytes of all scalars together, keys included (as
/// `load::options` sets it); a plan over it is left to the parser, which refuses it. A plan's
/// scalars are no longer than its text, but for the escapes `\L` and `\P`: two bytes written,
/// three read.
const MAX_SCALAR_BYTES: usize = super::load::MAX_PLAN_BYTES;

/// Reads `text` as a `T` when it is in the subset and `T` accepts it; `None` otherwise.
pub fn read<'a, T: de::Deserialize<'a>>(text: &'a str) -> Option<T> {
    let events = scan(text)?;
    let mut reader = Reader {
        events: &events,
        at: 0,
    };
    let value = T::deserialize(&mut reader).ok()?;
    (reader.at == events.len()).then_some(value)
}

/// One step of the document, as a YAML parser reports it.
#[derive(Debug, PartialEq, Eq)]
enum Event<'a> {
    MapStart(Spot),
    MapEnd,
    SeqStart(Spot),
    SeqEnd,
    Scalar {
        value: Cow<'a, str>,
        /// Plain (unquoted, not a block scalar): only a plain scalar can mean null, a number
        /// or a boolean.
        plain: bool,
        spot: Spot,
    },
}

/// A 1-based line and character column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Spot {
    line: u32,
    column: u32,
}

/// Turns the text into events, or `None` when any of it is outside the subset.
fn scan(text: &str) -> Option<Vec<Event<'_>>> {
    if !plain_characters(text) {
        return None;
    }
    let ends_with_newline = text.ends_with('\n');
    let body = text.strip_suffix('\n').unwrap_or(text);
    let lines: Vec<&str> = body.split('\n').collect();
    if lines.iter().any(|line| line.len() > MAX_LINE_BYTES) {
        return None;
    }
    let mut scanner = Scanner {
        lines,
        ends_with_newline,
        line: 0,
        inline: None,
        events: Vec::with_capacity(128),
        depth: 0,
        scalar_bytes: 0,
    };
    let (mut line, mut column) = scanner.peek()?;
    if scanner.lines[line][column..].starts_with("---") {
        if column != 0 || !scanner.lines[line][3..].trim_start_matches(' ').is_empty() {
            return None;
        }
        scanner.line = line + 1;
        (line, column) = scanner.peek()?;
    }
    scanner.block_node(line, column)?;
    if scanner.peek().is_some() {
        return None;
    }
    Some(scanner.events)
}

/// Whether the text has only characters this reader takes: no tab, carriage return or other
/// control character, no byte order mark, nothing YAML does not print.
#[expect(
    clippy::needless_bitwise_bool,
    reason = "without branches, so the loop over a chunk becomes vector instructions"
)]
fn plain_characters(text: &str) -> bool {
    // In chunks without an early exit, which the compiler turns into vector instructions.
    let bytes_ok = text.as_bytes().chunks(64).all(|chunk| {
        !chunk.iter().fold(false, |bad, &byte| {
            bad | ((byte < 0x20) & (byte != b'\n')) | (byte == 0x7f)
        })
    });
    bytes_ok
        && (text.is_ascii()
            || text.chars().all(|character| {
                !matches!(
                    character,
                    '\u{80}'
                        ..='\u{9f}'
                            | '\u{2028}'
                            | '\u{2029}'
                            | '\u{feff}'
                            | '\u{fffe}'
                            | '\u{ffff}'
                )
            }))
}

struct Scanner<'a> {
    /// The lines of the text, without their line breaks.
    lines: Vec<&'a str>,
    ends_with_newline: bool,
    /// The next line to read.
    line: usize,
    /// Where the rest of `line` starts when a `- ` left a map on it.
    inline: Option<usize>,
    events: Vec<Event<'a>>,
    depth: usize,
    /// The bytes of the scalars pushed so far, as serde-saphyr counts them for its budget.
    scalar_bytes: usize,
}

impl<'a> Scanner<'a> {
    /// The next line with content (not blank, not a comment) and the byte column where its
    /// content starts.
    fn peek(&mut self) -> Option<(usize, usize)> {
        if let Some(column) = self.inline {
            return Some((self.line, column));
        }
        while let Some(text) = self.lines.get(self.line) {
            let content = text.trim_start_matches(' ');
            if content.is_empty() || content.starts_with('#') {
                self.line += 1;
            } else {
                return Some((self.line, text.len() - content.len()));
            }
        }
        None
    }

    /// Moves past line `line`.
    fn finish_line(&mut self, line: usize) {
        self.line = line + 1;
        self.inline = None;
    }

    fn spot(&self, line: usize, column: usize) -> Option<Spot> {
        let before = &self.lines[line][..column];
        let characters = if before.is_ascii() {
            before.len()
        } else {
            before.chars().count()
        };
        Some(Spot {
            line: u32::try_from(line + 1).ok()?,
            column: u32::try_from(characters + 1).ok()?,
        })
    }

    fn push(&mut self, event: Event<'a>) -> Option<()> {
        if let Event::Scalar { value, .. } = &event {
            self.scalar_bytes += value.len();
            if self.scalar_bytes > MAX_SCALAR_BYTES {
                return None;
            }
        }
        (self.events.len() < MAX_EVENTS).then(|| self.events.push(event))
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// A block map or sequence starting at `column` of `line`.
    fn block_node(&mut self, line: usize, column: usize) -> Option<()> {
        let rest = &self.lines[line][column..];
        if is_entry(rest) {
            self.block_sequence(line, column, false)
        } else if key_of(rest).is_some() {
            self.block_mapping(line, column)
        } else {
            None
        }
    }

    fn block_mapping(&mut self, line: usize, column: usize) -> Option<()> {
        self.enter()?;
        let spot = self.spot(line, column)?;
        self.push(Event::MapStart(spot))?;
        let mut keys: Vec<&str> = Vec::new();
        while let Some((at, indent)) = self.peek() {
            if indent < column {
                break;
            }
            if indent > column {
                return None;
            }
            let text = self.lines[at];
            let (key, after) = key_of(&text[indent..])?;
            if keys.len() == MAX_KEYS || keys.contains(&key) {
                return None;
            }
            keys.push(key);
            let spot = self.spot(at, indent)?;
            self.push(Event::Scalar {
                value: Cow::Borrowed(key),
                plain: true,
                spot,
            })?;
            self.value(at, indent + after, column, true)?;
        }
        self.push(Event::MapEnd)?;
        self.depth -= 1;
        Some(())
    }

    /// A block sequence whose first `-` is at `column` of `line`. An `indentless` one (at the
    /// indentation of the key that holds it) is placed where its first entry's content
    /// starts, as serde-saphyr places it; it is taken only when that content follows the `-`
    /// after one space.
    fn block_sequence(&mut self, line: usize, column: usize, indentless: bool) -> Option<()> {
        self.enter()?;
        let spot = if indentless {
            let entry = &self.lines[line][column..];
            let content = entry.get(2..)?;
            if content.is_empty() || content.starts_with([' ', '#']) {
                return None;
            }
            self.spot(line, column + 2)?
        } else {
            self.spot(line, column)?
        };
        self.push(Event::SeqStart(spot))?;
        while let Some((at, indent)) = self.peek() {
            if indent < column {
                break;
            }
            if indent > column {
                return None;
            }
            let text = self.lines[at];
            if !is_entry(&text[indent..]) {
                break;
            }
            let after = &text[indent + 1..];
            let content = after.trim_start_matches(' ');
            let start = text.len() - content.len();
            if content.is_empty() || content.starts_with('#') {
                self.value(at, indent + 1, column, false)?;
            } else if is_entry(content) {
                return None;
            } else if key_of(content).is_some() {
                self.line = at;
                self.inline = Some(start);
                self.block_mapping(at, start)?;
            } else {
                self.inline_value(at, start, column)?;
            }
        }
        self.push(Event::SeqEnd)?;
        self.depth -= 1;
        Some(())
    }

    /// The value after a key's `:` or an entry's `-` (which ends at byte `start` of `line`),
    /// in a node whose indentation is `parent`.
    fn value(&mut self, line: usize, start: usize, parent: usize, in_mapping: bool) -> Option<()> {
        let text = self.lines[line];
        let content = text[start..].trim_start_matches(' ');
        if !content.is_empty() && !content.starts_with('#') {
            let column = text.len() - content.len();
            return self.inline_value(line, column, parent);
        }
        // The value is on the lines below, or there is none (a null, left to serde-saphyr).
        self.finish_line(line);
        let (below, indent) = self.peek()?;
        if indent > parent {
            self.block_node(below, indent)
        } else if in_mapping && indent == parent && is_entry(&self.lines[below][indent..]) {
            self.block_sequence(below, indent, true)
        } else {
            None
        }
    }

    /// A scalar or flow sequence starting at byte `column` of `line`, the rest of that line.
    fn inline_value(&mut self, line: usize, column: usize, parent: usize) -> Option<()> {
        let text = self.lines[line];
        let spot = self.spot(line, column)?;
        let (value, plain, end) = match text.as_bytes()[column] {
            b'"' => {
                let (value, end) = double_quoted(text, column)?;
                (value, false, end)
            }
            b'\'' => {
                let (value, end) = single_quoted(text, column)?;
                (value, false, end)
            }
            b'[' => return self.flow_sequence(line, column),
            b'|' | b'>' => return self.block_scalar(line, column, parent),
            b'-' if text[column + 1..].is_empty() || text[column + 1..].starts_with(' ') => {
                return None;
            }
            b'{' | b'&' | b'*' | b'!' | b'%' | b'@' | b'`' | b',' | b']' | b'}' | b'?' | b':'
            | b'#' => return None,
            _ => {
                // The scalar ends where a comment starts (` #`); a `: ` or a `:` at its end
                // before that would make it a key.
                let rest = &text[column..];
                let bytes = rest.as_bytes();
                let mut length = bytes.len();
                for (index, byte) in bytes.iter().enumerate() {
                    match byte {
                        b'#' if index > 0 && bytes[index - 1] == b' ' => {
                            length = index;
                            break;
                        }
                        b':' if bytes.get(index + 1).is_none_or(|next| *next == b' ') => {
                            return None;
                        }
                        _ => {}
                    }
                }
                let value = rest[..length].trim_end_matches(' ');
                (Cow::Borrowed(value), true, text.len())
            }
        };
        if !is_line_end(&text[end..]) {
            return None;
        }
        self.push(Event::Scalar { value, plain, spot })?;
        self.finish_line(line);
        Some(())
    }

    /// `[a, "b", 'c']` on one line, starting at byte `column` of `line`.
    fn flow_sequence(&mut self, line: usize, column: usize) -> Option<()> {
        self.enter()?;
        let text = self.lines[line];
        let bytes = text.as_bytes();
        let spot = self.spot(line, column)?;
        self.push(Event::SeqStart(spot))?;
        let skip_spaces = |mut at: usize| {
            while bytes.get(at) == Some(&b' ') {
                at += 1;
            }
            at
        };
        let mut at = skip_spaces(column + 1);
        if bytes.get(at) == Some(&b']') {
            at += 1;
        } else {
            loop {
                let spot = self.spot(line, at)?;
                let (value, plain, end) = match *bytes.get(at)? {
                    b'"' => {
                        let (value, end) = double_quoted(text, at)?;
                        (value, false, end)
                    }
                    b'\'' => {
                        let (value, end) = single_quoted(text, at)?;
                        (value, false, end)
                    }
                    first => {
                        if b"-?:,[]{}#&*!|>'\"%@`".contains(&first) {
                            return None;
                        }
                        let rest = &text[at..];
                        let length = rest.find([',', ']'])?;
                        let value = rest[..length].trim_end_matches(' ');
                        if value.contains(['[', '{', '}', '#', ':', '"', '\'']) {
                            return None;
                        }
                        (Cow::Borrowed(value), true, at + value.len())
                    }
                };
                self.push(Event::Scalar { value, plain, spot })?;
                at = skip_spaces(end);
                match bytes.get(at) {
                    Some(b',') => {
                        at = skip_spaces(at + 1);
                        if bytes.get(at) == Some(&b']') {
                            return None;
                        }
                    }
                    Some(b']') => {
                        at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        if !is_line_end(&text[at..]) {
            return None;
        }
        self.push(Event::SeqEnd)?;
        self.depth -= 1;
        self.finish_line(line);
        Some(())
    }

    /// A `|` or `>` block scalar whose indicator is at byte `column` of `line`, in a node
    /// whose indentation is `parent`.
    fn block_scalar(&mut self, line: usize, column: usize, parent: usize) -> Option<()> {
        let text = self.lines[line];
        let literal = text.as_bytes()[column] == b'|';
        let header = &text[column + 1..];
        let (chomping, rest) = match header.as_bytes().first() {
            Some(b'-') => (Chomping::Strip, &header[1..]),
            Some(b'+') => (Chomping::Keep, &header[1..]),
            _ => (Chomping::Clip, header),
        };
        if !is_line_end(rest) {
            return None;
        }
        // The first content line sets the indentation; a blank line before it is left to
        // serde-saphyr.
        let first = line + 1;
        let first_text = self.lines.get(first)?;
        let content = first_text.trim_start_matches(' ');
        let indent = first_text.len() - content.len();
        if content.is_empty() || indent <= parent {
            return None;
        }
        // serde-saphyr places a block scalar where its first line's content starts.
        let spot = self.spot(first, indent)?;
        let mut last = first;
        let mut end = first + 1;
        while let Some(text) = self.lines.get(end) {
            let content = text.trim_start_matches(' ');
            if content.is_empty() {
                if text.len() > indent {
                    return None;
                }
            } else if text.len() - content.len() < indent {
                break;
            } else {
                last = end;
            }
            end += 1;
        }
        if end == self.lines.len() && !self.ends_with_newline {
            return None;
        }
        let mut value = String::new();
        let mut blank_lines = 0;
        let mut is_first = true;
        for text in &self.lines[first..=last] {
            if text.len() <= indent && text.trim_start_matches(' ').is_empty() {
                blank_lines += 1;
                continue;
            }
            let body = &text[indent..];
            if is_first {
                is_first = false;
            } else if literal {
                value.push('\n');
                value.extend(std::iter::repeat_n('\n', blank_lines));
            } else if blank_lines == 0 {
                value.push(' ');
            } else {
                value.extend(std::iter::repeat_n('\n', blank_lines));
            }
            if !literal && body.starts_with(' ') {
                // A more-indented line of a folded scalar keeps its line breaks: left to
                // serde-saphyr.
                return None;
            }
            blank_lines = 0;
            value.push_str(body);
        }
        match chomping {
            Chomping::Strip => {}
            Chomping::Clip => value.push('\n'),
            Chomping::Keep => {
                value.extend(std::iter::repeat_n('\n', end - last));
            }
        }
        self.push(Event::Scalar {
            value: Cow::Owned(value),
            plain: false,
            spot,
        })?;
        self.line = end;
        self.inline = None;
        Some(())
    }
}

#[derive(Clone, Copy)]
enum Chomping {
    Strip,
    Clip,
    Keep,
}

/// Whether `rest` starts a block sequence entry.
fn is_entry(rest: &str) -> bool {
    rest == "-" || rest.starts_with("- ")
}

/// Whether the rest of a line after a value is empty or a comment.
fn is_line_end(rest: &str) -> bool {
    let content = rest.trim_start_matches(' ');
    content.is_empty() || (content.starts_with('#') && content.len() < rest.len())
}

/// The key of a `key:` line and the byte offset just past its `:`.
fn key_of(rest: &str) -> Option<(&str, usize)> {
    let bytes = rest.as_bytes();
    let first = *bytes.first()?;
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    let length = bytes
        .iter()
        .position(|byte| !(byte.is_ascii_alphanumeric() || *byte == b'_' || *byte == b'-'))?;
    if length > MAX_KEY_BYTES || bytes[length] != b':' {
        return None;
    }
    match bytes.get(length + 1) {
        None | Some(b' ') => Some((&rest[..length], length + 1)),
        Some(_) => None,
    }
}

/// A double-quoted scalar on one line, its opening quote at byte `start`: its value and the
/// byte offset past its closing quote.
fn double_quoted(text: &str, start: usize) -> Option<(Cow<'_, str>, usize)> {
    let bytes = text.as_bytes();
    let mut owned: Option<String> = None;
    let mut from = start + 1;
    let mut at = from;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'"' => {
                let value = match owned {
                    None => Cow::Borrowed(&text[from..at]),
                    Some(mut value) => {
                        value.push_str(&text[from..at]);
                        Cow::Owned(value)
                    }
                };
                return Some((value, at + 1));
            }
            b'\\' => {
                let value = owned.get_or_insert_with(String::new);
                value.push_str(&text[from..at]);
                let (character, length) = match *bytes.get(at + 1)? {
                    b'0' => ('\0', 2),
                    b'a' => ('\u{7}', 2),
                    b'b' => ('\u{8}', 2),
                    b't' => ('\t', 2),
                    b'n' => ('\n', 2),
                    b'v' => ('\u{b}', 2),
                    b'f' => ('\u{c}', 2),
                    b'r' => ('\r', 2),
                    b'e' => ('\u{1b}', 2),
                    b' ' => (' ', 2),
                    b'"' => ('"', 2),
                    b'/' => ('/', 2),
                    b'\\' => ('\\', 2),
                    b'N' => ('\u{85}', 2),
                    b'_' => ('\u{a0}', 2),
                    b'L' => ('\u{2028}', 2),
                    b'P' => ('\u{2029}', 2),
                    b'x' => (hexadecimal(bytes, at + 2, 2)?, 4),
                    b'u' => (hexadecimal(bytes, at + 2, 4)?, 6),
                    b'U' => (hexadecimal(bytes, at + 2, 8)?, 10),
                    _ => return None,
                };
                value.push(character);
                at += length;
                from = at;
            }
            _ => at += 1,
        }
    }
    None
}

/// The character of `digits` hexadecimal digits at byte `start`.
fn hexadecimal(bytes: &[u8], start: usize, digits: usize) -> Option<char> {
    let digits = bytes.get(start..start + digits)?;
    let mut code = 0_u32;
    for digit in digits {
        code = code * 16 + char::from(*digit).to_digit(16)?;
    }
    char::from_u32(code)
}

/// A single-quoted scalar on one line, its opening quote at byte `start`: its value and the
/// byte offset past its closing quote.
fn single_quoted(text: &str, start: usize) -> Option<(Cow<'_, str>, usize)> {
    let bytes = text.as_bytes();
    let mut owned: Option<String> = None;
    let mut from = start + 1;
    let mut at = from;
    while let Some(&byte) = bytes.get(at) {
        if byte == b'\'' {
            if bytes.get(at + 1) == Some(&b'\'') {
                let value = owned.get_or_insert_with(String::new);
                value.push_str(&text[from..=at]);
                at += 2;
                from = at;
                continue;
            }
            let value = match owned {
                None => Cow::Borrowed(&text[from..at]),
                Some(mut value) => {
                    value.push_str(&text[from..at]);
                    Cow::Owned(value)
                }
            };
            return Some((value, at + 1));
        }
        at += 1;
    }
    None
}

/// Whether a plain scalar is one serde-saphyr reads as null where a value may be absent.
fn is_null(value: &str) -> bool {
    matches!(value, "" | "~" | "null" | "Null" | "NULL")
}

/// Whether a plain scalar is surely a string where any type is taken (serde-saphyr tries null,
/// booleans, integers and floats first): a word of letters, digits, `-` and `_` that starts
/// with a letter and is none of YAML's words for those.
fn is_surely_text(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.first().is_some_and(u8::is_ascii_alphabetic)
        && bytes
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || *byte == b'-' || *byte == b'_')
        && ![
            "y", "n", "yes", "no", "true", "false", "on", "off", "null", "inf", "infinity", "nan",
        ]
        .iter()
        .any(|word| value.eq_ignore_ascii_case(word))
}

/// Why the fast reader stopped; the file is read again by serde-saphyr, so no more is needed.
#[derive(Debug)]
pub struct GiveUp;

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("outside the subset the fast reader takes")
    }
}

impl std::error::Error for GiveUp {}

impl de::Error for GiveUp {
    fn custom<T: fmt::Display>(_message: T) -> Self {
        Self
    }
}

/// Walks the events as a serde `Deserializer`.
struct Reader<'e, 'a> {
    events: &'e [Event<'a>],
    at: usize,
}

impl<'e, 'a> Reader<'e, 'a> {
    fn peek(&self) -> Result<&'e Event<'a>, GiveUp> {
        self.events.get(self.at).ok_or(GiveUp)
    }

    fn next(&mut self) -> Result<&'e Event<'a>, GiveUp> {
        let event = self.peek()?;
        self.at += 1;
        Ok(event)
    }

    /// The next event, which must be a scalar: its value and whether it is plain.
    fn scalar(&mut self) -> Result<(&'e Cow<'a, str>, bool), GiveUp> {
        match self.next()? {
            Event::Scalar { value, plain, .. } => Ok((value, *plain)),
            _ => Err(GiveUp),
        }
    }

    /// The next event, which must be `expected`.
    fn expect(&mut self, expected: &Event<'_>) -> Result<(), GiveUp> {
        let found = self.next()?;
        if std::mem::discriminant(found) == std::mem::discriminant(expected) {
            Ok(())
        } else {
            Err(GiveUp)
        }
    }

    fn unsigned(&mut self) -> Result<u64, GiveUp> {
        let (value, plain) = self.scalar()?;
        let decimal = plain
            && !value.is_empty()
            && value.bytes().all(|byte| byte.is_ascii_digit())
            && (value.len() == 1 || !value.starts_with('0'));
        if !decimal {
            return Err(GiveUp);
        }
        value.parse().map_err(|_| GiveUp)
    }
}

fn visit_text<'de, V: Visitor<'de>>(value: &Cow<'de, str>, visitor: V) -> Result<V::Value, GiveUp> {
    match value {
        Cow::Borrowed(value) => visitor.visit_borrowed_str(value),
        Cow::Owned(value) => visitor.visit_str(value),
    }
}

macro_rules! give_up {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, GiveUp> {
                Err(GiveUp)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for &mut Reader<'_, 'de> {
    type Error = GiveUp;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        match self.peek()? {
            Event::Scalar { value, plain, .. } => {
                if *plain && !is_surely_text(value) {
                    return Err(GiveUp);
                }
                self.at += 1;
                visit_text(value, visitor)
            }
            Event::MapStart(_) => self.deserialize_map(visitor),
            Event::SeqStart(_) => self.deserialize_seq(visitor),
            Event::MapEnd | Event::SeqEnd => Err(GiveUp),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        match self.scalar()? {
            (value, true) if value == "true" => visitor.visit_bool(true),
            (value, true) if value == "false" => visitor.visit_bool(false),
            _ => Err(GiveUp),
        }
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        let value = u32::try_from(self.unsigned()?).map_err(|_| GiveUp)?;
        visitor.visit_u32(value)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        visitor.visit_u64(self.unsigned()?)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        let (value, plain) = self.scalar()?;
        if plain && is_null(value) {
            return Err(GiveUp);
        }
        visit_text(value, visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        match self.peek()? {
            Event::Scalar {
                value, plain: true, ..
            } if is_null(value) => Err(GiveUp),
            Event::MapEnd | Event::SeqEnd => Err(GiveUp),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        if name != LOCATED {
            return visitor.visit_newtype_struct(self);
        }
        let spot = match self.peek()? {
            Event::MapStart(spot) | Event::SeqStart(spot) | Event::Scalar { spot, .. } => *spot,
            Event::MapEnd | Event::SeqEnd => return Err(GiveUp),
        };
        visitor.visit_seq(Placed {
            reader: self,
            spot,
            field: 0,
        })
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        let Event::SeqStart(_) = self.next()? else {
            return Err(GiveUp);
        };
        let value = visitor.visit_seq(Items { reader: self })?;
        self.expect(&Event::SeqEnd)?;
        Ok(value)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GiveUp> {
        let Event::MapStart(_) = self.next()? else {
            return Err(GiveUp);
        };
        let value = visitor.visit_map(Entries { reader: self })?;
        self.expect(&Event::MapEnd)?;
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GiveUp> {
        let (value, _) = self.scalar()?;
        visitor.visit_enum(UnitVariant(value))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, GiveUp> {
        Err(GiveUp)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, GiveUp> {
        Err(GiveUp)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _visitor: V,
    ) -> Result<V::Value, GiveUp> {
        Err(GiveUp)
    }

    give_up! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u128 deserialize_f32 deserialize_f64
        deserialize_char deserialize_bytes deserialize_byte_buf deserialize_unit
        deserialize_ignored_any
    }
}

/// The elements of a sequence, up to its end.
struct Items<'r, 'e, 'a> {
    reader: &'r mut Reader<'e, 'a>,
}

impl<'de> SeqAccess<'de> for Items<'_, '_, 'de> {
    type Error = GiveUp;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, GiveUp> {
        if matches!(self.reader.peek()?, Event::SeqEnd) {
            return Ok(None);
        }
        seed.deserialize(&mut *self.reader).map(Some)
    }
}

/// The entries of a map, up to its end.
struct Entries<'r, 'e, 'a> {
    reader: &'r mut Reader<'e, 'a>,
}

impl<'de> MapAccess<'de> for Entries<'_, '_, 'de> {
    type Error = GiveUp;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, GiveUp> {
        if matches!(self.reader.peek()?, Event::MapEnd) {
            return Ok(None);
        }
        seed.deserialize(&mut *self.reader).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, GiveUp> {
        seed.deserialize(&mut *self.reader)
    }
}

/// What `Located<T>` is given: the line, the column, then the value.
struct Placed<'r, 'e, 'a> {
    reader: &'r mut Reader<'e, 'a>,
    spot: Spot,
    field: u8,
}

impl<'de> SeqAccess<'de> for Placed<'_, '_, 'de> {
    type Error = GiveUp;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, GiveUp> {
        self.field += 1;
        match self.field {
            1 => seed
                .deserialize(self.spot.line.into_deserializer())
                .map(Some),
            2 => seed
                .deserialize(self.spot.column.into_deserializer())
                .map(Some),
            3 => seed.deserialize(&mut *self.reader).map(Some),
            _ => Ok(None),
        }
    }
}

/// An enum written as its variant's name.
struct UnitVariant<'e, 'a>(&'e Cow<'a, str>);

impl<'de> EnumAccess<'de> for UnitVariant<'_, 'de> {
    type Error = GiveUp;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), GiveUp> {
        let variant = match self.0 {
            Cow::Borrowed(name) => seed.deserialize(BorrowedStrDeserializer::new(name))?,
            Cow::Owned(name) => seed.deserialize(name.as_str().into_deserializer())?,
        };
        Ok((variant, self))
    }
}

impl<'de> VariantAccess<'de> for UnitVariant<'_, 'de> {
    type Error = GiveUp;

    fn unit_variant(self) -> Result<(), GiveUp> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _seed: T) -> Result<T::Value, GiveUp> {
        Err(GiveUp)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value, GiveUp> {
        Err(GiveUp)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, GiveUp> {
        Err(GiveUp)
    }
}

#[cfg(test)]
mod differential;

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(value: &str, plain: bool, line: u32, column: u32) -> Event<'_> {
        Event::Scalar {
            value: Cow::Borrowed(value),
            plain,
            spot: Spot { line, column },
        }
    }

    #[test]
    fn a_map_with_a_sequence_and_a_block_scalar_becomes_events() {
        let events = scan("a: 1\nb:\n  - x\n  - 'y'\nc: |-\n  one\n  two\n").expect("subset");
        assert_eq!(
            events,
            vec![
                Event::MapStart(Spot { line: 1, column: 1 }),
                scalar("a", true, 1, 1),
                scalar("1", true, 1, 4),
                scalar("b", true, 2, 1),
                Event::SeqStart(Spot { line: 3, column: 3 }),
                scalar("x", true, 3, 5),
                scalar("y", false, 4, 5),
                Event::SeqEnd,
                scalar("c", true, 5, 1),
                Event::Scalar {
                    value: Cow::Owned("one\ntwo".into()),
                    plain: false,
                    spot: Spot { line: 6, column: 3 }
                },
                Event::MapEnd,
            ]
        );
    }

    #[test]
    fn what_it_is_not_sure_of_is_left_to_the_parser() {
        for text in [
            "a: &x 1\n",
            "a: *x\n",
            "a: !tag 1\n",
            "a: {b: 1}\n",
            "a: [b, [c]]\n",
            "a:\n\tb: 1\n",
            "a: 1\r\n",
            "\u{feff}a: 1\n",
            "a: 1\na: 2\n",
            "a:\n",
            "a: b\n  c\n",
            "a: \"b\n  c\"\n",
            "? a\n: b\n",
            "<<: {a: 1}\n",
            "\"a\": 1\n",
            "a: |2\n   b\n",
            "a: 1\n---\nb: 2\n",
            "a: b: c\n",
            "- - a\n",
            "a: [b, ]\n",
            "a: \"\\q\"\n",
        ] {
            assert_eq!(scan(text), None, "{text:?}");
        }
    }

    #[test]
    fn nesting_beyond_the_limit_is_left_to_the_parser() {
        let mut text = String::new();
        for depth in 0..=MAX_DEPTH {
            text.push_str(&" ".repeat(depth * 2));
            text.push_str("a:\n");
        }
        text.push_str(&" ".repeat((MAX_DEPTH + 1) * 2));
        text.push_str("b: 1\n");
        assert_eq!(scan(&text), None);
    }

    #[test]
    fn plain_words_that_could_be_other_types_are_not_taken_as_text() {
        for word in [
            "yes", "No", "TRUE", "null", "~", "1", "-1", ".inf", "NaN", "0x1f", "",
        ] {
            assert!(!is_surely_text(word), "{word}");
        }
        for word in ["reprovision", "deploy", "export", "a1", "on-call"] {
            assert!(is_surely_text(word), "{word}");
        }
    }
}
