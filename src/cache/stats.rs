//! Cache statistics: named counters kept in `<root>/stats.json`.
//!
//! Each process counts in memory and adds its counts to the file once
//! (`flush`), under an flock on `<root>/stats.lock`, so many concurrent
//! compiler calls lose no update. The file is replaced by rename, so `load`
//! needs no lock.
//!
//! Counter names are open-ended so that new parts of the cache can count new
//! things without touching this file: `<kind>_hits` / `<kind>_misses` (kinds
//! compile, archive, link, and any other), `miss.<reason>`, `uncacheable` and
//! `uncacheable.<reason>`, `errors` and `error.<what>`, `corrupt`,
//! `bytes_restored`, `time_saved_ms`. Rendering groups by these conventions
//! and shows anything else under "other".
//!
//! `cache_size_bytes` is an estimate of the store's size kept by `flush` so
//! that deciding whether to gc needs no walk of the cache.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::command::ToolKind;
use super::config::Settings;
use super::store::{Store, StoreError, TMP_PREFIX, Usage};

/// The store's estimated size in bytes; not an event count, so `zero` keeps it.
pub const SIZE_COUNTER: &str = "cache_size_bytes";
const STATS_FILE: &str = "stats.json";
const STATS_LOCK: &str = "stats.lock";

#[derive(Default, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    pub counters: BTreeMap<String, u64>,
}

impl Stats {
    pub fn add(&mut self, name: &str, n: u64) {
        let slot = self.counters.entry(name.to_string()).or_default();
        *slot = slot.saturating_add(n);
    }

    pub fn get(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    pub fn merge(&mut self, other: &Stats) {
        for (name, n) in &other.counters {
            self.add(name, *n);
        }
    }

    /// True when adding these to the file would change nothing.
    pub fn is_empty(&self) -> bool {
        self.counters.values().all(|n| *n == 0)
    }
}

fn io_err(context: String) -> impl FnOnce(io::Error) -> StoreError {
    move |source| StoreError::Io { context, source }
}

/// Holds the stats flock until dropped.
struct Locked {
    root: PathBuf,
    _lock: File,
}

impl Locked {
    fn acquire(root: &Path) -> Result<Locked, StoreError> {
        fs::create_dir_all(root).map_err(io_err(format!("cannot create {}", root.display())))?;
        let path = root.join(STATS_LOCK);
        // Read-only is enough for flock: in a shared cache the file may be
        // another user's.
        let lock = super::nofollow::open_or_create(&path, 0o666)
            .or_else(|_| super::nofollow::open_regular(&path))
            .map_err(io_err(format!("cannot open {}", path.display())))?;
        lock.lock()
            .map_err(io_err(format!("cannot lock {}", path.display())))?;
        Ok(Locked {
            root: root.to_path_buf(),
            _lock: lock,
        })
    }

    /// A corrupt file is started afresh: losing counts beats failing every
    /// compile until someone notices.
    fn read(&self) -> Result<Stats, StoreError> {
        match load(&self.root) {
            Err(StoreError::Corrupt { path, what }) => {
                tracing::warn!("resetting corrupt {}: {what}", path.display());
                Ok(Stats::default())
            }
            other => other,
        }
    }

    fn write(&self, stats: &Stats) -> Result<(), StoreError> {
        let path = self.root.join(STATS_FILE);
        let text = serde_json::to_vec_pretty(stats).map_err(|e| StoreError::Io {
            context: format!("cannot encode {}", path.display()),
            source: io::Error::other(e),
        })?;
        let mut tmp = tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .tempfile_in(&self.root)
            .map_err(io_err(format!(
                "cannot create a temp file in {}",
                self.root.display()
            )))?;
        tmp.write_all(&text)
            .map_err(io_err(format!("cannot write {}", tmp.path().display())))?;
        // Readable by the group of a shared cache (temp files are 0600);
        // a private cache dir is closed to others anyway.
        tmp.as_file()
            .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(
                super::owner::SHARED_FILE_MODE,
            ))
            .map_err(io_err(format!(
                "cannot set the mode of {}",
                tmp.path().display()
            )))?;
        super::store::persist_replacing(tmp, &path)
            .map_err(|e| io_err(format!("cannot rename into {}", path.display()))(e.error))?;
        Ok(())
    }
}

/// Adds `delta` to `<root>/stats.json` under an exclusive flock on
/// `<root>/stats.lock` (read, add, write temp + rename). Also keeps
/// `cache_size_bytes` approximately current from the bytes the store wrote,
/// and when it exceeds `max_size` runs a gc (unless another process already
/// is) and sets it to the real size. Returns the new totals.
pub fn flush(store: &Store, delta: &Stats, max_size: u64) -> Result<Stats, StoreError> {
    let written = store.take_unflushed_bytes();
    if delta.is_empty() && written == 0 {
        return load(store.root());
    }
    let mut totals = {
        let locked = Locked::acquire(store.root())?;
        let mut totals = locked.read()?;
        totals.merge(delta);
        if totals.counters.contains_key(SIZE_COUNTER) {
            totals.add(SIZE_COUNTER, written);
        } else {
            // Never measured (new stats file, or a cache from before stats):
            // measure once rather than start from zero and never gc.
            let usage = store.usage()?;
            totals
                .counters
                .insert(SIZE_COUNTER.to_string(), usage.bytes);
        }
        locked.write(&totals)?;
        totals
    };
    // The gc runs without the stats lock so other processes can keep flushing.
    if totals.get(SIZE_COUNTER) > max_size
        && let Some(report) = store.gc_if_idle(max_size)?
    {
        totals = record_size(store.root(), report.bytes_remaining)?;
    }
    Ok(totals)
}

/// Sets `cache_size_bytes` to a measured value (after gc or clear).
pub fn record_size(root: &Path, bytes: u64) -> Result<Stats, StoreError> {
    let locked = Locked::acquire(root)?;
    let mut totals = locked.read()?;
    totals.counters.insert(SIZE_COUNTER.to_string(), bytes);
    locked.write(&totals)?;
    Ok(totals)
}

/// The totals on disk; empty if there are none yet. A damaged file is
/// reported as Corrupt (and left for `zero` or the next `flush` to reset).
pub fn load(root: &Path) -> Result<Stats, StoreError> {
    let path = root.join(STATS_FILE);
    let read = super::nofollow::open_regular(&path).and_then(|mut file| {
        let mut text = Vec::new();
        io::Read::read_to_end(&mut file, &mut text).map(|_| text)
    });
    let text = match read {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Stats::default()),
        Err(e) if super::nofollow::is_not_regular(&e) => {
            return Err(StoreError::Corrupt {
                path,
                what: e.to_string(),
            });
        }
        Err(e) => return Err(io_err(format!("cannot read {}", path.display()))(e)),
    };
    serde_json::from_slice(&text).map_err(|e| StoreError::Corrupt {
        path,
        what: e.to_string(),
    })
}

/// Resets every counter except the size estimate, which describes the cache
/// rather than past events.
pub fn zero(root: &Path) -> Result<(), StoreError> {
    if !root.exists() {
        return Ok(());
    }
    let locked = Locked::acquire(root)?;
    let size = locked.read()?.counters.get(SIZE_COUNTER).copied();
    let mut fresh = Stats::default();
    if let Some(size) = size {
        fresh.counters.insert(SIZE_COUNTER.to_string(), size);
    }
    locked.write(&fresh)
}

/// Kinds with hit/miss counters: the fixed three, then any others found.
fn kinds(stats: &Stats) -> Vec<String> {
    let mut kinds: Vec<String> = ToolKind::ALL.iter().map(|k| k.name().to_string()).collect();
    for name in stats.counters.keys() {
        let kind = name
            .strip_suffix("_hits")
            .or_else(|| name.strip_suffix("_misses"));
        if let Some(kind) = kind
            && !kind.contains('.')
            && !kinds.iter().any(|k| k == kind)
        {
            kinds.push(kind.to_string());
        }
    }
    kinds
}

/// Binary units, one decimal: sizes for people, not scripts.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn human_ms(ms: u64) -> String {
    let secs = ms as f64 / 1000.0;
    if secs < 60.0 {
        format!("{secs:.1} s")
    } else if secs < 3600.0 {
        format!("{:.1} min", secs / 60.0)
    } else {
        format!("{:.1} h", secs / 3600.0)
    }
}

/// Counters under `prefix` (e.g. "miss."), without the prefix, largest first.
fn group<'a>(stats: &'a Stats, prefix: &str) -> Vec<(&'a str, u64)> {
    let mut items: Vec<(&str, u64)> = stats
        .counters
        .iter()
        .filter_map(|(name, n)| name.strip_prefix(prefix).map(|rest| (rest, *n)))
        .collect();
    items.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    items
}

/// A short table in the spirit of `ccache -s`.
pub fn render_human(stats: &Stats, usage: &Usage, settings: &Settings) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    let config = settings
        .config_file
        .as_ref()
        .map_or_else(|| "none".to_string(), |p| p.display().to_string());
    line(format!("Cache directory      {}", settings.dir.display()));
    line(format!("Settings file        {config}"));
    if settings.disable {
        line("Caching              disabled (ZCCACHE_DISABLE / disable)".to_string());
    }
    line(String::new());
    line(format!(
        "{:<20} {:>10} {:>10} {:>9}",
        "", "hits", "misses", "hit rate"
    ));
    let mut known: Vec<String> = Vec::new();
    for kind in kinds(stats) {
        let hits_name = format!("{kind}_hits");
        let misses_name = format!("{kind}_misses");
        let (hits, misses) = (stats.get(&hits_name), stats.get(&misses_name));
        let rate = if hits + misses == 0 {
            "-".to_string()
        } else {
            format!("{:.1} %", hits as f64 * 100.0 / (hits + misses) as f64)
        };
        let mut title = kind.clone();
        if let Some(first) = title.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        line(format!("{title:<20} {hits:>10} {misses:>10} {rate:>9}"));
        known.push(hits_name);
        known.push(misses_name);
    }
    let mut section = |title: &str, total: Option<u64>, prefix: &str| {
        let items = group(stats, prefix);
        if total.is_none() && items.is_empty() {
            return;
        }
        match total {
            Some(total) => line(format!("{title:<20} {total:>10}")),
            None => line(title.to_string()),
        }
        for (reason, n) in items {
            line(format!("  {reason:<18} {n:>10}"));
        }
    };
    section("Misses by reason", None, "miss.");
    section(
        "Uncacheable",
        Some(stats.get("uncacheable")),
        "uncacheable.",
    );
    section("Errors", Some(stats.get("errors")), "error.");
    line(format!(
        "{:<20} {:>10}",
        "Corrupt entries",
        stats.get("corrupt")
    ));
    line(String::new());
    let used_pct = if settings.max_size == 0 {
        String::new()
    } else {
        format!(
            " ({:.1} %)",
            usage.bytes as f64 * 100.0 / settings.max_size as f64
        )
    };
    line(format!(
        "Cache size           {} / {}{used_pct}, {} files",
        human_bytes(usage.bytes),
        human_bytes(settings.max_size),
        usage.files
    ));
    line(format!(
        "Bytes restored       {}",
        human_bytes(stats.get("bytes_restored"))
    ));
    line(format!(
        "Time saved           {}",
        human_ms(stats.get("time_saved_ms"))
    ));
    let others: Vec<(&String, &u64)> = stats
        .counters
        .iter()
        .filter(|(name, _)| {
            !known.contains(name)
                && !["miss.", "uncacheable", "error", "corrupt"]
                    .iter()
                    .any(|p| name.starts_with(p))
                && !["bytes_restored", "time_saved_ms", SIZE_COUNTER].contains(&name.as_str())
        })
        .collect();
    if !others.is_empty() {
        line("Other".to_string());
        for (name, n) in others {
            line(format!("  {name:<18} {n:>10}"));
        }
    }
    out
}

/// One flat JSON object of integers, for scripts: every counter, the six
/// hit/miss counters even when zero, and the measured size.
pub fn render_json(stats: &Stats, usage: &Usage, settings: &Settings) -> String {
    let mut map = serde_json::Map::new();
    for (name, n) in &stats.counters {
        map.insert(name.clone(), (*n).into());
    }
    // Every kind is shown, even before its first use.
    for kind in ToolKind::ALL.map(ToolKind::name) {
        for suffix in ["hits", "misses"] {
            map.entry(format!("{kind}_{suffix}"))
                .or_insert_with(|| 0u64.into());
        }
    }
    for always in [
        "uncacheable",
        "errors",
        "corrupt",
        "bytes_restored",
        "time_saved_ms",
    ] {
        map.entry(always.to_string()).or_insert_with(|| 0u64.into());
    }
    map.insert(SIZE_COUNTER.to_string(), usage.bytes.into());
    map.insert("cache_files".to_string(), usage.files.into());
    map.insert("max_size_bytes".to_string(), settings.max_size.into());
    serde_json::Value::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn settings(dir: &Path, max_size: u64) -> Settings {
        Settings {
            dir: dir.to_path_buf(),
            max_size,
            compression: false,
            path_remap: false,
            disable: false,
            hardlink: false,
            shared: false,
            config_file: None,
        }
    }

    fn stats(pairs: &[(&str, u64)]) -> Stats {
        let mut s = Stats::default();
        for (name, n) in pairs {
            s.add(name, *n);
        }
        s
    }

    #[test]
    fn counters_add_get_merge() {
        let mut a = stats(&[("compile_hits", 2), ("miss.no_entry", 1)]);
        assert_eq!(a.get("compile_hits"), 2);
        assert_eq!(a.get("absent"), 0);
        a.merge(&stats(&[("compile_hits", 3), ("corrupt", 1)]));
        assert_eq!(a.get("compile_hits"), 5);
        assert_eq!(a.get("corrupt"), 1);
        a.add("corrupt", u64::MAX);
        assert_eq!(a.get("corrupt"), u64::MAX, "saturates, never overflows");
        assert!(Stats::default().is_empty());
        assert!(stats(&[("x", 0)]).is_empty());
        assert!(!a.is_empty());
    }

    #[test]
    fn load_and_zero_on_a_missing_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("none");
        assert_eq!(load(&root).unwrap(), Stats::default());
        zero(&root).unwrap();
        assert!(!root.exists());
    }

    #[test]
    fn flush_from_many_threads_loses_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Arc::new(tmp.path().to_path_buf());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let root = Arc::clone(&root);
                std::thread::spawn(move || {
                    // Each thread is its own "process": its own store and lock fd.
                    let store = Store::open(&settings(&root, u64::MAX)).unwrap();
                    for _ in 0..25 {
                        let delta = stats(&[("compile_hits", 1), ("miss.no_entry", 2)]);
                        flush(&store, &delta, u64::MAX).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let totals = load(&root).unwrap();
        assert_eq!(totals.get("compile_hits"), 200);
        assert_eq!(totals.get("miss.no_entry"), 400);
    }

    #[test]
    fn flush_tracks_size_and_collects_when_over_the_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let max = 10_000;
        let store = Store::open(&settings(tmp.path(), max)).unwrap();
        for i in 0..6u8 {
            store.put_blob(&[i; 1000]).unwrap();
        }
        let totals = flush(&store, &stats(&[("compile_misses", 6)]), max).unwrap();
        assert_eq!(totals.get(SIZE_COUNTER), 6000);
        // Nothing new: flushing again adds no bytes twice.
        let totals = flush(&store, &stats(&[("compile_hits", 1)]), max).unwrap();
        assert_eq!(totals.get(SIZE_COUNTER), 6000);

        for i in 6..12u8 {
            store.put_blob(&[i; 1000]).unwrap();
        }
        let totals = flush(&store, &Stats::default(), max).unwrap();
        let usage = store.usage().unwrap();
        assert!(usage.bytes <= 9000, "gc must run: {usage:?}");
        assert_eq!(totals.get(SIZE_COUNTER), usage.bytes);
        assert_eq!(totals.get("compile_misses"), 6);
        assert_eq!(load(tmp.path()).unwrap(), totals);
    }

    #[test]
    fn first_flush_measures_an_existing_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let before = Store::open(&settings(tmp.path(), u64::MAX)).unwrap();
        before.put_blob(&[1; 4000]).unwrap();
        let store = Store::open(&settings(tmp.path(), u64::MAX)).unwrap();
        let totals = flush(&store, &stats(&[("link_hits", 1)]), u64::MAX).unwrap();
        assert_eq!(totals.get(SIZE_COUNTER), 4000);
    }

    #[test]
    fn zero_keeps_size_and_resets_a_corrupt_file() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&settings(tmp.path(), u64::MAX)).unwrap();
        store.put_blob(b"abc").unwrap();
        flush(&store, &stats(&[("compile_hits", 4)]), u64::MAX).unwrap();
        zero(tmp.path()).unwrap();
        let totals = load(tmp.path()).unwrap();
        assert_eq!(totals.get("compile_hits"), 0);
        assert_eq!(totals.get(SIZE_COUNTER), 3);

        fs::write(tmp.path().join(STATS_FILE), b"{\"counters\": {\"a\":").unwrap();
        assert!(matches!(load(tmp.path()), Err(StoreError::Corrupt { .. })));
        let totals = flush(&store, &stats(&[("errors", 1)]), u64::MAX).unwrap();
        assert_eq!(totals.get("errors"), 1);
        assert_eq!(load(tmp.path()).unwrap(), totals);
    }

    #[test]
    fn json_is_one_flat_object_of_integers() {
        let tmp = tempfile::tempdir().unwrap();
        let s = stats(&[
            ("compile_hits", 3),
            ("miss.flags_changed", 2),
            ("cache_size_bytes", 1),
        ]);
        let usage = Usage {
            files: 4,
            bytes: 1234,
        };
        let text = render_json(&s, &usage, &settings(tmp.path(), 5000));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let object = value.as_object().unwrap();
        assert!(object.values().all(|v| v.is_u64()), "{text}");
        assert_eq!(object["compile_hits"], 3);
        assert_eq!(object["miss.flags_changed"], 2);
        assert_eq!(object["link_misses"], 0);
        assert_eq!(object["archive_hits"], 0);
        assert_eq!(object["uncacheable"], 0);
        assert_eq!(object["errors"], 0);
        assert_eq!(object["cache_size_bytes"], 1234, "measured size wins");
        assert_eq!(object["cache_files"], 4);
        assert_eq!(object["max_size_bytes"], 5000);
        assert!(!text.contains('\n'));
    }

    #[test]
    fn human_output_groups_counters() {
        let tmp = tempfile::tempdir().unwrap();
        let s = stats(&[
            ("compile_hits", 3),
            ("compile_misses", 1),
            ("miss.header_changed", 1),
            ("uncacheable", 2),
            ("uncacheable.preprocess_only", 2),
            ("errors", 1),
            ("error.store", 1),
            ("time_saved_ms", 90_000),
            ("bytes_restored", 2048),
            ("custom_hits", 1),
            ("weird", 7),
        ]);
        let usage = Usage {
            files: 2,
            bytes: 512,
        };
        let text = render_human(&s, &usage, &settings(tmp.path(), 1024));
        assert!(text.contains("75.0 %"), "{text}");
        assert!(text.contains("header_changed"), "{text}");
        assert!(text.contains("preprocess_only"), "{text}");
        assert!(text.contains("store"), "{text}");
        assert!(text.contains("1.5 min"), "{text}");
        assert!(text.contains("2.0 KiB"), "{text}");
        assert!(text.contains("512 B / 1.0 KiB (50.0 %), 2 files"), "{text}");
        assert!(text.contains("Custom"), "{text}");
        assert!(text.contains("weird"), "{text}");
        assert!(text.contains(&tmp.path().display().to_string()), "{text}");
        assert!(text.contains("Link"), "{text}");
    }
}
