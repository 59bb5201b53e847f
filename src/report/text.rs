//! Small text helpers shared by the renderers.

/// `1 error`, `2 errors`.
#[must_use]
pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// The byte range of the token at a 1-based line and column (in characters), for carets: a key
/// (`name:`) alone, otherwise from the column to the end of the line's text before a comment, at
/// least one character.
#[must_use]
pub fn token_range(source: &str, line: u32, column: u32) -> Option<std::ops::Range<usize>> {
    let line_index = usize::try_from(line.checked_sub(1)?).ok()?;
    let mut offset = 0;
    for (index, text) in source.split_inclusive('\n').enumerate() {
        if index == line_index {
            let content = text.trim_end_matches(['\n', '\r']);
            let skip = usize::try_from(column.saturating_sub(1)).ok()?;
            let start = content
                .char_indices()
                .nth(skip)
                .map_or(content.len(), |(byte, _)| byte);
            let rest = &content[start..];
            let key = rest.find(':').filter(|&colon| {
                colon > 0
                    && rest[..colon]
                        .bytes()
                        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
                    && rest[colon + 1..]
                        .chars()
                        .next()
                        .is_none_or(char::is_whitespace)
            });
            let comment = rest.find(" #").unwrap_or(rest.len());
            let length = key.unwrap_or_else(|| rest[..comment].trim_end().len());
            let end = start + length.max(rest.chars().next().map_or(0, char::len_utf8));
            return Some(offset + start..offset + end);
        }
        offset += text.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_ranges() {
        let source = "a: 1\nname: héllo # note\nlast";
        assert_eq!(token_range(source, 2, 7), Some(11..17));
        assert_eq!(&source[11..17], "héllo");
        assert_eq!(token_range(source, 3, 1), Some(25..29));
        assert_eq!(token_range(source, 9, 1), None);
        let keys = "window:\n  duraton: 3h\n  start: 2026-12-05T22:00:00+01:00\n";
        assert_eq!(&keys[token_range(keys, 2, 3).expect("key")], "duraton");
        assert_eq!(
            &keys[token_range(keys, 3, 10).expect("time")],
            "2026-12-05T22:00:00+01:00"
        );
        assert_eq!(token_range(source, 0, 1), None);
    }
}
