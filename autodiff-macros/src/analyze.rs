//! Activity analysis: which values carry a derivative.
//!
//! A value is *varied* when an active parameter reaches it, and *useful* when it reaches the
//! returned value. Lowering already knows which values are varied (it needs to, to keep constant
//! code as written). This pass finds the useful ones, backwards, through operations, array
//! writes and reads, branch merges and loop-carried values (a loop is a cycle, so the pass runs
//! to a fixed point). Only values that are both varied and useful get an adjoint; everything else
//! is emitted once, in the forward pass, as written.

use crate::ir::{Block, Graph, LoopKind, Stmt, ValueId};

/// The result of the analysis, indexed by value.
pub struct Activity {
    /// Varied and useful: the value gets an adjoint.
    pub active: Vec<bool>,
}

impl Activity {
    /// Whether value `v` gets an adjoint.
    pub fn is_active(&self, v: ValueId) -> bool {
        self.active.get(v.index()).copied().unwrap_or(false)
    }
}

/// Computes which values of `graph` get an adjoint.
pub fn activity(graph: &Graph) -> Activity {
    // "If `from` is useful, so is `to`."
    let mut edges: Vec<(ValueId, ValueId)> = Vec::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        let from = ValueId(u32::try_from(i).unwrap_or(u32::MAX));
        for to in node.op.differentiable_operands() {
            edges.push((from, to));
        }
    }
    collect_edges(&graph.body, &mut edges);

    let n = graph.nodes.len();
    let mut useful = vec![false; n];
    if let Some(u) = useful.get_mut(graph.ret.index()) {
        *u = true;
    }
    let mut changed = true;
    while changed {
        changed = false;
        for &(from, to) in &edges {
            if useful.get(from.index()).copied().unwrap_or(false)
                && !useful.get(to.index()).copied().unwrap_or(true)
            {
                useful[to.index()] = true;
                changed = true;
            }
        }
    }
    let varied = |i: usize| graph.varied.get(i).copied().unwrap_or(false);
    Activity {
        active: (0..n).map(|i| varied(i) && useful[i]).collect(),
    }
}

/// The edges regions add: array writes, merges, loop-carried values.
fn collect_edges(block: &Block, edges: &mut Vec<(ValueId, ValueId)>) {
    for stmt in &block.stmts {
        match stmt {
            Stmt::Eval(_) | Stmt::Verbatim { .. } => {}
            Stmt::Store { array, value, .. } => edges.push((*array, *value)),
            Stmt::If(r) => {
                for (out, t, e) in &r.merges {
                    edges.push((*out, *t));
                    edges.push((*out, *e));
                }
                collect_edges(&r.then_block, edges);
                collect_edges(&r.else_block, edges);
            }
            Stmt::Loop(l) => {
                for c in &l.carried {
                    edges.push((c.exit, c.phi));
                    edges.push((c.phi, c.next));
                    edges.push((c.phi, c.init));
                }
                if let LoopKind::For { .. } = l.kind {}
                collect_edges(&l.body, edges);
            }
        }
    }
}
