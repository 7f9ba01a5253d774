use super::*;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

const T: TableDefinition<u64, &[u8]> = TableDefinition::new("t");

fn open(path: &Path) -> Database {
    Database::builder()
        .create_with_backend(Journaled::open(path).expect("journal"))
        .expect("opens")
}

fn put(db: &Database, keys: std::ops::RangeInclusive<u64>) {
    for k in keys {
        let txn = db.begin_write().expect("write");
        txn.open_table(T)
            .expect("table")
            .insert(k, [k as u8; 300].as_slice())
            .expect("insert");
        txn.commit().expect("commit");
    }
}

fn keys(db: &Database) -> Vec<u64> {
    let txn = db.begin_read().expect("read");
    let t = txn.open_table(T).expect("table");
    t.iter()
        .expect("iter")
        .map(|e| {
            let (k, v) = e.expect("entry");
            assert_eq!(v.value(), [k.value() as u8; 300].as_slice());
            k.value()
        })
        .collect()
}

/// The files as a power loss would leave them if none of the file's own
/// writes since `file` was read had reached the disk: the file as it
/// was then, the journal as it is now. Both written in place (same inode).
fn lose_file_writes(path: &Path, file: &[u8], journal: &[u8]) {
    std::fs::write(path, file).expect("file");
    std::fs::write(journal_path(path), journal).expect("journal");
}

#[test]
fn commits_the_file_lost_come_back_from_the_journal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.redb");
    let db = open(&path);
    put(&db, 1..=3);
    let file = std::fs::read(&path).expect("read");
    put(&db, 4..=40);
    let journal = std::fs::read(journal_path(&path)).expect("read");
    drop(db);
    lose_file_writes(&path, &file, &journal);

    let db = open(&path);
    assert_eq!(keys(&db), (1..=40).collect::<Vec<_>>());
    // Replayed once: the journal starts a new epoch, and the file (now
    // synced) holds it all after a clean close.
    put(&db, 41..=41);
    drop(db);
    assert_eq!(keys(&open(&path)), (1..=41).collect::<Vec<_>>());
}

#[test]
fn a_torn_last_record_is_ignored_and_the_ones_before_it_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.redb");
    let db = open(&path);
    put(&db, 1..=2);
    let file = std::fs::read(&path).expect("read");
    put(&db, 3..=9);
    let before = std::fs::read(journal_path(&path)).expect("read");
    put(&db, 10..=10);
    let mut torn = std::fs::read(journal_path(&path)).expect("read");
    drop(db);
    // The last record's tail never reached the disk.
    let end = (0..torn.len())
        .rev()
        .find(|&i| torn[i] != before[i])
        .expect("a record");
    torn[end - 20..=end].copy_from_slice(&before[end - 20..=end]);
    lose_file_writes(&path, &file, &torn);

    assert_eq!(keys(&open(&path)), (1..=9).collect::<Vec<_>>());
}

#[test]
fn a_journal_is_never_replayed_onto_another_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.redb");
    let db = open(&path);
    put(&db, 1..=2);
    let file = std::fs::read(&path).expect("read");
    put(&db, 3..=5);
    let journal = std::fs::read(journal_path(&path)).expect("read");
    drop(db);
    // The file replaced by a copy of its older self (another inode), the
    // journal left beside it.
    let copy = dir.path().join("copy");
    std::fs::write(&copy, &file).expect("copy");
    std::fs::rename(&copy, &path).expect("rename");
    std::fs::write(journal_path(&path), &journal).expect("journal");

    assert_eq!(keys(&open(&path)), vec![1, 2]);
}

#[test]
fn a_store_in_use_is_not_opened_twice() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.redb");
    let _db = open(&path);
    let second = Journaled::open(&path).expect_err("locked");
    assert_eq!(second.kind(), io::ErrorKind::WouldBlock);
}

/// A store whose backend the test can still reach.
fn open_watched(path: &Path) -> (Database, Arc<Shared>) {
    let backend = Journaled::open(path).expect("journal");
    let shared = backend.shared.clone();
    (
        Database::builder()
            .create_with_backend(backend)
            .expect("opens"),
        shared,
    )
}

fn hold(shared: &Shared, on: bool) {
    shared.state().hold = on;
    shared.changed.notify_all();
}

#[test]
fn both_regions_are_replayed_the_older_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.redb");
    let (db, shared) = open_watched(&path);
    hold(&shared, true);
    put(&db, 1..=3);
    let file = std::fs::read(&path).expect("read");
    // On until the records go to the second region; the first is kept
    // (its checkpoint is held back).
    let mut k = 3;
    while shared.state().active == 0 {
        k += 1;
        put(&db, k..=k);
    }
    put(&db, k + 1..=k + 5);
    assert!(shared.state().retiring);
    let journal = std::fs::read(journal_path(&path)).expect("read");
    hold(&shared, false);
    drop((db, shared));
    lose_file_writes(&path, &file, &journal);

    assert_eq!(keys(&open(&path)), (1..=k + 5).collect::<Vec<_>>());
}

#[test]
fn records_after_a_retired_region_are_replayed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.redb");
    let (db, shared) = open_watched(&path);
    let mut k = 0;
    while shared.state().active == 0 {
        k += 1;
        put(&db, k..=k);
    }
    // The first region retired in the background (the file synced, the
    // region voided), then more commits in the second.
    drop(
        shared
            .changed
            .wait_while(shared.state(), |s| s.retiring)
            .expect("lock"),
    );
    let file = std::fs::read(&path).expect("read");
    put(&db, k + 1..=k + 20);
    let journal = std::fs::read(journal_path(&path)).expect("read");
    drop((db, shared));
    lose_file_writes(&path, &file, &journal);

    assert_eq!(keys(&open(&path)), (1..=k + 20).collect::<Vec<_>>());
}

#[test]
fn full_regions_are_retired_in_the_background() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.redb");
    let (db, shared) = open_watched(&path);
    let epoch = shared.state().epoch;
    put(&db, 1..=1500);
    let state = shared.state();
    // Several switches, each voiding the region left behind.
    assert!(
        state.epoch >= epoch + 4,
        "epochs {epoch} -> {}",
        state.epoch
    );
    assert!(state.failed.is_none());
    drop(state);
    assert_eq!(
        std::fs::metadata(journal_path(&path))
            .expect("journal")
            .len(),
        2 * REGION
    );
    drop((db, shared));
    assert_eq!(keys(&open(&path)), (1..=1500).collect::<Vec<_>>());
}

#[test]
fn a_commit_too_large_to_log_syncs_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.redb");
    let (db, shared) = open_watched(&path);
    let logged = shared.state().seq;
    put(&db, 1..=2);
    assert_eq!(shared.state().seq, logged + 2);
    // ~6 MiB in one commit: more than a record may hold.
    let txn = db.begin_write().expect("write");
    {
        let mut t = txn.open_table(T).expect("table");
        for k in 0..20_000u64 {
            t.insert(1_000_000 + k, [(1_000_000 + k) as u8; 300].as_slice())
                .expect("insert");
        }
    }
    txn.commit().expect("commit");
    // Nothing logged: the active region was voided after the file's sync.
    assert_eq!(shared.state().seq, 0);
    let file = std::fs::read(&path).expect("read");
    put(&db, 3..=4);
    assert_eq!(shared.state().seq, 2);
    let journal = std::fs::read(journal_path(&path)).expect("read");
    drop((db, shared));
    lose_file_writes(&path, &file, &journal);
    let found = keys(&open(&path));
    assert_eq!(found.len(), 20_004);
    assert_eq!(found[..4], [1, 2, 3, 4]);
}
