//! The page of a search of exact words alone, found without scoring every
//! match.
//!
//! Hits rank by score, then by the low half of the user id (random), so
//! that an index answers the same whatever its segments. In a directory,
//! most people who match "john smith" match it alike: their scores tie,
//! and the page is the ties with the largest ids. Scoring each match and
//! reading its id was what a search of two common words cost at 1 000 000
//! users (10 000 matches, 1.3 ms).
//!
//! Here the words' bitsets (see [`dense`](crate::search::dense)) are
//! ANDed 64 documents at a time. The matches are counted from the bits
//! (the total stays exact). They are scored only where one of them could
//! still enter the page: not when the most any match of the 64 (or of the
//! segment) can score is below the page's last hit, nor when it equals it
//! and the block's largest id half is below the last hit's. When the page
//! already ends in ties at the most any match of the segment can score,
//! a match is scored only if its id half (one column read) could still
//! place it.
//!
//! The most they can score is each word's bound ([`WordScore::bound`])
//! from the peaks of its documents there (largest frequency, shortest
//! field, found once per segment and word), summed in the order a score
//! is. The bound is exact (rounding is monotonic): it is the score of a
//! match that has the peaks, so a tie is recognised as one. The page is
//! that of tantivy's top-docs collector over the same scorer, hit for hit:
//! `search::tests::pruned_pages_are_the_full_walk_s`.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use tantivy::query::EnableScoring;
use tantivy::{DocId, DocSet, Score, SegmentOrdinal, TERMINATED};

use super::SLOTS;
use super::query::{ExactWords, SegmentWords};
use super::scorer::{Peak, Peaks, WordScore};
use crate::search::dense::ones;
use crate::search::view::{View, join_id};

/// A page of hits, best first, and how many documents match in all.
pub(in crate::search) struct Page {
    pub hits: Vec<(u128, Score)>,
    pub total: usize,
}

/// A hit as pages rank them: by score, then by the id's low half, then
/// (ids being unique, never in practice) the earlier document.
#[derive(Clone, Copy)]
struct Hit {
    score: Score,
    lo: u64,
    seg: SegmentOrdinal,
    doc: DocId,
}

impl Hit {
    fn key(&self) -> (Score, u64, Reverse<(SegmentOrdinal, DocId)>) {
        (self.score, self.lo, Reverse((self.seg, self.doc)))
    }
}

impl PartialEq for Hit {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Hit {}

impl PartialOrd for Hit {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Hit {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.key(), other.key());
        a.0.partial_cmp(&b.0)
            .unwrap_or(Ordering::Equal)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
    }
}

/// The best `keep` hits seen so far.
struct Best {
    heap: BinaryHeap<Reverse<Hit>>,
    keep: usize,
}

impl Best {
    /// The last hit of a full page: what a hit must beat.
    fn last(&self) -> Option<Hit> {
        (self.heap.len() >= self.keep)
            .then(|| self.heap.peek().map(|h| h.0))
            .flatten()
    }

    fn offer(&mut self, hit: Hit) {
        if self.heap.len() < self.keep {
            self.heap.push(Reverse(hit));
        } else if self.heap.peek().is_some_and(|last| hit > last.0) {
            self.heap.pop();
            self.heap.push(Reverse(hit));
        }
    }
}

/// The hits from `offset` to `offset + limit` (at least one) of `words`,
/// the whole query, and the total.
pub(in crate::search) fn top(
    words: &ExactWords,
    limit: usize,
    offset: usize,
) -> tantivy::Result<Page> {
    let view = &words.view;
    let searcher = &view.searcher;
    let weight = match EnableScoring::enabled_from_searcher(searcher) {
        EnableScoring::Enabled {
            statistics_provider,
            ..
        } => words.weigh(statistics_provider)?,
        EnableScoring::Disabled { .. } => unreachable!("scoring is enabled"),
    };
    let mut best = Best {
        heap: BinaryHeap::new(),
        keep: limit.max(1).saturating_add(offset),
    };
    let mut total = 0;
    for (ord, reader) in searcher.segment_readers().iter().enumerate() {
        let Some(segment) = weight.segment(reader, 1.0)? else {
            continue;
        };
        let seg = ord as SegmentOrdinal;
        total += if segment.lists.is_empty() {
            pruned(view, reader, seg, segment, &mut best)
        } else {
            walked(view, reader, seg, segment, &mut best)
        };
    }
    let mut hits: Vec<Hit> = best.heap.into_iter().map(|h| h.0).collect();
    hits.sort_unstable_by(|a, b| b.cmp(a));
    let hits = hits
        .into_iter()
        .skip(offset)
        .map(|h| {
            let hi = view.segment(h.seg).id_hi.get_val(h.doc);
            (join_id(hi, h.lo), h.score)
        })
        .collect();
    Ok(Page { hits, total })
}

/// A segment where every word has a bitset: their machine words ANDed,
/// counted, and scored only where a match could enter the page.
fn pruned(
    view: &View,
    reader: &tantivy::SegmentReader,
    seg: SegmentOrdinal,
    SegmentWords {
        sets, mut scores, ..
    }: SegmentWords,
    best: &mut Best,
) -> usize {
    let columns = view.segment(seg);
    let lo_peaks = columns.lo_peaks(reader.max_doc());
    let peaks: Vec<&Peaks> = scores
        .iter()
        .zip(&sets)
        .map(|(score, set)| set.peaks.get_or_init(|| score.peaks(set)))
        .collect();
    let segment_bound = bound(&scores, &peaks, |p| &p.segment);
    let alive = reader.alive_bitset();
    let mut total = 0;
    // The words' machine words ANDed in one pass per word (which the
    // compiler vectorises), then walked for the non-zero ones.
    let (first, others) = sets.split_first().expect("at least one word");
    let mut all = first.words().to_vec();
    for set in others {
        let words = set.words();
        all.truncate(words.len());
        for (w, &o) in all.iter_mut().zip(words) {
            *w &= o;
        }
    }
    for (at, &w) in all.iter().enumerate() {
        if w == 0 {
            continue;
        }
        let mut w = w;
        let base = at as DocId * 64;
        if let Some(alive) = alive {
            for bit in ones(w) {
                if alive.is_deleted(base + bit) {
                    w &= !(1 << bit);
                }
            }
        }
        total += w.count_ones() as usize;
        if let Some(last) = best.last() {
            // Whether no match scoring at most `most` here can beat it.
            let lo_below = lo_peaks.get(at).is_some_and(|&lo| lo < last.lo);
            let beaten = |most: Score| match most.partial_cmp(&last.score) {
                Some(Ordering::Less) => true,
                Some(Ordering::Equal) => lo_below,
                _ => false,
            };
            if beaten(segment_bound) {
                continue;
            }
            if segment_bound <= last.score {
                // The page ends in ties at the most any match can score:
                // only a match with a larger id half can enter it, which
                // one read tells before any scoring.
                for bit in ones(w) {
                    let doc = base + bit;
                    let lo = columns.id_lo.get_val(doc);
                    if lo >= last.lo {
                        consider(view, seg, doc, Some(lo), &mut scores, best);
                    }
                }
                continue;
            }
            if beaten(bound(&scores, &peaks, |p| &p.blocks[at])) {
                continue;
            }
        }
        for bit in ones(w) {
            consider(view, seg, base + bit, None, &mut scores, best);
        }
    }
    total
}

/// A segment where some word has only its posting list: every match
/// walked and scored.
fn walked(
    view: &View,
    reader: &tantivy::SegmentReader,
    seg: SegmentOrdinal,
    SegmentWords {
        lists,
        sets,
        mut scores,
    }: SegmentWords,
    best: &mut Best,
) -> usize {
    let mut docs = super::matches::Matches::new(lists, sets);
    let alive = reader.alive_bitset();
    let mut total = 0;
    let mut doc = docs.doc();
    while doc != TERMINATED {
        if alive.is_none_or(|a| a.is_alive(doc)) {
            total += 1;
            consider(view, seg, doc, None, &mut scores, best);
        }
        doc = docs.advance();
    }
    total
}

/// Scores `doc`, a live match, and offers it to the page; its id half
/// `lo` (when not already read) is read only if its score could place it
/// there.
fn consider(
    view: &View,
    seg: SegmentOrdinal,
    doc: DocId,
    lo: Option<u64>,
    scores: &mut [WordScore],
    best: &mut Best,
) {
    let score: Score = scores.iter_mut().map(|w| w.at(doc)).sum();
    if best.last().is_some_and(|last| score < last.score) {
        return;
    }
    let lo = lo.unwrap_or_else(|| view.segment(seg).id_lo.get_val(doc));
    best.offer(Hit {
        score,
        lo,
        seg,
        doc,
    });
}

/// The most the words can score together where their peaks are `of` theirs.
fn bound(scores: &[WordScore], peaks: &[&Peaks], of: impl Fn(&Peaks) -> &[Peak; SLOTS]) -> Score {
    scores
        .iter()
        .zip(peaks)
        .map(|(score, peaks)| score.bound(of(peaks)))
        .sum()
}
