//! Unit tests of the store, against a real temp dir.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use filetime::FileTime;

use super::codec::ZSTD_LEVEL;
use super::deliver::{WINDOW_LOG_MAX, temp_file_in};
use super::gc::{GcReport, is_tmp, walk};
use super::*;

#[test]
fn persist_replacing_replaces_creates_and_refuses_directories() {
    let dir = tempfile::tempdir().unwrap();
    let temp_with = |text: &str| {
        let mut tmp = temp_file_in(dir.path()).unwrap();
        tmp.write_all(text.as_bytes()).unwrap();
        tmp
    };
    let dest = dir.path().join("out.o");
    persist_replacing(temp_with("first"), &dest).unwrap();
    assert_eq!(fs::read_to_string(&dest).unwrap(), "first");
    let old_inode = fs::metadata(&dest).unwrap().ino();
    persist_replacing(temp_with("second"), &dest).unwrap();
    assert_eq!(fs::read_to_string(&dest).unwrap(), "second");
    assert_ne!(fs::metadata(&dest).unwrap().ino(), old_inode);
    let subdir = dir.path().join("sub");
    fs::create_dir(&subdir).unwrap();
    assert!(persist_replacing(temp_with("third"), &subdir).is_err());
    assert!(subdir.is_dir());
    let mut names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["out.o", "sub"], "no temp file is left behind");
}

fn settings(dir: &Path, compression: bool, hardlink: bool) -> Settings {
    Settings {
        dir: dir.to_path_buf(),
        max_size: super::super::config::DEFAULT_MAX_SIZE,
        compression,
        path_remap: false,
        disable: false,
        hardlink,
        shared: false,
        config_file: None,
    }
}

fn store(dir: &Path, compression: bool) -> Store {
    Store::open(&settings(dir, compression, false)).unwrap()
}

fn blob_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    walk(&root.join("v1/blobs"), &mut |p, _| files.push(p)).unwrap();
    files
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    let at = at.min(bytes.len() - 1);
    bytes[at] ^= 0x55;
    fs::write(path, bytes).unwrap();
}

/// Root ignores permission bits, so a read-only dir only stops non-root users.
fn writes_blocked(dir: &Path) -> bool {
    fs::write(dir.join("probe"), b"x").is_err()
}

fn set_age(path: &Path, secs_ago: i64) {
    let t = FileTime::from_unix_time(FileTime::now().unix_seconds() - secs_ago, 0);
    filetime::set_file_mtime(path, t).unwrap();
}

#[test]
fn open_costs_nothing_and_an_absent_cache_is_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("not/yet");
    let s = store(&root, true);
    assert!(!root.exists(), "open must not create anything");
    assert_eq!(s.usage().unwrap(), Usage::default());
    assert!(!s.has_blob(&[1; 32]));
    assert_eq!(s.get_record(Namespace::Result, &[1; 32]).unwrap(), None);
    assert!(matches!(
        s.read_blob(&[1; 32]),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(s.gc(0).unwrap(), GcReport::default());
    s.clear().unwrap();
    assert!(!root.exists());
}

#[test]
fn record_round_trip_per_namespace() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path(), true);
    let key = [7u8; 32];
    s.put_record(Namespace::Result, &key, b"result payload")
        .unwrap();
    s.put_record(Namespace::Manifest, &key, b"").unwrap();
    assert_eq!(
        s.get_record(Namespace::Result, &key).unwrap().as_deref(),
        Some(&b"result payload"[..])
    );
    assert_eq!(
        s.get_record(Namespace::Manifest, &key).unwrap().as_deref(),
        Some(&b""[..])
    );
    let path = tmp
        .path()
        .join("v1/records/results/07")
        .join(&hex(&key)[2..]);
    assert!(path.is_file(), "layout must match the module doc");
    // Overwrite replaces.
    s.put_record(Namespace::Result, &key, b"second").unwrap();
    assert_eq!(
        s.get_record(Namespace::Result, &key).unwrap().as_deref(),
        Some(&b"second"[..])
    );
}

#[test]
fn truncated_or_flipped_record_is_corrupt_and_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path(), true);
    let key = [9u8; 32];
    let path = s.record_path(Namespace::Result, &key);
    let payload = vec![42u8; 300];

    s.put_record(Namespace::Result, &key, &payload).unwrap();
    let full = fs::read(&path).unwrap();
    fs::write(&path, &full[..full.len() - 10]).unwrap();
    let err = s.get_record(Namespace::Result, &key).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(!path.exists());
    assert_eq!(s.get_record(Namespace::Result, &key).unwrap(), None);

    s.put_record(Namespace::Result, &key, &payload).unwrap();
    fs::write(&path, &full[..20]).unwrap();
    assert!(matches!(
        s.get_record(Namespace::Result, &key),
        Err(StoreError::Corrupt { .. })
    ));

    s.put_record(Namespace::Result, &key, &payload).unwrap();
    flip_byte(&path, 100);
    let err = s.get_record(Namespace::Result, &key).unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
    assert!(!path.exists());
}

#[test]
fn an_oversized_record_is_neither_read_whole_nor_written() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path(), true);
    let key = [7u8; 32];
    let path = s.record_path(Namespace::Result, &key);
    s.put_record(Namespace::Result, &key, b"small").unwrap();
    // Grown sparse far past the limit, as a planted file could be.
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(16 << 30).unwrap();
    let err = s.get_record(Namespace::Result, &key).unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
    assert!(!path.exists());
    let huge = vec![0u8; MAX_RECORD_PAYLOAD + 1];
    assert!(matches!(
        s.put_record(Namespace::Result, &key, &huge),
        Err(StoreError::RecordTooLarge { .. })
    ));
    assert!(!path.exists());
}

#[test]
fn get_record_refreshes_last_use() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path(), true);
    s.put_record(Namespace::Result, &[1; 32], b"x").unwrap();
    let path = s.record_path(Namespace::Result, &[1; 32]);
    set_age(&path, 10_000);
    s.get_record(Namespace::Result, &[1; 32]).unwrap();
    let age = FileTime::now().unix_seconds()
        - FileTime::from_last_modification_time(&fs::metadata(&path).unwrap()).unix_seconds();
    assert!(age < 100, "mtime not refreshed: {age}s old");
}

#[test]
fn blobs_round_trip_and_read_across_compression_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let content: Vec<u8> = (0..100_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect();
    let packed = store(tmp.path(), true);
    let plain = store(tmp.path(), false);

    let d1 = packed.put_blob(&content).unwrap();
    assert_eq!(d1, *blake3::hash(&content).as_bytes());
    let files = blob_files(tmp.path());
    assert_eq!(files.len(), 1);
    assert!(files[0].to_str().unwrap().ends_with(".zst"));
    assert!(fs::metadata(&files[0]).unwrap().len() < content.len() as u64 / 4);
    assert_eq!(
        packed.bytes_written(),
        fs::metadata(&files[0]).unwrap().len()
    );
    assert_eq!(plain.read_blob(&d1).unwrap(), content);

    let other = b"stored without compression".to_vec();
    let d2 = plain.put_blob(&other).unwrap();
    let (raw, _) = plain.blob_paths(&d2);
    assert_eq!(fs::read(&raw).unwrap(), other, "raw blobs are the bytes");
    assert!(packed.has_blob(&d2));
    assert_eq!(packed.read_blob(&d2).unwrap(), other);
}

#[test]
fn staged_blobs_are_stored_in_one_pass_and_existing_ones_not_rewritten() {
    for compression in [false, true] {
        staged_case(compression);
    }
}

/// Temp files anywhere under `dir`.
fn temps_under(dir: &Path) -> Vec<PathBuf> {
    let mut temps = Vec::new();
    walk(dir, &mut |path, _| {
        if is_tmp(&path) {
            temps.push(path);
        }
    })
    .unwrap();
    temps
}

fn stage(s: &Store, path: &Path) -> (StagedBlob, Vec<u8>) {
    let mut scanned = Vec::new();
    let file = File::open(path).unwrap();
    let staged = s
        .stage_blob(&file, path, &mut |piece| scanned.extend_from_slice(piece))
        .unwrap();
    (staged, scanned)
}

fn staged_case(compression: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cache");
    let s = store(&root, compression);
    let src = tmp.path().join("a.o");
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(&src, &content).unwrap();
    let (staged, scanned) = stage(&s, &src);
    assert_eq!(scanned, content, "every piece is shown to the scan");
    assert_eq!(staged.size(), 300_000);
    let digest = *staged.digest();
    assert_eq!(digest, *blake3::hash(&content).as_bytes());
    assert_eq!(s.bytes_written(), 0, "nothing is stored before the commit");
    s.commit_staged(staged).unwrap();
    let written = s.bytes_written();
    assert!(written > 0);
    let (path, compressed) = s.find_blob(&digest).unwrap();
    assert_eq!(compressed, compression);
    assert_eq!(s.read_blob(&digest).unwrap(), content);
    let dest = tmp.path().join("restored.o");
    s.restore_blob(&digest, &dest, 0o644, false).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), content);

    set_age(&path, 10_000);
    let (again, _) = stage(&s, &src);
    s.commit_staged(again).unwrap();
    assert_eq!(
        s.bytes_written(),
        written,
        "an existing blob is not rewritten"
    );
    let mtime = FileTime::from_last_modification_time(&fs::metadata(&path).unwrap());
    assert!(FileTime::now().unix_seconds() - mtime.unix_seconds() < 100);

    // A staged blob never committed leaves nothing behind.
    fs::write(&src, b"other").unwrap();
    let (dropped, _) = stage(&s, &src);
    let other = *dropped.digest();
    drop(dropped);
    assert!(!s.has_blob(&other));
    assert_eq!(temps_under(&root), Vec::<PathBuf>::new());
}

/// `len` bytes no compressor shrinks.
fn incompressible(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[test]
fn big_blobs_are_restored_in_a_stream_and_a_damaged_one_leaves_the_output_alone() {
    let big = IN_MEMORY_LIMIT as usize + 4096;
    // Compressed to a small file, to a big one, and not compressed.
    for (compression, content) in [
        (true, vec![7u8; big]),
        (true, incompressible(big)),
        (false, incompressible(big)),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(&tmp.path().join("cache"), compression);
        let src = tmp.path().join("big.o");
        fs::write(&src, &content).unwrap();
        let (staged, _) = stage(&s, &src);
        let digest = *staged.digest();
        s.commit_staged(staged).unwrap();
        let dest = tmp.path().join("out.o");
        fs::write(&dest, b"old").unwrap();
        assert_eq!(
            s.restore_blob(&digest, &dest, 0o644, false).unwrap(),
            big as u64
        );
        assert!(fs::read(&dest).unwrap() == content);

        let path = s.find_blob(&digest).unwrap().0;
        let len = fs::metadata(&path).unwrap().len() as usize;
        flip_byte(&path, len - 2);
        fs::write(&dest, b"old").unwrap();
        let err = s.restore_blob(&digest, &dest, 0o644, false).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(!path.exists(), "a damaged blob is deleted");
        assert_eq!(fs::read(&dest).unwrap(), b"old");
        assert_eq!(temps_under(tmp.path()), Vec::<PathBuf>::new());
    }
}

#[test]
fn a_frame_without_its_size_is_streamed_and_one_asking_a_huge_window_is_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(&tmp.path().join("cache"), true);
    let content = b"int x;\n".repeat(1000);
    let digest = *blake3::hash(&content).as_bytes();
    let frame = |window_log: u32| {
        let mut encoder = zstd::Encoder::new(Vec::new(), ZSTD_LEVEL).unwrap();
        encoder.include_contentsize(false).unwrap();
        encoder.window_log(window_log).unwrap();
        encoder.write_all(&content).unwrap();
        encoder.finish().unwrap()
    };
    let (_, path) = s.blob_paths(&digest);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let dest = tmp.path().join("out.o");
    fs::write(&path, frame(20)).unwrap();
    s.restore_blob(&digest, &dest, 0o644, false).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), content);

    fs::write(&path, frame(WINDOW_LOG_MAX + 2)).unwrap();
    fs::write(&dest, b"old").unwrap();
    let err = s.restore_blob(&digest, &dest, 0o644, false).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert_eq!(fs::read(&dest).unwrap(), b"old");
}

#[test]
fn corrupt_blob_is_detected_and_deleted() {
    for compression in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(&tmp.path().join("cache"), compression);
        let content = b"int main(void) { return 0; }\n".repeat(100);
        let digest = s.put_blob(&content).unwrap();
        let path = s.find_blob(&digest).unwrap().0;
        flip_byte(&path, 40);
        let err = s.read_blob(&digest).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(!path.exists(), "corrupt blob must be deleted");
        assert!(!s.has_blob(&digest));

        // restore_blob: same, and dest keeps its old content.
        s.put_blob(&content).unwrap();
        flip_byte(&path, 40);
        let dest = tmp.path().join("out.o");
        fs::write(&dest, b"old").unwrap();
        let err = s.restore_blob(&digest, &dest, 0o644, false).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(!path.exists());
        assert_eq!(fs::read(&dest).unwrap(), b"old");
        let leftovers: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .filter(|e| is_tmp(&e.path()))
            .collect();
        assert!(leftovers.is_empty(), "temp file left: {leftovers:?}");
    }
}

#[test]
fn restore_replaces_dest_with_mode_and_fresh_mtime() {
    for compression in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(&tmp.path().join("cache"), compression);
        let content = vec![0xabu8; 200_000];
        let digest = s.put_blob(&content).unwrap();
        let dest = tmp.path().join("prog");
        fs::write(&dest, b"previous").unwrap();
        set_age(&dest, 10_000);
        let n = s.restore_blob(&digest, &dest, 0o755, true).unwrap();
        assert_eq!(n, 200_000);
        assert_eq!(fs::read(&dest).unwrap(), content);
        let meta = fs::metadata(&dest).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
        assert!(FileTime::now().unix_seconds() - meta.mtime() < 100);
        // The hardlink setting is off: never the blob's inode.
        let blob = fs::metadata(s.find_blob(&digest).unwrap().0).unwrap();
        assert_ne!(blob.ino(), meta.ino());

        assert!(matches!(
            s.restore_blob(&[0; 32], &dest, 0o644, false),
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(fs::read(&dest).unwrap(), content);
    }
}

#[test]
fn hardlink_only_when_both_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::open(&settings(&tmp.path().join("cache"), false, true)).unwrap();
    let digest = s.put_blob(b"linked content").unwrap();
    let blob = s.find_blob(&digest).unwrap().0;

    let copied = tmp.path().join("copied");
    s.restore_blob(&digest, &copied, 0o644, false).unwrap();
    assert_ne!(
        fs::metadata(&copied).unwrap().ino(),
        fs::metadata(&blob).unwrap().ino()
    );

    let linked = tmp.path().join("linked");
    s.restore_blob(&digest, &linked, 0o644, true).unwrap();
    let meta = fs::metadata(&linked).unwrap();
    assert_eq!(meta.ino(), fs::metadata(&blob).unwrap().ino());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o644);
    assert_eq!(fs::read(&linked).unwrap(), b"linked content");
    // Restoring onto itself works and leaves no temp behind.
    s.restore_blob(&digest, &linked, 0o644, true).unwrap();
    // A second link with another mode cannot share the inode: copied.
    let exe = tmp.path().join("exe");
    s.restore_blob(&digest, &exe, 0o755, true).unwrap();
    let exe_meta = fs::metadata(&exe).unwrap();
    assert_ne!(exe_meta.ino(), meta.ino());
    assert_eq!(exe_meta.permissions().mode() & 0o7777, 0o755);
    let temps = fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .filter(|e| is_tmp(&e.path()))
        .count();
    assert_eq!(temps, 0);
}

#[test]
fn concurrent_writers_of_same_and_different_blobs() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Arc::new(store(tmp.path(), true));
    let shared = vec![5u8; 300_000];
    let threads: Vec<_> = (0..8u8)
        .map(|t| {
            let s = Arc::clone(&s);
            let shared = shared.clone();
            std::thread::spawn(move || {
                for round in 0..20u8 {
                    let d = s.put_blob(&shared).unwrap();
                    assert_eq!(s.read_blob(&d).unwrap(), shared);
                    let own = vec![t, round, 1, 2, 3];
                    let d = s.put_blob(&own).unwrap();
                    assert_eq!(s.read_blob(&d).unwrap(), own);
                    s.put_record(Namespace::Result, &[round; 32], &[t; 64])
                        .unwrap();
                    let rec = s.get_record(Namespace::Result, &[round; 32]).unwrap();
                    assert_eq!(rec.map(|r| r.len()), Some(64));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(blob_files(tmp.path()).len(), 1 + 8 * 20);
    let usage = s.usage().unwrap();
    assert_eq!(usage.files, 1 + 8 * 20 + 20, "no temp file left behind");
}

#[test]
fn a_dir_deleted_mid_use_is_recreated() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path(), true);
    s.put_blob(b"one").unwrap();
    fs::remove_dir_all(tmp.path().join("v1")).unwrap();
    let d = s.put_blob(b"two").unwrap();
    assert_eq!(s.read_blob(&d).unwrap(), b"two");
}

#[test]
fn read_only_root_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cache");
    fs::create_dir(&root).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o555)).unwrap();
    let s = store(&root, true);
    let blocked = writes_blocked(&root);
    let put = s.put_blob(b"content");
    let rec = s.put_record(Namespace::Result, &[0; 32], b"r");
    if blocked {
        assert!(matches!(put, Err(StoreError::Io { .. })), "{put:?}");
        assert!(matches!(rec, Err(StoreError::Io { .. })), "{rec:?}");
    }
    // else: running as root, where 0555 does not stop writes; the calls
    // above still must not panic, which is all that can be checked.
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn restore_into_a_missing_dir_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(&tmp.path().join("cache"), false);
    let d = s.put_blob(b"x").unwrap();
    let err = s
        .restore_blob(&d, &tmp.path().join("no/such/dir/out.o"), 0o644, false)
        .unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    assert!(err.to_string().contains("no/such/dir"), "{err}");
}

#[test]
fn gc_evicts_least_recently_used_first_down_to_90_percent() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path(), false);
    // Ten 1000-byte blobs, blob i last used i*100 s after blob 0.
    let digests: Vec<Digest> = (0..10u8)
        .map(|i| {
            let d = s.put_blob(&[i; 1000]).unwrap();
            set_age(&s.find_blob(&d).unwrap().0, 5000 - i64::from(i) * 100);
            d
        })
        .collect();
    // Using blob 0 makes it the most recent.
    s.read_blob(&digests[0]).unwrap();
    let stale = tmp
        .path()
        .join("v1/blobs")
        .join(format!("{TMP_PREFIX}dead"));
    fs::write(&stale, b"left by a killed process").unwrap();
    set_age(&stale, 7200);
    let fresh = tmp
        .path()
        .join("v1/blobs")
        .join(format!("{TMP_PREFIX}live"));
    fs::write(&fresh, b"").unwrap();

    let report = s.gc(6000).unwrap();
    assert_eq!(report.stale_temps_removed, 1);
    assert!(!stale.exists() && fresh.exists());
    assert_eq!(report.files_removed, 5);
    assert_eq!(report.bytes_removed, 5000);
    assert_eq!(report.bytes_remaining, 5000);
    assert!(s.usage().unwrap().bytes <= 5400);
    for (i, d) in digests.iter().enumerate() {
        let kept = s.has_blob(d);
        let expected = i == 0 || i >= 6;
        assert_eq!(kept, expected, "blob {i}");
    }
    // Under the limit: nothing more to do.
    assert_eq!(s.gc(6000).unwrap().files_removed, 0);
    assert_eq!(
        s.gc(0).unwrap().files_remaining,
        1,
        "only the live temp stays"
    );
}

#[test]
fn gc_removes_an_interrupted_clear_left_at_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path(), true);
    let dead = tmp.path().join(format!("{TMP_PREFIX}clear-1-2"));
    fs::create_dir_all(dead.join("blobs/ab")).unwrap();
    fs::write(dead.join("blobs/ab/cd"), b"x").unwrap();
    set_age(&dead, 7200);
    let young = tmp.path().join(format!("{TMP_PREFIX}clear-3-4"));
    fs::create_dir(&young).unwrap();
    let report = s.gc(1000).unwrap();
    assert_eq!(report.stale_temps_removed, 1);
    assert!(!dead.exists() && young.exists());
}

#[test]
fn clear_keeps_settings_file_and_store_stays_usable() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path(), true);
    fs::write(tmp.path().join("zccache.toml"), "compression = true\n").unwrap();
    let d = s.put_blob(b"soon gone").unwrap();
    s.put_record(Namespace::Manifest, &[3; 32], b"m").unwrap();
    s.clear().unwrap();
    assert!(!s.has_blob(&d));
    assert_eq!(s.get_record(Namespace::Manifest, &[3; 32]).unwrap(), None);
    assert_eq!(s.usage().unwrap(), Usage::default());
    assert!(tmp.path().join("zccache.toml").exists());
    let names: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(TMP_PREFIX))
        .collect();
    assert!(names.is_empty(), "{names:?}");
    s.put_blob(b"after").unwrap();
}

#[test]
fn a_memo_record_is_never_read_through_a_planted_symlink() {
    let tmp = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let s = store(tmp.path(), true);
    let key = [7u8; 32];
    // A well-formed record outside the cache, reached through a fan-out
    // dir swapped for a symlink to it.
    s.put_record(Namespace::Toolchain, &key, b"planted")
        .unwrap();
    let path = s.record_path(Namespace::Toolchain, &key);
    let fan_out = path.parent().unwrap();
    let moved = elsewhere.path().join("fan-out");
    fs::rename(fan_out, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, fan_out).unwrap();
    let read = s.get_record(Namespace::Toolchain, &key);
    assert!(!matches!(read, Ok(Some(_))), "read through a symlink");
    assert!(
        moved.join(path.file_name().unwrap()).is_file(),
        "deleted outside"
    );
}
