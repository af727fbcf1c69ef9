//! The two buffers of a connection: input, bounded by
//! [`READ_BUFFER_LIMIT`], and output, a queue of byte segments that the
//! connection bounds for streams.
//!
//! Neither allocates until it is used, and the input buffer gives its memory
//! back when it empties between requests, so an idle keep-alive connection
//! costs a few hundred bytes.

use std::collections::VecDeque;
use std::fmt;

use super::limits::READ_BUFFER_LIMIT;

/// Bytes read from the peer and not yet parsed, in `data[start..end]`.
#[derive(Default)]
pub(super) struct InputBuffer {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl InputBuffer {
    /// The first allocation, grown by doubling up to the limit.
    const INITIAL: usize = 4 * 1024;

    /// The buffered bytes.
    pub(super) fn filled(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// How many bytes are buffered.
    pub(super) fn len(&self) -> usize {
        self.end - self.start
    }

    pub(super) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Whether the buffer holds [`READ_BUFFER_LIMIT`] bytes: no more can be
    /// read until some are consumed.
    pub(super) fn is_full(&self) -> bool {
        self.len() >= READ_BUFFER_LIMIT
    }

    /// Drops the first `count` buffered bytes, which were parsed.
    pub(super) fn consume(&mut self, count: usize) {
        self.start = (self.start + count).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Drops every buffered byte.
    pub(super) fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Frees the memory of an empty buffer that grew past its first size.
    pub(super) fn shrink(&mut self) {
        if self.is_empty() && self.data.len() > Self::INITIAL {
            self.data = Vec::new();
        }
    }

    /// Room to read into: moves the buffered bytes to the front or grows the
    /// buffer (never past the limit) when needed. Empty when full.
    pub(super) fn space(&mut self) -> &mut [u8] {
        if self.end == self.data.len() {
            if self.start > 0 {
                self.data.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.data.len() < READ_BUFFER_LIMIT {
                let grown = (self.data.len() * 2).clamp(Self::INITIAL, READ_BUFFER_LIMIT);
                self.data.resize(grown, 0);
            }
        }
        &mut self.data[self.end..]
    }

    /// Marks `count` bytes of the last [`space`](Self::space) as filled.
    pub(super) fn commit(&mut self, count: usize) {
        self.end = (self.end + count).min(self.data.len());
    }
}

/// Bytes waiting to be written, as a queue of segments so that a large
/// body is moved in rather than copied. Small writes are appended to the
/// last segment.
#[derive(Default)]
pub(super) struct OutputBuffer {
    segments: VecDeque<Vec<u8>>,
    /// Bytes of the first segment already written.
    offset: usize,
    /// Bytes not yet written, over all segments.
    len: usize,
}

impl OutputBuffer {
    /// Largest segment that small writes are appended to; beyond it they
    /// start a new one, so appending never copies a large body again.
    const COALESCE: usize = 16 * 1024;

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues `bytes`, copying them.
    pub(super) fn extend(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        match self.segments.back_mut() {
            Some(last) if last.len() + bytes.len() <= Self::COALESCE => {
                last.extend_from_slice(bytes);
            }
            _ => self.segments.push_back(bytes.to_vec()),
        }
        self.len += bytes.len();
    }

    /// Queues `bytes`, moving them in when they are large.
    pub(super) fn push(&mut self, bytes: Vec<u8>) {
        if bytes.len() <= Self::COALESCE {
            self.extend(&bytes);
            return;
        }
        self.len += bytes.len();
        self.segments.push_back(bytes);
    }

    /// The next bytes to write, if any.
    pub(super) fn front(&self) -> Option<&[u8]> {
        self.segments.front().map(|segment| &segment[self.offset..])
    }

    /// Drops the first `count` bytes, which were written.
    pub(super) fn advance(&mut self, mut count: usize) {
        count = count.min(self.len);
        self.len -= count;
        while count > 0 {
            let Some(front) = self.segments.front() else {
                break;
            };
            let left = front.len() - self.offset;
            if count < left {
                self.offset += count;
                return;
            }
            count -= left;
            self.offset = 0;
            self.segments.pop_front();
        }
    }

    pub(super) fn clear(&mut self) {
        self.segments = VecDeque::new();
        self.offset = 0;
        self.len = 0;
    }
}

impl fmt::Debug for InputBuffer {
    /// Sizes only: the bytes themselves would flood a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InputBuffer")
            .field("buffered", &self.len())
            .field("capacity", &self.data.len())
            .finish()
    }
}

impl fmt::Debug for OutputBuffer {
    /// Sizes only: the bytes themselves would flood a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutputBuffer")
            .field("pending", &self.len)
            .field("segments", &self.segments.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_grows_to_the_limit_and_no_further() {
        let mut input = InputBuffer::default();
        let mut total = 0;
        loop {
            let space = input.space().len();
            if space == 0 {
                break;
            }
            input.commit(space);
            total += space;
        }
        assert_eq!(total, READ_BUFFER_LIMIT);
        assert!(input.is_full());
        input.consume(10);
        assert!(!input.is_full());
        assert_eq!(input.space().len(), 10, "compacted to make room");
        input.consume(READ_BUFFER_LIMIT);
        assert!(input.is_empty());
        input.shrink();
        assert_eq!(input.data.len(), 0);
    }

    #[test]
    fn input_keeps_order_across_compaction() {
        let mut input = InputBuffer::default();
        let space = input.space();
        let n = space.len();
        for (index, byte) in space.iter_mut().enumerate() {
            *byte = (index % 251) as u8;
        }
        input.commit(n);
        input.consume(n - 3);
        let tail = input.filled().to_vec();
        let space = input.space();
        space[..2].copy_from_slice(b"xy");
        input.commit(2);
        let mut expected = tail;
        expected.extend_from_slice(b"xy");
        assert_eq!(input.filled(), expected);
    }

    #[test]
    fn output_segments() {
        let mut output = OutputBuffer::default();
        output.extend(b"head ");
        output.push(vec![b'b'; 20_000]);
        output.extend(b" tail");
        assert_eq!(output.len(), 20_010);
        assert_eq!(output.segments.len(), 3);
        let mut written = Vec::new();
        while let Some(front) = output.front() {
            let n = front.len().min(7_000);
            written.extend_from_slice(&front[..n]);
            output.advance(n);
        }
        assert!(output.is_empty());
        assert_eq!(&written[..5], b"head ");
        assert_eq!(&written[20_005..], b" tail");
        assert_eq!(written.len(), 20_010);
    }
}
