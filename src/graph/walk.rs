//! Whole-graph questions answered on the petgraph ([`Graph::topology`]):
//! which steps a set of targets needs, which steps a step waits on, the
//! waves in which steps can run, and whether the graph has a cycle.
//!
//! The build's own plan ([`Graph::plan_order`]) stays a hand-written
//! depth-first walk over the step vectors: it must also follow the
//! dependencies earlier depfiles reported (not in the petgraph, and never a
//! cycle), visit inputs in manifest order (which ninja's cycle messages and
//! `-d explain` order show), and is on every no-op build's path.

use petgraph::Direction::Incoming;
use petgraph::graph::NodeIndex;
use petgraph::visit::{Dfs, EdgeFiltered, EdgeRef, Reversed};

use super::{EdgeKind, FileId, Graph, Node, StepId};

impl Graph {
    /// Every step the targets need through their inputs of any kind
    /// (explicit, implicit, order-only), found by a depth-first search of
    /// the petgraph backwards from the targets. Validations are not
    /// followed: ninja builds them alongside, they are not needed.
    pub fn steps_needed(&self, targets: &[FileId]) -> Vec<StepId> {
        let needed = EdgeFiltered::from_fn(&self.topology, |edge| {
            *edge.weight() != EdgeKind::Validation
        });
        let backwards = Reversed(&needed);
        let mut dfs = Dfs::empty(backwards);
        let mut steps = Vec::new();
        for &target in targets {
            dfs.move_to(self.file(target).node);
            while let Some(node) = dfs.next(backwards) {
                if let Node::Step(step) = self.topology[node] {
                    steps.push(step);
                }
            }
        }
        steps
    }

    /// The step writing `file`, read from the petgraph: the source of the
    /// file's incoming output edge.
    pub fn writer(&self, file: FileId) -> Option<StepId> {
        self.topology
            .edges_directed(self.file(file).node, Incoming)
            .find(|edge| *edge.weight() == EdgeKind::Output)
            .and_then(|edge| self.step_at(edge.source()))
    }

    /// The steps writing the files `step` reads (explicit, implicit and
    /// order-only inputs), from the petgraph; possibly repeated.
    pub fn waits_on(&self, step: StepId) -> impl Iterator<Item = StepId> + '_ {
        self.topology
            .edges_directed(self.step(step).node, Incoming)
            .filter(|edge| *edge.weight() != EdgeKind::Validation)
            .flat_map(move |input| {
                self.topology
                    .edges_directed(input.source(), Incoming)
                    .filter(|edge| *edge.weight() == EdgeKind::Output)
                    .filter_map(|edge| self.step_at(edge.source()))
            })
    }

    /// `steps`, given in an order where producers come first, grouped in
    /// waves: a step's wave is one past the latest wave of the steps it
    /// waits on among `steps` (through order-only inputs too, as generated
    /// headers usually are), so the steps of one wave could all run at
    /// once. A producer not among the steps before it is not waited on.
    pub fn waves(&self, steps: &[StepId]) -> Vec<Vec<StepId>> {
        let mut depth: super::DenseMap<StepId, Option<usize>> =
            super::DenseMap::with_len(self.steps.len(), None);
        let mut waves: Vec<Vec<StepId>> = Vec::new();
        for &step in steps {
            let level = self
                .waits_on(step)
                .filter(|&producer| producer != step)
                .filter_map(|producer| depth[producer].map(|d| d + 1))
                .max()
                .unwrap_or(0);
            depth[step] = Some(level);
            if waves.len() <= level {
                waves.resize_with(level + 1, Vec::new);
            }
            waves[level].push(step);
        }
        waves
    }

    fn step_at(&self, node: NodeIndex) -> Option<StepId> {
        match self.topology[node] {
            Node::Step(step) => Some(step),
            Node::File(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(manifest: &str) -> Graph {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("build.ninja");
        std::fs::write(&path, manifest).unwrap();
        crate::build_dir::load_graph(&path).unwrap()
    }

    fn names(graph: &Graph, steps: &[StepId]) -> Vec<String> {
        let mut names: Vec<String> = steps
            .iter()
            .map(|&step| graph.path(graph.step(step).outs[0]).to_string())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn waves_follow_producers_through_any_input() {
        let manifest = "rule cc\n  command = cc $in -o $out\n\
            rule gen\n  command = gen $out\n\
            build gen.h: gen\n\
            build a.o: cc a.c || gen.h\n\
            build b.o: cc b.c\n\
            build all.a: cc a.o b.o\n\
            build both: phony all.a\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("build.ninja");
        std::fs::write(&path, manifest).unwrap();
        let graph = crate::build_dir::load_graph(&path).unwrap();
        let order: Vec<StepId> = (0..graph.steps.len()).map(|i| StepId(i as u32)).collect();
        let name = |step: &StepId| graph.path(graph.steps[step.index()].outs[0]).to_string();
        let names: Vec<Vec<String>> = graph
            .waves(&order)
            .iter()
            .map(|wave| wave.iter().map(name).collect())
            .collect();
        assert_eq!(
            names,
            vec![
                vec!["gen.h".to_string(), "b.o".to_string()],
                vec!["a.o".to_string()],
                vec!["all.a".to_string()],
                vec!["both".to_string()],
            ]
        );
    }

    #[test]
    fn steps_needed_follow_every_input_kind_but_not_validations() {
        let graph = load(
            "rule cc\n  command = cc $in -o $out\n\
             build gen.h: cc gen.in\n\
             build lib.o: cc lib.c\n\
             build a.o: cc a.c | lib.o || gen.h |@ lint\n\
             build lint: cc a.o\n\
             build other.o: cc other.c\n",
        );
        let a = graph.lookup("a.o").unwrap();
        assert_eq!(
            names(&graph, &graph.steps_needed(&[a])),
            vec!["a.o", "gen.h", "lib.o"]
        );
        let source = graph.lookup("a.c").unwrap();
        assert!(graph.steps_needed(&[source]).is_empty());
    }

    #[test]
    fn writer_is_the_producer_in_the_petgraph() {
        let graph = load("rule cc\n  command = cc $in -o $out\nbuild a.o b.o: cc a.c\n");
        for path in ["a.o", "b.o"] {
            let file = graph.lookup(path).unwrap();
            assert_eq!(graph.writer(file), graph.producer(file));
            assert!(graph.writer(file).is_some());
        }
        assert_eq!(graph.writer(graph.lookup("a.c").unwrap()), None);
    }
}
