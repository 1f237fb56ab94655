//! Configuration errors, each naming the file and, where there is one, `line:col`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Why a configuration could not be used. `Display` is what `check-config` prints.
#[derive(Debug)]
pub enum ConfigError {
    /// An explicitly named file does not exist.
    NotFound { path: PathBuf },
    /// The file exists but could not be read.
    Io { path: PathBuf, error: io::Error },
    /// Not valid TOML, an unknown key, or a value that is not legal; positions are 1-based.
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

impl ConfigError {
    /// An error at byte `offset` of `text`.
    pub(super) fn at(file: &Path, text: &str, offset: usize, message: String) -> Self {
        let (line, column) = line_col(text, offset);
        ConfigError::Invalid {
            path: file.to_path_buf(),
            line,
            column,
            message,
        }
    }

    /// Turns toml's error (message + byte span) into `file:line:col: message`, naming the
    /// section for unknown keys.
    pub(super) fn from_toml(error: &toml::de::Error, text: &str, file: &Path) -> Self {
        let raw = error.message().trim_end().replace('\n', "; ");
        let raw = raw.as_str();
        let key_offset = error.span().map_or(0, |span| span.start);
        let offset = error
            .span()
            .map_or(0, |span| narrow_to_quoted_value(text, span, raw));
        let section = section_at(text, key_offset);
        let message = if let Some(rest) = raw.strip_prefix("unknown field ") {
            // toml says "unknown field `x`, expected one of `a`, `b`"; say key and section.
            let (key, expected) = rest.split_once(", ").unwrap_or((rest, ""));
            let expected = expected.replace('`', "");
            match section {
                Some(s) => format!("unknown key {key} in [{s}]; {expected}"),
                None => format!("unknown section {key}; {expected}"),
            }
        } else {
            match (section, key_at(text, key_offset)) {
                (Some(s), Some(k)) => format!("[{s}] {k}: {raw}"),
                (None, Some(k)) => format!("{k}: {raw}"),
                _ => raw.to_string(),
            }
        };
        Self::at(file, text, offset, message)
    }

    /// The sysexits code: 78 (EX_CONFIG) for all of them; a missing or unreadable file is a
    /// configuration problem too.
    pub fn exit_code(&self) -> i32 {
        78
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NotFound { path } => {
                write!(f, "{}: no such configuration file", path.display())
            }
            ConfigError::Io { path, error } => {
                write!(f, "{}: cannot read: {error}", path.display())
            }
            ConfigError::Invalid {
                path,
                line,
                column,
                message,
            } => write!(f, "{}:{line}:{column}: {message}", path.display()),
        }
    }
}

impl std::error::Error for ConfigError {}

/// toml reports an error in one element of an array (`targets = [...]`) at the whole array;
/// when the message quotes the bad value and that value is written inside the span, point at
/// it instead.
fn narrow_to_quoted_value(text: &str, span: std::ops::Range<usize>, message: &str) -> usize {
    let quoted = message
        .split_once('"')
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(value, _)| format!("\"{value}\""));
    let within = text.get(span.clone()).unwrap_or("");
    match quoted {
        Some(q) if within.len() > q.len() => within.find(&q).map_or(span.start, |i| span.start + i),
        _ => span.start,
    }
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// The `[table]` header in force at `offset` (plain layout: headers on their own lines).
fn section_at(text: &str, offset: usize) -> Option<String> {
    // Only whole lines before the one at `offset`: an unknown section's span is its own header.
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let before = before.get(..before.rfind('\n').unwrap_or(0)).unwrap_or("");
    before.lines().rev().find_map(|line| {
        let t = line.trim();
        let inner = t.strip_prefix('[')?.split(']').next()?;
        let inner = inner.trim_matches(['[', ' ']);
        (!inner.is_empty()).then(|| inner.to_string())
    })
}

/// The key written on the line at `offset`, when the line is `key = value`.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(line_start..)?.lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && !key.starts_with('[')).then(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let text = "a = 1\n# é\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        // "bé = " is 6 bytes but 5 characters.
        let at_value = text.find("2").unwrap_or(0);
        assert_eq!(line_col(text, at_value), (3, 6));
    }

    #[test]
    fn section_and_key_lookup() {
        let text = "[daemon]\nuser = \"x\"\n\n[probe]\ninterval = \"3x\"\n";
        let at = text.find("\"3x\"").unwrap_or(0);
        assert_eq!(section_at(text, at).as_deref(), Some("probe"));
        assert_eq!(key_at(text, at).as_deref(), Some("interval"));
        assert_eq!(section_at("x = 1", 2), None);
    }
}
