//! Gradient traces: every float a differentiated function computes, with its adjoint, to see
//! where a gradient vanishes or explodes.
//!
//! `#[differentiate(trace)]` generates `NAME_trace(args…) -> (value, grad, Trace)`: the gradient
//! as `NAME_grad` computes it, and a [`Trace`] with one [`TraceEntry`] per evaluation of each
//! active float operation (a loop body's operations appear once per iteration), in evaluation
//! order. Print it as a table (`{}`), or as Graphviz DOT with [`Trace::to_dot`], where each node
//! reads `operation | value | grad` as micrograd draws it.

use std::collections::HashMap;
use std::fmt;
use std::fmt::Write as _;

use crate::scalar::Real;

/// One evaluation of one operation.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEntry {
    /// The operation's node in the function's graph (the `vN` of `NAME_graph()`).
    pub node: u32,
    /// The operation and the user's expression.
    pub label: &'static str,
    /// Its value.
    pub value: f64,
    /// Its adjoint: the derivative of the result with respect to this value. `None` for a
    /// value the reverse pass never reached (it did not influence the result).
    pub adjoint: Option<f64>,
}

/// The values and adjoints of one evaluation of a function (see the [module docs](self)).
///
/// Generated code fills it; by hand it reads:
///
/// ```
/// use autodiff_runtime::Trace;
///
/// let mut t = Trace::new();
/// t.value(3, "v3 exp: x.exp()", &1.0_f64.exp());
/// t.adjoint(3, &2.0_f64);
/// assert_eq!(t.entries[0].adjoint, Some(2.0));
/// assert!(t.to_string().contains("v3 exp"));
/// assert!(t.to_dot().contains("grad 2.0000e0"));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    /// In evaluation order.
    pub entries: Vec<TraceEntry>,
    /// For each node, the entries still waiting for their adjoint (the reverse pass meets a
    /// loop's iterations last first).
    open: HashMap<u32, Vec<usize>>,
}

impl Trace {
    /// An empty trace.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a value (called by generated code).
    pub fn value<T: Real>(&mut self, node: u32, label: &'static str, value: &T) {
        self.open.entry(node).or_default().push(self.entries.len());
        self.entries.push(TraceEntry {
            node,
            label,
            value: Real::as_f64(*value),
            adjoint: None,
        });
    }

    /// Records the adjoint of the latest evaluation of `node` still without one (called by
    /// generated code).
    pub fn adjoint<T: Real>(&mut self, node: u32, adjoint: &T) {
        if let Some(i) = self.open.get_mut(&node).and_then(Vec::pop) {
            self.entries[i].adjoint = Some(Real::as_f64(*adjoint));
        }
    }

    /// The entries whose adjoint is not finite, or zero where the value is not: where a gradient
    /// explodes or vanishes.
    pub fn suspicious(&self) -> impl Iterator<Item = &TraceEntry> {
        self.entries.iter().filter(|e| {
            e.adjoint
                .is_some_and(|a| !a.is_finite() || (a == 0.0 && e.value != 0.0))
        })
    }

    /// The trace as Graphviz DOT: one node per entry, `operation | value | grad`, in evaluation
    /// order.
    #[must_use]
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph trace {\n  rankdir=TB;\n  node [shape=record, fontname=\"monospace\", fontsize=10];\n");
        for (i, e) in self.entries.iter().enumerate() {
            let label = e
                .label
                .replace('"', "\\\"")
                .replace(['{', '}', '|', '<', '>'], " ");
            let grad = e.adjoint.map_or("—".to_owned(), |a| format!("{a:.4e}"));
            let _ = writeln!(
                out,
                "  e{i} [label=\"{{ {label} | value {:.4e} | grad {grad} }}\"];",
                e.value
            );
            if i > 0 {
                let _ = writeln!(out, "  e{} -> e{i} [style=invis];", i - 1);
            }
        }
        out.push_str("}\n");
        out
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:>5}  {:<40} {:>14} {:>14}",
            "node", "operation", "value", "adjoint"
        )?;
        for e in &self.entries {
            let label: String = e.label.replace('\n', "  ").chars().take(40).collect();
            let adjoint = e.adjoint.map_or("—".to_owned(), |a| format!("{a:.6e}"));
            writeln!(
                f,
                "{:>5}  {label:<40} {:>14.6e} {adjoint:>14}",
                e.node, e.value
            )?;
        }
        Ok(())
    }
}
