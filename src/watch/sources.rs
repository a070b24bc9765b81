//! Which files `zccache watch` listens for: every file the graph reads that
//! no step writes (sources, headers from depfiles, CMakeLists.txt and the
//! other inputs of CMake's re-run) and the manifest files nothing
//! generates, by absolute path, with the directories that hold them.
//!
//! Directories are watched rather than files because editors save by
//! writing a temporary file and renaming it over the original: a watch on
//! the file would follow the old inode and miss the new content.

use std::collections::{BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};

use crate::graph::{FileId, Graph};

/// What a watched path is to the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    /// A file the build reads and no step writes.
    Input(FileId),
    /// A manifest file (build.ninja or one it includes) that no step
    /// writes: when it changes the graph is loaded again.
    Manifest,
}

/// The watched files of one graph.
#[derive(Debug)]
pub struct WatchSet {
    /// The directory the graph's relative paths start from.
    base: PathBuf,
    by_path: HashMap<PathBuf, Watched>,
    dirs: BTreeSet<PathBuf>,
    /// How many of the graph's files were looked at: the graph only grows
    /// between reloads (new headers found in depfiles), so later calls
    /// look at the new ones only.
    seen_files: usize,
}

impl WatchSet {
    pub fn new(base: PathBuf) -> WatchSet {
        WatchSet {
            base,
            by_path: HashMap::new(),
            dirs: BTreeSet::new(),
            seen_files: 0,
        }
    }

    /// The watch set of a freshly loaded graph. `manifest` is the top
    /// manifest: when a step generates it (CMake's re-run), that step's
    /// inputs are watched like any other and the files it writes are not;
    /// otherwise every manifest file read is watched.
    pub fn of_graph(base: PathBuf, graph: &Graph, manifest: &str) -> WatchSet {
        let mut set = WatchSet::new(base);
        let generated = graph
            .lookup(&crate::ninja::canon::canonicalize_path(manifest))
            .is_some_and(|file| !is_source(graph, file));
        if !generated {
            for file in &graph.manifest_files {
                set.add(&file.to_string_lossy(), Watched::Manifest);
            }
        }
        set.extend_from(graph);
        set
    }

    /// Adds the files the graph gained since the last call; returns the
    /// directories new to the set, to watch.
    pub fn extend_from(&mut self, graph: &Graph) -> Vec<PathBuf> {
        let mut new_dirs = Vec::new();
        for index in self.seen_files..graph.files.len() {
            let file = FileId(index as u32);
            if !is_source(graph, file) {
                continue;
            }
            if let Some(dir) = self.add(graph.path(file), Watched::Input(file)) {
                new_dirs.push(dir);
            }
        }
        self.seen_files = graph.files.len();
        new_dirs
    }

    fn add(&mut self, path: &str, what: Watched) -> Option<PathBuf> {
        let absolute = absolute(&self.base, path);
        let dir = absolute.parent()?.to_path_buf();
        self.by_path.entry(absolute).or_insert(what);
        self.dirs.insert(dir.clone()).then_some(dir)
    }

    /// What an event's path is to the build, if anything.
    pub fn lookup(&self, path: &Path) -> Option<Watched> {
        self.by_path.get(path).copied()
    }

    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.dirs.iter().map(PathBuf::as_path)
    }

    pub fn file_count(&self) -> usize {
        self.by_path.len()
    }
}

/// Whether no step writes `file`. CMake declares every input of its re-run
/// as the output of a phony step without inputs, so that a deleted one does
/// not stop the build; such a step writes nothing.
fn is_source(graph: &Graph, file: FileId) -> bool {
    match graph.producer(file) {
        None => true,
        Some(step) => {
            let step = graph.step(step);
            step.is_phony() && step.ins.is_empty()
        }
    }
}

/// `path` made absolute against `base` and with `.` and `..` removed
/// lexically, the way the watcher reports it for a directory registered
/// under the same spelling. (Resolving symlinks would give paths the
/// watcher never reports.)
pub fn absolute(base: &Path, path: &str) -> PathBuf {
    let joined = base.join(path);
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_joins_and_removes_dots() {
        let base = Path::new("/p/build");
        assert_eq!(absolute(base, "../src/a.c"), PathBuf::from("/p/src/a.c"));
        assert_eq!(
            absolute(base, "./gen/b.h"),
            PathBuf::from("/p/build/gen/b.h")
        );
        assert_eq!(
            absolute(base, "/usr/include/stdio.h"),
            PathBuf::from("/usr/include/stdio.h")
        );
    }

    #[test]
    fn watches_unproduced_inputs_and_their_dirs_only() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("build.ninja");
        std::fs::write(
            &manifest,
            "rule cc\n  command = cc $in -o $out\n\
             build gen/g.h: cc gen.py\n\
             build obj/a.o: cc src/a.c | gen/g.h inc/x.h\n\
             build inc/x.h: phony\n\
             build all: phony obj/a.o\n",
        )
        .unwrap();
        let graph = crate::ninja::load_graph(&manifest).unwrap();
        let set = WatchSet::of_graph(dir.path().to_path_buf(), &graph, "build.ninja");
        let input = |p: &str| {
            set.lookup(&dir.path().join(p))
                .map(|w| matches!(w, Watched::Input(_)))
        };
        assert_eq!(input("src/a.c"), Some(true));
        assert_eq!(input("inc/x.h"), Some(true));
        assert_eq!(input("gen.py"), Some(true));
        // Written by a step: the build's own business, not a change.
        assert_eq!(input("gen/g.h"), None);
        assert_eq!(input("obj/a.o"), None);
        assert_eq!(set.lookup(&dir.path().join("all")), None);
        assert_eq!(set.lookup(&manifest), Some(Watched::Manifest));
        let dirs: Vec<&Path> = set.dirs().collect();
        assert!(dirs.contains(&dir.path().join("src").as_path()));
        assert!(!dirs.contains(&dir.path().join("gen").as_path()));
    }

    #[test]
    fn a_generated_manifest_is_left_to_its_generator() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("build.ninja");
        std::fs::write(
            &manifest,
            "rule gen\n  command = cmake\n  generator = 1\n\
             build build.ninja: gen | CMakeLists.txt\n\
             build CMakeLists.txt: phony\n",
        )
        .unwrap();
        let graph = crate::ninja::load_graph(&manifest).unwrap();
        let set = WatchSet::of_graph(dir.path().to_path_buf(), &graph, "build.ninja");
        assert_eq!(set.lookup(&manifest), None);
        assert!(matches!(
            set.lookup(&dir.path().join("CMakeLists.txt")),
            Some(Watched::Input(_))
        ));
    }

    #[test]
    fn files_added_later_are_picked_up_with_their_new_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("build.ninja");
        std::fs::write(
            &manifest,
            "rule cc\n  command = cc $in\nbuild a.o: cc a.c\n",
        )
        .unwrap();
        let mut graph = crate::ninja::load_graph(&manifest).unwrap();
        let mut set = WatchSet::of_graph(dir.path().to_path_buf(), &graph, "build.ninja");
        let header = graph.file_id("inc/new.h");
        let new_dirs = set.extend_from(&graph);
        assert_eq!(new_dirs, vec![dir.path().join("inc")]);
        assert_eq!(
            set.lookup(&dir.path().join("inc/new.h")),
            Some(Watched::Input(header))
        );
        assert!(set.extend_from(&graph).is_empty());
    }
}
