//! How an I/O error reads in vigil's messages: a lower-case phrase without
//! Rust's "(os error N)", as Go (and so Pebble) words it, e.g. `no such file
//! or directory`. The daemon, the CLI and the plan loader all use this one.

use std::io;

/// The reason in `error`, such as `permission denied`.
pub fn io_reason(error: &io::Error) -> String {
    let text = error.to_string();
    let text = match error.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .unwrap_or(&text)
            .to_owned(),
        None => text,
    };
    lower_first(&text)
}

/// `text` with its first letter in lower case, as Go's messages are.
#[must_use]
pub fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_read_like_go() {
        // ENOENT is 2 on Linux.
        let error = io::Error::from_raw_os_error(2);
        assert_eq!(io_reason(&error), "no such file or directory");
        let error = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(io_reason(&error), "permission denied");
        let error = io::Error::other("Custom text");
        assert_eq!(io_reason(&error), "custom text");
    }
}
