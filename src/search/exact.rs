//! One exact word of a query of several, matched through the `all` field and
//! scored as its exact term queries on each text field would score it.
//!
//! `all` holds every word of name, username, email and attributes, in one
//! posting list per word; it finds the documents. For the few that every
//! word of the query holds, the `words` columns give the word's frequency
//! in each field: per document, a value per distinct word (its hash and
//! its frequencies, see [`word_values`]), [`WORDS_KEPT`] of them in
//! [`WORD_COLUMNS`] plain columns, two to a column. With each field's norms
//! and statistics that is each field's BM25. The four per-field posting
//! lists, each walked and decoded only to score, were most of a two-word
//! search; positions in `all` (an earlier way to tell the fields) cost a
//! block decode per document and a fifth of the import's speed, and a
//! multi-valued column costs more to read than these.
//!
//! A search reads a document's values in order up to the first of its
//! word's hash: a document's name words come first, so that is mostly one
//! column. Where the columns cannot tell (a word not kept, a frequency of
//! [`TF_MANY`] or more, or two words of the document sharing the hash: both
//! are then marked so), the field's own posting list is read for that
//! document. Scores are those of
//! [`AnyOf`](super::any_of::AnyOf) over the word's per-field exact
//! `TermQuery`s, boosted alike, bit for bit: the same BM25 weights, boosts
//! multiplied in the same order, fields summed in the same order.
//! `search::tests::narrowing_by_all_changes_no_result` checks it.

use std::hash::Hasher;

use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::{Postings, SegmentPostings};
use tantivy::query::{
    Bm25Weight, EmptyScorer, EnableScoring, Explanation, Query, Scorer, TermQuery, Weight,
};
use tantivy::schema::IndexRecordOption;
use tantivy::tokenizer::{TextAnalyzer, TokenStream};
use tantivy::{DocId, DocSet, Score, SegmentReader, Term};

use super::View;
use super::any_of::explain_by_scoring;
pub(super) use super::tokenizer::SLOTS;

/// Bits of a field's frequency in a `words` value.
const TF_BITS: u32 = 3;
/// A frequency the column does not tell: this or more.
const TF_MANY: u32 = (1 << TF_BITS) - 1;
/// Bits of a word's hash in a `words` value. Few, so that a value fits 32
/// bits: two words of one document sharing a hash are rare, and detected.
const HASH_BITS: u32 = 20;

/// Columns of `words` values, and the values they keep per document (a
/// document of more distinct words keeps those of name, username and
/// email first).
pub(super) const WORD_COLUMNS: usize = 4;
pub(super) const WORDS_KEPT: usize = 2 * WORD_COLUMNS;

/// A word's hash in the `words` values: the top bits of its FNV-1a, which
/// is fixed (the index is on disk) and fast on short words.
pub(super) fn word_hash(word: &str) -> u32 {
    let mut h = fnv::FnvHasher::default();
    h.write(word.as_bytes());
    (h.finish() >> (64 - HASH_BITS)) as u32
}

fn pack(hash: u32, freqs: [u32; SLOTS]) -> u64 {
    freqs.iter().fold(u64::from(hash), |v, &tf| {
        v << TF_BITS | u64::from(tf.min(TF_MANY))
    })
}

fn unpack(value: u64) -> (u32, [u32; SLOTS]) {
    let mut freqs = [0; SLOTS];
    for (i, tf) in freqs.iter_mut().enumerate() {
        *tf = (value >> (TF_BITS * (SLOTS - 1 - i) as u32)) as u32 & TF_MANY;
    }
    ((value >> (TF_BITS * SLOTS as u32)) as u32, freqs)
}

/// Two numbers (words of digits) whose hashes collide, for tests.
#[cfg(test)]
pub(super) fn colliding_numbers() -> (u32, u32) {
    let mut seen = std::collections::HashMap::new();
    (100_000u32..)
        .find_map(|n| seen.insert(word_hash(&n.to_string()), n).map(|m| (m, n)))
        .expect("a collision among 20-bit hashes")
}

/// The `words` columns of a document whose text fields, in slot order, are
/// `texts`: a value per distinct word as `analyzer` (the index's) reads it,
/// with its frequency in each field, no more than [`WORDS_KEPT`]: the name's
/// words first, then the username's, the email's, the attributes'. Words
/// sharing a hash have every frequency [`TF_MANY`] (not told). A value is
/// never 0 (a word is in some field), so 0 is no word.
pub(super) fn word_columns(
    texts: [&str; SLOTS],
    analyzer: &mut TextAnalyzer,
) -> [u64; WORD_COLUMNS] {
    let mut values = word_values(texts, analyzer);
    // A search takes the first value of its word's hash as its word's:
    // where two words share one, neither may tell.
    let mut hashes: Vec<u32> = values.iter().map(|&v| unpack(v).0).collect();
    hashes.sort_unstable();
    let shared: Vec<u32> = hashes
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    for v in &mut values {
        let hash = unpack(*v).0;
        if shared.binary_search(&hash).is_ok() {
            *v = pack(hash, [TF_MANY; SLOTS]);
        }
    }
    // By the first field holding the word (a stable sort: by word within).
    values.sort_by_key(|&v| unpack(v).1.iter().position(|&tf| tf > 0));
    values.resize(WORDS_KEPT.max(values.len()), 0);
    std::array::from_fn(|i| values[2 * i] << 32 | values[2 * i + 1])
}

fn word_values(texts: [&str; SLOTS], analyzer: &mut TextAnalyzer) -> Vec<u64> {
    let mut words: Vec<(String, usize)> = Vec::new();
    for (slot, text) in texts.into_iter().enumerate() {
        let mut stream = analyzer.token_stream(text);
        while stream.advance() {
            words.push((std::mem::take(&mut stream.token_mut().text), slot));
        }
    }
    words.sort_unstable();
    let mut values = Vec::new();
    for group in words.chunk_by(|a, b| a.0 == b.0) {
        let mut freqs = [0u32; SLOTS];
        for (_, slot) in group {
            freqs[*slot] += 1;
        }
        values.push(pack(word_hash(&group[0].0), freqs));
    }
    values
}

#[derive(Clone)]
pub(super) struct ExactWord {
    /// The word in `all`.
    pub all: Term,
    /// The word in each text field, with the boost of its exact clause,
    /// in slot order.
    pub fields: [(Term, Score); SLOTS],
    /// The generation searched, for its `words` columns.
    pub view: std::sync::Arc<View>,
}

impl std::fmt::Debug for ExactWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExactWord")
            .field("all", &self.all)
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

impl Query for ExactWord {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let EnableScoring::Enabled {
            statistics_provider,
            ..
        } = scoring
        else {
            // Without scores (counting), the word is its posting list.
            return TermQuery::new(self.all.clone(), IndexRecordOption::Basic).weight(scoring);
        };
        let mut fields = Vec::with_capacity(SLOTS);
        for (term, boost) in &self.fields {
            fields.push((
                term.clone(),
                Bm25Weight::for_terms(statistics_provider, std::slice::from_ref(term))?,
                *boost,
            ));
        }
        let hash = word_hash(self.all.value().as_str().unwrap_or_default());
        Ok(Box::new(ExactWordWeight {
            all: self.all.clone(),
            hash,
            fields,
            view: self.view.clone(),
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for (term, _) in &self.fields {
            visitor(term, false);
        }
    }
}

struct ExactWordWeight {
    all: Term,
    hash: u32,
    /// Per slot: the word in the field, its BM25 weight, the clause's boost.
    fields: Vec<(Term, Bm25Weight, Score)>,
    view: std::sync::Arc<View>,
}

impl Weight for ExactWordWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let inverted = reader.inverted_index(self.all.field())?;
        let Some(postings) = inverted.read_postings(&self.all, IndexRecordOption::Basic)? else {
            return Ok(Box::new(EmptyScorer));
        };
        let mut fields = Vec::with_capacity(SLOTS);
        for (term, bm25, clause_boost) in &self.fields {
            // As `BoostWeight` then `TermWeight` compute it.
            let weight = bm25.boost_by(boost * *clause_boost);
            let norms = match reader.fieldnorms_readers().get_field(term.field())? {
                Some(norms) => norms,
                None => FieldNormReader::constant(reader.max_doc(), 1),
            };
            fields.push((weight, norms));
        }
        Ok(Box::new(ExactWordScorer {
            postings,
            fields,
            hash: self.hash,
            words: self.view.of(reader).words.clone(),
            exact: ExactFreqs {
                reader: reader.clone(),
                terms: self.fields.iter().map(|(t, ..)| t.clone()).collect(),
                postings: Default::default(),
            },
        }))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        explain_by_scoring(
            self.scorer(reader, 1.0)?,
            doc,
            "the word's BM25 in each field",
        )
    }
}

struct ExactWordScorer {
    postings: SegmentPostings,
    /// Per slot: the boosted BM25 weight and the field's norms.
    fields: Vec<(Bm25Weight, FieldNormReader)>,
    hash: u32,
    words: [super::U64Col; WORD_COLUMNS],
    exact: ExactFreqs,
}

/// The word's frequency in each field from the fields' posting lists, for
/// the documents the `words` column cannot tell it of. Opened on first use.
struct ExactFreqs {
    reader: SegmentReader,
    terms: Vec<Term>,
    /// Per slot: not opened yet, or the word's postings (None: not in it).
    postings: [Option<Option<SegmentPostings>>; SLOTS],
}

impl ExactFreqs {
    fn of(&mut self, doc: DocId) -> tantivy::Result<[u32; SLOTS]> {
        let mut freqs = [0; SLOTS];
        for (slot, tf) in freqs.iter_mut().enumerate() {
            if self.postings[slot].is_none() {
                let term = &self.terms[slot];
                let inverted = self.reader.inverted_index(term.field())?;
                self.postings[slot] =
                    Some(inverted.read_postings(term, IndexRecordOption::WithFreqs)?);
            }
            // Documents are scored in order: each list only moves forward.
            if let Some(Some(p)) = &mut self.postings[slot]
                && p.doc() <= doc
                && p.seek(doc) == doc
            {
                *tf = p.term_freq();
            }
        }
        Ok(freqs)
    }
}

impl ExactWordScorer {
    /// The word's frequency in each field of `doc`, a document holding it.
    fn freqs(&mut self, doc: DocId) -> [u32; SLOTS] {
        for column in &self.words {
            let two = column.get_val(doc);
            for value in [two >> 32, two & 0xffff_ffff] {
                if value == 0 {
                    // No more words: this one was not kept.
                    return self.exact_freqs(doc, [0; SLOTS]);
                }
                if (value >> (TF_BITS * SLOTS as u32)) as u32 == self.hash {
                    let freqs = unpack(value).1;
                    if freqs.iter().all(|&tf| tf < TF_MANY) {
                        return freqs;
                    }
                    // A frequency not told, or a hash shared.
                    return self.exact_freqs(doc, freqs);
                }
            }
        }
        self.exact_freqs(doc, [0; SLOTS])
    }

    /// The frequencies from the fields' posting lists; `told`, the
    /// columns' (capped) figures, if they cannot be read.
    fn exact_freqs(&mut self, doc: DocId, told: [u32; SLOTS]) -> [u32; SLOTS] {
        self.exact.of(doc).unwrap_or_else(|e| {
            // An unreadable posting list: the column's figures score the
            // document rather than failing the search.
            tracing::warn!(error = %e, "cannot read a field's postings to score");
            told
        })
    }
}

impl DocSet for ExactWordScorer {
    fn advance(&mut self) -> DocId {
        self.postings.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        self.postings.seek(target)
    }

    fn doc(&self) -> DocId {
        self.postings.doc()
    }

    fn size_hint(&self) -> u32 {
        self.postings.size_hint()
    }
}

impl Scorer for ExactWordScorer {
    fn score(&mut self) -> Score {
        let doc = self.postings.doc();
        let freqs = self.freqs(doc);
        // Fields in slot order, as the word's clauses add up.
        freqs
            .iter()
            .zip(&self.fields)
            .filter(|(tf, _)| **tf > 0)
            .map(|(tf, (weight, norms))| weight.score(norms.fieldnorm_id(doc), *tf))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_cap_frequencies() {
        let hash = (1 << HASH_BITS) - 3;
        assert_eq!(unpack(pack(hash, [1, 0, 2, 6])), (hash, [1, 0, 2, 6]));
        assert_eq!(
            unpack(pack(hash, [0, 7, 100, 0])),
            (hash, [0, TF_MANY, TF_MANY, 0])
        );
        assert!(
            pack(hash, [TF_MANY; SLOTS]) < 1 << 32,
            "a value fits 32 bits"
        );
        assert_ne!(word_hash("ada"), word_hash("grace"));
    }

    #[test]
    fn columns_keep_the_words_of_the_first_fields_first() {
        let mut analyzer = super::super::analyzer();
        let many = "one two three four five six seven eight nine";
        let columns = word_columns(["Ada", "", "ada@example.com", many], &mut analyzer);
        let kept: Vec<u64> = columns
            .iter()
            .flat_map(|&two| [two >> 32, two & 0xffff_ffff])
            .collect();
        let hashes: Vec<u32> = kept.iter().map(|&v| unpack(v).0).collect();
        assert_eq!(kept.len(), WORDS_KEPT);
        for w in ["ada", "example", "com"] {
            assert!(hashes.contains(&word_hash(w)), "{w} kept");
        }
        assert!(kept.iter().all(|&v| v != 0), "full");
        // The name's word first.
        assert_eq!(kept[0], pack(word_hash("ada"), [1, 0, 1, 0]));
        // A short document leaves the rest empty.
        let columns = word_columns(["Ada", "", "", ""], &mut analyzer);
        assert_eq!(columns[0] >> 32, pack(word_hash("ada"), [1, 0, 0, 0]));
        assert_eq!(columns[0] & 0xffff_ffff, 0);
        assert_eq!(&columns[1..], &[0; WORD_COLUMNS - 1]);
    }

    #[test]
    fn words_sharing_a_hash_are_not_told() {
        let (a, b) = colliding_numbers();
        let mut analyzer = super::super::analyzer();
        let name = format!("Ada {a} {b}");
        let columns = word_columns([&name, "", "ada@example.com", ""], &mut analyzer);
        let kept: Vec<(u32, [u32; SLOTS])> = columns
            .iter()
            .flat_map(|&two| [two >> 32, two & 0xffff_ffff])
            .filter(|&v| v != 0)
            .map(unpack)
            .collect();
        let shared = word_hash(&a.to_string());
        assert_eq!(kept.iter().filter(|(h, _)| *h == shared).count(), 2);
        for (hash, freqs) in &kept {
            let expected = if *hash == shared {
                [TF_MANY; SLOTS]
            } else {
                freqs.map(|f| f.min(1))
            };
            assert_eq!(*freqs, expected);
        }
    }

    #[test]
    fn a_document_has_a_value_per_distinct_word() {
        let mut analyzer = super::super::analyzer();
        let values = word_values(
            ["Ada Lovelace Ada", "ada", "ada.lovelace@Example.com", ""],
            &mut analyzer,
        );
        let of = |w: &str| {
            values
                .iter()
                .map(|&v| unpack(v))
                .find(|(h, _)| *h == word_hash(w))
                .map(|(_, f)| f)
        };
        assert_eq!(values.len(), 4, "ada, lovelace, example, com");
        assert_eq!(of("ada"), Some([2, 1, 1, 0]));
        assert_eq!(of("lovelace"), Some([1, 0, 1, 0]));
        assert_eq!(of("example"), Some([0, 0, 1, 0]));
    }
}
