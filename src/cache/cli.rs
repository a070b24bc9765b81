//! Bodies of the cache admin commands (`zccache stats`, `gc`, `clear`);
//! `main.rs` only parses. Output and environment are parameters so tests can
//! run the real commands without touching the process environment.

use std::io::{self, Write};

use super::config::{ConfigError, Settings};
use super::stats::{self, human_bytes};
use super::store::{Store, StoreError};

/// An admin command, as parsed by `main.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admin {
    /// Show counters; `zero` resets them first.
    Stats { json: bool, zero: bool },
    /// Evict least recently used entries down to the size limit.
    Gc,
    /// Remove every cache entry.
    Clear,
}

#[derive(thiserror::Error, Debug)]
enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write output: {0}")]
    Output(#[from] io::Error),
    /// A cache another user steers is neither reported on nor cleaned:
    /// its paths may lead anywhere.
    #[error("{0}")]
    NotTrusted(String),
}

/// Runs `cmd` with the real environment, stdout and stderr; returns the exit code.
pub fn run(cmd: Admin) -> i32 {
    run_with(
        cmd,
        &|name| std::env::var(name).ok(),
        &mut io::stdout().lock(),
        &mut io::stderr().lock(),
    )
}

/// Runs `cmd`; errors go to `err` as one line, with exit code 1.
pub fn run_with(
    cmd: Admin,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let result = Settings::load_with(env)
        .map_err(CliError::from)
        .and_then(|settings| {
            super::owner::verify_existing(&settings.dir, settings.shared)
                .map_err(CliError::NotTrusted)?;
            Ok(settings)
        })
        .and_then(|settings| match cmd {
            Admin::Stats { json, zero } => show_stats(&settings, json, zero, out),
            Admin::Gc => gc(&settings, out),
            Admin::Clear => clear(&settings, out),
        });
    match result {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "zccache: {e}");
            if let CliError::Store(StoreError::Corrupt { .. }) = e {
                let _ = writeln!(err, "zccache: `zccache stats --zero` resets the counters");
            }
            1
        }
    }
}

fn show_stats(
    settings: &Settings,
    json: bool,
    zero: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if zero {
        stats::zero(&settings.dir)?;
        if !json {
            writeln!(out, "Statistics zeroed")?;
            return Ok(());
        }
    }
    let store = Store::open(settings)?;
    let usage = store.usage()?;
    let totals = stats::load(&settings.dir)?;
    if json {
        writeln!(out, "{}", stats::render_json(&totals, &usage, settings))?;
    } else {
        write!(out, "{}", stats::render_human(&totals, &usage, settings))?;
    }
    Ok(())
}

fn gc(settings: &Settings, out: &mut dyn Write) -> Result<(), CliError> {
    let store = Store::open(settings)?;
    let report = store.gc(settings.max_size)?;
    if settings.dir.exists() {
        stats::record_size(&settings.dir, report.bytes_remaining)?;
    }
    writeln!(
        out,
        "Removed {} files ({}) and {} stale temp files; {} files ({}) remain, limit {}",
        report.files_removed,
        human_bytes(report.bytes_removed),
        report.stale_temps_removed,
        report.files_remaining,
        human_bytes(report.bytes_remaining),
        human_bytes(settings.max_size)
    )?;
    Ok(())
}

fn clear(settings: &Settings, out: &mut dyn Write) -> Result<(), CliError> {
    let store = Store::open(settings)?;
    let before = store.usage()?;
    store.clear()?;
    if settings.dir.exists() {
        stats::record_size(&settings.dir, 0)?;
    }
    writeln!(
        out,
        "Cleared {}: removed {} files ({})",
        settings.dir.display(),
        before.files,
        human_bytes(before.bytes)
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::Path;

    /// Runs a command against `dir`; returns (code, stdout, stderr).
    fn run_in(dir: &Path, cmd: Admin, extra: &[(&str, &str)]) -> (i32, String, String) {
        let mut vars: HashMap<String, String> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        vars.insert("ZCCACHE_DIR".into(), dir.display().to_string());
        vars.insert("HOME".into(), dir.join("home").display().to_string());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_with(cmd, &|n| vars.get(n).cloned(), &mut out, &mut err);
        (
            code,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    const JSON: Admin = Admin::Stats {
        json: true,
        zero: false,
    };

    fn json(text: &str) -> serde_json::Value {
        serde_json::from_str(text.trim()).unwrap()
    }

    #[test]
    fn every_command_works_on_a_missing_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache");
        let (code, out, err) = run_in(&dir, JSON, &[]);
        assert_eq!((code, err.as_str()), (0, ""));
        let v = json(&out);
        assert_eq!(v["compile_hits"], 0);
        assert_eq!(v["cache_files"], 0);
        let human = Admin::Stats {
            json: false,
            zero: false,
        };
        let (code, out, _) = run_in(&dir, human, &[]);
        assert_eq!(code, 0);
        assert!(out.contains("Compile"), "{out}");
        for cmd in [
            Admin::Gc,
            Admin::Clear,
            Admin::Stats {
                json: false,
                zero: true,
            },
        ] {
            let (code, _, err) = run_in(&dir, cmd, &[]);
            assert_eq!(code, 0, "{cmd:?}: {err}");
        }
        assert!(!dir.exists(), "admin commands must not create a cache");
    }

    #[test]
    fn bad_settings_file_is_exit_1_with_the_file_named() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("zccache.toml");
        std::fs::write(&file, "max_size = [1]\n").unwrap();
        for cmd in [JSON, Admin::Gc, Admin::Clear] {
            let (code, out, err) = run_in(tmp.path(), cmd, &[]);
            assert_eq!(code, 1, "{cmd:?}");
            assert!(out.is_empty());
            assert!(err.contains(&file.display().to_string()), "{err}");
        }
        std::fs::write(&file, "max_size = \"1G\"\n").unwrap();
        assert_eq!(run_in(tmp.path(), JSON, &[]).0, 0);
        let (code, _, err) = run_in(tmp.path(), JSON, &[("ZCCACHE_DISABLE", "sometimes")]);
        assert_eq!(code, 1);
        assert!(err.contains("ZCCACHE_DISABLE"), "{err}");
    }

    #[test]
    fn stats_gc_clear_on_a_populated_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let settings = Settings::load_with(&|n| {
            (n == "ZCCACHE_DIR").then(|| tmp.path().display().to_string())
        })
        .unwrap();
        let store = Store::open(&settings).unwrap();
        for i in 0..10u8 {
            // Incompressible, so sizes on disk are predictable.
            let content: Vec<u8> = (0..2000u32)
                .map(|j| blake3::hash(&[i, j as u8, (j >> 8) as u8]).as_bytes()[0])
                .collect();
            store.put_blob(&content).unwrap();
        }
        let mut delta = stats::Stats::default();
        delta.add("compile_hits", 5);
        stats::flush(&store, &delta, settings.max_size).unwrap();

        let v = json(&run_in(tmp.path(), JSON, &[]).1);
        assert_eq!(v["compile_hits"], 5);
        assert_eq!(v["cache_files"], 10);
        let size = v["cache_size_bytes"].as_u64().unwrap();

        let (code, out, _) = run_in(
            tmp.path(),
            Admin::Gc,
            &[("ZCCACHE_MAX_SIZE", &(size / 2).to_string())],
        );
        assert_eq!(code, 0);
        assert!(out.starts_with("Removed "), "{out}");
        let v = json(&run_in(tmp.path(), JSON, &[]).1);
        assert!(v["cache_size_bytes"].as_u64().unwrap() <= size / 2 * 9 / 10);
        assert_eq!(
            stats::load(tmp.path()).unwrap().get(stats::SIZE_COUNTER),
            v["cache_size_bytes"].as_u64().unwrap()
        );

        let (code, out, _) = run_in(tmp.path(), Admin::Clear, &[]);
        assert_eq!(code, 0, "{out}");
        let v = json(&run_in(tmp.path(), JSON, &[]).1);
        assert_eq!(v["cache_files"], 0);
        assert_eq!(v["compile_hits"], 5, "clear keeps counters");

        let zero = Admin::Stats {
            json: false,
            zero: true,
        };
        let (code, out, _) = run_in(tmp.path(), zero, &[]);
        assert_eq!((code, out.trim()), (0, "Statistics zeroed"));
        let v = json(&run_in(tmp.path(), JSON, &[]).1);
        assert_eq!(v["compile_hits"], 0);
    }

    #[test]
    fn corrupt_stats_file_is_reported_and_zero_repairs_it() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("stats.json"), b"not json").unwrap();
        let (code, _, err) = run_in(tmp.path(), JSON, &[]);
        assert_eq!(code, 1);
        assert!(
            err.contains("stats.json") && err.contains("--zero"),
            "{err}"
        );
        let zero_json = Admin::Stats {
            json: true,
            zero: true,
        };
        let (code, out, err) = run_in(tmp.path(), zero_json, &[]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(json(&out)["compile_hits"], 0);
    }
}
