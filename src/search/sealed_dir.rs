//! The index directory when a data key is set: every file tantivy writes
//! is sealed with [`Sealer`], every file it reads is opened with it.
//!
//! Why: the index is a second copy of what the store seals. Its term
//! dictionaries hold every email, name, username and attribute word as a
//! term, its `name_sort` column whole names; a stolen disk or backup of
//! the index directory would give them away in the clear.
//!
//! How: [`SealedDirectory`] wraps the [`MmapDirectory`] of the same path.
//! A file is written whole into memory and sealed when tantivy terminates
//! it (tantivy writes each file once and never changes it); a file is
//! read whole, opened, and handed to tantivy as bytes in memory. The
//! sealed bytes are bound to the file's name, so a file renamed or copied
//! over another does not open.
//!
//! What it costs: without a key tantivy maps the files, and the OS keeps
//! in its page cache what searches touch. With a key the index lives
//! decrypted in the process's memory instead: each file in use is held
//! whole, for as long as a searcher or the writer uses it (about the
//! index's size on disk, more while a merge or reload holds old and new
//! segments side by side), and each file being written is held whole
//! until it is terminated. A file stays open across reader reloads as
//! long as any generation uses it, so a reload decrypts new segments only.
//!
//! Locks, the meta file watch and directory syncs are the inner
//! directory's: the lock files hold nothing, and a sealed `meta.json`
//! changes on every write just as a plain one does.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tantivy::directory::error::{
    DeleteError, LockError, OpenDirectoryError, OpenReadError, OpenWriteError,
};
use tantivy::directory::footer::Footer;
use tantivy::directory::{
    AntiCallToken, Directory, DirectoryLock, FileHandle, FileSlice, Lock, MmapDirectory,
    OwnedBytes, TerminatingWrite, WatchCallback, WatchHandle, WritePtr,
};

use super::index::VERSION_FILE;
use crate::crypt::Sealer;

/// The name [`reseal_index`] gives a file's new version until it is
/// renamed over the file.
const RESEAL_SUFFIX: &str = ".reseal";

/// What a sealed index file is bound to: its name in the index directory.
fn context(path: &Path) -> [&[u8]; 2] {
    [b"index", path.as_os_str().as_encoded_bytes()]
}

/// A tantivy directory whose files are sealed on disk (see the module).
#[derive(Clone)]
pub(crate) struct SealedDirectory {
    inner: MmapDirectory,
    root: PathBuf,
    sealer: Arc<Sealer>,
    /// The plaintext of the files open, by name, so that a reload or a
    /// merge opening a file that a searcher holds shares its copy rather
    /// than decrypting it again. Weak: a file no one uses is freed. Held
    /// as `[u8]` rather than as the `OwnedBytes` handed out, because
    /// tantivy keeps slices of a file (`OwnedBytes` clones sharing this
    /// allocation) after dropping the handle it opened it through.
    open_files: Arc<Mutex<HashMap<PathBuf, Weak<[u8]>>>>,
}

impl fmt::Debug for SealedDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SealedDirectory({}, key {})",
            self.root.display(),
            self.sealer.key_id_hex()
        )
    }
}

impl SealedDirectory {
    /// The sealed directory at `root`, which must exist.
    pub(crate) fn open(root: &Path, sealer: Arc<Sealer>) -> Result<Self, OpenDirectoryError> {
        Ok(Self {
            inner: MmapDirectory::open(root)?,
            root: root.to_path_buf(),
            sealer,
            open_files: Arc::default(),
        })
    }

    fn open_files(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Weak<[u8]>>> {
        // Every change to the map is whole: a panic elsewhere leaves it usable.
        self.open_files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn read_sealed(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        std::fs::read(self.root.join(path)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => OpenReadError::FileDoesNotExist(path.to_path_buf()),
            _ => OpenReadError::wrap_io_error(e, path.to_path_buf()),
        })
    }

    /// The plaintext of a file's sealed bytes; a file sealed with another
    /// key, damaged, or never sealed is an error naming it.
    fn unseal(&self, path: &Path, sealed: &[u8]) -> Result<Vec<u8>, OpenReadError> {
        self.sealer.open(&context(path), sealed).map_err(|e| {
            let msg = format!(
                "search index file {} does not open with encryption key {}: {e}",
                self.root.join(path).display(),
                self.sealer.key_id_hex()
            );
            OpenReadError::wrap_io_error(
                io::Error::new(io::ErrorKind::InvalidData, msg),
                path.to_path_buf(),
            )
        })
    }
}

impl Directory for SealedDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        if let Some(plain) = self.open_files().get(path).and_then(Weak::upgrade) {
            return Ok(Arc::new(OwnedBytes::new(plain)));
        }
        // Decrypted without the lock held, so that opening a big file does
        // not hold up others.
        let sealed = self.read_sealed(path)?;
        let plain = self.unseal(path, &sealed)?;
        drop(sealed);
        let plain: Arc<[u8]> = plain.into();
        let mut files = self.open_files();
        // Another thread may have opened the file meanwhile: share its copy.
        let plain = match files.get(path).and_then(Weak::upgrade) {
            Some(theirs) => theirs,
            None => {
                files.retain(|_, file| file.strong_count() > 0);
                files.insert(path.to_path_buf(), Arc::downgrade(&plain));
                plain
            }
        };
        Ok(Arc::new(OwnedBytes::new(plain)))
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        let deleted = self.inner.delete(path);
        self.open_files().remove(path);
        deleted
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    /// The inner directory creates the file now (so that an existing one
    /// is refused as tantivy expects), and gets its sealed content, then
    /// its sync, when the writer is terminated.
    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        let file = self.inner.open_write(path)?;
        // An earlier file of that name, deleted behind our back, is gone.
        self.open_files().remove(path);
        Ok(io::BufWriter::new(Box::new(SealingWriter {
            path: path.to_path_buf(),
            plain: Vec::new(),
            file: Some(file),
            sealer: self.sealer.clone(),
        })))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        let sealed = self.inner.atomic_read(path)?;
        self.unseal(path, &sealed)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.inner
            .atomic_write(path, &self.sealer.seal(&context(path), data))
    }

    fn sync_directory(&self) -> io::Result<()> {
        self.inner.sync_directory()
    }

    /// The inner directory's file locks (the default would write lock
    /// files through [`Self::open_write`], sealed, for nothing).
    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(watch_callback)
    }
}

/// Collects a file's content, and on terminate writes it sealed to the
/// file the inner directory opened.
struct SealingWriter {
    path: PathBuf,
    plain: Vec<u8>,
    /// `None` once terminated.
    file: Option<WritePtr>,
    sealer: Arc<Sealer>,
}

impl Write for SealingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.plain.extend_from_slice(buf);
        Ok(buf.len())
    }

    /// Nothing reaches the file before terminate: a file is sealed whole.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TerminatingWrite for SealingWriter {
    fn terminate_ref(&mut self, _: AntiCallToken) -> io::Result<()> {
        let Some(mut file) = self.file.take() else {
            return Ok(());
        };
        let sealed = self.sealer.seal(&context(&self.path), &self.plain);
        self.plain = Vec::new();
        file.write_all(&sealed)?;
        file.terminate()
    }
}

/// Seals every file of the index in `dir` with `sealer`'s current key, for
/// a key rotation (`sealer` then [`Sealer::rotating`] from the old key) or
/// to encrypt an index written before a key was set (files not sealed at
/// all are taken as they are). Files already sealed with the current key
/// are left alone; a file that opens with neither key is an error, and
/// the files before it stay resealed.
///
/// Offline only: no process may have the index open. Each file is
/// replaced atomically (written to `<name>.reseal`, synced, renamed over
/// it), so after a crash at any point every file is either old or new and
/// a second run finishes the work (removing a half-written `.reseal`).
/// tantivy's lock files (empty) and the schema version file (a number)
/// stay as they are. A missing `dir` has nothing to reseal.
///
/// Returns how many files it resealed.
pub(crate) fn reseal_index(dir: &Path, sealer: &Sealer) -> io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    let mut changed = false;
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let name = entry.file_name();
        let raw = name.as_encoded_bytes();
        if raw.ends_with(RESEAL_SUFFIX.as_bytes()) {
            // A crash before its rename: the original is intact; redo it.
            std::fs::remove_file(entry.path())?;
            changed = true;
        } else if !(raw.starts_with(b".tantivy-") && raw.ends_with(b".lock"))
            && raw != VERSION_FILE.as_bytes()
        {
            names.push(name);
        }
    }
    let mut resealed = 0;
    for name in names {
        let path = dir.join(&name);
        let bytes = std::fs::read(&path)?;
        if sealer.is_current(&bytes) {
            continue;
        }
        let context = context(Path::new(&name));
        let plain = match Sealer::sealed_by(&bytes) {
            None => bytes,
            Some(_) => match sealer.open(&context, &bytes) {
                Ok(plain) => plain,
                Err(_) if is_plain_tantivy_file(&bytes) => bytes,
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("cannot reseal {}: {e}", path.display()),
                    ));
                }
            },
        };
        let sealed = sealer.seal(&context, &plain);
        let mut temp_name = name.clone();
        temp_name.push(RESEAL_SUFFIX);
        let temp = dir.join(temp_name);
        let mut file = File::create(&temp)?;
        file.set_permissions(std::fs::metadata(&path)?.permissions())?;
        file.write_all(&sealed)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, &path)?;
        resealed += 1;
        changed = true;
    }
    if changed {
        File::open(dir)?.sync_all()?;
    }
    Ok(resealed)
}

/// Whether bytes that look sealed are rather a plain file of tantivy's
/// whose first two bytes happen to be those of a sealed one (1 file in
/// 65 536): it ends with a tantivy footer. (`meta.json` and
/// `.managed.json` begin with `{` or `[`.)
fn is_plain_tantivy_file(bytes: &[u8]) -> bool {
    Footer::extract_footer(FileSlice::from(bytes.to_vec())).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypt::Key;

    fn sealed_dir() -> (tempfile::TempDir, SealedDirectory) {
        let tmp = tempfile::tempdir().expect("a temp dir");
        let dir = SealedDirectory::open(tmp.path(), Arc::new(Sealer::new(Key::generate())))
            .expect("the directory opens");
        (tmp, dir)
    }

    fn write(dir: &SealedDirectory, name: &str, content: &[u8]) {
        let mut w = dir.open_write(Path::new(name)).expect("open_write");
        w.write_all(content).expect("write");
        w.terminate().expect("terminate");
    }

    #[test]
    fn files_are_sealed_on_disk_and_read_back_in_the_clear() {
        let (tmp, dir) = sealed_dir();
        write(&dir, "a.idx", b"the words of ada lovelace");
        let on_disk = std::fs::read(tmp.path().join("a.idx")).expect("the file");
        assert!(dir.sealer.is_current(&on_disk));
        assert!(!on_disk.windows(8).any(|w| w == b"lovelace"));
        let read = dir.open_read(Path::new("a.idx")).expect("it opens");
        assert_eq!(
            read.read_bytes().expect("bytes").as_slice(),
            b"the words of ada lovelace"
        );
        // An empty file is sealed too, and reads back empty.
        write(&dir, "empty", b"");
        assert_eq!(
            dir.open_read(Path::new("empty"))
                .expect("it opens")
                .read_bytes()
                .expect("bytes")
                .as_slice(),
            b""
        );

        dir.atomic_write(Path::new("meta.json"), b"{\"ada\":1}")
            .expect("atomic write");
        let on_disk = std::fs::read(tmp.path().join("meta.json")).expect("the file");
        assert!(!on_disk.windows(3).any(|w| w == b"ada"));
        assert_eq!(
            dir.atomic_read(Path::new("meta.json")).expect("read"),
            b"{\"ada\":1}"
        );

        // WORM: a file is written once.
        assert!(matches!(
            dir.open_write(Path::new("a.idx")),
            Err(OpenWriteError::FileAlreadyExists(_))
        ));
        assert!(matches!(
            dir.open_read(Path::new("nothing")),
            Err(OpenReadError::FileDoesNotExist(_))
        ));
        assert!(matches!(
            dir.atomic_read(Path::new("nothing")),
            Err(OpenReadError::FileDoesNotExist(_))
        ));
    }

    #[test]
    fn an_open_file_is_decrypted_once_until_no_one_holds_it() {
        let (_tmp, dir) = sealed_dir();
        write(&dir, "a.idx", b"some segment");
        let first = dir.open_read(Path::new("a.idx")).expect("it opens");
        // tantivy keeps slices after dropping the file it read them from.
        let slice = first.read_bytes().expect("bytes").slice(5..12);
        drop(first);
        let again = dir.open_read(Path::new("a.idx")).expect("it opens");
        assert_eq!(
            again.read_bytes().expect("bytes").as_slice()[5..].as_ptr(),
            slice.as_slice().as_ptr(),
            "the same plaintext"
        );
        drop((again, slice));
        assert!(
            dir.open_files()
                .get(Path::new("a.idx"))
                .is_some_and(|w| w.strong_count() == 0),
            "freed once unused"
        );
        let held = dir.open_read(Path::new("a.idx")).expect("it opens");
        dir.delete(Path::new("a.idx")).expect("deleted");
        assert!(dir.open_files().is_empty(), "forgotten when deleted");
        // What a searcher holds outlives the file.
        assert_eq!(
            held.read_bytes().expect("bytes").as_slice(),
            b"some segment"
        );
    }

    #[test]
    fn a_file_that_does_not_open_is_an_error_naming_it() {
        let (tmp, dir) = sealed_dir();
        write(&dir, "a.idx", b"some segment");
        std::fs::write(
            tmp.path().join("plain.idx"),
            b"a file from before encryption",
        )
        .expect("written");
        // Another file's content under this name: bound to its name.
        std::fs::copy(tmp.path().join("a.idx"), tmp.path().join("b.idx")).expect("copied");
        let other = SealedDirectory::open(tmp.path(), Arc::new(Sealer::new(Key::generate())))
            .expect("the directory opens");
        for (d, name, why) in [
            (&other, "a.idx", "another key"),
            (&dir, "plain.idx", "not sealed"),
            (&dir, "b.idx", "does not verify"),
        ] {
            let e = d.open_read(Path::new(name)).expect_err(name).to_string();
            assert!(e.contains(name) && e.contains(why), "{e}");
        }
        let mut damaged = std::fs::read(tmp.path().join("a.idx")).expect("the file");
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        std::fs::write(tmp.path().join("c.idx"), damaged).expect("written");
        assert!(dir.open_read(Path::new("c.idx")).is_err());
    }

    /// A crash leaves some files resealed, some not, and a half-written
    /// `.reseal`: a second run finishes.
    #[test]
    fn resealing_resumes_after_a_crash() {
        let old = Key::generate();
        let new = Key::generate();
        let tmp = tempfile::tempdir().expect("a temp dir");
        let dir = SealedDirectory::open(tmp.path(), Arc::new(Sealer::new(old.clone())))
            .expect("the directory opens");
        for name in ["a.idx", "b.idx", "c.idx"] {
            write(&dir, name, name.as_bytes());
        }
        dir.atomic_write(Path::new("meta.json"), b"{}")
            .expect("written");
        std::fs::write(tmp.path().join(VERSION_FILE), "7").expect("written");
        std::fs::write(tmp.path().join(".tantivy-writer.lock"), "").expect("written");
        let a_before = std::fs::read(tmp.path().join("a.idx")).expect("the file");

        let rotating = Sealer::rotating(new.clone(), old);
        assert_eq!(reseal_index(tmp.path(), &rotating).expect("resealed"), 4);
        // As if it had stopped after b, c and meta.json, writing a.
        std::fs::write(tmp.path().join("a.idx"), &a_before).expect("written");
        std::fs::write(tmp.path().join("a.idx.reseal"), b"half").expect("written");
        assert_eq!(reseal_index(tmp.path(), &rotating).expect("resealed"), 1);
        assert_eq!(reseal_index(tmp.path(), &rotating).expect("resealed"), 0);
        assert!(!tmp.path().join("a.idx.reseal").exists());
        assert_eq!(
            std::fs::read_to_string(tmp.path().join(VERSION_FILE)).expect("read"),
            "7"
        );

        let dir = SealedDirectory::open(tmp.path(), Arc::new(Sealer::new(new)))
            .expect("the directory opens");
        for name in ["a.idx", "b.idx", "c.idx"] {
            let file = dir.open_read(Path::new(name)).expect("it opens");
            assert_eq!(
                file.read_bytes().expect("bytes").as_slice(),
                name.as_bytes()
            );
        }
        assert_eq!(
            dir.atomic_read(Path::new("meta.json")).expect("read"),
            b"{}"
        );
        // A key that opens nothing here is refused, naming the file.
        let e = reseal_index(tmp.path(), &Sealer::new(Key::generate()))
            .expect_err("another key")
            .to_string();
        assert!(e.contains("another key"), "{e}");
        assert_eq!(
            reseal_index(&tmp.path().join("none"), &rotating).expect("ok"),
            0
        );
    }
}
