//! The index's life: opening (or wiping and re-creating) the directory,
//! the one writer, applying changes and committing them with the store
//! sequence they reflect, reloading the [`View`] searches read, merging
//! after a bulk load. Searching it is in [`run`](super::run).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tantivy::collector::Count;
use tantivy::directory::{Directory, MmapDirectory};
use tantivy::{Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, Term};

use super::SearchError;
use super::schema::{
    ALL_TOKENIZER, Fields, SCHEMA_VERSION, TOKENIZER, all_analyzer, analyzer, document, schema,
};
use super::sealed_dir::SealedDirectory;
use super::view::View;
use crate::crypt::Sealer;
use crate::domain::User;

/// The schema version the index was written with, in plain text (a
/// number): read before tantivy opens anything.
pub(super) const VERSION_FILE: &str = "roster-index-version";
const WRITER_MEMORY: usize = 64 * 1024 * 1024;

/// An index change derived from one store change.
pub enum IndexOp {
    Upsert(Box<User>),
    /// A user who belongs to groups (their [`group_key`](super::group_key)s).
    UpsertInGroups(Box<User>, Vec<u64>),
    Delete(u128),
}

/// The index in one directory: its one writer, and the generation that
/// searches read.
pub struct SearchIndex {
    pub(super) reader: IndexReader,
    /// The generation searches read; see [`View`].
    pub(super) view: std::sync::RwLock<std::sync::Arc<View>>,
    pub(super) writer: Mutex<IndexWriter>,
    /// How many bulk loads are under way (see [`Self::set_bulk`]).
    bulk: Mutex<u32>,
    pub(super) fields: Fields,
    pub(super) dir: PathBuf,
}

/// How the index was found at open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// Intact; it reflects the store up to this change sequence.
    Resumed(u64),
    /// Empty (new, or wiped because unreadable or of another version).
    NeedsRebuild,
}

impl SearchIndex {
    /// The index in `dir`, in the clear on disk.
    pub fn open(dir: &Path) -> Result<(Self, Opened), SearchError> {
        Self::open_sealed(dir, None)
    }

    /// The index in `dir`, its files sealed with `sealer` if one is given
    /// (see `sealed_dir`: the index then lives decrypted in memory). An
    /// index that does not open with it (another key, or written in the
    /// clear) is unusable like a corrupt one: wiped, to be rebuilt. The
    /// store checks the key before, so this is an index left over from
    /// before a key change.
    pub fn open_sealed(
        dir: &Path,
        sealer: Option<Arc<Sealer>>,
    ) -> Result<(Self, Opened), SearchError> {
        let why = match Self::try_open(dir, sealer.as_ref()) {
            Ok(Some(found)) => return Ok(found),
            Ok(None) => "missing or of another version".to_string(),
            Err(e) => e.to_string(),
        };
        // Missing, another version, corrupt, or another key: start over.
        if dir.exists() {
            tracing::warn!(dir = %dir.display(), %why, "search index unusable or outdated: rebuilding it from the store");
            std::fs::remove_dir_all(dir)?;
        }
        Ok((Self::create(dir, sealer)?, Opened::NeedsRebuild))
    }

    /// The tantivy directory of `dir`, which must exist.
    fn directory(
        dir: &Path,
        sealer: Option<&Arc<Sealer>>,
    ) -> Result<Box<dyn Directory>, SearchError> {
        Ok(match sealer {
            Some(s) => Box::new(
                SealedDirectory::open(dir, s.clone()).map_err(tantivy::TantivyError::from)?,
            ),
            None => Box::new(MmapDirectory::open(dir).map_err(tantivy::TantivyError::from)?),
        })
    }

    fn try_open(
        dir: &Path,
        sealer: Option<&Arc<Sealer>>,
    ) -> Result<Option<(Self, Opened)>, SearchError> {
        let version = std::fs::read_to_string(dir.join(VERSION_FILE)).ok();
        if version.as_deref().map(str::trim) != Some(SCHEMA_VERSION.to_string().as_str()) {
            return Ok(None);
        }
        let index = Index::open(Self::directory(dir, sealer)?)?;
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

    fn create(dir: &Path, sealer: Option<Arc<Sealer>>) -> Result<Self, SearchError> {
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = schema();
        let index = Index::create(
            Self::directory(dir, sealer.as_ref())?,
            schema,
            IndexSettings::default(),
        )?;
        std::fs::write(dir.join(VERSION_FILE), SCHEMA_VERSION.to_string())?;
        Self::with_index(index, fields, dir)
    }

    pub(super) fn with_index(
        index: Index,
        fields: Fields,
        dir: &Path,
    ) -> Result<Self, SearchError> {
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
            bulk: Mutex::new(0),
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
                    w.add_document(document(&self.fields, &u, &[]))?;
                }
                IndexOp::UpsertInGroups(u, groups) => {
                    w.delete_term(self.fields.id_term(u.id.as_u128()));
                    w.add_document(document(&self.fields, &u, &groups))?;
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
    pub(super) fn view(&self) -> std::sync::Arc<View> {
        self.view.read().expect("index view lock").clone()
    }

    /// In bulk mode no background merge starts: a bulk load (import,
    /// rebuild) writes its segments, then [`Self::optimize`] merges them
    /// once, instead of background merges doing part of that work only to
    /// be thrown away when the final merge races them.
    /// Calls nest: bulk mode lasts until every `true` had its `false` (a
    /// rebuild ending during an import leaves the import's on).
    pub fn set_bulk(&self, bulk: bool) {
        let w = self.writer.lock().expect("index writer lock");
        let mut depth = self.bulk.lock().expect("bulk lock");
        *depth = match bulk {
            true => *depth + 1,
            false => depth.saturating_sub(1),
        };
        match *depth > 0 {
            true => w.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy)),
            false => w.set_merge_policy(Box::<tantivy::indexer::LogMergePolicy>::default()),
        }
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
