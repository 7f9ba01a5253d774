//! The search index: tantivy in `<data>/index/`, a disposable view of the
//! store. It holds only what search needs (tokenised text, filter and facet
//! values); hits are hydrated from the store by the service.
//!
//! Each commit carries, as its payload, the sequence number of the last
//! store change it reflects, so a restart resumes exactly there. An index
//! that is missing, unreadable or of another schema version is wiped and
//! reported as needing a rebuild.
//!
//! This module never imports axum or redb; it never writes the store.

mod any_of;
mod dense;
mod exact;
mod highlight;
mod query;
mod tally;
mod tokenizer;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tantivy::collector::{Count, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, RemoveLongFilter, TextAnalyzer};
use tantivy::{Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term};

pub use highlight::{Highlight, Highlighter};
pub use query::{QueryWord, SearchRequest, Sort, analyze};

use crate::domain::{Role, Status, User};

/// Bumped whenever the schema or the analysis changes: an index of another
/// version is rebuilt.
pub const SCHEMA_VERSION: u32 = 7;
const VERSION_FILE: &str = "roster-index-version";
const TOKENIZER: &str = "roster";
/// The tokenizer of the `all` field: see [`tokenizer::AllTokenizer`].
const ALL_TOKENIZER: &str = "roster-all";
const WRITER_MEMORY: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("search index: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Clone, Copy)]
pub(crate) struct Fields {
    id: Field,
    id_hi: Field,
    id_lo: Field,
    name: Field,
    username: Field,
    email: Field,
    attributes: Field,
    status: Field,
    roles: Field,
    created_at: Field,
    email_verified: Field,
    name_sort: Field,
    /// Every word of name, username, email and attributes, in one posting
    /// list per word: see [`exact`].
    all: Field,
    /// Per document, distinct words' hashes and frequencies in each text
    /// field: see [`exact::word_columns`].
    words: [Field; exact::WORD_COLUMNS],
}

impl Fields {
    /// The term of a user's document: its id's 16 bytes (big-endian). As
    /// 36 characters of text, this term dictionary (an FST over every id,
    /// built per segment and merge) was most of an import's FST building;
    /// 16 bytes made `roster import` about 18 % faster.
    fn id_term(&self, id: u128) -> Term {
        Term::from_field_bytes(self.id, &id.to_be_bytes())
    }

    /// The text fields, in slot order (that of `all` and the `words` columns).
    fn text(&self) -> [Field; exact::SLOTS] {
        [self.name, self.username, self.email, self.attributes]
    }
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        id: b.add_bytes_field("id", INDEXED),
        id_hi: b.add_u64_field("id_hi", FAST),
        id_lo: b.add_u64_field("id_lo", FAST),
        name: b.add_text_field("name", text.clone()),
        username: b.add_text_field("username", text.clone()),
        email: b.add_text_field("email", text.clone()),
        attributes: b.add_text_field("attributes", text),
        status: b.add_u64_field("status", INDEXED | FAST),
        roles: b.add_u64_field("roles", INDEXED | FAST),
        created_at: b.add_i64_field("created_at", INDEXED | FAST),
        email_verified: b.add_u64_field("email_verified", INDEXED | FAST),
        name_sort: b.add_text_field("name_sort", STRING | FAST),
        all: b.add_text_field(
            "all",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(ALL_TOKENIZER)
                    .set_index_option(IndexRecordOption::Basic),
            ),
        ),
        words: std::array::from_fn(|i| b.add_u64_field(&format!("words{i}"), FAST)),
    };
    (b.build(), fields)
}

/// Words of this many bytes or more are dropped by the [`analyzer`].
const LONG_WORD: usize = 64;

/// Words: runs of letters or of digits, lower-cased, accents folded.
pub fn analyzer() -> TextAnalyzer {
    filtered(tokenizer::WordTokenizer::default())
}

/// The analyzer of the `all` field: each field's words as [`analyzer`]
/// reads them, none running across two fields.
fn all_analyzer() -> TextAnalyzer {
    filtered(tokenizer::AllTokenizer::default())
}

/// The filters every analyzer of the index shares: `all` must read each
/// word exactly as its own field does.
fn filtered<T: tantivy::tokenizer::Tokenizer>(words: T) -> TextAnalyzer {
    TextAnalyzer::builder(words)
        .filter(RemoveLongFilter::limit(LONG_WORD))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

pub(crate) fn status_code(s: Status) -> u64 {
    match s {
        Status::Active => 0,
        Status::Disabled => 1,
    }
}

thread_local! {
    /// The analyzer [`document`] reads words with (building one allocates).
    static WORDS: std::cell::RefCell<TextAnalyzer> = std::cell::RefCell::new(analyzer());
}

/// What the index holds of a user.
pub(crate) fn document(f: &Fields, u: &User) -> TantivyDocument {
    let id = u.id.as_u128();
    let mut d = TantivyDocument::default();
    d.add_bytes(f.id, &id.to_be_bytes());
    d.add_u64(f.id_hi, (id >> 64) as u64);
    d.add_u64(f.id_lo, id as u64);
    let name = u.name.as_ref().map_or("", |n| n.as_str());
    let username = u.username.as_ref().map_or("", |n| n.as_str());
    if u.name.is_some() {
        d.add_text(f.name, name);
    }
    if u.username.is_some() {
        d.add_text(f.username, username);
    }
    d.add_text(f.email, u.email.as_str());
    let mut attr_text = String::new();
    u.attributes
        .as_map()
        .values()
        .for_each(|v| collect_strings(v, &mut attr_text));
    let texts = [name, username, u.email.as_str(), attr_text.as_str()];
    let words = WORDS.with_borrow_mut(|analyzer| exact::word_columns(texts, analyzer));
    for (field, value) in f.words.iter().zip(words) {
        d.add_u64(*field, value);
    }
    d.add_text(f.all, tokenizer::all_text(texts));
    if !attr_text.is_empty() {
        d.add_text(f.attributes, attr_text);
    }
    d.add_u64(f.status, status_code(u.status));
    for r in &u.roles {
        d.add_u64(f.roles, u64::from(r.code()));
    }
    d.add_i64(f.created_at, crate::store::micros(u.created_at));
    d.add_u64(f.email_verified, u64::from(u.email_verified));
    d.add_text(
        f.name_sort,
        u.name
            .as_ref()
            .map_or(String::new(), |n| n.as_str().to_lowercase()),
    );
    d
}

/// Every string value in a JSON tree, space-separated.
pub fn collect_strings(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::String(s) => {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(s);
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        serde_json::Value::Object(m) => m.values().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}

/// An index change derived from one store change.
pub enum IndexOp {
    Upsert(Box<User>),
    Delete(u128),
}

/// A search's result: user ids in order with scores, exact total, facets.
pub struct Found {
    /// The query's words as they were matched (typos only where a word
    /// matched too few users as typed), for highlighting.
    pub words: Vec<QueryWord>,
    pub hits: Vec<(u128, f32)>,
    pub total: usize,
    pub facets: Vec<(&'static str, Vec<(&'static str, usize)>)>,
}

type U64Col = std::sync::Arc<dyn tantivy::columnar::ColumnValues<u64>>;

/// A column of one value per document: read directly where every document
/// has one (the values are the documents'), through its index otherwise.
fn u64_column(seg: &tantivy::SegmentReader, name: &str) -> U64Col {
    seg.fast_fields()
        .u64(name)
        .map(|c| match c.index {
            tantivy::columnar::ColumnIndex::Full => c.values,
            _ => c.first_or_default_col(0),
        })
        .unwrap_or_else(|_| std::sync::Arc::new(tantivy::columnar::EmptyColumnValues))
}

/// The fast-field columns a search reads of one segment. Opening a column
/// decodes its block index (a few hundred blocks per 100 000 documents), so
/// they are opened once per segment, when a reload first shows it, not once
/// per search: opened per search they were ~8% of a search's CPU.
pub(crate) struct SegmentColumns {
    segment: tantivy::index::SegmentId,
    id_hi: U64Col,
    id_lo: U64Col,
    status: tantivy::columnar::Column<u64>,
    roles: tantivy::columnar::Column<u64>,
    words: [U64Col; exact::WORD_COLUMNS],
    /// Bitsets of the segment's frequent words in `all`, built on first use.
    dense: dense::DenseWords,
}

impl SegmentColumns {
    fn open(seg: &tantivy::SegmentReader) -> Result<Self, SearchError> {
        let ff = seg.fast_fields();
        Ok(Self {
            segment: seg.segment_id(),
            id_hi: u64_column(seg, "id_hi"),
            id_lo: u64_column(seg, "id_lo"),
            status: ff.u64("status")?,
            roles: ff.u64("roles")?,
            words: std::array::from_fn(|i| u64_column(seg, &format!("words{i}"))),
            dense: dense::DenseWords::default(),
        })
    }

    fn id(&self, doc: tantivy::DocId) -> u128 {
        join_id(self.id_hi.get_val(doc), self.id_lo.get_val(doc))
    }
}

/// What searches read: one searcher (a reader generation) and the columns
/// of each of its segments, by segment ordinal. Replaced whole at every
/// reload, so a search sees one consistent generation.
pub(crate) struct View {
    searcher: tantivy::Searcher,
    columns: Vec<std::sync::Arc<SegmentColumns>>,
    /// Per text field (in slot order), BM25's length normalisation for
    /// this generation: see [`exact::tf_norms`].
    tf_norms: [[tantivy::Score; 256]; exact::SLOTS],
}

impl View {
    /// The reader's current generation; columns of segments that `previous`
    /// already had are shared, not reopened.
    fn current(
        reader: &IndexReader,
        fields: &Fields,
        previous: Option<&View>,
    ) -> Result<Self, SearchError> {
        use tantivy::query::Bm25StatisticsProvider;
        let searcher = reader.searcher();
        let total_num_docs = searcher.total_num_docs()?;
        let mut tf_norms = [[0.0; 256]; exact::SLOTS];
        for (norms, field) in tf_norms.iter_mut().zip(fields.text()) {
            *norms = exact::tf_norms(searcher.total_num_tokens(field)?, total_num_docs);
        }
        let columns = searcher
            .segment_readers()
            .iter()
            .map(|seg| {
                let known = previous.and_then(|p| {
                    p.columns
                        .iter()
                        .find(|c| c.segment == seg.segment_id())
                        .cloned()
                });
                match known {
                    Some(c) => Ok(c),
                    None => SegmentColumns::open(seg).map(std::sync::Arc::new),
                }
            })
            .collect::<Result<_, SearchError>>()?;
        Ok(Self {
            searcher,
            columns,
            tf_norms,
        })
    }

    fn segment(&self, ord: tantivy::SegmentOrdinal) -> &SegmentColumns {
        &self.columns[ord as usize]
    }

    /// The columns of `seg`, a segment of this view's searcher.
    fn of(&self, seg: &tantivy::SegmentReader) -> &SegmentColumns {
        let id = seg.segment_id();
        self.columns
            .iter()
            .find(|c| c.segment == id)
            .expect("a segment of this view's searcher")
    }

    fn id(&self, addr: tantivy::DocAddress) -> u128 {
        self.segment(addr.segment_ord).id(addr.doc_id)
    }
}

fn join_id(hi: u64, lo: u64) -> u128 {
    (u128::from(hi) << 64) | u128::from(lo)
}

pub struct SearchIndex {
    reader: IndexReader,
    /// The generation searches read; see [`View`].
    view: std::sync::RwLock<std::sync::Arc<View>>,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    dir: PathBuf,
}

/// How the index was found at open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// Intact; it reflects the store up to this change sequence.
    Resumed(u64),
    /// Empty (new, or wiped because unreadable or of another version).
    NeedsRebuild,
}

/// Live documents among one term's, counted up to `cap`: the term's document
/// frequency in a segment without deletes (no postings read), a walk of its
/// postings elsewhere.
fn live_of_term(
    inverted: &tantivy::InvertedIndexReader,
    info: &tantivy::postings::TermInfo,
    alive: Option<&tantivy::fastfield::AliveBitSet>,
    cap: usize,
) -> Result<usize, SearchError> {
    use tantivy::{DocSet, TERMINATED};
    let Some(alive) = alive else {
        return Ok((info.doc_freq as usize).min(cap));
    };
    let mut postings = inverted.read_postings_from_terminfo(info, IndexRecordOption::Basic)?;
    let mut n = 0;
    let mut doc = postings.doc();
    while doc != TERMINATED && n < cap {
        if alive.is_alive(doc) {
            n += 1;
        }
        doc = postings.advance();
    }
    Ok(n)
}

/// Live documents holding `term`.
fn live_docs_with(searcher: &tantivy::Searcher, term: &Term) -> Result<usize, SearchError> {
    let mut n = 0usize;
    for seg in searcher.segment_readers() {
        let inverted = seg.inverted_index(term.field())?;
        if let Some(info) = inverted.get_term_info(term)? {
            n += live_of_term(&inverted, &info, seg.alive_bitset(), usize::MAX)?;
        }
    }
    Ok(n)
}

/// What the index holds of a word, read from its term dictionaries (live
/// documents only, so a rebuilt index plans every query the same way).
pub(crate) struct Lexicon<'a>(&'a tantivy::Searcher);

impl Lexicon<'_> {
    /// Live documents of `field` holding `word` (or, with `prefix`, a term
    /// starting with it), one per document and term, counted up to `cap`.
    fn live_docs(
        &self,
        field: Field,
        word: &str,
        prefix: bool,
        cap: usize,
    ) -> Result<usize, SearchError> {
        let mut n = 0usize;
        for seg in self.0.segment_readers() {
            if n >= cap {
                break;
            }
            let inverted = seg.inverted_index(field)?;
            if !prefix {
                // One term: a lookup, far cheaper than opening a stream.
                if let Some(info) = inverted.terms().get(word.as_bytes())? {
                    n += live_of_term(&inverted, &info, seg.alive_bitset(), cap - n)?;
                }
                continue;
            }
            let mut terms = inverted.terms().range().ge(word.as_bytes()).into_stream()?;
            while n < cap && terms.advance() {
                let key = terms.key();
                if key != word.as_bytes() && !(prefix && key.starts_with(word.as_bytes())) {
                    break;
                }
                n += live_of_term(&inverted, terms.value(), seg.alive_bitset(), cap - n)?;
            }
        }
        Ok(n)
    }

    /// Whether `field` holds a live term that is `word` extended: if not, a
    /// prefix query of `word` would only repeat its exact query.
    /// Documents holding `term`, deleted ones included (an estimate).
    fn doc_freq(&self, term: &Term) -> Result<u64, SearchError> {
        Ok(self.0.doc_freq(term)?)
    }

    /// Live documents.
    fn num_docs(&self) -> u64 {
        self.0.num_docs()
    }

    fn extends(&self, field: Field, word: &str) -> Result<bool, SearchError> {
        // The first key after `word` itself.
        let longer = format!("{word}\0");
        for seg in self.0.segment_readers() {
            let inverted = seg.inverted_index(field)?;
            let mut terms = inverted
                .terms()
                .range()
                .ge(longer.as_bytes())
                .into_stream()?;
            while terms.advance() && terms.key().starts_with(word.as_bytes()) {
                if live_of_term(&inverted, terms.value(), seg.alive_bitset(), 1)? > 0 {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

impl SearchIndex {
    pub fn open(dir: &Path) -> Result<(Self, Opened), SearchError> {
        match Self::try_open(dir) {
            Ok(Some(found)) => Ok(found),
            Ok(None) | Err(_) => {
                // Missing, another version, or corrupt: start over.
                if dir.exists() {
                    tracing::warn!(dir = %dir.display(), "search index unusable or outdated: rebuilding it from the store");
                    std::fs::remove_dir_all(dir)?;
                }
                Ok((Self::create(dir)?, Opened::NeedsRebuild))
            }
        }
    }

    fn try_open(dir: &Path) -> Result<Option<(Self, Opened)>, SearchError> {
        let version = std::fs::read_to_string(dir.join(VERSION_FILE)).ok();
        if version.as_deref().map(str::trim) != Some(SCHEMA_VERSION.to_string().as_str()) {
            return Ok(None);
        }
        let index = Index::open(MmapDirectory::open(dir).map_err(tantivy::TantivyError::from)?)?;
        let (schema, fields) = schema();
        if index.schema() != schema {
            return Ok(None);
        }
        let payload = index.load_metas()?.payload;
        let this = Self::with_index(index, fields, dir)?;
        // Read every segment once so that a truncated file shows up now.
        let searcher = this.reader.searcher();
        for seg in searcher.segment_readers() {
            seg.fast_fields().u64("id_hi")?;
        }
        searcher.search(&tantivy::query::AllQuery, &Count)?;
        Ok(Some(match payload.and_then(|p| p.parse::<u64>().ok()) {
            Some(seq) => (this, Opened::Resumed(seq)),
            None => (this, Opened::NeedsRebuild),
        }))
    }

    fn create(dir: &Path) -> Result<Self, SearchError> {
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = schema();
        let index = Index::create_in_dir(dir, schema)?;
        std::fs::write(dir.join(VERSION_FILE), SCHEMA_VERSION.to_string())?;
        Self::with_index(index, fields, dir)
    }

    fn with_index(index: Index, fields: Fields, dir: &Path) -> Result<Self, SearchError> {
        index.tokenizers().register(TOKENIZER, analyzer());
        index.tokenizers().register(ALL_TOKENIZER, all_analyzer());
        let writer = index.writer(WRITER_MEMORY)?;
        // tantivy 0.27 starts a reopened writer's operation stamps at the
        // last commit's opstamp, the stamp that commit gave the delete files
        // it wrote. A merge taken up to that stamp then treats those
        // segments as up to date with the first delete made after the
        // restart, and a replaced document comes back (found by the crash
        // test; `tests::the_first_update_after_a_reopen_survives_merges`).
        // A delete that matches nothing takes that stamp instead.
        writer.delete_term(Term::from_field_bytes(fields.id, &[]));
        let reader: IndexReader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let view =
            std::sync::RwLock::new(std::sync::Arc::new(View::current(&reader, &fields, None)?));
        Ok(Self {
            reader,
            view,
            writer: Mutex::new(writer),
            fields,
            dir: dir.to_path_buf(),
        })
    }

    /// Applies changes (not yet visible; see [`commit`](Self::commit)).
    pub fn apply(&self, ops: Vec<IndexOp>) -> Result<(), SearchError> {
        let w = self.writer.lock().expect("index writer lock");
        for op in ops {
            match op {
                IndexOp::Upsert(u) => {
                    w.delete_term(self.fields.id_term(u.id.as_u128()));
                    w.add_document(document(&self.fields, &u))?;
                }
                IndexOp::Delete(id) => {
                    w.delete_term(self.fields.id_term(id));
                }
            }
        }
        Ok(())
    }

    /// Removes every document (before a rebuild).
    pub fn clear(&self) -> Result<(), SearchError> {
        self.writer
            .lock()
            .expect("index writer lock")
            .delete_all_documents()?;
        Ok(())
    }

    /// Makes applied changes durable and visible, recording `seq`.
    pub fn commit(&self, seq: u64) -> Result<(), SearchError> {
        {
            let mut w = self.writer.lock().expect("index writer lock");
            let mut prepared = w.prepare_commit()?;
            prepared.set_payload(&seq.to_string());
            prepared.commit()?;
        }
        self.reload()
    }

    /// Makes the last commit visible to searches.
    fn reload(&self) -> Result<(), SearchError> {
        // Held across the reload so that views are replaced in order.
        let mut view = self.view.write().expect("index view lock");
        self.reader.reload()?;
        *view = std::sync::Arc::new(View::current(&self.reader, &self.fields, Some(&view))?);
        Ok(())
    }

    /// The generation a search reads.
    fn view(&self) -> std::sync::Arc<View> {
        self.view.read().expect("index view lock").clone()
    }

    /// Merges every segment into one and waits for it. After a bulk load
    /// (import, rebuild) a search then walks one term dictionary per field
    /// instead of one per segment. Only an optimisation: if background
    /// merges keep some segments busy, it gives up after a few tries.
    pub fn optimize(&self) -> Result<(), SearchError> {
        for attempt in 0..20 {
            let merged = {
                let mut w = self.writer.lock().expect("index writer lock");
                let ids = w.index().searchable_segment_ids()?;
                if ids.len() <= 1 {
                    break;
                }
                w.merge(&ids)
            }
            .wait();
            match merged {
                Ok(_) => break,
                Err(e) if attempt == 19 => {
                    tracing::warn!(error = %e, "could not merge the index into one segment");
                }
                // Some segments are in a background merge: let it end.
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
            }
        }
        self.reload()
    }

    pub fn num_docs(&self) -> u64 {
        self.view().searcher.num_docs()
    }

    /// Bytes on disk.
    pub fn size_bytes(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    pub fn search(&self, req: &SearchRequest) -> Result<Found, SearchError> {
        self.run(self.prepare(req.clone())?)
    }

    /// Builds the request's query on the current generation: term lookups
    /// only, so cheap; [`run`](Self::run) walks it.
    pub fn prepare(&self, req: SearchRequest) -> Result<Prepared, SearchError> {
        self.prepare_with(req, true)
    }

    fn prepare_with(&self, req: SearchRequest, narrow: bool) -> Result<Prepared, SearchError> {
        let view = self.view();
        let built = query::build(&self.fields, &req, &view, narrow)?;
        Ok(Prepared {
            view,
            query: built.query,
            words: built.words,
            cost: built
                .postings
                .saturating_add(HIT_COST.saturating_mul(req.limit as u64)),
            req,
        })
    }

    #[cfg(test)]
    fn search_with(&self, req: &SearchRequest, narrow: bool) -> Result<Found, SearchError> {
        self.run(self.prepare_with(req.clone(), narrow)?)
    }

    pub fn run(&self, prepared: Prepared) -> Result<Found, SearchError> {
        let Prepared {
            view,
            query,
            words,
            req,
            ..
        } = prepared;
        let req = &req;
        let searcher = &view.searcher;
        // With words, matches are few: count facets in the same pass. Without
        // (browse or filters only), a count per facet value walks posting
        // lists, far cheaper than reading columns for every document.
        let browse = req.words.is_empty();
        let tally = tally::Tally {
            facets: !browse && (req.facet_status || req.facet_roles),
            view: &view,
        };
        let top = TopDocs::with_limit(req.limit.max(1)).and_offset(req.offset);
        // Relevance ends with the id, so that equal scores come out in the
        // same order whatever the index's segments: a rebuilt index answers
        // exactly as the one it replaces.
        let everything = req.browses_everything();
        let (hits, counts_pass): (Vec<(u128, f32)>, tally::Counts) = match req.sort {
            // No hits asked for, and every live document matches: the total
            // is the index's count, without visiting a document.
            _ if everything && req.limit == 0 => (
                Vec::new(),
                tally::Counts {
                    total: usize::try_from(searcher.num_docs()).unwrap_or(usize::MAX),
                    ..Default::default()
                },
            ),
            Sort::Relevance if !req.words.is_empty() => {
                // Ties are broken by the low, random half of the id: one
                // column read per match; the high half is read for the page only.
                let columns = view.clone();
                let collector = top.tweak_score(move |seg: &tantivy::SegmentReader| {
                    let lo = columns.of(seg).id_lo.clone();
                    move |doc, score: f32| (score, lo.get_val(doc))
                });
                let (found, counts) = searcher.search(&query, &(collector, tally))?;
                let out = found
                    .into_iter()
                    .map(|((score, lo), addr)| {
                        let hi = view.segment(addr.segment_ord).id_hi.get_val(addr.doc_id);
                        (join_id(hi, lo), score)
                    })
                    .collect();
                (out, counts)
            }
            Sort::Relevance | Sort::CreatedDesc | Sort::CreatedAsc => {
                // Creation times are unique in practice (microseconds), so
                // the fast-field order is deterministic without an id key.
                let order = if req.sort == Sort::CreatedAsc {
                    Order::Asc
                } else {
                    Order::Desc
                };
                let collector = top.order_by_fast_field::<i64>("created_at", order);
                let (found, counts) = searcher.search(&query, &(collector, tally))?;
                let hits = found.into_iter().map(|(_, a)| (view.id(a), 0.0)).collect();
                (hits, counts)
            }
            Sort::Name => {
                let collector = top.order_by_string_fast_field("name_sort", Order::Asc);
                let (found, counts) = searcher.search(&query, &(collector, tally))?;
                let hits = found.into_iter().map(|(_, a)| (view.id(a), 0.0)).collect();
                (hits, counts)
            }
        };
        let count_with = |t: Term| -> Result<usize, SearchError> {
            let q = tantivy::query::BooleanQuery::new(vec![
                (tantivy::query::Occur::Must, query.box_clone()),
                (
                    tantivy::query::Occur::Must,
                    Box::new(tantivy::query::TermQuery::new(t, IndexRecordOption::Basic)),
                ),
            ]);
            Ok(searcher.search(&q, &Count)?)
        };
        // No words and no filters: every live document matches, so a facet
        // value's count is its term's document frequency (live documents only).
        // One facet: for each value, its count from the one-pass tally, or
        // (browsing) from a posting-list count.
        let facet = |field: Field,
                     values: &[(&'static str, u64)],
                     tallied: &[usize]|
         -> Result<Vec<(&'static str, usize)>, SearchError> {
            values
                .iter()
                .map(|&(label, code)| {
                    let n = if everything {
                        live_docs_with(searcher, &Term::from_field_u64(field, code))?
                    } else if browse {
                        count_with(Term::from_field_u64(field, code))?
                    } else {
                        tallied.get(code as usize).copied().unwrap_or(0)
                    };
                    Ok((label, n))
                })
                .collect()
        };
        let mut facets = Vec::new();
        if req.facet_status {
            let values = [Status::Active, Status::Disabled].map(|s| (s.as_str(), status_code(s)));
            facets.push((
                "status",
                facet(self.fields.status, &values, &counts_pass.status)?,
            ));
        }
        if req.facet_roles {
            let values = Role::ALL.map(|r| (r.as_str(), u64::from(r.code())));
            facets.push((
                "roles",
                facet(self.fields.roles, &values, &counts_pass.roles)?,
            ));
        }
        Ok(Found {
            words,
            hits,
            total: counts_pass.total,
            facets,
        })
    }

    /// The doc count of each id (for tests: exactly one per live user).
    pub fn all_ids(&self) -> Result<Vec<u128>, SearchError> {
        let view = self.view();
        let mut out = Vec::new();
        for (ord, seg) in view.searcher.segment_readers().iter().enumerate() {
            let columns = view.segment(ord as tantivy::SegmentOrdinal);
            out.extend(seg.doc_ids_alive().map(|doc| columns.id(doc)));
        }
        Ok(out)
    }
}

/// What a hit costs beyond the postings walked (hydrating it from the store,
/// highlighting and writing it), in postings: roughly their ratio in
/// instructions.
const HIT_COST: u64 = 250;

/// Searches costing at most this are [`Prepared::cheap`]: well under a
/// millisecond on one core (a two-word search at 100 000 users is about
/// 14 000).
const CHEAP_COST: u64 = 32_768;

/// A request with its query built, to be [`run`](SearchIndex::run).
pub struct Prepared {
    view: std::sync::Arc<View>,
    query: Box<dyn tantivy::query::Query>,
    words: Vec<QueryWord>,
    req: SearchRequest,
    /// Postings the query walks at most, plus [`HIT_COST`] per hit asked for.
    cost: u64,
}

impl Prepared {
    /// Whether the search is so short that handing it to another thread
    /// would cost a good part of it: one with exact words only, of which
    /// few users hold each, and a page of a few dozen hits. Searches with a
    /// prefix or typo expansion, a date range, or no words are never cheap.
    pub fn cheap(&self) -> bool {
        self.cost <= CHEAP_COST
    }
}

/// The fixed users of [`fuzz_build_query`]'s index: several scripts, no
/// name, no roles, both statuses, nested attributes.
fn fuzz_users() -> Vec<User> {
    use crate::domain::{UserDraft, UserId};
    use serde_json::json;
    let bodies = [
        json!({"email": "ada@analytical.example", "username": "ada", "name": "Ada Lovelace",
               "roles": ["admin", "user"], "email_verified": true,
               "attributes": {"team": "quantum engines", "n": [1, {"x": "nested"}]}}),
        json!({"email": "grace@navy.example", "username": "amazing_grace",
               "name": "Grace Hopper", "status": "disabled"}),
        json!({"email": "jose@example.org", "name": "José García",
               "attributes": {"city": "São Paulo"}}),
        json!({"email": "noname@example.org"}),
        json!({"email": "zoe@example.org", "username": "zoe42", "name": "Zoë Ælfgifu 李小龍",
               "roles": []}),
        json!({"email": "x@example.org", "name": "x y z", "email_verified": true,
               "attributes": {"tags": ["x", "y", "z"], "emoji": "🦀 crab <b>&"}}),
        json!({"email": "deleted@example.org", "name": "Ada Deleted"}),
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let draft = UserDraft::from_json(body.as_object().expect("an object").clone())
                .expect("a valid user");
            let at = crate::store::from_micros(1_700_000_000_000_000 + i as i64 * 1_000)
                .expect("a valid time");
            User::from_draft(
                UserId::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + i as u128),
                draft,
                at,
            )
        })
        .collect()
}

/// An in-RAM index of [`fuzz_users`] in two segments, the first with deletes;
/// with the users it holds.
static FUZZ_INDEX: std::sync::LazyLock<(SearchIndex, Vec<User>)> = std::sync::LazyLock::new(|| {
    let (schema, fields) = schema();
    let index = SearchIndex::with_index(Index::create_in_ram(schema), fields, Path::new(""))
        .expect("an in-RAM index");
    let mut users = fuzz_users();
    let deleted = users.pop().expect("a user to delete");
    let upsert = |u: &User| IndexOp::Upsert(Box::new(u.clone()));
    let mut first: Vec<IndexOp> = users[..4].iter().map(upsert).collect();
    first.push(upsert(&deleted));
    index.apply(first).expect("indexing");
    index.commit(1).expect("a commit");
    let mut second: Vec<IndexOp> = users[4..].iter().map(upsert).collect();
    users[1].version += 1;
    second.push(upsert(&users[1]));
    second.push(IndexOp::Delete(deleted.id.as_u128()));
    index.apply(second).expect("indexing");
    index.commit(2).expect("a commit");
    (index, users)
});

/// Fuzzing hook (`tests/fuzz`, target `search_query`) and its regression
/// tests; not an API. Analyses `q` into `req.words` as the search endpoint
/// does, builds the query and runs it against a small fixed in-RAM index,
/// then highlights the hits as the service does. Panics if the result breaks
/// an invariant: a hit that is not a live user or comes twice, a page of the
/// wrong length, a facet count above the total.
#[doc(hidden)]
pub fn fuzz_build_query(q: &str, mut req: SearchRequest) -> Result<Found, SearchError> {
    let (index, users) = &*FUZZ_INDEX;
    req.words = analyze(q);
    assert!(req.words.len() <= query::MAX_WORDS, "too many words");
    assert!(
        req.words.iter().all(|w| !w.text.is_empty()),
        "an empty word"
    );
    let n = req.words.len();
    assert!(
        req.words
            .iter()
            .enumerate()
            .all(|(i, w)| w.prefix == (i + 1 == n)),
        "only the last word is a prefix"
    );
    let found = index.search(&req)?;
    assert!(found.total <= users.len(), "total {} > users", found.total);
    let page = req.limit.max(1).min(found.total.saturating_sub(req.offset));
    assert_eq!(
        found.hits.len(),
        page,
        "page length (total {})",
        found.total
    );
    let mut seen = std::collections::HashSet::new();
    let mut highlighter = Highlighter::new(&found.words);
    for &(id, score) in &found.hits {
        assert!(seen.insert(id), "hit {id:x} twice");
        assert!(score.is_finite(), "score {score}");
        let user = users
            .iter()
            .find(|u| u.id.as_u128() == id)
            .unwrap_or_else(|| panic!("hit {id:x} is not a live user"));
        highlighter.of(user);
    }
    for (facet, counts) in &found.facets {
        for (value, count) in counts {
            assert!(
                *count <= found.total,
                "{facet}={value}: {count} > total {}",
                found.total
            );
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    /// A user of [`fuzz_users`] under id `n`.
    fn user(n: u128) -> User {
        let mut u = fuzz_users().swap_remove(0);
        u.id = UserId::from_u128((7 << 120) + n);
        u
    }

    fn docs_of(dir: &Path, u: &User) -> usize {
        let index = Index::open_in_dir(dir).expect("the index opens");
        let searcher = index.reader().expect("a reader").searcher();
        let id = Term::from_field_bytes(
            index.schema().get_field("id").expect("an id field"),
            &u.id.as_u128().to_be_bytes(),
        );
        searcher
            .search(
                &tantivy::query::TermQuery::new(id, IndexRecordOption::Basic),
                &Count,
            )
            .expect("a count")
    }

    /// Query planning reads live documents only: a deleted user's words
    /// count for nothing, as after a rebuild.
    #[test]
    fn the_lexicon_counts_live_documents_only() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (index, _) = SearchIndex::open(&dir.path().join("index")).expect("an index");
        let name = index.fields.name;
        index
            .apply(
                (0..12)
                    .map(|n| IndexOp::Upsert(Box::new(user(n))))
                    .collect(),
            )
            .expect("indexed");
        index.commit(1).expect("committed");
        let check = |live: usize| {
            let searcher = index.reader.searcher();
            let lex = Lexicon(&searcher);
            assert_eq!(lex.live_docs(name, "lovelace", false, 100).unwrap(), live);
            assert_eq!(lex.live_docs(name, "lovel", true, 100).unwrap(), live);
            assert_eq!(lex.live_docs(name, "lovel", false, 100).unwrap(), 0);
            assert_eq!(
                lex.live_docs(name, "lovelace", false, 5).unwrap(),
                live.min(5)
            );
            assert_eq!(lex.extends(name, "lovel").unwrap(), live > 0);
            assert!(!lex.extends(name, "lovelace").unwrap());
            // `all` answers alike for the words of every field.
            let all = index.fields.all;
            assert_eq!(lex.live_docs(all, "lovelace", false, 100).unwrap(), live);
            assert_eq!(lex.extends(all, "lovel").unwrap(), live > 0);
            assert!(!lex.extends(all, "lovelace").unwrap());
        };
        check(12);
        let ids = (0..12).map(|n| user(n).id.as_u128());
        index
            .apply(ids.clone().take(9).map(IndexOp::Delete).collect())
            .expect("deleted");
        index.commit(2).expect("committed");
        check(3);
        index
            .apply(ids.skip(9).map(IndexOp::Delete).collect())
            .expect("deleted");
        index.commit(3).expect("committed");
        check(0);
    }

    /// Matching the exact words of a query of several through `all` changes
    /// neither its hits, nor their scores, nor the total and facets: on two
    /// segments with deletes, for words found in one field or several (and
    /// more than once in one), in attributes, as prefixes and typos beside
    /// exact words, and absent.
    /// 600 users with famous first and last names (some twice in a name),
    /// on two segments with deletes.
    fn famous() -> (tempfile::TempDir, SearchIndex) {
        use crate::domain::UserDraft;
        let dir = tempfile::tempdir().expect("a temp dir");
        let (index, _) = SearchIndex::open(&dir.path().join("index")).expect("an index");
        let first = ["Ada", "Grace", "Alan", "Edsger", "Barbara"];
        let last = ["Lovelace", "Hopper", "Turing", "Dijkstra"];
        let team = ["engines", "compilers", "hopper"];
        let users: Vec<User> = (0..600u128)
            .map(|i| {
                let (f, l) = (first[i as usize % 5], last[i as usize / 5 % 4]);
                let body = serde_json::json!({
                    "email": format!("{}.{}{i}@example.com", f.to_lowercase(), l.to_lowercase()),
                    "username": format!("{}{i}", f.to_lowercase()),
                    // Some names hold a word twice (frequencies above 1),
                    // some eight times (more than the `words` column tells).
                    "name": match i {
                        _ if i % 29 == 0 => format!("{l} {}", [f; 8].join(" ")),
                        _ if i % 13 == 0 => format!("{f} {l} {f}"),
                        _ => format!("{f} {l}"),
                    },
                    "status": if i % 7 == 0 { "disabled" } else { "active" },
                    "attributes": {"team": team[i as usize % 3]},
                });
                let draft = UserDraft::from_json(body.as_object().expect("an object").clone())
                    .expect("a valid user");
                User::from_draft(
                    UserId::from_u128((9 << 120) + i),
                    draft,
                    time::OffsetDateTime::UNIX_EPOCH,
                )
            })
            .collect();
        let upserts = |us: &[User]| {
            us.iter()
                .map(|u| IndexOp::Upsert(Box::new(u.clone())))
                .collect()
        };
        index.apply(upserts(&users[..350])).expect("indexed");
        index.commit(1).expect("committed");
        index.apply(upserts(&users[350..])).expect("indexed");
        let deleted = (0..600)
            .step_by(11)
            .map(|i| IndexOp::Delete(users[i].id.as_u128()));
        index.apply(deleted.collect()).expect("deleted");
        index.commit(2).expect("committed");
        assert!(
            index.view().searcher.segment_readers().len() >= 2,
            "two segments"
        );
        (dir, index)
    }

    /// Where two words of a document share a hash in the `words` column,
    /// each is scored from its fields' posting lists, as it would be
    /// without the column.
    #[test]
    fn words_sharing_a_hash_are_scored_as_without_the_column() {
        use crate::domain::UserDraft;
        let (a, b) = exact::colliding_numbers();
        let bodies = [
            serde_json::json!({"name": format!("Grace {a} {b} {b}"), "username": format!("u{b}"),
                               "email": format!("{a}.grace@example.com")}),
            serde_json::json!({"name": format!("Grace {a}"), "email": "grace@example.com"}),
            serde_json::json!({"name": format!("{b} Grace"), "email": format!("{b}@example.com")}),
        ];
        let dir = tempfile::tempdir().expect("a temp dir");
        let (index, _) = SearchIndex::open(&dir.path().join("index")).expect("an index");
        let ops = bodies.iter().enumerate().map(|(i, body)| {
            let draft = UserDraft::from_json(body.as_object().expect("an object").clone())
                .expect("a valid user");
            let id = UserId::from_u128((5 << 120) + i as u128);
            let user = User::from_draft(id, draft, time::OffsetDateTime::UNIX_EPOCH);
            IndexOp::Upsert(Box::new(user))
        });
        index.apply(ops.collect()).expect("indexed");
        index.commit(1).expect("committed");
        for q in [
            format!("{a} grace"),
            format!("grace {b}"),
            format!("{b} {a} grace"),
        ] {
            let req = SearchRequest {
                words: analyze(&q),
                limit: 10,
                ..Default::default()
            };
            let narrowed = index.search_with(&req, true).expect("a search");
            let plain = index.search_with(&req, false).expect("a search");
            assert!(!plain.hits.is_empty(), "{q}");
            assert_eq!(narrowed.hits.len(), plain.hits.len(), "{q}");
            for (x, y) in narrowed.hits.iter().zip(&plain.hits) {
                assert_eq!(x.0, y.0, "{q}");
                assert!((x.1 - y.1).abs() <= 1e-5 * y.1, "{q}: {} vs {}", x.1, y.1);
            }
        }
    }

    /// A search of a few exact words runs where it is asked (no thread
    /// hop); one with a prefix or typo expansion, a date range, or a long
    /// page does not, and a walk of every document only in a small index.
    #[test]
    fn only_short_searches_are_cheap() {
        let (_dir, index) = famous();
        let prepared = |q: &str, limit: usize, status: Option<Status>| {
            let req = SearchRequest {
                words: analyze(q),
                limit,
                status,
                ..Default::default()
            };
            index.prepare(req).expect("a query")
        };
        let cheap = prepared("grace hopper", 20, None);
        assert!(cheap.cheap(), "cost {}", cheap.cost);
        // Each word's documents in `all`, plus the page.
        // Grace: 1 in 5; hopper: a last name for 1 in 4 blocks of 5, a team
        // for 1 in 3 (deleted documents count until merged).
        let (grace, hopper) = (120, 150 + 200 - 50);
        let words = analyze("grace hopper");
        let view = index.view();
        let df = |w: &QueryWord| {
            view.searcher
                .doc_freq(&Term::from_field_text(index.fields.all, &w.text))
                .expect("a doc freq")
        };
        assert_eq!(df(&words[0]), grace);
        assert_eq!(df(&words[1]), hopper);
        assert_eq!(cheap.cost, grace + hopper + 20 * HIT_COST);
        assert!(prepared("ada", 100, None).cost > prepared("ada", 1, None).cost);
        assert!(!prepared("ada", 1000, None).cheap(), "a long page");
        // "lovel" extends to "lovelace"; "hoper" is a typo of "hopper".
        assert!(!prepared("ada lovel", 20, None).cheap(), "a prefix");
        assert!(!prepared("grace hoper", 20, None).cheap(), "a typo");
        let range = index
            .prepare(SearchRequest {
                words: analyze("grace hopper"),
                limit: 20,
                created_after: Some(0),
                ..Default::default()
            })
            .expect("a query");
        assert!(!range.cheap(), "a date range");
        // Without words every document is walked: 545 live ones here, so
        // cheap, but not beyond the threshold.
        let browse = prepared("", 20, Some(Status::Active));
        assert!(browse.cheap());
        assert!(browse.cost >= 545 + 20 * HIT_COST, "cost {}", browse.cost);
        // Cheap or not, a prepared search runs to the same result.
        let found = index.run(cheap).expect("a search");
        // The live Graces with hopper for a last name or team.
        let expected = (0..600)
            .filter(|i| i % 11 != 0 && i % 5 == 1 && (i / 5 % 4 == 1 || i % 3 == 2))
            .count();
        assert_eq!(found.total, expected, "grace hopper");
    }

    #[test]
    fn narrowing_by_all_changes_no_result() {
        let (_dir, index) = famous();
        for q in [
            "ada lovelace",
            "grace hopper",
            "hopper compilers",
            "lovelace ada engines",
            "ada lovel",
            "grace hoper",
            "alan 42",
            "ada nobody",
            "example com hopper",
            "ada ada",
            "turing 130 ada",
            // Numbers are rare (posting lists), names frequent (bitsets):
            // lists alone, lists checked against bitsets, none in common.
            "130 130",
            "130 turing ada",
            "42 130 ada",
            "hopper 131 hopper",
            "130 grace",
            "grace 131 compilers",
        ] {
            let req = SearchRequest {
                words: analyze(q),
                limit: 200,
                facet_status: true,
                facet_roles: true,
                ..Default::default()
            };
            let narrowed = index.search_with(&req, true).expect("a search");
            let plain = index.search_with(&req, false).expect("a search");
            // Scores are equal but for the order in which several words'
            // scores add up, so hits whose scores all but tie may swap places
            // (or swap across the page's end). Hence: the same scores rank by
            // rank, and each hit scored alike by both or tied at the cut.
            let close = |a: f32, b: f32| (a - b).abs() <= 1e-5 * b.abs().max(a.abs());
            assert_eq!(narrowed.hits.len(), plain.hits.len(), "{q}");
            for (a, b) in narrowed.hits.iter().zip(&plain.hits) {
                assert!(close(a.1, b.1), "{q}: {} vs {}", a.1, b.1);
            }
            let scored: std::collections::HashMap<_, _> =
                plain.hits.iter().map(|h| (h.0, h.1)).collect();
            let cut = plain.hits.last().map_or(0.0, |h| h.1);
            for (id, score) in &narrowed.hits {
                match scored.get(id) {
                    Some(&s) => assert!(close(*score, s), "{q}: {id} {score} vs {s}"),
                    None => assert!(close(*score, cut), "{q}: {id} only when narrowed"),
                }
            }
            assert_eq!(narrowed.total, plain.total, "{q}");
            assert_eq!(narrowed.facets, plain.facets, "{q}");
            assert_eq!(narrowed.words, plain.words, "{q}");
        }
        // Counted without scores, exact words are their posting lists.
        let view = index.view();
        for q in ["grace hopper", "ada ada", "hopper compilers"] {
            let req = SearchRequest {
                words: analyze(q),
                limit: 1,
                ..Default::default()
            };
            let built = query::build(&index.fields, &req, &view, true).expect("a query");
            let counted = view.searcher.search(&built.query, &Count).expect("a count");
            assert_eq!(counted, index.search(&req).expect("a search").total, "{q}");
        }
        // Frequent words were matched through bitsets, kept per segment.
        assert!(view.columns.iter().all(|c| c.dense.bytes() > 0));
        // The test is not vacuous: these queries find something.
        let req = |q| SearchRequest {
            words: analyze(q),
            limit: 5,
            ..Default::default()
        };
        assert!(index.search(&req("grace hopper")).expect("a search").total > 10);
        assert!(
            index
                .search(&req("hopper compilers"))
                .expect("a search")
                .total
                > 10
        );
    }

    /// tantivy starts a reopened writer's operation stamps at the last
    /// commit's opstamp, which segments deleted from in that commit also
    /// carry; a merge then takes the first delete after a restart as
    /// already applied to them, and a replaced document comes back. The
    /// writer burns that stamp at open (see `with_index`).
    #[test]
    fn the_first_update_after_a_reopen_survives_merges() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("index");
        // Built with one indexing thread and no merges, so that the
        // segments are exactly as described.
        drop(SearchIndex::open(&path).expect("an index"));
        let (u, w) = (user(100), user(101));
        {
            let raw = Index::open_in_dir(&path).expect("the index opens");
            raw.tokenizers().register(TOKENIZER, analyzer());
            raw.tokenizers().register(ALL_TOKENIZER, all_analyzer());
            let (_, fields) = schema();
            let mut writer: IndexWriter = raw
                .writer_with_num_threads(1, 15_000_000)
                .expect("a writer");
            writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
            let commit = |w: &mut IndexWriter, seq: u64| {
                let mut prepared = w.prepare_commit().expect("prepare");
                prepared.set_payload(&seq.to_string());
                prepared.commit().expect("commit");
            };
            let upsert = |w: &IndexWriter, u: &User| {
                w.delete_term(fields.id_term(u.id.as_u128()));
                w.add_document(document(&fields, u)).expect("add");
            };
            // Seven one-segment commits (the first one bigger, so that the
            // merge below does not list u's segment first), then u and w
            // (and a third user) in one segment, then w replaced: that last commit deletes
            // from u's segment, stamping it with the commit's opstamp.
            for seq in 1..=7u64 {
                let n = if seq == 1 { 3 } else { 1 };
                for i in 0..n {
                    upsert(&writer, &user(u128::from(seq) * 10 + i));
                }
                commit(&mut writer, seq);
            }
            upsert(&writer, &u);
            upsert(&writer, &w);
            upsert(&writer, &user(102));
            commit(&mut writer, 8);
            upsert(&writer, &w);
            commit(&mut writer, 9);
            writer.wait_merging_threads().expect("no merges");
        }
        let metas = Index::open_in_dir(&path)
            .expect("it opens")
            .load_metas()
            .expect("metas");
        let deleted_at: Vec<_> = metas.segments.iter().map(|s| s.delete_opstamp()).collect();
        assert!(
            deleted_at.contains(&Some(metas.opstamp)),
            "a segment deleted from at the last commit: {deleted_at:?} vs {}",
            metas.opstamp
        );

        // Reopened (default merge policy: nine small segments get merged),
        // u is replaced first thing.
        let (index, opened) = SearchIndex::open(&path).expect("it reopens");
        assert_eq!(opened, Opened::Resumed(9));
        index
            .apply(vec![IndexOp::Upsert(Box::new(u.clone()))])
            .expect("apply");
        index.commit(10).expect("commit");
        let SearchIndex { writer, .. } = index;
        writer
            .into_inner()
            .expect("writer lock")
            .wait_merging_threads()
            .expect("merges end");
        let segments = Index::open_in_dir(&path)
            .expect("it opens")
            .searchable_segment_ids()
            .expect("segment ids")
            .len();
        assert!(
            segments < 9,
            "the small segments were merged: {segments} left"
        );
        assert_eq!(docs_of(&path, &u), 1, "u once after the merges");
        assert_eq!(docs_of(&path, &w), 1, "w once");
    }
}
