//! The crate's module dependencies point one way. Every `crate::<module>` reference in `src/`
//! is an edge from the top-level module that holds it to the one it names; the graph must have
//! no cycle, `outcome` must depend on nothing, and `telemetry` on nothing but `outcome`, so the
//! record of an invocation and what is derived from it stay leaves that any part may use.
//! (This reads the source text: a reference the compiler resolves otherwise, such as a glob
//! re-export, would escape it, and the crate uses none.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/live/read.rs` is module `live`, `src/xray.rs` module `xray`; the crate roots are none.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_owned())
}

/// The modules a file names as `crate::<module>` outside comments.
fn references(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            // `crate::{a, b::C}` names several modules at once (on one line here).
            let group = rest
                .strip_prefix('{')
                .map(|inner| inner.split('}').next().unwrap_or(""));
            let heads: Vec<&str> = match group {
                Some(items) => items.split(',').collect(),
                None => vec![rest],
            };
            for head in heads {
                let name: String = head
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != "self" {
                    found.insert(name);
                }
            }
        }
    }
    found
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let Some(module) = top_module(&src, &file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        let edges = graph.entry(module.clone()).or_default();
        edges.extend(references(&text).into_iter().filter(|m| *m != module));
    }
    graph
}

/// Tarjan's strongly connected components; any with more than one module is a cycle.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.found
}

#[test]
fn no_module_cycle() {
    let graph = graph();
    assert!(graph.len() > 10, "read too few modules: {graph:?}");
    assert_eq!(cycles(&graph), Vec::<Vec<String>>::new(), "{graph:#?}");
}

#[test]
fn the_outcome_record_and_telemetry_are_leaves() {
    let graph = graph();
    assert_eq!(graph["outcome"], BTreeSet::new());
    assert_eq!(graph["telemetry"], BTreeSet::from(["outcome".to_owned()]));
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let mut graph = Graph::new();
    graph.insert("a".into(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".into(), BTreeSet::from(["c".to_owned()]));
    graph.insert("c".into(), BTreeSet::from(["a".to_owned()]));
    graph.insert("d".into(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(cycles(&graph), vec![vec!["a", "b", "c"]]);
    assert_eq!(
        references("use crate::{x, y::Z}; crate::live::Clock // crate::config"),
        BTreeSet::from(["live".to_owned(), "x".to_owned(), "y".to_owned()])
    );
}
