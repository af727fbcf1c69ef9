//! Reading a request body: a known `Content-Length`, or a chunked body
//! decoded as it arrives (RFC 9112 §7.1), extensions and trailers included.
//!
//! The decoder is incremental: it takes whatever bytes are buffered, appends
//! the body bytes it finds to the request's body and says how many input
//! bytes it used, so a body may arrive in any number of pieces. It enforces
//! [`MAX_BODY`] on the decoded size and [`MAX_CHUNK_LINE`] on each size line,
//! so neither the body nor the framing can grow without bound.

use super::error::RequestError;
use super::limits::{MAX_BODY, MAX_CHUNK_LINE, MAX_HEADER_SECTION, MAX_HEADERS};

/// The state of a body being read.
#[derive(Debug)]
pub(super) enum BodyDecoder {
    /// A `Content-Length` body with this many bytes still to come.
    Length {
        /// Bytes still to read; never zero while reading.
        remaining: usize,
    },
    /// A chunked body, at this point of its syntax.
    Chunked(Chunk),
}

/// Where a chunked body is in its syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chunk {
    /// Expecting a chunk-size line: `1a;ext=value\r\n`.
    Size,
    /// Inside a chunk's data, with this many bytes still to come.
    Data {
        /// Data bytes still to read in this chunk.
        remaining: usize,
    },
    /// Expecting the CRLF that ends a chunk's data.
    DataEnd,
    /// After the last (zero-size) chunk: expecting trailer fields, then the
    /// blank line that ends the body.
    Trailers {
        /// Bytes of the trailer section already looked at: the section is
        /// parsed again only when a new line has ended, so trailers sent
        /// byte by byte cost linear time.
        scanned: usize,
    },
}

impl BodyDecoder {
    /// A decoder for a body of exactly `length` bytes (`length > 0`).
    pub(super) fn length(length: usize) -> Self {
        Self::Length { remaining: length }
    }

    /// A decoder for a chunked body.
    pub(super) fn chunked() -> Self {
        Self::Chunked(Chunk::Size)
    }

    /// Decodes what it can from `input`, appending body bytes to `body`.
    ///
    /// Returns how many input bytes were used and whether the body is
    /// complete. Bytes after the end of the body are left alone: they are
    /// the next pipelined request.
    pub(super) fn decode(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
    ) -> Result<(usize, bool), RequestError> {
        match self {
            Self::Length { remaining } => {
                let taken = input.len().min(*remaining);
                body.extend_from_slice(&input[..taken]);
                *remaining -= taken;
                Ok((taken, *remaining == 0))
            }
            Self::Chunked(state) => decode_chunked(state, input, body),
        }
    }
}

fn decode_chunked(
    state: &mut Chunk,
    input: &[u8],
    body: &mut Vec<u8>,
) -> Result<(usize, bool), RequestError> {
    let mut used = 0;
    loop {
        let rest = &input[used..];
        match *state {
            Chunk::Size => {
                let Some((length, size)) = chunk_size_line(rest)? else {
                    return Ok((used, false));
                };
                used += length;
                if size > MAX_BODY - body.len() {
                    return Err(RequestError::BodyTooLarge);
                }
                *state = if size == 0 {
                    Chunk::Trailers { scanned: 0 }
                } else {
                    Chunk::Data { remaining: size }
                };
            }
            Chunk::Data { remaining } => {
                if rest.is_empty() {
                    return Ok((used, false));
                }
                let taken = rest.len().min(remaining);
                body.extend_from_slice(&rest[..taken]);
                used += taken;
                *state = if taken == remaining {
                    Chunk::DataEnd
                } else {
                    Chunk::Data {
                        remaining: remaining - taken,
                    }
                };
            }
            Chunk::DataEnd => match rest {
                [] | [b'\r'] => return Ok((used, false)),
                [b'\r', b'\n', ..] => {
                    used += 2;
                    *state = Chunk::Size;
                }
                [b'\n', ..] => {
                    used += 1;
                    *state = Chunk::Size;
                }
                _ => return Err(RequestError::MalformedChunk),
            },
            Chunk::Trailers { scanned } => {
                // Trailer fields have the syntax of header fields; vigild
                // reads them only to find the end of the body, and drops
                // them (RFC 9110 §6.5.1 lets a recipient discard them).
                let line_ended = rest[scanned.min(rest.len())..].contains(&b'\n');
                *state = Chunk::Trailers {
                    scanned: rest.len(),
                };
                if !line_ended {
                    if rest.len() > MAX_HEADER_SECTION {
                        return Err(RequestError::HeaderSectionTooLarge);
                    }
                    return Ok((used, false));
                }
                let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
                return match httparse::parse_headers(rest, &mut slots) {
                    Ok(httparse::Status::Complete((length, _))) => Ok((used + length, true)),
                    Ok(httparse::Status::Partial) if rest.len() > MAX_HEADER_SECTION => {
                        Err(RequestError::HeaderSectionTooLarge)
                    }
                    Ok(httparse::Status::Partial) => Ok((used, false)),
                    Err(httparse::Error::TooManyHeaders) => Err(RequestError::TooManyHeaders),
                    Err(_) => Err(RequestError::MalformedChunk),
                };
            }
        }
    }
}

/// Parses a chunk-size line, `chunk-size [ chunk-ext ] CRLF` (RFC 9112
/// §7.1): hex digits, optional whitespace, then optional extensions, which
/// are ignored. Returns the line's length and the size, or `None` while the
/// line end has not arrived.
///
/// Written here rather than taken from `httparse::parse_chunk_size`, which
/// reads an empty size line as the last chunk.
fn chunk_size_line(input: &[u8]) -> Result<Option<(usize, usize)>, RequestError> {
    let window = &input[..input.len().min(MAX_CHUNK_LINE)];
    let Some(newline) = window.iter().position(|&byte| byte == b'\n') else {
        if window.len() == MAX_CHUNK_LINE {
            return Err(RequestError::MalformedChunk);
        }
        return Ok(None);
    };
    let line = &input[..newline];
    let line = line.strip_suffix(b"\r").unwrap_or(line);

    let digits = line
        .iter()
        .take_while(|byte| byte.is_ascii_hexdigit())
        .count();
    if digits == 0 {
        return Err(RequestError::MalformedChunk);
    }
    let after = &line[digits..];
    let whitespace = after
        .iter()
        .take_while(|&&byte| byte == b' ' || byte == b'\t')
        .count();
    let after = &after[whitespace..];
    if (!after.is_empty() && after[0] != b';') || after.contains(&b'\r') {
        return Err(RequestError::MalformedChunk);
    }

    let mut size: usize = 0;
    for &digit in &line[..digits] {
        let value = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            _ => digit - b'A' + 10,
        };
        // A size that overflows is over any limit.
        size = size
            .checked_mul(16)
            .and_then(|size| size.checked_add(usize::from(value)))
            .ok_or(RequestError::BodyTooLarge)?;
    }
    Ok(Some((newline + 1, size)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes, keeping unused bytes as
    /// a real buffer would. Returns the body and the bytes left after it.
    fn decode_in_steps(
        mut decoder: BodyDecoder,
        input: &[u8],
        step: usize,
    ) -> Result<(Vec<u8>, Vec<u8>), RequestError> {
        let mut body = Vec::new();
        let mut buffered = Vec::new();
        let mut fed = 0;
        loop {
            let end = (fed + step).min(input.len());
            buffered.extend_from_slice(&input[fed..end]);
            fed = end;
            let (used, done) = decoder.decode(&buffered, &mut body)?;
            buffered.drain(..used);
            if done {
                buffered.extend_from_slice(&input[fed..]);
                return Ok((body, buffered));
            }
            assert!(fed < input.len(), "input ended before the body did");
        }
    }

    #[test]
    fn length_body_in_pieces() {
        for step in [1, 2, 7, 100] {
            let (body, rest) =
                decode_in_steps(BodyDecoder::length(11), b"hello worldGET /", step).unwrap();
            assert_eq!(body, b"hello world");
            assert_eq!(rest, b"GET /");
        }
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let input = b"5;name=value\r\nhello\r\n6 ; x\r\n world\r\nA\r\n0123456789\r\n0;last\r\nExpires: never\r\nX-Sum: 1\r\n\r\nNEXT";
        for step in [1, 3, 1000] {
            let (body, rest) = decode_in_steps(BodyDecoder::chunked(), input, step).unwrap();
            assert_eq!(body, b"hello world0123456789", "step {step}");
            assert_eq!(rest, b"NEXT");
        }
    }

    #[test]
    fn chunked_body_without_trailers_and_with_bare_newlines() {
        let (body, rest) = decode_in_steps(BodyDecoder::chunked(), b"3\nabc\n0\n\n", 1).unwrap();
        assert_eq!(body, b"abc");
        assert!(rest.is_empty());
    }

    #[test]
    fn malformed_chunks() {
        for input in [
            &b"\r\n"[..],
            b"x\r\n",
            b"5 5\r\n",
            b"5\r\nhelloXX",
            b"3\r\nabc\r\n0\r\nbad header\r\n\r\n",
        ] {
            assert_eq!(
                decode_in_steps(BodyDecoder::chunked(), input, 1000).err(),
                Some(RequestError::MalformedChunk),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let long_extension = format!("1;{}\r\n", "e".repeat(MAX_CHUNK_LINE));
        assert_eq!(
            decode_in_steps(BodyDecoder::chunked(), long_extension.as_bytes(), 1000).err(),
            Some(RequestError::MalformedChunk)
        );
    }

    #[test]
    fn trailer_section_is_bounded() {
        let mut input = b"0\r\nX-Trailer: ".to_vec();
        input.extend(std::iter::repeat_n(b't', MAX_HEADER_SECTION));
        for step in [1000, 100_000] {
            assert_eq!(
                decode_in_steps(BodyDecoder::chunked(), &input, step).err(),
                Some(RequestError::HeaderSectionTooLarge),
                "step {step}"
            );
        }
    }

    #[test]
    fn chunked_body_over_the_limit() {
        // One chunk declared larger than the limit is refused at its size
        // line, before any data is read.
        let huge = format!("{:x}\r\n", MAX_BODY + 1);
        assert_eq!(
            decode_in_steps(BodyDecoder::chunked(), huge.as_bytes(), 1000).err(),
            Some(RequestError::BodyTooLarge)
        );
        assert_eq!(
            decode_in_steps(BodyDecoder::chunked(), b"fffffffffffffffffffff\r\n", 1000).err(),
            Some(RequestError::BodyTooLarge)
        );
        // Many chunks adding up past it too.
        let mut decoder = BodyDecoder::chunked();
        let mut body = vec![0; MAX_BODY - 1];
        assert_eq!(
            decoder.decode(b"2\r\nab\r\n", &mut body).err(),
            Some(RequestError::BodyTooLarge)
        );
        let mut decoder = BodyDecoder::chunked();
        assert!(decoder.decode(b"1\r\na\r\n", &mut body).is_ok());
        assert_eq!(body.len(), MAX_BODY);
    }
}
