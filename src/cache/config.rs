//! Cache settings: where the cache lives and how it behaves.
//!
//! Precedence, lowest to highest: built-in defaults, the settings file, the
//! `ZCCACHE_*` environment variables. The environment wins so that a single
//! build (or CI job) can change behaviour without editing a shared file.
//!
//! The settings file is looked for first in the cache dir itself, so a cache
//! shared by several users or machines carries its own limits; only if there
//! is none there is the per-user `$XDG_CONFIG_HOME/zccache/zccache.toml` read.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// 10 GiB: big enough for a few large C++ projects, small enough not to
/// surprise anyone on a laptop.
pub const DEFAULT_MAX_SIZE: u64 = 10 * 1024 * 1024 * 1024;

/// Name of the settings file, both in the cache dir and the config dir.
pub const SETTINGS_FILE_NAME: &str = "zccache.toml";

/// Effective cache settings after merging defaults, file and environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Cache root.
    pub dir: PathBuf,
    /// Bytes; gc trims the cache below this.
    pub max_size: u64,
    /// Store blobs zstd-compressed (level 1: speed matters more than ratio).
    pub compression: bool,
    /// Rewrite absolute paths (-ffile-prefix-map) so different checkouts share entries.
    pub path_remap: bool,
    /// Run every step for real, touching no cache.
    pub disable: bool,
    /// Opt-in delivery by hardlink: fastest, but an output edited in place corrupts the cache entry.
    pub hardlink: bool,
    /// Shared between users (see [`crate::cache::owner`]): only from the
    /// environment or the user's own settings file, never from a file in
    /// the cache dir, which whoever can write the cache could plant.
    pub shared: bool,
    /// The settings file that was read, shown by `zccache stats`.
    pub config_file: Option<PathBuf>,
}

/// Why settings could not be loaded; each names where the bad input came from.
#[derive(thiserror::Error, Debug)]
pub enum ConfigError {
    #[error("cannot read settings file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid settings file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value for `{key}` in {path}: {value}: {reason}")]
    FileValue {
        path: PathBuf,
        key: &'static str,
        value: String,
        reason: String,
    },
    #[error("invalid value for {var}: {value:?}: {reason}")]
    EnvValue {
        var: &'static str,
        value: String,
        reason: String,
    },
    #[error("cannot find a cache dir: set ZCCACHE_DIR, XDG_CACHE_HOME or HOME")]
    NoCacheDir,
}

/// The file's shape; unknown keys are errors so a typo does not silently do nothing.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    max_size: Option<toml::Value>,
    compression: Option<bool>,
    path_remap: Option<bool>,
    disable: Option<bool>,
    hardlink: Option<bool>,
    shared: Option<bool>,
}

impl Settings {
    /// Settings from the real process environment.
    pub fn load() -> Result<Settings, ConfigError> {
        Self::load_with(&|name| std::env::var(name).ok())
    }

    /// Settings with the environment supplied by `env`, so tests need not
    /// mutate the process environment (which is shared between test threads).
    /// An empty variable counts as unset, as shells make unsetting awkward.
    pub fn load_with(env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let var = |name: &str| env(name).filter(|v| !v.is_empty());
        let dir = cache_dir(&var)?;
        let mut settings = Settings {
            dir,
            max_size: DEFAULT_MAX_SIZE,
            compression: true,
            path_remap: false,
            disable: false,
            hardlink: false,
            shared: false,
            config_file: None,
        };
        if let Some(path) = settings_file(&settings.dir, &var) {
            settings.apply_file(&path)?;
            settings.config_file = Some(path);
        }
        settings.apply_env(&var)?;
        Ok(settings)
    }

    fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let read = |path: &Path| -> std::io::Result<String> {
            use std::io::Read as _;
            // The cache's own file may have been planted by whoever else
            // can write the cache: no symlink, FIFO or giant file is read.
            // The user's own file is theirs (a dotfile link is fine).
            if !path.starts_with(&self.dir) {
                return std::fs::read_to_string(path);
            }
            let mut text = String::new();
            super::nofollow::open_regular(path)?
                .take(MAX_SETTINGS_FILE + 1)
                .read_to_string(&mut text)?;
            if text.len() as u64 > MAX_SETTINGS_FILE {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "larger than a settings file may be",
                ));
            }
            Ok(text)
        };
        let text = read(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let file: FileSettings = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        if let Some(value) = file.max_size {
            self.max_size = size_from_toml(&value).map_err(|reason| ConfigError::FileValue {
                path: path.to_path_buf(),
                key: "max_size",
                value: value.to_string(),
                reason,
            })?;
        }
        let bools = [
            (file.compression, &mut self.compression),
            (file.path_remap, &mut self.path_remap),
            (file.disable, &mut self.disable),
            (file.hardlink, &mut self.hardlink),
        ];
        for (value, slot) in bools {
            if let Some(value) = value {
                *slot = value;
            }
        }
        if let Some(shared) = file.shared
            && !path.starts_with(&self.dir)
        {
            self.shared = shared;
        }
        Ok(())
    }

    fn apply_env(&mut self, var: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(value) = var("ZCCACHE_MAX_SIZE") {
            self.max_size = parse_size(&value).map_err(|reason| ConfigError::EnvValue {
                var: "ZCCACHE_MAX_SIZE",
                value: value.clone(),
                reason,
            })?;
        }
        let bools: [(&'static str, &mut bool); 5] = [
            ("ZCCACHE_SHARED", &mut self.shared),
            ("ZCCACHE_COMPRESSION", &mut self.compression),
            ("ZCCACHE_PATH_REMAP", &mut self.path_remap),
            ("ZCCACHE_DISABLE", &mut self.disable),
            ("ZCCACHE_HARDLINK", &mut self.hardlink),
        ];
        for (name, slot) in bools {
            if let Some(value) = var(name) {
                *slot = parse_bool(&value).ok_or_else(|| ConfigError::EnvValue {
                    var: name,
                    value: value.clone(),
                    reason: "expected 1/0, true/false, yes/no or on/off".to_string(),
                })?;
            }
        }
        Ok(())
    }
}

/// Makes a relative `ZCCACHE_DIR` absolute against the current dir, in
/// this process's environment: the launcher's helper runs in `/`, and a
/// build may change dir (`-C`), so a relative value would name another dir
/// there. Call first thing, while the process has one thread.
pub fn anchor_cache_dir() {
    let Some(dir) = std::env::var_os("ZCCACHE_DIR") else {
        return;
    };
    if dir.is_empty() || Path::new(&dir).is_absolute() {
        return;
    }
    if let Ok(here) = std::env::current_dir() {
        // SAFETY: called at the start of main, before any other thread
        // exists that could read the environment.
        unsafe { std::env::set_var("ZCCACHE_DIR", here.join(dir)) };
    }
}

fn cache_dir(var: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf, ConfigError> {
    if let Some(dir) = var("ZCCACHE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    // The XDG spec says relative values are invalid and must be ignored.
    if let Some(xdg) = var("XDG_CACHE_HOME").filter(|p| Path::new(p).is_absolute()) {
        return Ok(PathBuf::from(xdg).join("zccache"));
    }
    if let Some(home) = var("HOME") {
        return Ok(PathBuf::from(home).join(".cache").join("zccache"));
    }
    Err(ConfigError::NoCacheDir)
}

/// The settings file to read, if any exists.
/// The most a settings file in the cache dir may hold.
const MAX_SETTINGS_FILE: u64 = 64 << 10;

fn settings_file(cache_dir: &Path, var: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let in_cache = cache_dir.join(SETTINGS_FILE_NAME);
    if in_cache.is_file() {
        return Some(in_cache);
    }
    let config_home = var("XDG_CONFIG_HOME")
        .filter(|p| Path::new(p).is_absolute())
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    let user = config_home.join("zccache").join(SETTINGS_FILE_NAME);
    user.is_file().then_some(user)
}

fn size_from_toml(value: &toml::Value) -> Result<u64, String> {
    match value {
        toml::Value::Integer(n) => {
            u64::try_from(*n).map_err(|_| "a size cannot be negative".to_string())
        }
        toml::Value::String(s) => parse_size(s),
        _ => Err("expected an integer number of bytes or a string like \"10G\"".to_string()),
    }
}

/// Parses a size as ccache does: a bare number is bytes; `K`, `M`, `G`, `T`
/// (optionally followed by `B`) are powers of 1000; `Ki`, `Mi`, `Gi`, `Ti`
/// (optionally followed by `B`) are powers of 1024. Case-insensitive,
/// fractions allowed ("1.5GiB").
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err("expected a number, optionally followed by K, M, G, T (or Ki, Mi, ...)".into());
    }
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let (letter, binary) = match unit.strip_suffix('i') {
        Some(letter) => (letter, true),
        None => (unit, false),
    };
    let power = match letter {
        "" if !binary => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        _ => {
            return Err(format!(
                "unknown unit {unit:?}; use K, M, G, T or Ki, Mi, Gi, Ti"
            ));
        }
    };
    let base: u64 = if binary { 1024 } else { 1000 };
    let multiplier = base.pow(power);
    if let Ok(whole) = number.parse::<u64>() {
        return whole
            .checked_mul(multiplier)
            .ok_or_else(|| "size too large".to_string());
    }
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{number:?} is not a number"))?;
    let bytes = value * multiplier as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err("size too large".to_string());
    }
    Ok(bytes.round() as u64)
}

/// Accepts the spellings people actually put in environment variables.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_with(&|name| map.get(name).cloned())
    }

    #[test]
    fn cache_dir_precedence() {
        let s = load(&[("HOME", "/h")]).unwrap();
        assert_eq!(s.dir, PathBuf::from("/h/.cache/zccache"));
        let s = load(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/x")]).unwrap();
        assert_eq!(s.dir, PathBuf::from("/x/zccache"));
        let s = load(&[
            ("HOME", "/h"),
            ("XDG_CACHE_HOME", "/x"),
            ("ZCCACHE_DIR", "/z"),
        ])
        .unwrap();
        assert_eq!(s.dir, PathBuf::from("/z"));
        // Empty counts as unset.
        let s = load(&[("HOME", "/h"), ("ZCCACHE_DIR", "")]).unwrap();
        assert_eq!(s.dir, PathBuf::from("/h/.cache/zccache"));
        let s = load(&[("HOME", "/h"), ("XDG_CACHE_HOME", "rel")]).unwrap();
        assert_eq!(s.dir, PathBuf::from("/h/.cache/zccache"));
        assert!(matches!(load(&[]), Err(ConfigError::NoCacheDir)));
    }

    #[test]
    fn defaults_without_any_file() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().to_str().unwrap();
        let s = load(&[("HOME", home)]).unwrap();
        assert_eq!(s.max_size, DEFAULT_MAX_SIZE);
        assert!(s.compression && !s.path_remap && !s.disable && !s.hardlink);
        assert_eq!(s.config_file, None);
    }

    #[test]
    fn file_then_env_precedence() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        std::fs::create_dir_all(&cache).unwrap();
        let file = cache.join(SETTINGS_FILE_NAME);
        std::fs::write(
            &file,
            "max_size = \"500M\"\ncompression = false\nhardlink = true\npath_remap = true\n",
        )
        .unwrap();
        let dir = cache.to_str().unwrap();
        let s = load(&[("ZCCACHE_DIR", dir)]).unwrap();
        assert_eq!(s.max_size, 500_000_000);
        assert!(!s.compression && s.hardlink && s.path_remap && !s.disable);
        assert_eq!(s.config_file.as_deref(), Some(file.as_path()));

        let s = load(&[
            ("ZCCACHE_DIR", dir),
            ("ZCCACHE_MAX_SIZE", "2GiB"),
            ("ZCCACHE_COMPRESSION", "ON"),
            ("ZCCACHE_HARDLINK", "no"),
            ("ZCCACHE_DISABLE", "1"),
        ])
        .unwrap();
        assert_eq!(s.max_size, 2 * 1024 * 1024 * 1024);
        assert!(s.compression && !s.hardlink && s.disable && s.path_remap);
    }

    #[test]
    fn the_caches_settings_file_is_read_through_no_symlink_and_capped() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        std::fs::create_dir_all(&cache).unwrap();
        let elsewhere = tmp.path().join("secret.toml");
        std::fs::write(&elsewhere, "max_size = 99\n").unwrap();
        std::os::unix::fs::symlink(&elsewhere, cache.join(SETTINGS_FILE_NAME)).unwrap();
        let dir = cache.to_str().unwrap();
        let err = load(&[("ZCCACHE_DIR", dir)]).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");
        std::fs::remove_file(cache.join(SETTINGS_FILE_NAME)).unwrap();
        let huge = format!("# {}\nmax_size = 99\n", "x".repeat(1 << 20));
        std::fs::write(cache.join(SETTINGS_FILE_NAME), huge).unwrap();
        let err = load(&[("ZCCACHE_DIR", dir)]).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
    }

    #[test]
    fn only_the_user_opts_into_a_shared_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        std::fs::create_dir_all(&cache).unwrap();
        std::fs::write(cache.join(SETTINGS_FILE_NAME), "shared = true\n").unwrap();
        let dir = cache.to_str().unwrap();
        assert!(!load(&[("ZCCACHE_DIR", dir)]).unwrap().shared);
        let s = load(&[("ZCCACHE_DIR", dir), ("ZCCACHE_SHARED", "1")]).unwrap();
        assert!(s.shared);
        let config = tmp.path().join("config");
        std::fs::create_dir_all(config.join("zccache")).unwrap();
        std::fs::write(
            config.join("zccache").join(SETTINGS_FILE_NAME),
            "shared = true\n",
        )
        .unwrap();
        let other = tmp.path().join("other");
        let vars = [
            ("ZCCACHE_DIR", other.to_str().unwrap()),
            ("XDG_CONFIG_HOME", config.to_str().unwrap()),
        ];
        assert!(load(&vars).unwrap().shared);
    }

    #[test]
    fn cache_dir_file_wins_over_user_file() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        let config = tmp.path().join("config");
        std::fs::create_dir_all(config.join("zccache")).unwrap();
        let user_file = config.join("zccache").join(SETTINGS_FILE_NAME);
        std::fs::write(&user_file, "max_size = 1234\n").unwrap();
        let vars = [
            ("ZCCACHE_DIR", cache.to_str().unwrap()),
            ("XDG_CONFIG_HOME", config.to_str().unwrap()),
        ];
        let s = load(&vars).unwrap();
        assert_eq!(s.max_size, 1234);
        assert_eq!(s.config_file.as_deref(), Some(user_file.as_path()));

        std::fs::create_dir_all(&cache).unwrap();
        std::fs::write(cache.join(SETTINGS_FILE_NAME), "max_size = 99\n").unwrap();
        let s = load(&vars).unwrap();
        assert_eq!(s.max_size, 99);
        assert_eq!(s.config_file, Some(cache.join(SETTINGS_FILE_NAME)));
    }

    #[test]
    fn file_errors_name_the_file_and_position() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_str().unwrap();
        let file = tmp.path().join(SETTINGS_FILE_NAME);

        std::fs::write(&file, "compression = true\nmax_sise = 3\n").unwrap();
        let err = load(&[("ZCCACHE_DIR", dir)]).unwrap_err().to_string();
        assert!(err.contains(file.to_str().unwrap()), "{err}");
        assert!(err.contains("max_sise"), "{err}");
        assert!(err.contains("line 2"), "{err}");

        std::fs::write(&file, "compression = \"maybe\"\n").unwrap();
        let err = load(&[("ZCCACHE_DIR", dir)]).unwrap_err().to_string();
        assert!(err.contains(file.to_str().unwrap()), "{err}");
        assert!(err.contains("line 1"), "{err}");

        std::fs::write(&file, "max_size = \"10 parsecs\"\n").unwrap();
        let err = load(&[("ZCCACHE_DIR", dir)]).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::FileValue {
                key: "max_size",
                ..
            }
        ));
        assert!(err.to_string().contains("parsecs"), "{err}");

        std::fs::write(&file, "max_size = -5\n").unwrap();
        let err = load(&[("ZCCACHE_DIR", dir)]).unwrap_err().to_string();
        assert!(err.contains("negative"), "{err}");
    }

    #[test]
    fn env_errors_name_the_variable_and_value() {
        let err = load(&[("ZCCACHE_DIR", "/z"), ("ZCCACHE_COMPRESSION", "perhaps")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ZCCACHE_COMPRESSION") && err.contains("perhaps"),
            "{err}"
        );
        let err = load(&[("ZCCACHE_DIR", "/z"), ("ZCCACHE_MAX_SIZE", "lots")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ZCCACHE_MAX_SIZE") && err.contains("lots"),
            "{err}"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("10G"), Ok(10_000_000_000));
        assert_eq!(parse_size("10GB"), Ok(10_000_000_000));
        assert_eq!(parse_size("10gb"), Ok(10_000_000_000));
        assert_eq!(parse_size("500M"), Ok(500_000_000));
        assert_eq!(parse_size("1.5GiB"), Ok(1_610_612_736));
        assert_eq!(parse_size("2Ki"), Ok(2048));
        assert_eq!(parse_size(" 3 k "), Ok(3000));
        assert!(parse_size("").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("1.2.3G").is_err());
        assert!(parse_size("5X").is_err());
        assert!(parse_size("5i").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn bools() {
        for t in ["1", "true", "TRUE", "yes", "On"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "false", "No", "off"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("2"), None);
        assert_eq!(parse_bool(""), None);
    }
}
