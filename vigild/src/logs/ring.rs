//! One service's log history: a ring of entries bounded in bytes (spec
//! supervision.md §15, "Ring buffer"; DESIGN.md §3 invariant 4).
//!
//! An entry costs the length of its message plus [`ENTRY_OVERHEAD`] bytes,
//! and a push first evicts the oldest entries until the new one fits, so the
//! charged total never exceeds the bound. The overhead is not arbitrary: it
//! pays for the entry's slot in the ring (48 bytes on 64-bit Linux) and the
//! allocator's header of its message, so the bound is close to the real
//! memory the ring holds. That also caps the number of entries at
//! `bound / ENTRY_OVERHEAD`, and the slot array never grows past it, even
//! for a service that prints nothing but empty lines.
//!
//! Every entry remembers its *ordinal*: its position among all the entries
//! this ring ever held, counting evicted ones. Ordinals are how a reader
//! (see [`super::store::Cursor`]) finds where it stopped in this ring and
//! how many entries were evicted before it read them.

use std::collections::VecDeque;
use std::time::SystemTime;

use vigil_proto::api::LogStream;

use super::lines::MAX_LINE_BYTES;
use super::store::Seq;

/// What each entry costs beyond its message, in bytes (spec supervision.md
/// §15: 64).
///
/// It covers the entry's slot (sequence number, time, stream and the
/// message's pointer and length: 48 bytes) and the allocator's header of the
/// message, so that a ring of many short lines stays as bounded as one of few
/// long lines.
pub const ENTRY_OVERHEAD: usize = 64;

/// The smallest bound a ring accepts: one longest line with its overhead,
/// so that every entry fits. A smaller bound is raised to this one.
/// `--log-buffer-size` is never below 64 KiB, so only tests use less.
pub const MIN_RING_BYTES: usize = MAX_LINE_BYTES + ENTRY_OVERHEAD;

/// One stored line.
#[derive(Debug)]
pub(super) struct Stored {
    /// Its place in the whole store's order.
    pub(super) seq: Seq,
    /// When it was read.
    pub(super) time: SystemTime,
    /// The pipe it came from.
    pub(super) stream: LogStream,
    /// The line, at most [`MAX_LINE_BYTES`] bytes.
    pub(super) message: Box<str>,
}

impl Stored {
    /// What this entry is charged against the bound.
    fn cost(&self) -> usize {
        self.message.len() + ENTRY_OVERHEAD
    }
}

/// The log history of one service, bounded in bytes.
#[derive(Debug)]
pub(super) struct Ring {
    /// Most bytes the entries may be charged, at least [`MIN_RING_BYTES`].
    bound: usize,
    /// Bytes charged for the entries held now.
    used: usize,
    /// The entries, oldest first.
    entries: VecDeque<Stored>,
    /// How many entries were evicted since the ring was created: the
    /// ordinal of the oldest entry held.
    evicted: u64,
}

impl Ring {
    /// An empty ring whose entries may be charged at most `bound` bytes
    /// (raised to [`MIN_RING_BYTES`]).
    pub(super) fn new(bound: usize) -> Self {
        Self {
            bound: bound.max(MIN_RING_BYTES),
            used: 0,
            entries: VecDeque::new(),
            evicted: 0,
        }
    }

    /// Adds a line, evicting the oldest entries until it fits.
    ///
    /// The line splitter never makes a message longer than
    /// [`MAX_LINE_BYTES`]; a longer one is cut at a character boundary so the
    /// entry always fits the bound.
    pub(super) fn push(&mut self, seq: Seq, time: SystemTime, stream: LogStream, message: String) {
        let mut message = message;
        if message.len() > MAX_LINE_BYTES {
            message.truncate(message.floor_char_boundary(MAX_LINE_BYTES));
        }
        let entry = Stored {
            seq,
            time,
            stream,
            message: message.into_boxed_str(),
        };
        let cost = entry.cost();
        while self.used + cost > self.bound {
            // The bound is at least one largest entry, so the ring empties
            // before this can fail.
            let Some(oldest) = self.entries.pop_front() else {
                break;
            };
            self.used -= oldest.cost();
            self.evicted += 1;
        }
        self.reserve_slot();
        self.used += cost;
        self.entries.push_back(entry);
    }

    /// Makes room for one more slot, growing the slot array by doubling but
    /// never past the most entries the bound allows.
    fn reserve_slot(&mut self) {
        if self.entries.len() < self.entries.capacity() {
            return;
        }
        let most = self.bound / ENTRY_OVERHEAD;
        let grow = self.entries.capacity().clamp(4, most.max(1));
        let grow = grow.min(most.saturating_sub(self.entries.len())).max(1);
        self.entries.reserve_exact(grow);
    }

    /// Bytes charged for the entries held now; never more than the bound.
    pub(super) fn used(&self) -> usize {
        self.used
    }

    /// The most bytes the entries may be charged.
    pub(super) fn bound(&self) -> usize {
        self.bound
    }

    /// The number of entries held.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The ordinal of the oldest entry held: how many were evicted.
    pub(super) fn first_ordinal(&self) -> u64 {
        self.evicted
    }

    /// The ordinal the next pushed entry will get: how many were ever
    /// pushed.
    pub(super) fn end_ordinal(&self) -> u64 {
        self.evicted + self.entries.len() as u64
    }

    /// The entry held at `index` (0 is the oldest held).
    pub(super) fn at(&self, index: usize) -> Option<&Stored> {
        self.entries.get(index)
    }

    /// The index of the entry with `ordinal`, clamped to what is held: 0 when
    /// it was evicted, [`Ring::len`] when it is not pushed yet.
    pub(super) fn index_of(&self, ordinal: u64) -> usize {
        let index = ordinal.saturating_sub(self.evicted);
        usize::try_from(index).map_or(self.entries.len(), |index| index.min(self.entries.len()))
    }

    /// The last `count` entries, oldest first.
    pub(super) fn last(&self, count: usize) -> impl Iterator<Item = &Stored> {
        self.entries
            .range(self.entries.len().saturating_sub(count)..)
    }

    /// Every entry held, oldest first.
    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = &Stored> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    fn push(ring: &mut Ring, seq: u64, message: &str) {
        ring.push(Seq(seq), UNIX_EPOCH, LogStream::Stdout, message.to_owned());
    }

    fn messages(ring: &Ring) -> Vec<&str> {
        ring.iter().map(|entry| &*entry.message).collect()
    }

    #[test]
    fn entries_cost_their_message_plus_the_overhead() {
        let mut ring = Ring::new(64 * 1024);
        push(&mut ring, 1, "hello");
        push(&mut ring, 2, "");
        assert_eq!(ring.used(), 5 + 64 + 64);
        assert_eq!(ring.len(), 2);
    }

    #[test]
    fn oldest_entries_are_evicted_first_and_bytes_never_exceed_the_bound() {
        let bound = 64 * 1024;
        let mut ring = Ring::new(bound);
        let big = "B".repeat(MAX_LINE_BYTES);
        let mut seq = 0;
        for round in 0..50 {
            // Many small lines, then a few of the largest.
            for i in 0..300 {
                seq += 1;
                push(&mut ring, seq, &format!("round {round} line {i}"));
                assert!(ring.used() <= bound);
            }
            for _ in 0..3 {
                seq += 1;
                push(&mut ring, seq, &big);
                assert!(ring.used() <= bound);
            }
        }
        // What is held is a suffix of what was pushed, in order, and the
        // charge matches the entries.
        let held: Vec<u64> = ring.iter().map(|entry| entry.seq.0).collect();
        let first = seq - held.len() as u64 + 1;
        assert_eq!(held, (first..=seq).collect::<Vec<_>>());
        assert_eq!(ring.first_ordinal(), first - 1);
        assert_eq!(ring.end_ordinal(), seq);
        let charged: usize = ring.iter().map(Stored::cost).sum();
        assert_eq!(charged, ring.used());
        // The bound is nearly full: the next entry would not have fitted.
        assert!(ring.used() + 64 + MAX_LINE_BYTES > bound);
    }

    #[test]
    fn a_large_line_evicts_as_many_small_ones_as_it_needs() {
        let mut ring = Ring::new(MIN_RING_BYTES + 100);
        for seq in 1..=3 {
            push(&mut ring, seq, "x");
        }
        assert_eq!(ring.used(), 3 * 65);
        push(&mut ring, 4, &"L".repeat(MAX_LINE_BYTES));
        // The large entry leaves 100 bytes: room for one small entry of 65.
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.first_ordinal(), 2);
        assert_eq!(messages(&ring)[0], "x");
        assert_eq!(ring.used(), 65 + MIN_RING_BYTES);
    }

    #[test]
    fn the_slot_array_stays_within_what_the_bound_allows() {
        let bound = 64 * 1024;
        let mut ring = Ring::new(bound);
        for seq in 0..100_000 {
            push(&mut ring, seq, "");
        }
        assert_eq!(ring.len(), bound / ENTRY_OVERHEAD);
        assert!(ring.entries.capacity() <= bound / ENTRY_OVERHEAD + 4);
        assert!(size_of::<Stored>() <= ENTRY_OVERHEAD);
    }

    #[test]
    fn overlong_messages_are_cut_at_a_character_boundary() {
        let mut ring = Ring::new(0);
        assert_eq!(ring.bound(), MIN_RING_BYTES);
        let mut long = "a".repeat(MAX_LINE_BYTES - 1);
        long.push('é');
        push(&mut ring, 1, &long);
        assert_eq!(messages(&ring)[0], "a".repeat(MAX_LINE_BYTES - 1));
        assert!(ring.used() <= ring.bound());
    }

    #[test]
    fn ordinals_and_indexes() {
        let mut ring = Ring::new(MIN_RING_BYTES);
        for seq in 0..10 {
            push(&mut ring, seq, &"m".repeat(4000));
        }
        // 16448 bytes hold four entries of 4064.
        assert_eq!(ring.len(), 4);
        assert_eq!(ring.first_ordinal(), 6);
        assert_eq!(ring.end_ordinal(), 10);
        assert_eq!(ring.index_of(0), 0);
        assert_eq!(ring.index_of(7), 1);
        assert_eq!(ring.index_of(12), 4);
        assert_eq!(ring.at(1).map(|entry| entry.seq), Some(Seq(7)));
        let last: Vec<u64> = ring.last(2).map(|entry| entry.seq.0).collect();
        assert_eq!(last, [8, 9]);
        assert_eq!(ring.last(99).count(), 4);
    }
}
