//! Every service's log history, and the readers that page through it: the
//! backlog of `/v1/logs`, live followers, push targets and the last lines
//! shown when a start fails (spec supervision.md §15, api.md §6.9).
//!
//! The store owns one ring buffer (`ring.rs`) per service that has written
//! at least one line. Each entry gets a [`Seq`] from one counter for the whole store, so
//! the entries of several services merge into the order they were read in,
//! and a number is never given twice, even after a service leaves the plan
//! and comes back.
//!
//! Reading never copies a message: [`Entry`] borrows from the store, and the
//! caller formats it into its own output buffer before the next event.
//! Followers hold a [`Cursor`] and call [`LogStore::since`]; they never slow
//! down the producers. A follower that fell behind an eviction is told how
//! many entries it missed and carries on from the oldest entry still held.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::SystemTime;

use vigil_proto::api::{LogCount, LogStream};

use super::ring::{Ring, Stored};

/// An entry's place in the store's order: it increases with every line
/// pushed, across all services, and is never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seq(pub(super) u64);

impl Seq {
    /// The number itself, for logs and tests.
    #[must_use]
    pub fn get(self) -> u64 {
        self.0
    }
}

/// One log line as it is read back, borrowed from the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Its place in the store's order.
    pub seq: Seq,
    /// When the line was read (wall clock).
    pub time: SystemTime,
    /// The service that wrote it.
    pub service: &'a str,
    /// The pipe it came from.
    pub stream: LogStream,
    /// The line, without its newline.
    pub message: &'a str,
}

/// Which services a reader wants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ServiceFilter {
    /// Every service, including services that start writing later.
    #[default]
    All,
    /// Only these services. Names without a buffer are skipped.
    Only(Vec<String>),
}

impl ServiceFilter {
    /// The filter for the `services` query parameter, already split into
    /// names: an empty list means every service (spec api.md §4.5).
    #[must_use]
    pub fn from_names(names: Vec<String>) -> Self {
        if names.is_empty() {
            Self::All
        } else {
            Self::Only(names)
        }
    }

    /// Whether `service` is wanted.
    #[must_use]
    pub fn matches(&self, service: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(names) => names.iter().any(|name| name == service),
        }
    }
}

/// A follower's position: which entries it has already been given.
///
/// It is made by [`LogStore::cursor`] at the end of the log, so that the
/// entries a follower gets from [`LogStore::since`] are exactly those pushed
/// after the cursor was made. Made in the same turn of the event loop as a
/// [`LogStore::tail`], it continues that backlog with no gap and no entry
/// twice.
///
/// It remembers, per service buffer, the ordinal of the next entry to read
/// (see `ring.rs`), which is what makes the count of missed entries
/// exact: the store's sequence numbers interleave services, so a sequence
/// number alone cannot tell how many of one service's entries were evicted
/// after it. The cursor costs 16 bytes per service followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The services followed.
    filter: ServiceFilter,
    /// Buffers with this id or above were created after the cursor, so
    /// every entry they ever held is for the follower.
    rings_from: RingId,
    /// For each followed buffer: its id and the ordinal of the next entry
    /// to read.
    next: Vec<(RingId, u64)>,
}

impl Cursor {
    /// The services this cursor follows.
    #[must_use]
    pub fn filter(&self) -> &ServiceFilter {
        &self.filter
    }

    /// The ordinal of the next entry to read from the buffer `id`, whose
    /// next push gets `end`.
    fn next_ordinal(&self, id: RingId, end: u64) -> u64 {
        match self.next.iter().find(|(known, _)| *known == id) {
            Some(&(_, ordinal)) => ordinal,
            // A buffer created after the cursor: all of it is new.
            None if id >= self.rings_from => 0,
            // A buffer the cursor should have known. Entries from before the
            // cursor are never given, so nothing of it is new.
            None => end,
        }
    }
}

/// What [`LogStore::since`] returns: the next entries for a follower.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch<'a> {
    /// The entries, in store order.
    pub entries: Vec<Entry<'a>>,
    /// How many entries were evicted before the follower read them. They
    /// came before [`Batch::entries`]; on SSE this becomes
    /// `: lagged: skipped N entries`.
    pub missed: u64,
}

/// Identifies one buffer for the life of the store: a service that leaves
/// the plan and comes back gets a new buffer with a new id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct RingId(u64);

/// One service's buffer.
#[derive(Debug)]
struct ServiceLog {
    id: RingId,
    ring: Ring,
}

/// The log buffers of every service.
#[derive(Debug)]
pub struct LogStore {
    /// The bound of each new buffer (`--log-buffer-size`).
    buffer_size: usize,
    /// The buffers, by service name.
    services: BTreeMap<String, ServiceLog>,
    /// The number the next entry gets.
    next_seq: u64,
    /// The id the next buffer gets.
    next_ring_id: u64,
}

impl LogStore {
    /// An empty store whose per-service buffers hold at most `buffer_size`
    /// bytes each, counted as in `ring.rs` (`--log-buffer-size`,
    /// [`crate::config::DEFAULT_LOG_BUFFER_SIZE`] by default).
    #[must_use]
    pub fn new(buffer_size: usize) -> Self {
        Self {
            buffer_size,
            services: BTreeMap::new(),
            next_seq: 1,
            next_ring_id: 0,
        }
    }

    /// Records a line of `service`'s output, read at `time`, and returns its
    /// sequence number. The service's buffer is created on its first line.
    pub fn push(
        &mut self,
        service: &str,
        stream: LogStream,
        message: String,
        time: SystemTime,
    ) -> Seq {
        let seq = Seq(self.next_seq);
        self.next_seq += 1;
        let log = match self.services.get_mut(service) {
            Some(log) => log,
            None => {
                let id = RingId(self.next_ring_id);
                self.next_ring_id += 1;
                let ring = Ring::new(self.buffer_size);
                self.services
                    .entry(service.to_owned())
                    .or_insert(ServiceLog { id, ring })
            }
        };
        log.ring.push(seq, time, stream, message);
        seq
    }

    /// Forgets `service`'s buffer: the service has left the plan and is
    /// stopped. Followers skip it from now on. Returns whether it had one.
    pub fn remove(&mut self, service: &str) -> bool {
        self.services.remove(service).is_some()
    }

    /// The most recent entries of the services `filter` selects, merged in
    /// store order, oldest first: the last `count` across them all, or
    /// everything held for [`LogCount::All`].
    ///
    /// It copies no message but returns one [`Entry`] per line, so it suits
    /// small backlogs (30 lines by default); a large one is better paged
    /// through from [`LogStore::cursor_at_tail`].
    #[must_use]
    pub fn tail(&self, filter: &ServiceFilter, count: LogCount) -> Vec<Entry<'_>> {
        let limit = match count {
            LogCount::All => usize::MAX,
            LogCount::Last(count) => usize::try_from(count).unwrap_or(usize::MAX),
        };
        if limit == 0 {
            return Vec::new();
        }
        // The last `limit` overall are among the last `limit` of each.
        let mut entries: Vec<Entry<'_>> = self
            .matching(filter)
            .flat_map(|(name, log)| log.ring.last(limit).map(move |stored| entry(name, stored)))
            .collect();
        entries.sort_unstable_by_key(|entry| entry.seq);
        let extra = entries.len().saturating_sub(limit);
        entries.drain(..extra);
        entries
    }

    /// A cursor at the end of the log: [`LogStore::since`] with it returns
    /// only entries pushed from now on, for the services `filter` selects.
    #[must_use]
    pub fn cursor(&self, filter: ServiceFilter) -> Cursor {
        let next = self
            .matching(&filter)
            .map(|(_, log)| (log.id, log.ring.end_ordinal()))
            .collect();
        Cursor {
            filter,
            rings_from: RingId(self.next_ring_id),
            next,
        }
    }

    /// A cursor just before the last `count` entries of the services
    /// `filter` selects (all of them for [`LogCount::All`]): paging with
    /// [`LogStore::since`] from it gives the backlog [`LogStore::tail`] would
    /// give now, then every later entry, with no gap and no entry twice.
    ///
    /// This is how a large backlog is sent without copying it: a slow
    /// reader pages through it, and whatever is evicted before it gets there
    /// is reported as missed. A reply that must end with the backlog stops
    /// at the first entry numbered [`LogStore::next_seq`] or above, taken
    /// when the request began.
    #[must_use]
    pub fn cursor_at_tail(&self, filter: ServiceFilter, count: LogCount) -> Cursor {
        let logs: Vec<&ServiceLog> = self.matching(&filter).map(|(_, log)| log).collect();
        // For each buffer, the index where its share of the backlog starts.
        let mut starts: Vec<usize> = match count {
            LogCount::All => vec![0; logs.len()],
            LogCount::Last(count) => {
                let mut starts: Vec<usize> = logs.iter().map(|log| log.ring.len()).collect();
                // Walk back from the newest entry across all the buffers.
                let newest = |source: usize, start: usize| {
                    let index = start.checked_sub(1)?;
                    logs[source]
                        .ring
                        .at(index)
                        .map(|stored| (stored.seq, source))
                };
                let mut heads: BinaryHeap<(Seq, usize)> = (0..logs.len())
                    .filter_map(|source| newest(source, starts[source]))
                    .collect();
                let mut left = count;
                while left > 0 {
                    let Some((_, source)) = heads.pop() else {
                        break;
                    };
                    starts[source] -= 1;
                    left -= 1;
                    heads.extend(newest(source, starts[source]));
                }
                starts
            }
        };
        let next = logs
            .iter()
            .zip(starts.drain(..))
            .map(|(log, start)| (log.id, log.ring.first_ordinal() + start as u64))
            .collect();
        Cursor {
            filter,
            rings_from: RingId(self.next_ring_id),
            next,
        }
    }

    /// The number the next pushed entry will get: every entry held now is
    /// numbered below it.
    #[must_use]
    pub fn next_seq(&self) -> Seq {
        Seq(self.next_seq)
    }

    /// The next entries after `cursor`, at most `max` of them, in store
    /// order; `cursor` moves past them and past any entries evicted before
    /// it got to them, whose number is [`Batch::missed`].
    ///
    /// An empty batch with no misses means the follower is up to date.
    pub fn since(&self, cursor: &mut Cursor, max: usize) -> Batch<'_> {
        let mut entries = Vec::new();
        let missed = self.take_while(cursor, |entry| {
            if entries.len() == max {
                return false;
            }
            entries.push(entry);
            true
        });
        Batch { entries, missed }
    }

    /// Offers the entries after `cursor` to `take`, one at a time in store
    /// order, until `take` refuses one (returns false) or none is left.
    /// `cursor` moves past the entries taken and past any entries evicted
    /// before it got to them, whose number is returned; a refused entry is
    /// offered again by the next call.
    ///
    /// This is how a stream with a bounded output buffer pages through the
    /// log: it takes entries while they fit, and the rest wait in the ring
    /// instead of being read and dropped.
    pub fn take_while<'a>(
        &'a self,
        cursor: &mut Cursor,
        mut take: impl FnMut(Entry<'a>) -> bool,
    ) -> u64 {
        let mut missed = 0;
        // Each followed buffer, with the index of its next unread entry.
        let mut sources: Vec<(&str, &ServiceLog, usize)> = Vec::new();
        for (name, log) in self.matching(&cursor.filter) {
            let next = cursor.next_ordinal(log.id, log.ring.end_ordinal());
            missed += log.ring.first_ordinal().saturating_sub(next);
            sources.push((name, log, log.ring.index_of(next)));
        }

        // Merge the buffers' unread entries by sequence number.
        let mut heads: BinaryHeap<Reverse<(Seq, usize)>> = sources
            .iter()
            .enumerate()
            .filter_map(|(source, (_, log, index))| {
                log.ring
                    .at(*index)
                    .map(|stored| Reverse((stored.seq, source)))
            })
            .collect();
        while let Some(Reverse((_, source))) = heads.pop() {
            let (name, log, index) = &mut sources[source];
            let (name, log) = (*name, *log);
            if let Some(stored) = log.ring.at(*index)
                && !take(entry(name, stored))
            {
                break;
            }
            *index += 1;
            if let Some(stored) = log.ring.at(*index) {
                heads.push(Reverse((stored.seq, source)));
            }
        }

        // Buffers that are gone drop out of the cursor here.
        cursor.next.clear();
        cursor.next.extend(
            sources
                .iter()
                .map(|(_, log, index)| (log.id, log.ring.first_ordinal() + *index as u64)),
        );
        missed
    }

    /// The messages of `service`'s last `count` lines, oldest first, from
    /// both streams: what a failed start shows as "Most recent service
    /// output" (spec supervision.md §4, 20 lines).
    #[must_use]
    pub fn last_lines(&self, service: &str, count: usize) -> Vec<&str> {
        self.services.get(service).map_or_else(Vec::new, |log| {
            log.ring
                .last(count)
                .map(|stored| &*stored.message)
                .collect()
        })
    }

    /// Whether `service` has a buffer, that is, has written at least one line
    /// since it joined the plan.
    #[must_use]
    pub fn contains(&self, service: &str) -> bool {
        self.services.contains_key(service)
    }

    /// Bytes charged in `service`'s buffer, never more than its bound.
    #[must_use]
    pub fn used_bytes(&self, service: &str) -> Option<usize> {
        self.services.get(service).map(|log| log.ring.used())
    }

    /// The bound of each buffer in bytes: the configured size, raised to
    /// [`super::MIN_RING_BYTES`] if it was smaller.
    #[must_use]
    pub fn buffer_bound(&self) -> usize {
        Ring::new(self.buffer_size).bound()
    }

    /// The buffers `filter` selects, by name.
    fn matching<'a>(
        &'a self,
        filter: &ServiceFilter,
    ) -> impl Iterator<Item = (&'a str, &'a ServiceLog)> {
        self.services
            .iter()
            .filter(move |(name, _)| filter.matches(name))
            .map(|(name, log)| (name.as_str(), log))
    }
}

/// The public view of `stored`, a line of `service`.
fn entry<'a>(service: &'a str, stored: &'a Stored) -> Entry<'a> {
    Entry {
        seq: stored.seq,
        time: stored.time,
        service,
        stream: stored.stream,
        message: &stored.message,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::super::lines::MAX_LINE_BYTES;
    use super::super::ring::{ENTRY_OVERHEAD, MIN_RING_BYTES};
    use super::*;

    const OUT: LogStream = LogStream::Stdout;
    const ERR: LogStream = LogStream::Stderr;

    fn at(millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_740_824_130_000 + millis)
    }

    fn only(names: &[&str]) -> ServiceFilter {
        ServiceFilter::Only(names.iter().map(|name| (*name).to_owned()).collect())
    }

    /// `service: message` for each entry.
    fn lines(entries: &[Entry<'_>]) -> Vec<String> {
        entries
            .iter()
            .map(|entry| format!("{}: {}", entry.service, entry.message))
            .collect()
    }

    /// A store where web and db wrote interleaved lines.
    fn interleaved() -> LogStore {
        let mut store = LogStore::new(64 * 1024);
        store.push("web", OUT, "w1".into(), at(1));
        store.push("db", ERR, "d1".into(), at(2));
        store.push("web", ERR, "w2".into(), at(3));
        store.push("web", OUT, "w3".into(), at(4));
        store.push("db", OUT, "d2".into(), at(5));
        store
    }

    #[test]
    fn push_numbers_entries_across_services() {
        let mut store = LogStore::new(64 * 1024);
        let first = store.push("web", OUT, "a".into(), at(0));
        let second = store.push("db", OUT, "b".into(), at(0));
        let third = store.push("web", ERR, "c".into(), at(0));
        assert_eq!([first.get(), second.get(), third.get()], [1, 2, 3]);
        assert!(store.contains("web") && store.contains("db"));
        assert!(!store.contains("api"));
    }

    #[test]
    fn tail_merges_services_in_store_order() {
        let store = interleaved();
        let all = store.tail(&ServiceFilter::All, LogCount::All);
        assert_eq!(
            lines(&all),
            ["web: w1", "db: d1", "web: w2", "web: w3", "db: d2"]
        );
        assert_eq!(all[1].stream, ERR);
        assert_eq!(all[1].time, at(2));
        assert_eq!(
            lines(&store.tail(&ServiceFilter::All, LogCount::Last(3))),
            ["web: w2", "web: w3", "db: d2"]
        );
        assert_eq!(
            lines(&store.tail(&only(&["db", "nope"]), LogCount::Last(30))),
            ["db: d1", "db: d2"]
        );
        assert!(
            store
                .tail(&ServiceFilter::All, LogCount::Last(0))
                .is_empty()
        );
        // The last n across services, even when one service has them all.
        assert_eq!(
            lines(&store.tail(&only(&["web", "db"]), LogCount::Last(2))),
            ["web: w3", "db: d2"]
        );
    }

    #[test]
    fn a_cursor_after_tail_continues_with_no_gap_and_no_duplicate() {
        let mut store = interleaved();
        let filter = ServiceFilter::All;
        let backlog: Vec<Seq> = store
            .tail(&filter, LogCount::Last(2))
            .iter()
            .map(|entry| entry.seq)
            .collect();
        let mut cursor = store.cursor(filter);
        assert_eq!(store.since(&mut cursor, 100).entries, []);

        store.push("db", OUT, "d3".into(), at(6));
        store.push("api", OUT, "a1".into(), at(7)); // a new service
        store.push("web", OUT, "w4".into(), at(8));
        let batch = store.since(&mut cursor, 100);
        assert_eq!(lines(&batch.entries), ["db: d3", "api: a1", "web: w4"]);
        assert_eq!(batch.missed, 0);
        let live: Vec<Seq> = batch.entries.iter().map(|entry| entry.seq).collect();
        assert_eq!(
            backlog.last().map(|seq| seq.get() + 1),
            live.first().map(|seq| seq.get())
        );
        assert!(
            live.windows(2)
                .all(|pair| pair[1].get() == pair[0].get() + 1)
        );
        assert_eq!(store.since(&mut cursor, 100).entries, []);
    }

    #[test]
    fn a_cursor_at_the_tail_pages_through_the_backlog_then_live_entries() {
        let mut store = interleaved();
        for (filter, count) in [
            (ServiceFilter::All, LogCount::Last(3)),
            (ServiceFilter::All, LogCount::Last(0)),
            (ServiceFilter::All, LogCount::Last(99)),
            (ServiceFilter::All, LogCount::All),
            (only(&["web"]), LogCount::Last(2)),
            (only(&["db", "web"]), LogCount::Last(4)),
        ] {
            let want = lines(&store.tail(&filter, count));
            let mut cursor = store.cursor_at_tail(filter, count);
            let mut got = Vec::new();
            loop {
                let batch = store.since(&mut cursor, 1);
                if batch.entries.is_empty() {
                    break;
                }
                got.extend(lines(&batch.entries));
            }
            assert_eq!(got, want, "{count:?}");
        }

        // The backlog, then what came after, each once.
        let end = store.next_seq();
        let mut cursor = store.cursor_at_tail(ServiceFilter::All, LogCount::Last(2));
        store.push("db", OUT, "d3".into(), at(6));
        let batch = store.since(&mut cursor, 10);
        assert_eq!(lines(&batch.entries), ["web: w3", "db: d2", "db: d3"]);
        // A reply without follow stops at `end`.
        assert_eq!(
            batch.entries.iter().filter(|entry| entry.seq < end).count(),
            2
        );
    }

    #[test]
    fn a_backlog_evicted_while_paging_is_reported_as_missed() {
        let mut store = LogStore::new(MIN_RING_BYTES);
        for i in 0..4 {
            store.push("web", OUT, format!("{i}").repeat(4000), at(i));
        }
        let mut cursor = store.cursor_at_tail(ServiceFilter::All, LogCount::All);
        assert_eq!(store.since(&mut cursor, 1).entries.len(), 1);
        // Two more evict the two oldest: one was read, one was not.
        store.push("web", OUT, "4".repeat(4000), at(4));
        store.push("web", OUT, "5".repeat(4000), at(5));
        let batch = store.since(&mut cursor, 100);
        assert_eq!(batch.missed, 1);
        let firsts: String = batch
            .entries
            .iter()
            .map(|entry| &entry.message[..1])
            .collect();
        assert_eq!(firsts, "2345");
    }

    #[test]
    fn since_pages_through_in_store_order() {
        let mut store = LogStore::new(64 * 1024);
        let mut cursor = store.cursor(ServiceFilter::All);
        for i in 0..10 {
            let service = ["a", "b", "c"][i % 3];
            store.push(service, OUT, format!("{i}"), at(0));
        }
        let mut seen = Vec::new();
        loop {
            let batch = store.since(&mut cursor, 3);
            assert!(batch.entries.len() <= 3);
            assert_eq!(batch.missed, 0);
            if batch.entries.is_empty() {
                break;
            }
            seen.extend(batch.entries.iter().map(|entry| entry.message.to_owned()));
        }
        assert_eq!(seen, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
    }

    #[test]
    fn a_refused_entry_is_offered_again() {
        let store = interleaved();
        let mut cursor = store.cursor_at_tail(ServiceFilter::All, LogCount::All);
        // Take two, refuse the third.
        let mut offered = Vec::new();
        let missed = store.take_while(&mut cursor, |entry| {
            offered.push(format!("{}: {}", entry.service, entry.message));
            offered.len() <= 2
        });
        assert_eq!(missed, 0);
        assert_eq!(offered, ["web: w1", "db: d1", "web: w2"]);
        // The refused one comes first next time, and nothing is lost.
        assert_eq!(
            lines(&store.since(&mut cursor, 100).entries),
            ["web: w2", "web: w3", "db: d2"]
        );
        assert_eq!(store.take_while(&mut cursor, |_| true), 0);
    }

    #[test]
    fn a_filtered_cursor_sees_only_its_services() {
        let mut store = interleaved();
        let mut cursor = store.cursor(only(&["db", "later"]));
        store.push("web", OUT, "w".into(), at(10));
        store.push("db", OUT, "d".into(), at(11));
        store.push("later", OUT, "l".into(), at(12));
        assert_eq!(
            lines(&store.since(&mut cursor, 10).entries),
            ["db: d", "later: l"]
        );
    }

    #[test]
    fn a_slow_follower_is_told_how_many_entries_it_missed() {
        // Each line costs 4000 + 64: four fit in the smallest buffer.
        let line = || "m".repeat(4000);
        let mut store = LogStore::new(MIN_RING_BYTES);
        store.push("web", OUT, line(), at(0));
        let mut cursor = store.cursor(ServiceFilter::All);
        for _ in 0..10 {
            store.push("web", OUT, line(), at(1));
        }
        // Ten pushed after the cursor, four still held: six missed.
        let batch = store.since(&mut cursor, 100);
        assert_eq!(batch.missed, 6);
        assert_eq!(batch.entries.len(), 4);
        let first = batch.entries[0].seq;
        assert_eq!(first.get(), 1 + 1 + 6);
        // The follower carries on from there; nothing is counted twice.
        store.push("web", OUT, "after".into(), at(2));
        let batch = store.since(&mut cursor, 100);
        assert_eq!(
            (batch.missed, lines(&batch.entries)),
            (0, vec!["web: after".to_owned()])
        );
    }

    #[test]
    fn missed_counts_only_the_followed_services_entries() {
        let mut store = LogStore::new(MIN_RING_BYTES);
        let mut cursor = store.cursor(only(&["web"]));
        let mut web_pushed = 0;
        for i in 0..30 {
            store.push("db", OUT, "d".repeat(4000), at(i));
            if i % 2 == 0 {
                store.push("web", OUT, format!("{i:04}").repeat(1000), at(i));
                web_pushed += 1;
            }
        }
        // Read a little, let more be evicted, then read the rest.
        let first = store.since(&mut cursor, 1);
        assert_eq!(first.missed, web_pushed - 4);
        assert_eq!(first.entries.len(), 1);
        for i in 30..33 {
            store.push("web", OUT, format!("{i:04}").repeat(1000), at(i));
        }
        let rest = store.since(&mut cursor, 100);
        // Of the three unread before, two were evicted by the three new.
        assert_eq!(rest.missed, 2);
        assert_eq!(rest.entries.len(), 4);
        assert!(rest.entries.iter().all(|entry| entry.service == "web"));
    }

    #[test]
    fn a_cursor_can_lag_in_one_service_and_not_another() {
        let mut store = LogStore::new(MIN_RING_BYTES);
        store.push("quiet", OUT, "q0".into(), at(0));
        let mut cursor = store.cursor(ServiceFilter::All);
        store.push("quiet", OUT, "q1".into(), at(1));
        for _ in 0..6 {
            store.push("loud", OUT, "x".repeat(MAX_LINE_BYTES / 2), at(2));
        }
        store.push("quiet", OUT, "q2".into(), at(3));
        let batch = store.since(&mut cursor, 100);
        // The buffer holds one 8 KiB line with its overhead (two would take
        // 2 * 8256 = 16512 bytes of 16448): five of loud's six are missed.
        assert_eq!(batch.missed, 5);
        assert_eq!(lines(&batch.entries)[0], "quiet: q1");
        assert_eq!(lines(&batch.entries).last().unwrap(), "quiet: q2");
        assert_eq!(batch.entries.len(), 3);
    }

    #[test]
    fn buffers_survive_restarts_and_are_freed_on_remove() {
        let mut store = interleaved();
        let mut cursor = store.cursor(ServiceFilter::All);
        assert!(store.remove("web"));
        assert!(!store.remove("web"));
        assert_eq!(
            lines(&store.tail(&ServiceFilter::All, LogCount::All)),
            ["db: d1", "db: d2"]
        );
        // Back in the plan: a new buffer, new numbers, and the follower gets
        // all of it.
        let seq = store.push("web", OUT, "again".into(), at(9));
        assert_eq!(seq.get(), 6);
        assert_eq!(
            (store
                .since(&mut cursor, 10)
                .entries
                .iter()
                .map(|e| e.message)
                .collect::<Vec<_>>()),
            ["again"]
        );
        assert_eq!(cursor.next.len(), 2);
    }

    #[test]
    fn last_lines_are_the_services_most_recent_output() {
        let mut store = LogStore::new(64 * 1024);
        for i in 0..25 {
            store.push(
                "web",
                if i % 2 == 0 { OUT } else { ERR },
                format!("line {i}"),
                at(i),
            );
            store.push("db", OUT, format!("db {i}"), at(i));
        }
        let last = store.last_lines("web", 20);
        assert_eq!(last.len(), 20);
        assert_eq!(last[0], "line 5");
        assert_eq!(last[19], "line 24");
        assert!(store.last_lines("nope", 20).is_empty());
    }

    #[test]
    fn every_buffer_stays_within_its_bound() {
        let bound = 64 * 1024;
        let mut store = LogStore::new(bound);
        assert_eq!(store.buffer_bound(), bound);
        for i in 0..5000_usize {
            let length = if i % 97 == 0 { MAX_LINE_BYTES } else { i % 300 };
            store.push(["a", "b"][i % 2], OUT, "z".repeat(length), at(0));
            assert!(store.used_bytes("a").unwrap() <= bound);
            assert!(store.used_bytes("b").unwrap_or(0) <= bound);
        }
        let held = store.tail(&ServiceFilter::All, LogCount::All);
        let charged: usize = held
            .iter()
            .map(|entry| entry.message.len() + ENTRY_OVERHEAD)
            .sum();
        assert_eq!(
            charged,
            store.used_bytes("a").unwrap() + store.used_bytes("b").unwrap()
        );
        assert_eq!(LogStore::new(10).buffer_bound(), MIN_RING_BYTES);
    }

    #[test]
    fn an_empty_services_list_means_all() {
        assert_eq!(ServiceFilter::from_names(Vec::new()), ServiceFilter::All);
        let filter = ServiceFilter::from_names(vec!["web".into()]);
        assert!(filter.matches("web"));
        assert!(!filter.matches("db"));
    }
}
