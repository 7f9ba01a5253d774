//! Search: the indexer that keeps the tantivy index following the store's
//! change log, and the search use case that queries it and hydrates hits
//! from the store (so results never show stale data).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::auth::policy::{Action, Caller};
use crate::domain::{EventType, GroupId, SearchQuery, User, UserId};
use crate::error::Error;
use crate::search::{
    Facets, Highlight, Highlighter, IndexOp, Opened, Prepared, SearchError, SearchIndex,
    SearchRequest, Sort, group_key,
};
use crate::store::{ReadTx, Store, StoreError};

use super::allow;

/// Changes applied per index commit at most.
const BATCH: usize = 10_000;
/// How often an idle indexer looks for new changes.
const POLL: Duration = Duration::from_millis(20);
/// While changes stream in, the index commits at most this often. Each
/// commit writes a segment, syncs it and reloads the searchers, and a
/// stream of tiny segments keeps the merger busy: committing every poll
/// cost a single client's creates more CPU than the create itself. A
/// change after a quiet spell is still committed at the next poll, and
/// `consistent=true` asks for a commit at once.
const COMMIT_EVERY: Duration = Duration::from_millis(250);
/// Stores up to this many users are indexed before start-up completes.
const INLINE_REBUILD_MAX: u64 = 20_000;
/// How long `consistent=true` waits for the index to catch up.
const CONSISTENT_WAIT: Duration = Duration::from_secs(5);

pub struct Hit {
    pub user: User,
    pub score: f32,
    pub highlights: Vec<Highlight>,
}

pub struct Results {
    pub hits: Vec<Hit>,
    pub total: usize,
    pub facets: Facets,
    pub took_ms: f64,
}

/// What `/readyz` and the dashboard show of the index.
pub struct IndexStatus {
    pub ready: bool,
    /// Whether this process found the index unusable and rebuilt it.
    pub rebuilt_at_start: bool,
    pub indexed_seq: u64,
    pub store_seq: u64,
    pub docs: u64,
    pub size_bytes: u64,
}

#[derive(Clone)]
pub struct Search(Arc<Inner>);

struct Inner {
    store: Store,
    index: Arc<SearchIndex>,
    indexed: watch::Sender<u64>,
    ready: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    /// Set by a `consistent=true` search: commit without waiting for
    /// `COMMIT_EVERY`.
    hurry: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
    rebuilt_at_start: bool,
    /// Searches running at once. They are CPU-bound: more than two per core
    /// adds memory and context switches, not throughput; the rest wait.
    running: Arc<tokio::sync::Semaphore>,
}

fn search_error(e: SearchError) -> Error {
    Error::Internal(anyhow::anyhow!(e))
}

impl Search {
    /// Opens `<dir>` and starts the indexer: it resumes from the index's
    /// last committed sequence, or rebuilds from the store first (searches
    /// answer 503 until then).
    pub fn start(store: Store, dir: &Path) -> Result<Self, Error> {
        let (index, mut opened) =
            SearchIndex::open_sealed(dir, store.sealer()).map_err(search_error)?;
        let rebuilt_at_start = opened == Opened::NeedsRebuild;
        // A small store is indexed before the server answers (well under a
        // second), so small installs never see search unavailable; a big one
        // is indexed in the background.
        if rebuilt_at_start && store.read(|r| r.count_users())? <= INLINE_REBUILD_MAX {
            let (n, seq) = rebuild(&store, &index)?;
            tracing::info!(users = n, "search index built");
            opened = Opened::Resumed(seq);
        }
        let index = Arc::new(index);
        let start_seq = match opened {
            Opened::Resumed(seq) => seq,
            Opened::NeedsRebuild => 0,
        };
        let (indexed, _) = watch::channel(start_seq);
        let ready = Arc::new(AtomicBool::new(opened != Opened::NeedsRebuild));
        let stop = Arc::new(AtomicBool::new(false));
        let hurry = Arc::new(AtomicBool::new(false));
        let inner = Arc::new(Inner {
            store: store.clone(),
            index: index.clone(),
            indexed: indexed.clone(),
            ready: ready.clone(),
            stop: stop.clone(),
            hurry: hurry.clone(),
            thread: Mutex::new(None),
            rebuilt_at_start,
            running: Arc::new(tokio::sync::Semaphore::new(
                2 * std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
        });
        let worker = Indexer {
            store,
            index,
            indexed,
            ready,
            stop,
            hurry,
        };
        let handle = std::thread::Builder::new()
            .name("roster-indexer".into())
            .spawn(move || worker.run(opened))
            .map_err(|e| Error::Internal(anyhow::anyhow!("cannot start the indexer: {e}")))?;
        *inner.thread.lock().expect("indexer handle lock") = Some(handle);
        Ok(Self(inner))
    }

    /// Stops the indexer after its current batch (committed) and waits for it.
    pub async fn close(&self) {
        self.0.stop.store(true, Ordering::SeqCst);
        let handle = self.0.thread.lock().expect("indexer handle lock").take();
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }

    pub fn status(&self) -> IndexStatus {
        IndexStatus {
            ready: self.0.ready.load(Ordering::SeqCst),
            rebuilt_at_start: self.0.rebuilt_at_start,
            indexed_seq: *self.0.indexed.borrow(),
            store_seq: self.0.store.committed_seq(),
            docs: self.0.index.num_docs(),
            size_bytes: self.0.index.size_bytes(),
        }
    }

    /// Waits until the index reflects every change committed so far.
    pub async fn wait_caught_up(&self, within: Duration) -> bool {
        let target = self.0.store.committed_seq();
        let mut rx = self.0.indexed.subscribe();
        if *rx.borrow() < target {
            self.0.hurry.store(true, Ordering::SeqCst);
        }
        tokio::time::timeout(within, rx.wait_for(|s| *s >= target))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    pub async fn search(&self, caller: &Caller, query: SearchQuery) -> Result<Results, Error> {
        allow(caller, Action::ListUsers)?;
        let consistent = query.consistent;
        let mut req = SearchRequest::new(query);
        self.resolve_groups(&mut req)?;
        let started = Instant::now();
        if !self.0.ready.load(Ordering::SeqCst) {
            return Err(Error::SearchUnavailable(
                "The search index is being rebuilt; try again shortly.",
            ));
        }
        if consistent && !self.wait_caught_up(CONSISTENT_WAIT).await {
            return Err(Error::SearchUnavailable(
                "The search index did not catch up in time; try again.",
            ));
        }
        // Browsing everyone by creation time is a walk of the store's
        // creation index: the index would read the creation time of every
        // user to find the page. It still gives total and facets.
        let by_creation = req.browses_everything()
            && matches!(
                req.asked.sort,
                Sort::Relevance | Sort::CreatedDesc | Sort::CreatedAsc
            );
        let mut index_req = req.clone();
        if by_creation {
            index_req.asked.limit = 0;
        }
        // Building the query is term lookups: cheap enough for this thread.
        let prepared = self.0.index.prepare(index_req).map_err(search_error)?;
        if prepared.cheap() && !by_creation {
            // A search of a few exact words takes about as long as handing
            // it to a blocking thread and back (two wake-ups and context
            // switches), so it runs here, as a handler's other work does.
            return self.answer(prepared, &req, false, started);
        }
        let permit = self
            .0
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Unavailable)?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            this.answer(prepared, &req, by_creation, started)
        })
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("search task failed: {e}")))?
    }

    /// Turns the groups a search names (ids or names) into index keys,
    /// and lists every group's key when the groups facet is asked for.
    /// An unknown name is a 400; an unknown id matches no one.
    fn resolve_groups(&self, req: &mut SearchRequest) -> Result<(), Error> {
        if req.asked.groups.is_empty() && !req.asked.facet_groups {
            return Ok(());
        }
        let asked = req.asked.groups.clone();
        let facet = req.asked.facet_groups;
        let (keys, labels) = self.0.store.read(|r| {
            let mut keys = Vec::with_capacity(asked.len());
            for g in &asked {
                match GroupId::parse(g) {
                    Some(id) => keys.push(Ok(group_key(id.as_u128()))),
                    None => match r.find_group_by_name(&g.trim().to_lowercase())? {
                        Some(found) => keys.push(Ok(group_key(found.id.as_u128()))),
                        None => keys.push(Err(g.clone())),
                    },
                }
            }
            let mut labels = Vec::new();
            if facet {
                r.for_each_group(|g| {
                    labels.push((g.name.as_str().to_owned(), group_key(g.id.as_u128())));
                    Ok(())
                })?;
            }
            Ok((keys, labels))
        })?;
        req.groups = keys
            .into_iter()
            .collect::<Result<_, String>>()
            .map_err(|name| Error::BadRequest(format!("no group is named {name:?}")))?;
        req.group_labels = labels;
        Ok(())
    }

    /// Runs a prepared search and hydrates its hits from the store (or,
    /// `by_creation`, takes the page from the store's creation index).
    fn answer(
        &self,
        prepared: Prepared,
        req: &SearchRequest,
        by_creation: bool,
        started: Instant,
    ) -> Result<Results, Error> {
        let found = self.0.index.run(prepared).map_err(search_error)?;
        let users: Vec<Option<(User, f32)>> = if by_creation {
            self.0
                .store
                .users_by_creation(
                    req.asked.sort != Sort::CreatedAsc,
                    req.asked.offset,
                    req.asked.limit,
                )?
                .into_iter()
                .map(|u| Some((u, 0.0)))
                .collect()
        } else {
            let ids: Vec<UserId> = found
                .hits
                .iter()
                .map(|(id, _)| UserId::from_u128(*id))
                .collect();
            self.0
                .store
                .get_users(&ids)?
                .into_iter()
                .zip(&found.hits)
                .map(|(u, (_, score))| u.map(|u| (u, *score)))
                .collect()
        };
        let mut highlighter = Highlighter::new(&found.words);
        let hits = users
            .into_iter()
            .flatten()
            .map(|(user, score)| Hit {
                highlights: highlighter.of(&user),
                user,
                score,
            })
            .collect();
        let took = started.elapsed().as_secs_f64();
        metrics::histogram!("roster_search_duration_seconds").record(took);
        Ok(Results {
            hits,
            total: found.total,
            facets: found.facets,
            took_ms: took * 1000.0,
        })
    }

    /// Bulk mode for an offline import: no background merges until
    /// [`Self::optimize`] merges everything once at the end.
    pub fn bulk_load(&self) {
        self.0.index.set_bulk(true);
    }

    /// Merges the index into one segment (after a bulk import), waiting
    /// for it; searches are then cheaper.
    pub async fn optimize(&self) -> Result<(), Error> {
        let index = self.0.index.clone();
        tokio::task::spawn_blocking(move || index.optimize())
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("optimize task failed: {e}")))?
            .map_err(search_error)
    }

    /// Ids in the index (tests compare them with the store).
    pub fn indexed_ids(&self) -> Result<Vec<u128>, Error> {
        self.0.index.all_ids().map_err(search_error)
    }
}

/// Builds the index of `dir` from the store, offline (`roster reindex`).
/// Returns how many users were indexed.
/// Re-seals the index files in `dir` under `sealer`'s current key (an
/// encryption key rotation, offline); how many files it rewrote.
pub fn reseal_index(dir: &Path, sealer: &crate::crypt::Sealer) -> std::io::Result<usize> {
    crate::search::reseal_index(dir, sealer)
}

pub fn rebuild_offline(store: &Store, dir: &Path) -> Result<u64, Error> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| Error::Internal(e.into()))?;
    }
    let (index, _) = SearchIndex::open_sealed(dir, store.sealer()).map_err(search_error)?;
    let (n, _) = rebuild(store, &index)?;
    Ok(n)
}

/// Re-indexes every user of one store snapshot; returns (users, snapshot seq).
fn rebuild(store: &Store, index: &SearchIndex) -> Result<(u64, u64), Error> {
    index.set_bulk(true);
    let rebuilt = rebuild_in_bulk(store, index);
    index.set_bulk(false);
    rebuilt
}

fn rebuild_in_bulk(store: &Store, index: &SearchIndex) -> Result<(u64, u64), Error> {
    index.clear().map_err(search_error)?;
    let mut count = 0u64;
    let seq = store.read(|r| {
        let seq = r.last_seq()?;
        let mut batch = Vec::with_capacity(BATCH);
        r.for_each_user(|u| {
            count += 1;
            batch.push(upsert(r, u)?);
            if batch.len() == BATCH {
                index
                    .apply(std::mem::take(&mut batch))
                    .map_err(|e| StoreError::Job(e.to_string()))?;
            }
            Ok(())
        })?;
        index
            .apply(batch)
            .map_err(|e| StoreError::Job(e.to_string()))?;
        Ok(seq)
    })?;
    index.commit(seq).map_err(search_error)?;
    index.optimize().map_err(search_error)?;
    Ok((count, seq))
}

/// The index operation that (re)writes user `u`'s document, with its
/// groups as this snapshot has them.
fn upsert(r: &ReadTx, u: User) -> Result<IndexOp, StoreError> {
    let groups = r.groups_of(u.id)?;
    Ok(if groups.is_empty() {
        IndexOp::Upsert(Box::new(u))
    } else {
        let keys = groups.iter().map(|g| group_key(g.as_u128())).collect();
        IndexOp::UpsertInGroups(Box::new(u), keys)
    })
}

struct Indexer {
    store: Store,
    index: Arc<SearchIndex>,
    indexed: watch::Sender<u64>,
    ready: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    hurry: Arc<AtomicBool>,
}

impl Indexer {
    fn run(self, opened: Opened) {
        let mut applied = match opened {
            Opened::Resumed(seq) => seq,
            Opened::NeedsRebuild => loop {
                let started = Instant::now();
                match rebuild(&self.store, &self.index) {
                    Ok((n, seq)) => {
                        tracing::info!(
                            users = n,
                            seconds = started.elapsed().as_secs_f64(),
                            "search index rebuilt"
                        );
                        break seq;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "search index rebuild failed; retrying");
                        if self.sleep_or_stop(Duration::from_secs(1)) {
                            return;
                        }
                    }
                }
            },
        };
        self.indexed.send_replace(applied);
        self.ready.store(true, Ordering::SeqCst);
        // `applied`: changes handed to the index writer; `visible`: those
        // committed, which searches see and `indexed` announces.
        let mut visible = applied;
        let mut last_commit: Option<Instant> = None;
        loop {
            // A full batch means a backlog: no pause before the next one.
            let mut backlog = false;
            let step = if self.store.committed_seq() > applied {
                self.apply_next(applied).map(|(seq, n)| {
                    applied = seq;
                    backlog = n == BATCH;
                })
            } else {
                Ok(())
            };
            let due = applied > visible
                && (self.hurry.swap(false, Ordering::SeqCst)
                    || last_commit.is_none_or(|t| t.elapsed() >= COMMIT_EVERY)
                    || applied - visible >= BATCH as u64);
            let step = step.and_then(|()| match due {
                true => self.commit(applied).map(|()| {
                    visible = applied;
                    last_commit = Some(Instant::now());
                }),
                false => Ok(()),
            });
            if let Err(e) = step {
                // Applying again from the last commit is harmless: an
                // upsert replaces the user's document, a delete is a delete.
                tracing::error!(error = %e, "indexing failed; retrying");
                applied = visible;
                if self.sleep_or_stop(Duration::from_secs(1)) {
                    return;
                }
                continue;
            }
            let stopping = match backlog {
                true => self.stop.load(Ordering::SeqCst),
                false => self.sleep_or_stop(POLL),
            };
            if stopping {
                // What was applied is committed before the indexer ends.
                if applied > visible
                    && let Err(e) = self.commit(applied)
                {
                    tracing::error!(error = %e, "last index commit failed");
                }
                return;
            }
        }
    }

    /// True when asked to stop.
    fn sleep_or_stop(&self, d: Duration) -> bool {
        if self.stop.load(Ordering::SeqCst) {
            return true;
        }
        std::thread::sleep(d);
        self.stop.load(Ordering::SeqCst)
    }

    /// Hands the next batch of changes after `applied` to the index writer
    /// (not yet visible); returns the last sequence it covers and how many
    /// changes it read.
    fn apply_next(&self, applied: u64) -> Result<(u64, usize), Error> {
        let (ops, last, read) = self.store.read(|r| {
            let changes = r.changes_since(applied, BATCH)?;
            let last = changes.last().map_or(applied, |(s, _)| *s);
            let read = changes.len();
            let mut ops = Vec::with_capacity(changes.len());
            for (_, change) in changes {
                match change.kind {
                    EventType::UserDeleted => ops.push(IndexOp::Delete(change.id)),
                    // The user as it is in this snapshot; a later change to
                    // it is applied in turn.
                    EventType::UserCreated | EventType::UserUpdated => {
                        match r.get_user(UserId::from_u128(change.id))? {
                            Some(u) => ops.push(upsert(r, u)?),
                            None => ops.push(IndexOp::Delete(change.id)),
                        }
                    }
                    // Nothing the index holds changed (a group's own change
                    // reaches its members' documents as their own changes).
                    EventType::UserPasswordChanged
                    | EventType::UserSessionsRevoked
                    | EventType::GroupCreated
                    | EventType::GroupUpdated
                    | EventType::GroupDeleted => {}
                }
            }
            Ok((ops, last, read))
        })?;
        self.index.apply(ops).map_err(search_error)?;
        Ok((last, read))
    }

    /// Commits what was applied, up to `seq`, and announces it.
    fn commit(&self, seq: u64) -> Result<(), Error> {
        self.index.commit(seq).map_err(search_error)?;
        self.indexed.send_replace(seq);
        Ok(())
    }
}
