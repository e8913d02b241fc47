//! Activity analysis: which values carry a derivative.
//!
//! A value is *varied* when an active parameter reaches it (forward), and *useful* when it
//! reaches the returned value (backward). Only values that are both get an adjoint; everything
//! else is emitted once, in the forward pass, as written.
//!
//! Node ids are a topological order (a node is created after its operands), so one pass each way
//! over the node list suffices.

use crate::ir::{Graph, Op};
use crate::parse::Signature;

/// The result of the analysis, indexed by value.
pub struct Activity {
    /// Varied and useful: the value gets an adjoint.
    pub active: Vec<bool>,
}

impl Activity {
    /// Whether value `v` gets an adjoint.
    pub fn is_active(&self, v: crate::ir::ValueId) -> bool {
        self.active.get(v.index()).copied().unwrap_or(false)
    }
}

/// Computes which values of `graph` get an adjoint.
pub fn activity(graph: &Graph, sig: &Signature) -> Activity {
    let n = graph.nodes.len();
    let mut varied = vec![false; n];
    for (i, node) in graph.nodes.iter().enumerate() {
        varied[i] = match node.op {
            Op::Param(p) => sig.params.get(p).is_some_and(|p| p.active),
            _ => node
                .op
                .differentiable_operands()
                .iter()
                .any(|o| varied.get(o.index()).copied().unwrap_or(false)),
        };
    }
    let mut useful = vec![false; n];
    if let Some(u) = useful.get_mut(graph.ret.index()) {
        *u = true;
    }
    for i in (0..n).rev() {
        if useful[i] && varied[i] {
            for o in graph.nodes[i].op.differentiable_operands() {
                if let Some(u) = useful.get_mut(o.index()) {
                    *u = true;
                }
            }
        }
    }
    Activity {
        active: varied.iter().zip(&useful).map(|(v, u)| *v && *u).collect(),
    }
}
