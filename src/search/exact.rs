//! The exact words of a query of several, matched through the `all` field
//! and each scored as its exact term queries on each text field would score
//! it.
//!
//! `all` holds every word of name, username, email and attributes, in one
//! posting list per word; it finds the documents (a frequent word's list as
//! a bitset, see [`dense`](super::dense)). For the few that every
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
//!
//! BM25 is computed here as tantivy's `Bm25Weight` computes it (checked to
//! the bit by `bm25_is_tantivys_to_the_bit`), except that a field's length
//! normalisation, which depends on the field alone, is computed once per
//! index generation ([`View`]): building a `Bm25Weight` per word and field
//! (its table of 256 norms and its explanation) was a twentieth of a
//! two-word search.

use std::hash::Hasher;

use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::{Postings, SegmentPostings};
use tantivy::query::{
    BooleanQuery, EmptyScorer, EnableScoring, Explanation, Occur, Query, Scorer, TermQuery, Weight,
};
use tantivy::schema::IndexRecordOption;
use tantivy::tokenizer::{TextAnalyzer, TokenStream};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED, Term};

use super::View;
use super::any_of::explain_by_scoring;
use super::dense::{Bits, BitsDocs};
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

/// BM25's constants, as tantivy's `Bm25Weight` has them.
const K1: Score = 1.2;
const B: Score = 0.75;

/// A field's BM25 length normalisation per fieldnorm id, as tantivy's
/// `Bm25Weight` computes it for every term of the field (same operations,
/// same order): it depends only on the field's average length, so a view
/// computes it once per field rather than each query once per word and field.
pub(super) fn tf_norms(total_num_tokens: u64, total_num_docs: u64) -> [Score; 256] {
    let average = total_num_tokens as Score / total_num_docs as Score;
    std::array::from_fn(|id| {
        let fieldnorm = FieldNormReader::id_to_fieldnorm(id as u8);
        K1 * (1.0 - B + B * fieldnorm as Score / average)
    })
}

/// A term's BM25 weight before boosts (its idf times `1 + K1`), as
/// tantivy's `Bm25Weight` has it.
fn bm25_weight(doc_freq: u64, total_num_docs: u64) -> Score {
    let x = (total_num_docs.saturating_sub(doc_freq) as Score + 0.5) / (doc_freq as Score + 0.5);
    (1.0 + x).ln() * (1.0 + K1)
}

/// BM25 of a term `tf` times in a field whose length normalisation is `norm`.
fn bm25(weight: Score, norm: Score, tf: u32) -> Score {
    let tf = tf as Score;
    weight * (tf / (tf + norm))
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
}

impl std::fmt::Debug for ExactWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExactWord")
            .field("all", &self.all)
            .field("fields", &self.fields)
            .finish()
    }
}

/// The exact words of a query, matched together: the documents holding
/// every one of them in `all` (through the bitsets of the segment's
/// frequent words, see [`dense`](super::dense), and the posting lists of the
/// others), each scored as its exact term queries would score it; the
/// words' scores add up in query order.
#[derive(Clone)]
pub(super) struct ExactWords {
    pub words: Vec<ExactWord>,
    /// The generation searched, for its columns and bitsets.
    pub view: std::sync::Arc<View>,
}

impl std::fmt::Debug for ExactWords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.words).finish()
    }
}

impl Query for ExactWords {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let EnableScoring::Enabled {
            statistics_provider,
            ..
        } = scoring
        else {
            // Without scores (counting), the words are their posting lists.
            let lists = self.words.iter().map(|w| {
                let list: Box<dyn Query> =
                    Box::new(TermQuery::new(w.all.clone(), IndexRecordOption::Basic));
                (Occur::Must, list)
            });
            return BooleanQuery::new(lists.collect()).weight(scoring);
        };
        let total_num_docs = statistics_provider.total_num_docs()?;
        let mut words = Vec::with_capacity(self.words.len());
        for word in &self.words {
            let mut weights = [0.0; SLOTS];
            for (weight, (term, _)) in weights.iter_mut().zip(&word.fields) {
                *weight = bm25_weight(statistics_provider.doc_freq(term)?, total_num_docs);
            }
            words.push(ExactWordWeight {
                all: word.all.clone(),
                hash: word_hash(word.all.value().as_str().unwrap_or_default()),
                terms: std::sync::Arc::new(word.fields.each_ref().map(|(term, _)| term.clone())),
                weights,
                boosts: word.fields.each_ref().map(|(_, boost)| *boost),
            });
        }
        Ok(Box::new(ExactWordsWeight {
            words,
            view: self.view.clone(),
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for (term, _) in self.words.iter().flat_map(|w| &w.fields) {
            visitor(term, false);
        }
    }
}

struct ExactWordWeight {
    all: Term,
    hash: u32,
    /// The word in each text field, in slot order.
    terms: std::sync::Arc<[Term; SLOTS]>,
    /// Per slot: the word's BM25 weight in the field, and its clause's boost.
    weights: [Score; SLOTS],
    boosts: [Score; SLOTS],
}

struct ExactWordsWeight {
    words: Vec<ExactWordWeight>,
    view: std::sync::Arc<View>,
}

impl ExactWordWeight {
    /// What scores the word in the documents of `reader`.
    fn score(
        &self,
        reader: &SegmentReader,
        boost: Score,
        view: &std::sync::Arc<View>,
    ) -> tantivy::Result<WordScore> {
        // As `BoostWeight` then `TermWeight` compute it (tantivy's
        // `Bm25Weight::boost_by`).
        let weights = std::array::from_fn(|slot| self.weights[slot] * (boost * self.boosts[slot]));
        let mut norms = Vec::with_capacity(SLOTS);
        for term in self.terms.iter() {
            norms.push(match reader.fieldnorms_readers().get_field(term.field())? {
                Some(norms) => norms,
                None => FieldNormReader::constant(reader.max_doc(), 1),
            });
        }
        Ok(WordScore {
            weights,
            norms,
            hash: self.hash,
            words: view.of(reader).words.clone(),
            view: view.clone(),
            exact: ExactFreqs {
                reader: reader.clone(),
                terms: self.terms.clone(),
                postings: None,
            },
        })
    }
}

impl Weight for ExactWordsWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let max_doc = reader.max_doc();
        let columns = self.view.of(reader);
        let mut lists = Vec::new();
        let mut sets = Vec::new();
        let mut scores = Vec::with_capacity(self.words.len());
        // Every word is a term of `all`.
        let Some(first) = self.words.first() else {
            return Ok(Box::new(EmptyScorer));
        };
        let inverted = reader.inverted_index(first.all.field())?;
        for word in &self.words {
            let Some(info) = inverted.get_term_info(&word.all)? else {
                return Ok(Box::new(EmptyScorer));
            };
            if super::dense::is_dense(info.doc_freq, max_doc) {
                sets.push(
                    columns
                        .dense
                        .get_or_build(word.all.serialized_value_bytes(), || {
                            let list = inverted
                                .read_postings_from_terminfo(&info, IndexRecordOption::Basic)?;
                            Ok::<_, tantivy::TantivyError>(Bits::of(list, max_doc))
                        })?,
                );
            } else {
                lists.push(inverted.read_postings_from_terminfo(&info, IndexRecordOption::Basic)?);
            }
            scores.push(word.score(reader, boost, &self.view)?);
        }
        Ok(Box::new(ExactWordsScorer {
            docs: Matches::new(lists, sets),
            scores,
        }))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        explain_by_scoring(
            self.scorer(reader, 1.0)?,
            doc,
            "the words' BM25 in each field",
        )
    }
}

/// The documents holding every word: walked by the shortest posting list
/// (the others sought along), each candidate checked against the bitsets;
/// or, when every word has a bitset, the bitsets' intersection.
enum Matches {
    Sets(BitsDocs),
    Lists {
        /// Shortest first.
        lists: Vec<SegmentPostings>,
        sets: Vec<std::sync::Arc<Bits>>,
        doc: DocId,
    },
}

impl Matches {
    fn new(mut lists: Vec<SegmentPostings>, sets: Vec<std::sync::Arc<Bits>>) -> Self {
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

struct ExactWordsScorer {
    docs: Matches,
    /// Per word, in query order.
    scores: Vec<WordScore>,
}

impl DocSet for ExactWordsScorer {
    fn advance(&mut self) -> DocId {
        self.docs.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        self.docs.seek(target)
    }

    fn doc(&self) -> DocId {
        self.docs.doc()
    }

    fn size_hint(&self) -> u32 {
        self.docs.size_hint()
    }
}

impl Scorer for ExactWordsScorer {
    fn score(&mut self) -> Score {
        let doc = self.docs.doc();
        self.scores.iter_mut().map(|w| w.at(doc)).sum()
    }
}

/// What scores one word in a segment's documents.
struct WordScore {
    /// Per slot: the boosted BM25 weight and the field's norms.
    weights: [Score; SLOTS],
    norms: Vec<FieldNormReader>,
    hash: u32,
    words: [super::U64Col; WORD_COLUMNS],
    /// For the fields' length normalisations.
    view: std::sync::Arc<View>,
    exact: ExactFreqs,
}

/// The word's frequency in each field from the fields' posting lists, for
/// the documents the `words` column cannot tell it of. Opened on first use.
struct ExactFreqs {
    reader: SegmentReader,
    terms: std::sync::Arc<[Term; SLOTS]>,
    /// Per slot, the word's postings (None: not in it); all opened on first
    /// use. Boxed: a posting list holds its decoded block (over a KiB), and
    /// the scorer is moved into a box of its own, mostly without using these.
    postings: Option<Box<[Option<SegmentPostings>; SLOTS]>>,
}

impl ExactFreqs {
    fn of(&mut self, doc: DocId) -> tantivy::Result<[u32; SLOTS]> {
        if self.postings.is_none() {
            let mut opened: [Option<SegmentPostings>; SLOTS] = Default::default();
            for (slot, term) in opened.iter_mut().zip(self.terms.iter()) {
                let inverted = self.reader.inverted_index(term.field())?;
                *slot = inverted.read_postings(term, IndexRecordOption::WithFreqs)?;
            }
            self.postings = Some(Box::new(opened));
        }
        let mut freqs = [0; SLOTS];
        let lists = self.postings.as_deref_mut().into_iter().flatten();
        for (tf, list) in freqs.iter_mut().zip(lists) {
            // Documents are scored in order: each list only moves forward.
            if let Some(p) = list
                && p.doc() <= doc
                && p.seek(doc) == doc
            {
                *tf = p.term_freq();
            }
        }
        Ok(freqs)
    }
}

impl WordScore {
    /// The word's BM25 in `doc`, a document holding it: its fields in slot
    /// order, as the word's clauses add up.
    fn at(&mut self, doc: DocId) -> Score {
        let freqs = self.freqs(doc);
        let mut score = 0.0;
        for (slot, &tf) in freqs.iter().enumerate() {
            if tf > 0 {
                let id = self.norms[slot].fieldnorm_id(doc);
                let norm = self.view.tf_norms[slot][usize::from(id)];
                score += bm25(self.weights[slot], norm, tf);
            }
        }
        score
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bm25_is_tantivys_to_the_bit() {
        use tantivy::query::Bm25Weight;
        for (doc_freq, docs, tokens) in [(1, 1, 1), (3, 100_000, 250_000), (99, 100, 7_000)] {
            let norms = tf_norms(tokens, docs);
            let average = tokens as Score / docs as Score;
            for boost in [1.0, 12.0, 0.5] {
                let theirs = Bm25Weight::for_one_term(doc_freq, docs, average).boost_by(boost);
                let weight = bm25_weight(doc_freq, docs) * boost;
                for id in 0..=255u8 {
                    for tf in [1, 2, 6, 7, 1000] {
                        let ours = bm25(weight, norms[usize::from(id)], tf);
                        assert_eq!(ours.to_bits(), theirs.score(id, tf).to_bits());
                    }
                }
            }
        }
    }

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
