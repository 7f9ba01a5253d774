//! The documents holding every exact word of a query, in `all`: a frequent
//! word's posting list as the segment's bitset of it (see
//! [`dense`](crate::search::dense)), the others' as posting lists. Walking
//! the shortest list and checking the rest is what keeps a search of a rare
//! word beside a common one cheap.

use tantivy::postings::SegmentPostings;
use tantivy::{DocId, DocSet, TERMINATED};

use crate::search::dense::{Bits, BitsDocs};

/// The documents holding every word: walked by the shortest posting list
/// (the others sought along), each candidate checked against the bitsets;
/// or, when every word has a bitset, the bitsets' intersection.
pub(super) enum Matches {
    Sets(BitsDocs),
    Lists {
        /// Shortest first.
        lists: Vec<SegmentPostings>,
        sets: Vec<std::sync::Arc<Bits>>,
        doc: DocId,
    },
}

impl Matches {
    pub(super) fn new(mut lists: Vec<SegmentPostings>, sets: Vec<std::sync::Arc<Bits>>) -> Self {
        if lists.is_empty() {
            return Self::Sets(BitsDocs::new(sets));
        }
        lists.sort_by_key(|l| l.size_hint());
        let first = lists[0].doc();
        let mut m = Self::Lists {
            lists,
            sets,
            doc: first,
        };
        m.settle(first);
        m
    }

    /// Moves to the first match at or after `candidate`, a document of the
    /// shortest list (on which it stands).
    fn settle(&mut self, mut candidate: DocId) -> DocId {
        let Self::Lists { lists, sets, doc } = self else {
            unreachable!("only lists settle")
        };
        let (lead, others) = lists.split_first_mut().expect("a list");
        'candidates: while candidate != TERMINATED {
            for list in others.iter_mut() {
                let mut at = list.doc();
                if at < candidate {
                    at = list.seek(candidate);
                }
                if at > candidate {
                    candidate = lead.seek(at);
                    continue 'candidates;
                }
            }
            if sets.iter().any(|s| !s.contains(candidate)) {
                candidate = lead.advance();
                continue;
            }
            break;
        }
        *doc = candidate;
        candidate
    }
}

impl DocSet for Matches {
    fn advance(&mut self) -> DocId {
        match self {
            Self::Sets(set) => set.advance(),
            Self::Lists { lists, doc, .. } => {
                if *doc == TERMINATED {
                    return TERMINATED;
                }
                let next = lists[0].advance();
                self.settle(next)
            }
        }
    }

    fn seek(&mut self, target: DocId) -> DocId {
        match self {
            Self::Sets(set) => set.seek(target),
            Self::Lists { lists, doc, .. } => {
                if *doc >= target {
                    return *doc;
                }
                let next = lists[0].seek(target);
                self.settle(next)
            }
        }
    }

    fn doc(&self) -> DocId {
        match self {
            Self::Sets(set) => set.doc(),
            Self::Lists { doc, .. } => *doc,
        }
    }

    fn size_hint(&self) -> u32 {
        match self {
            Self::Sets(set) => set.size_hint(),
            Self::Lists { lists, .. } => lists[0].size_hint(),
        }
    }
}
