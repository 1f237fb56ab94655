//! The one place where text from the network becomes text mailpulse shows: DNS names, TLS SNI,
//! server greetings and replies, certificate names. Whatever a LAN host or a server sends must
//! not reach an administrator's terminal, a log line or the web UI as anything but visible
//! characters.
//!
//! Every byte that is not printable becomes `\xNN`: ASCII control characters (newline,
//! escape, …), bytes that are not UTF-8, and the UTF-8 bytes of Unicode characters that are
//! invisible or reorder what surrounds them (C1 controls, bidirectional overrides and isolates,
//! zero-width and other format characters). Printable UTF-8 (accented letters, CJK) is kept.

/// `bytes` received from the network, as safe text.
pub fn clean(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_char(&mut out, c);
        }
        for &b in chunk.invalid() {
            push_escaped(&mut out, b);
        }
    }
    out
}

/// A string that came from the network (already decoded as UTF-8), as safe text.
pub fn clean_str(text: &str) -> String {
    clean(text.as_bytes())
}

/// Whether `text` would come out of [`clean_str`] unchanged (the tests' check on it).
/// Declares a string-valued enum whose error message lists the legal names.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every legal value, in the order error messages list them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name as written in the configuration.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses a name; the error lists the legal ones.
            pub fn parse(text: &str) -> Result<$name, String> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!(
                        "invalid {} {:?}; expected one of {}",
                        $what,
                        text,
                        Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                    )),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <String as ::serde::Deserialize>::deserialize(deserializer)?;
                $name::parse(&text).map_err(::serde::de::Error::custom)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}
pub(crate) use named_enum;

#[cfg(test)]
pub fn is_clean(text: &str) -> bool {
    text.chars().all(is_shown)
}

fn push_char(out: &mut String, c: char) {
    if is_shown(c) {
        out.push(c);
    } else {
        let mut buf = [0u8; 4];
        for &b in c.encode_utf8(&mut buf).as_bytes() {
            push_escaped(out, b);
        }
    }
}

fn push_escaped(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\x");
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0x0f)]));
}

/// Printable and harmless: not a control character, not an invisible or reordering one.
fn is_shown(c: char) -> bool {
    !c.is_control() && !is_format(c)
}

/// Unicode format characters (general category Cf) and the line/paragraph separators: they are
/// invisible, and the bidirectional ones reorder the text around them on screen.
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'                    // soft hyphen
            | '\u{0600}'..='\u{0605}' // Arabic number signs
            | '\u{061C}'              // Arabic letter mark
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'              // Mongolian vowel separator
            | '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM, RLM
            | '\u{2028}'..='\u{202E}' // line/paragraph separators, LRE, RLE, PDF, LRO, RLO
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{206F}' // LRI, RLI, FSI, PDI, deprecated format characters
            | '\u{FEFF}'              // zero-width no-break space (BOM)
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}' // tag characters
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_is_kept() {
        assert_eq!(clean(b"* OK Dovecot ready."), "* OK Dovecot ready.");
        assert_eq!(clean("Grüße, 邮件".as_bytes()), "Grüße, 邮件");
        assert!(is_clean("mail.example.com"));
    }

    #[test]
    fn control_bytes_and_invalid_utf8_are_escaped() {
        // Sets the terminal title, then forges a log line.
        assert_eq!(
            clean(b"\x1b]0;pwned\x07ok\r\nFAKE: x"),
            "\\x1b]0;pwned\\x07ok\\x0d\\x0aFAKE: x"
        );
        assert_eq!(clean(b"a\x00b\x7fc\xff"), "a\\x00b\\x7fc\\xff");
        // A truncated multi-byte sequence.
        assert_eq!(clean(b"x\xe2\x80"), "x\\xe2\\x80");
    }

    #[test]
    fn c1_controls_and_bidi_and_format_characters_are_escaped() {
        // U+009B (CSI as a C1 control), U+202E (RLO), U+2066 (LRI), U+200F (RLM), U+FEFF.
        let hostile = "a\u{9b}31mb\u{202e}gpj.exe\u{2066}c\u{200f}d\u{feff}e\u{200e}";
        let shown = clean_str(hostile);
        assert_eq!(
            shown,
            "a\\xc2\\x9b31mb\\xe2\\x80\\xaegpj.exe\\xe2\\x81\\xa6c\\xe2\\x80\\x8fd\\xef\\xbb\\xbfe\\xe2\\x80\\x8e"
        );
        assert!(is_clean(&shown));
        for c in [
            '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{2067}', '\u{2068}', '\u{2069}',
        ] {
            assert!(!is_clean(&c.to_string()), "{c:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn output_never_holds_a_control_or_format_character(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)
        ) {
            let text = clean(&bytes);
            proptest::prop_assert!(text.chars().all(is_shown));
        }
    }
}
