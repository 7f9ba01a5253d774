//! One reader generation as searches see it: the searcher and, per
//! segment, the fast-field columns and norms a search reads. Built at each
//! reload and replaced whole, so that a search reads one consistent
//! generation and pays for opening columns only when a segment is new.

use tantivy::IndexReader;

use super::SearchError;
use super::dense;
use super::exact;
use super::schema::Fields;

/// A column of `u64` values, one per document.
pub(super) type U64Col = std::sync::Arc<dyn tantivy::columnar::ColumnValues<u64>>;

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
pub(super) struct SegmentColumns {
    pub(super) segment: tantivy::index::SegmentId,
    pub(super) id_hi: U64Col,
    pub(super) id_lo: U64Col,
    pub(super) status: tantivy::columnar::Column<u64>,
    pub(super) roles: tantivy::columnar::Column<u64>,
    pub(super) groups: tantivy::columnar::Column<u64>,
    pub(super) mfa_enabled: tantivy::columnar::Column<u64>,
    pub(super) words: [U64Col; exact::WORD_COLUMNS],
    /// Bitsets of the segment's frequent words in `all`, built on first use.
    pub(super) dense: dense::DenseWords,
    /// Per 64 documents (a bitset's machine word), the largest `id_lo`:
    /// how a search of tied scores skips them (see `exact`'s top pages).
    lo_peaks: std::sync::OnceLock<Box<[u64]>>,
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
            groups: ff.u64("groups")?,
            mfa_enabled: ff.u64("mfa_enabled")?,
            words: std::array::from_fn(|i| u64_column(seg, &format!("words{i}"))),
            dense: dense::DenseWords::default(),
            lo_peaks: std::sync::OnceLock::new(),
        })
    }

    /// Per 64 documents of the segment's `max_doc`, the largest `id_lo`
    /// among them; read once per segment, on first use.
    pub(super) fn lo_peaks(&self, max_doc: tantivy::DocId) -> &[u64] {
        self.lo_peaks.get_or_init(|| {
            let mut block = [0u64; 64];
            (0..max_doc)
                .step_by(64)
                .map(|start| {
                    let end = (start + 64).min(max_doc);
                    let values = &mut block[..(end - start) as usize];
                    self.id_lo.get_range(u64::from(start), values);
                    values.iter().copied().max().unwrap_or(0)
                })
                .collect()
        })
    }

    pub(super) fn id(&self, doc: tantivy::DocId) -> u128 {
        join_id(self.id_hi.get_val(doc), self.id_lo.get_val(doc))
    }
}

/// What searches read: one searcher (a reader generation) and the columns
/// of each of its segments, by segment ordinal. Replaced whole at every
/// reload, so a search sees one consistent generation.
pub(super) struct View {
    pub(super) searcher: tantivy::Searcher,
    pub(super) columns: Vec<std::sync::Arc<SegmentColumns>>,
    /// Per text field (in slot order), BM25's length normalisation for
    /// this generation: see [`exact::tf_norms`].
    pub(super) tf_norms: [[tantivy::Score; 256]; exact::SLOTS],
}

impl View {
    /// The reader's current generation; columns of segments that `previous`
    /// already had are shared, not reopened.
    pub(super) fn current(
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

    pub(super) fn segment(&self, ord: tantivy::SegmentOrdinal) -> &SegmentColumns {
        &self.columns[ord as usize]
    }

    /// The columns of `seg`, a segment of this view's searcher.
    pub(super) fn of(&self, seg: &tantivy::SegmentReader) -> &SegmentColumns {
        let id = seg.segment_id();
        self.columns
            .iter()
            .find(|c| c.segment == id)
            .expect("a segment of this view's searcher")
    }

    pub(super) fn id(&self, addr: tantivy::DocAddress) -> u128 {
        self.segment(addr.segment_ord).id(addr.doc_id)
    }
}

/// A user id from its two halves, as the `id_hi` and `id_lo` columns hold it.
pub(super) fn join_id(hi: u64, lo: u64) -> u128 {
    (u128::from(hi) << 64) | u128::from(lo)
}
