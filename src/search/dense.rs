//! The documents of a segment's frequent words, as bitsets.
//!
//! Several exact words are matched by intersecting their posting lists in
//! `all`. Walking a common word's list is most of what a search of common
//! words costs (a two-word search of 100 000 users walked 9 000 postings
//! for 200 matches: a fifth of its CPU). A word held by at least one
//! document in [`DENSE_RATIO`] is kept instead as a bitset of its segment's
//! documents, built from its list on first use and kept for as long as the
//! segment lives (a segment's postings never change; deletes are applied by
//! the collector, as for postings). Intersecting bitsets is a word-wise AND,
//! done as the documents are walked: for 100 000 documents, 1 563 machine
//! words.
//!
//! Few words are that frequent (at most [`DENSE_RATIO`] times a document's
//! distinct words), and the sets are bounded: [`DENSE_BYTES`] per segment,
//! the least recently used set leaving first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tantivy::{DocId, DocSet, TERMINATED};

use super::exact::{Peak, Peaks};
use super::tokenizer::SLOTS;

/// The set bits of `w`, lowest first.
pub(super) fn ones(mut w: u64) -> impl Iterator<Item = u32> {
    std::iter::from_fn(move || {
        (w != 0).then(|| {
            let bit = w.trailing_zeros();
            w &= w - 1;
            bit
        })
    })
}

/// A word is kept as a bitset when it is in at least one document of this
/// many: walking its postings then costs more than ANDing its bitset.
pub(super) const DENSE_RATIO: u32 = 64;

/// Bytes of bitsets (and their peaks) a segment keeps at most (64 words
/// at 1 000 000 users).
pub(super) const DENSE_BYTES: usize = 16 << 20;

/// Whether a word in `doc_freq` of a segment's `max_doc` documents is
/// matched through its bitset.
pub(super) fn is_dense(doc_freq: u32, max_doc: u32) -> bool {
    u64::from(doc_freq) * u64::from(DENSE_RATIO) >= u64::from(max_doc)
}

/// A set of a segment's documents.
pub(super) struct Bits {
    words: Box<[u64]>,
    count: u32,
    /// Of the word's documents, per text field, the most that can score it
    /// (see [`exact`](super::exact)'s top pages): found on the first search
    /// that prunes by it.
    pub(super) peaks: std::sync::OnceLock<Peaks>,
}

impl Bits {
    /// The documents of `docs`, all below `max_doc`.
    pub(super) fn of(mut docs: impl DocSet, max_doc: u32) -> Self {
        let mut words = vec![0u64; max_doc.div_ceil(64) as usize].into_boxed_slice();
        let mut count = 0;
        let mut doc = docs.doc();
        while doc != TERMINATED {
            words[(doc / 64) as usize] |= 1 << (doc % 64);
            count += 1;
            doc = docs.advance();
        }
        Self {
            words,
            count,
            peaks: std::sync::OnceLock::new(),
        }
    }

    /// The set's machine words: document `d` is bit `d % 64` of word `d / 64`.
    pub(super) fn words(&self) -> &[u64] {
        &self.words
    }

    /// The set's documents, in order.
    pub(super) fn docs(&self) -> impl Iterator<Item = DocId> + '_ {
        self.words.iter().enumerate().flat_map(|(at, &w)| {
            let base = at as DocId * 64;
            ones(w).map(move |bit| base + bit)
        })
    }

    pub(super) fn contains(&self, doc: DocId) -> bool {
        self.words
            .get((doc / 64) as usize)
            .is_some_and(|w| w >> (doc % 64) & 1 == 1)
    }

    fn bytes(&self) -> usize {
        self.words.len() * 8
    }
}

/// The documents in every one of some sets of one segment, walked in
/// order as a tantivy `DocSet`: their machine words ANDed as it goes.
pub(super) struct BitsDocs {
    first: Arc<Bits>,
    others: Vec<Arc<Bits>>,
    /// Index of the machine word `rest` comes from.
    at: usize,
    /// The bits of that word not yet visited.
    rest: u64,
    doc: DocId,
    /// At most this many documents: the smallest set's.
    len: u32,
}

impl BitsDocs {
    /// The documents in every one of `sets` (at least one).
    pub(super) fn new(mut sets: Vec<Arc<Bits>>) -> Self {
        assert!(!sets.is_empty(), "at least one set");
        let len = sets.iter().map(|s| s.count).min().unwrap_or(0);
        let first = sets.swap_remove(0);
        let mut docs = Self {
            first,
            others: sets,
            at: 0,
            rest: 0,
            doc: 0,
            len,
        };
        docs.rest = docs.word(0);
        docs.advance();
        docs
    }

    /// Machine word `at` of the intersection (0 past the end).
    fn word(&self, at: usize) -> u64 {
        let w = self.first.words.get(at).copied().unwrap_or(0);
        self.others
            .iter()
            .fold(w, |w, s| w & s.words.get(at).copied().unwrap_or(0))
    }
}

impl DocSet for BitsDocs {
    fn advance(&mut self) -> DocId {
        let end = self.first.words.len();
        while self.rest == 0 {
            self.at += 1;
            if self.at >= end {
                self.at = end;
                self.doc = TERMINATED;
                return TERMINATED;
            }
            self.rest = self.word(self.at);
        }
        let bit = self.rest.trailing_zeros();
        self.rest &= self.rest - 1;
        self.doc = self.at as DocId * 64 + bit;
        self.doc
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc >= target {
            return self.doc;
        }
        let at = (target / 64) as usize;
        if at >= self.first.words.len() {
            self.at = self.first.words.len();
            self.rest = 0;
            self.doc = TERMINATED;
            return TERMINATED;
        }
        if at > self.at {
            self.at = at;
            self.rest = self.word(at);
        }
        // Drop the bits below the target in its word.
        self.rest &= !0u64 << (target % 64);
        self.advance()
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.len
    }
}

/// What keeping `bits` for `word` costs: the set, the word, and about
/// what the map's entry takes.
fn kept_bytes(word: &[u8], bits: &Bits) -> usize {
    // The peaks, found later, are a set's size again.
    let peaks = bits.words.len() * std::mem::size_of::<[Peak; SLOTS]>();
    bits.bytes() + peaks + word.len() + 64
}

struct Kept {
    bits: Arc<Bits>,
    /// When it was last asked for, on the sets' clock.
    used: u64,
}

/// A segment's bitsets, by word.
#[derive(Default)]
pub(super) struct DenseWords {
    kept: Mutex<Sets>,
}

#[derive(Default)]
struct Sets {
    by_word: HashMap<Box<[u8]>, Kept>,
    bytes: usize,
    /// Counts requests: orders the sets by last use.
    clock: u64,
}

impl DenseWords {
    /// The bitset of `word` (a term's value bytes), built by `build` if it
    /// is not kept yet.
    pub(super) fn get_or_build<E>(
        &self,
        word: &[u8],
        build: impl FnOnce() -> Result<Bits, E>,
    ) -> Result<Arc<Bits>, E> {
        {
            let sets = &mut *self.lock();
            sets.clock += 1;
            if let Some(k) = sets.by_word.get_mut(word) {
                k.used = sets.clock;
                return Ok(k.bits.clone());
            }
        }
        // Built outside the lock: two searches may build one set at once,
        // and the first kept wins.
        let bits = Arc::new(build()?);
        let sets = &mut *self.lock();
        if let Some(k) = sets.by_word.get(word) {
            return Ok(k.bits.clone());
        }
        let size = kept_bytes(word, &bits);
        if size > DENSE_BYTES {
            return Ok(bits);
        }
        while sets.bytes + size > DENSE_BYTES {
            let Some(oldest) = sets
                .by_word
                .iter()
                .min_by_key(|(_, k)| k.used)
                .map(|(w, _)| w.clone())
            else {
                break;
            };
            if let Some(k) = sets.by_word.remove(&oldest) {
                sets.bytes -= kept_bytes(&oldest, &k.bits);
            }
        }
        sets.bytes += size;
        sets.clock += 1;
        let kept = Kept {
            bits: bits.clone(),
            used: sets.clock,
        };
        sets.by_word.insert(word.into(), kept);
        Ok(bits)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sets> {
        // A panic while holding the lock leaves the map whole (each change
        // is one insert or remove): go on with it.
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes kept (for tests).
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// How many kept sets a search has found the peaks of (for tests).
    #[cfg(test)]
    pub(super) fn with_peaks(&self) -> usize {
        let sets = self.lock();
        sets.by_word
            .values()
            .filter(|k| k.bits.peaks.get().is_some())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sorted documents as a `DocSet` (tantivy's `VecDocSet` is its tests').
    struct Sorted(Vec<DocId>, usize);

    impl DocSet for Sorted {
        fn advance(&mut self) -> DocId {
            self.1 += 1;
            self.doc()
        }
        fn doc(&self) -> DocId {
            self.0.get(self.1).copied().unwrap_or(TERMINATED)
        }
        fn size_hint(&self) -> u32 {
            self.0.len() as u32
        }
    }

    fn bits(docs: &[DocId], max_doc: u32) -> Arc<Bits> {
        Arc::new(Bits::of(Sorted(docs.to_vec(), 0), max_doc))
    }

    fn walk(mut d: impl DocSet) -> Vec<DocId> {
        let mut out = Vec::new();
        while d.doc() != TERMINATED {
            out.push(d.doc());
            d.advance();
        }
        out
    }

    #[test]
    fn sets_walk_seek_and_intersect_as_sorted_lists_do() {
        let a = [0, 1, 63, 64, 65, 127, 128, 500, 999];
        let b = [1, 2, 63, 127, 200, 500, 998, 999];
        let (x, y) = (bits(&a, 1000), bits(&b, 1000));
        assert_eq!(walk(BitsDocs::new(vec![x.clone()])), a);
        assert_eq!(BitsDocs::new(vec![x.clone()]).size_hint(), a.len() as u32);
        let both = [1, 63, 127, 500, 999];
        assert_eq!(walk(BitsDocs::new(vec![x.clone(), y.clone()])), both);
        assert_eq!(
            walk(BitsDocs::new(vec![y.clone(), x.clone(), y.clone()])),
            both
        );
        let z = bits(&[2, 998], 1000);
        assert_eq!(
            walk(BitsDocs::new(vec![x.clone(), y.clone(), z])),
            Vec::<DocId>::new()
        );
        assert!(x.contains(65) && !x.contains(66) && !x.contains(5000));
        // Seeking lands on the first document at or after the target.
        for target in 0..1001 {
            let mut d = BitsDocs::new(vec![x.clone()]);
            let expected = a
                .iter()
                .copied()
                .find(|&t| t >= target)
                .unwrap_or(TERMINATED);
            assert_eq!(d.seek(target), expected, "seek {target}");
            assert_eq!(d.doc(), expected);
            // And on from there.
            let next = a
                .iter()
                .copied()
                .find(|&t| t > expected)
                .unwrap_or(TERMINATED);
            if expected != TERMINATED {
                assert_eq!(d.advance(), next);
            }
        }
        // Seeking backwards stays.
        let mut d = BitsDocs::new(vec![x.clone()]);
        d.seek(128);
        assert_eq!(d.seek(3), 128);
        assert_eq!(walk(BitsDocs::new(vec![bits(&[], 0)])), Vec::<DocId>::new());
        assert_eq!(
            walk(BitsDocs::new(vec![bits(&[], 100)])),
            Vec::<DocId>::new()
        );
        // Seeking the intersection.
        let mut d = BitsDocs::new(vec![x.clone(), y.clone()]);
        assert_eq!(d.seek(64), 127);
        assert_eq!(d.seek(500), 500);
        assert_eq!(d.advance(), 999);
        assert_eq!(d.advance(), TERMINATED);
        assert_eq!(d.seek(1000), TERMINATED);
    }

    #[test]
    fn kept_sets_are_bounded_and_the_least_recently_used_leaves() {
        let dense = DenseWords::default();
        // A quarter of the budget each, with its peaks and the entry's
        // own bytes.
        let max_doc = (DENSE_BYTES - 4 * 128) as u32;
        let builds = std::cell::Cell::new(0);
        let get = |w: &str| {
            dense
                .get_or_build::<()>(w.as_bytes(), || {
                    builds.set(builds.get() + 1);
                    Ok(Bits::of(Sorted(vec![1, 7], 0), max_doc))
                })
                .unwrap()
        };
        for w in ["a", "b", "c", "d"] {
            assert!(get(w).contains(7));
        }
        get("a");
        // A fifth set: b, least recently used, leaves; a stays.
        get("e");
        assert_eq!(builds.get(), 5);
        get("a");
        assert_eq!(builds.get(), 5, "a kept");
        get("b");
        assert_eq!(builds.get(), 6, "b rebuilt");
        assert!(dense.bytes() <= DENSE_BYTES);
    }
}
