//! Turning the raw bytes of one output pipe into lines (spec supervision.md
//! §15, "Line splitting").
//!
//! A [`LineSplitter`] belongs to one pipe: a service's stdout or its stderr.
//! The reactor feeds it each chunk it reads, in order, and collects the lines
//! it completes into a `Vec` that the reactor owns and reuses. The rules:
//!
//! - a line ends at `\n`; a single `\r` before the `\n` is removed;
//! - bytes that are not UTF-8 become U+FFFD, one per invalid sequence (the
//!   Unicode "maximal subpart" practice, which `String::from_utf8_lossy`
//!   follows), and the rest of the line survives;
//! - a character whose bytes arrive in two chunks is joined, never replaced;
//! - decision D24: a line longer than [`MAX_LINE_BYTES`] is cut into pieces
//!   of at most that many bytes, at a character boundary; each piece is a
//!   line of its own;
//! - a partial line is emitted at end of file ([`LineSplitter::finish`]) and
//!   after [`PARTIAL_LINE_TIMEOUT`] without bytes ([`LineSplitter::flush`]).
//!   This module has no clock: the reactor owns that timer and asks
//!   [`LineSplitter::has_partial`] whether to arm it.
//!
//! A splitter holds at most [`MAX_LINE_BYTES`] bytes of a partial line, plus
//! one flag for a `\r` that may or may not end the line (DESIGN.md §3
//! invariant 4, "bounded everything"). Lines that arrive whole inside one
//! chunk are converted straight from the chunk, without a copy into the
//! buffer. The cap applies to the *message*, after replacement: a U+FFFD
//! takes three bytes where the invalid byte took one, so a line of binary
//! noise may need more pieces than its raw length suggests. That keeps every
//! message, and so every ring-buffer entry, within the cap.

use std::time::Duration;

/// The longest message one line may have, in bytes (decision D24: 16 KiB).
///
/// A longer line is cut into pieces of at most this many bytes. It bounds
/// the partial line each pipe holds (two per service) and the size of every
/// ring-buffer entry, and it is large enough that real log lines, including
/// long JSON records and stack-trace lines, arrive whole.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// How long a partial line waits for more bytes before it is emitted anyway
/// (spec supervision.md §15: 1 s).
///
/// A prompt such as `Password: ` or a progress line without `\n` must still
/// reach the logs. The reactor arms this timer (restarting it on every chunk)
/// while [`LineSplitter::has_partial`] is true, and calls
/// [`LineSplitter::flush`] when it fires.
pub const PARTIAL_LINE_TIMEOUT: Duration = Duration::from_secs(1);

/// Splits one pipe's byte stream into lines.
///
/// Call [`push`](Self::push) with every chunk read, then
/// [`finish`](Self::finish) at end of file. Each call appends the lines it
/// completes to the caller's `Vec`, oldest first; it never clears it.
#[derive(Debug, Default)]
pub struct LineSplitter {
    /// The start of the current line, not yet emitted: never more than
    /// [`MAX_LINE_BYTES`] bytes.
    partial: Vec<u8>,
    /// The last byte seen was a `\r` that is not in `partial`: it is removed
    /// if a `\n` follows, and becomes part of the line otherwise.
    pending_cr: bool,
}

impl LineSplitter {
    /// A splitter at the start of a stream.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether bytes of an unfinished line are waiting: the reactor keeps the
    /// [`PARTIAL_LINE_TIMEOUT`] timer armed while this is true.
    #[must_use]
    pub fn has_partial(&self) -> bool {
        !self.partial.is_empty() || self.pending_cr
    }

    /// Feeds the next `chunk` of the stream and appends each line it
    /// completes to `lines`.
    pub fn push(&mut self, chunk: &[u8], lines: &mut Vec<String>) {
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.pending_cr {
                self.pending_cr = false;
                if rest[0] == b'\n' {
                    self.end_line(lines);
                    rest = &rest[1..];
                    continue;
                }
                // The `\r` did not end the line: it is text.
                self.append(b"\r", lines);
            }
            match rest.iter().position(|&byte| byte == b'\n') {
                Some(newline) => {
                    let line = strip_cr(&rest[..newline]);
                    if self.partial.is_empty() {
                        // The whole line is in this chunk: no copy.
                        emit_all(line, lines);
                    } else {
                        self.append(line, lines);
                        self.end_line(lines);
                    }
                    rest = &rest[newline + 1..];
                }
                None => {
                    let start = match rest.split_last() {
                        Some((b'\r', start)) => {
                            self.pending_cr = true;
                            start
                        }
                        _ => rest,
                    };
                    self.append(start, lines);
                    rest = &[];
                }
            }
        }
    }

    /// Emits the partial line, if any, as a line of its own: the stream has
    /// been quiet for [`PARTIAL_LINE_TIMEOUT`].
    ///
    /// A `\r` at its end is removed as if a `\n` had followed. Bytes that
    /// arrive later start a new line. Calling it with no partial line is a
    /// harmless no-op, so a stale timer does no damage.
    pub fn flush(&mut self, lines: &mut Vec<String>) {
        if self.has_partial() {
            self.pending_cr = false;
            self.end_line(lines);
        }
    }

    /// Emits the partial line, if any, at end of file, and leaves the
    /// splitter ready for a new stream.
    ///
    /// An incomplete character at the very end can no longer be completed,
    /// so it becomes U+FFFD.
    pub fn finish(&mut self, lines: &mut Vec<String>) {
        self.flush(lines);
    }

    /// Adds `bytes` to the partial line. Whenever the partial line is full
    /// and more bytes follow, its first piece is emitted to make room.
    ///
    /// A full partial line is only cut when a further byte arrives, so that
    /// a line of exactly [`MAX_LINE_BYTES`] followed by `\n` stays one line
    /// instead of becoming that line plus an empty one.
    fn append(&mut self, mut bytes: &[u8], lines: &mut Vec<String>) {
        while !bytes.is_empty() {
            let room = MAX_LINE_BYTES - self.partial.len();
            if room == 0 {
                self.emit_piece(lines);
                continue;
            }
            let take = room.min(bytes.len());
            self.partial.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
    }

    /// Emits the first piece of a full partial line and keeps the rest, such
    /// as the first bytes of a character whose remaining bytes have not
    /// arrived yet.
    fn emit_piece(&mut self, lines: &mut Vec<String>) {
        let (message, used) = match next_piece(&self.partial, false) {
            // Cannot happen with a full buffer (an incomplete character is at
            // most 3 bytes), but progress must never depend on it.
            (_, 0) => next_piece(&self.partial, true),
            piece => piece,
        };
        lines.push(message);
        self.partial.drain(..used);
    }

    /// Emits the partial line as the end of a line.
    fn end_line(&mut self, lines: &mut Vec<String>) {
        emit_all(&self.partial, lines);
        self.partial.clear();
    }
}

/// `line` without one trailing `\r`.
fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Emits the complete line `bytes`: one message, or several pieces when its
/// text is longer than [`MAX_LINE_BYTES`]. An empty line is one empty
/// message.
fn emit_all(mut bytes: &[u8], lines: &mut Vec<String>) {
    loop {
        let (message, used) = next_piece(bytes, true);
        lines.push(message);
        bytes = &bytes[used..];
        if bytes.is_empty() {
            return;
        }
    }
}

/// The text of the longest prefix of `bytes` that becomes at most
/// [`MAX_LINE_BYTES`] of text, ending at a character boundary, and how many
/// bytes of `bytes` it used.
///
/// Each invalid sequence becomes one U+FFFD. When `at_end` is false, more
/// bytes of the same line are still to come, so an incomplete character at
/// the very end is left unused instead of being replaced: the next bytes may
/// complete it.
fn next_piece(bytes: &[u8], at_end: bool) -> (String, usize) {
    let mut text = String::with_capacity(bytes.len().min(MAX_LINE_BYTES));
    let mut used = 0;
    for chunk in bytes.utf8_chunks() {
        let valid = chunk.valid();
        let room = MAX_LINE_BYTES - text.len();
        if valid.len() > room {
            let fits = &valid[..valid.floor_char_boundary(room)];
            text.push_str(fits);
            used += fits.len();
            return (text, used);
        }
        text.push_str(valid);
        used += valid.len();

        let invalid = chunk.invalid();
        if invalid.is_empty() {
            continue;
        }
        let is_last = used + invalid.len() == bytes.len();
        if is_last && !at_end && is_incomplete_character(invalid) {
            return (text, used);
        }
        if MAX_LINE_BYTES - text.len() < char::REPLACEMENT_CHARACTER.len_utf8() {
            return (text, used);
        }
        text.push(char::REPLACEMENT_CHARACTER);
        used += invalid.len();
    }
    (text, used)
}

/// Whether `invalid`, an invalid sequence at the end of the input, is the
/// start of a character that more bytes could complete, rather than bytes
/// that can never be valid.
fn is_incomplete_character(invalid: &[u8]) -> bool {
    // `error_len` is `None` exactly when the input ends inside a character
    // that could still be valid.
    std::str::from_utf8(invalid).is_err_and(|error| error.error_len().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: usize = 1024;

    /// Feeds each chunk in turn and returns every line, with the partial
    /// line flushed at end of file.
    fn split(chunks: &[&[u8]]) -> Vec<String> {
        let mut splitter = LineSplitter::new();
        let mut lines = Vec::new();
        for chunk in chunks {
            splitter.push(chunk, &mut lines);
        }
        splitter.finish(&mut lines);
        lines
    }

    /// Feeds `input` one byte at a time.
    fn split_bytewise(input: &[u8]) -> Vec<String> {
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        split(&chunks)
    }

    #[test]
    fn lines_end_at_newline_across_chunks() {
        assert_eq!(
            split(&[b"one\ntw", b"o\n", b"thr", b"ee\nfour"]),
            ["one", "two", "three", "four"]
        );
        assert_eq!(split(&[b"a\n\nb\n"]), ["a", "", "b"]);
        assert_eq!(split(&[b""]), Vec::<String>::new());
        assert_eq!(split(&[b"\n"]), [""]);
    }

    #[test]
    fn lines_are_only_returned_once_complete() {
        let mut splitter = LineSplitter::new();
        let mut lines = Vec::new();
        splitter.push(b"hello, ", &mut lines);
        assert!(lines.is_empty());
        assert!(splitter.has_partial());
        splitter.push(b"world\n", &mut lines);
        assert_eq!(lines, ["hello, world"]);
        assert!(!splitter.has_partial());
    }

    #[test]
    fn one_trailing_cr_is_removed() {
        assert_eq!(split(&[b"a\r\nb\r\n"]), ["a", "b"]);
        assert_eq!(split(&[b"a\r\r\n"]), ["a\r"]);
        assert_eq!(split(&[b"a\rb\n"]), ["a\rb"]);
        assert_eq!(split(&[b"\r\n"]), [""]);
        // The \r and the \n in different chunks.
        assert_eq!(split(&[b"a\r", b"\nb\n"]), ["a", "b"]);
        assert_eq!(split(&[b"a\r", b"b\n"]), ["a\rb"]);
        assert_eq!(split_bytewise(b"x\r\r\ny\r\n"), ["x\r", "y"]);
    }

    #[test]
    fn partial_line_is_emitted_at_end_of_file() {
        assert_eq!(split(&[b"done\nno newline"]), ["done", "no newline"]);
        assert_eq!(split(&[b"progress\r"]), ["progress"]);
    }

    #[test]
    fn flush_emits_the_partial_line_and_later_bytes_start_a_new_one() {
        let mut splitter = LineSplitter::new();
        let mut lines = Vec::new();
        splitter.push(b"Password: ", &mut lines);
        splitter.flush(&mut lines);
        assert_eq!(lines, ["Password: "]);
        assert!(!splitter.has_partial());
        // A stale timer: nothing to flush, nothing emitted.
        splitter.flush(&mut lines);
        assert_eq!(lines.len(), 1);
        splitter.push(b"ok\n", &mut lines);
        assert_eq!(lines, ["Password: ", "ok"]);
    }

    #[test]
    fn a_one_mib_line_becomes_64_pieces_and_the_next_line_is_intact() {
        let mut input = vec![b'x'; 1024 * KIB];
        input.extend_from_slice(b"\nnext line\n");
        // As a pipe delivers it: 64 KiB reads, whose ends fall anywhere.
        let chunks: Vec<&[u8]> = input.chunks(64 * KIB + 7).collect();
        let lines = split(&chunks);
        assert_eq!(lines.len(), 65);
        for piece in &lines[..64] {
            assert_eq!(piece.len(), 16 * KIB);
            assert!(piece.bytes().all(|byte| byte == b'x'));
        }
        assert_eq!(lines[64], "next line");
    }

    #[test]
    fn a_line_of_exactly_the_cap_stays_whole() {
        let mut input = vec![b'y'; MAX_LINE_BYTES];
        input.extend_from_slice(b"\r\nz\n");
        for lines in [split(&[&input]), split(&[&input[..100], &input[100..]])] {
            assert_eq!(lines.len(), 2);
            assert_eq!(lines[0].len(), MAX_LINE_BYTES);
            assert_eq!(lines[1], "z");
        }
        let lines = split(&[&vec![b'y'; MAX_LINE_BYTES + 1]]);
        assert_eq!(
            lines.iter().map(String::len).collect::<Vec<_>>(),
            [MAX_LINE_BYTES, 1]
        );
    }

    #[test]
    fn the_partial_line_never_exceeds_the_cap() {
        let mut splitter = LineSplitter::new();
        let mut lines = Vec::new();
        for _ in 0..100 {
            splitter.push(&[b'q'; 5000], &mut lines);
            assert!(splitter.partial.len() <= MAX_LINE_BYTES);
        }
        assert_eq!(lines.len(), 500_000 / MAX_LINE_BYTES);
    }

    #[test]
    fn invalid_utf8_is_replaced_and_the_text_around_it_survives() {
        assert_eq!(
            split(&[b"before \xff after\nnext\n"]),
            ["before \u{fffd} after", "next"]
        );
        // One replacement per invalid sequence: a truncated three-byte
        // character is one sequence, two stray continuation bytes are two.
        assert_eq!(split(&[b"a\xe2\x82b\n"]), ["a\u{fffd}b"]);
        assert_eq!(split(&[b"a\x80\x80b\n"]), ["a\u{fffd}\u{fffd}b"]);
        // The same through the buffered path.
        assert_eq!(
            split_bytewise(b"before \xff after\n"),
            ["before \u{fffd} after"]
        );
        // An incomplete character at end of file.
        assert_eq!(split(&[b"end\xe2\x82"]), ["end\u{fffd}"]);
    }

    #[test]
    fn a_character_split_across_chunks_is_joined() {
        let euro = "€".as_bytes(); // e2 82 ac
        assert_eq!(
            split(&[b"price: ", &euro[..1], &euro[1..], b"5\n"]),
            ["price: €5"]
        );
        assert_eq!(
            split(&[b"price: ", &euro[..2], &euro[2..], b"5\n"]),
            ["price: €5"]
        );
        let text = "naïve café — 日本語 🎉\n";
        assert_eq!(split_bytewise(text.as_bytes()), [text.trim_end()]);
    }

    #[test]
    fn a_character_across_the_cap_moves_to_the_next_piece() {
        // Put each of a 2-, 3- and 4-byte character so that it straddles
        // the cap by every possible amount.
        for character in ["é", "€", "🎉"] {
            for before_cap in 1..character.len() {
                let mut line = "a".repeat(MAX_LINE_BYTES - before_cap);
                line.push_str(character);
                line.push_str("tail");
                let input = format!("{line}\nnext\n");
                let bytes = input.as_bytes();
                // Cut the chunks right inside the character too.
                let cut = MAX_LINE_BYTES - before_cap + 1;
                for lines in [split(&[bytes]), split(&[&bytes[..cut], &bytes[cut..]])] {
                    assert_eq!(lines.len(), 3, "{character} {before_cap}");
                    assert_eq!(lines[0], "a".repeat(MAX_LINE_BYTES - before_cap));
                    assert_eq!(lines[1], format!("{character}tail"));
                    assert_eq!(lines[2], "next");
                }
            }
        }
    }

    #[test]
    fn replacement_characters_count_towards_the_cap() {
        // 16 KiB of invalid bytes become 16 Ki replacement characters, three
        // bytes each. A piece holds 5461 of them (16383 bytes), so 16384
        // need four pieces, each within the cap and on a boundary.
        let mut input = vec![0xff; MAX_LINE_BYTES];
        input.push(b'\n');
        let lines = split(&[&input]);
        assert!(lines.iter().all(|line| line.len() <= MAX_LINE_BYTES));
        let replacements: usize = lines.iter().map(|line| line.chars().count()).sum();
        assert_eq!(replacements, MAX_LINE_BYTES);
        assert!(
            lines
                .iter()
                .all(|line| line.chars().all(|c| c == char::REPLACEMENT_CHARACTER))
        );
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0].len(), 5461 * 3);
    }

    #[test]
    fn finish_resets_the_splitter() {
        let mut splitter = LineSplitter::new();
        let mut lines = Vec::new();
        splitter.push(b"last\r", &mut lines);
        splitter.finish(&mut lines);
        assert!(!splitter.has_partial());
        splitter.push(b"again\n", &mut lines);
        assert_eq!(lines, ["last", "again"]);
    }
}
