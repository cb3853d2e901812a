//! Which characters of untrusted text never reach a terminal, a PR comment,
//! a job summary or a step output as themselves, and how they are shown
//! instead. The escaping functions ([`crate::render::term`],
//! [`crate::github::markdown::text`], [`crate::github::markdown::url`]) all
//! ask [`is_unsafe`], so the three agree on what is dangerous.

/// Control characters (C0, DEL, C1: they move cursors, end lines, or
/// start escape sequences), Unicode format characters (category Cf: the
/// bidirectional overrides and isolates that make text read in an order
/// other than the bytes, zero-width characters that hide text, the BOM) and
/// the line and paragraph separators, which some renderers break lines at.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || is_format(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Unicode general category Cf (Unicode 15.1), which `std` has no
/// predicate for.
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// How an unsafe character is shown: the way Rust writes it in a string
/// literal (`\n`, `\u{1b}`, `\u{202e}`), visible and unambiguous.
pub fn shown(c: char) -> String {
    c.escape_default().to_string()
}

/// Whether a text holds any unsafe character.
pub fn has_unsafe(s: &str) -> bool {
    s.chars().any(is_unsafe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_zero_width_and_controls_are_unsafe() {
        for c in [
            '\0',
            '\u{1b}',
            '\r',
            '\n',
            '\u{7f}',
            '\u{85}',
            '\u{9b}',
            '\u{200b}',
            '\u{200d}',
            '\u{200f}',
            '\u{202a}',
            '\u{202e}',
            '\u{2066}',
            '\u{2069}',
            '\u{feff}',
            '\u{2028}',
            '\u{e0041}',
        ] {
            assert!(is_unsafe(c), "{c:?}");
        }
        for c in ['a', ' ', 'é', '→', '✅', '\u{fe0f}', '中'] {
            assert!(!is_unsafe(c), "{c:?}");
        }
        assert_eq!(shown('\u{202e}'), "\\u{202e}");
        assert_eq!(shown('\n'), "\\n");
    }
}
