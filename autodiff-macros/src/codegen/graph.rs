//! The computation graph as Graphviz DOT text, made at compile time: what `NAME_graph()`
//! returns.
//!
//! Nodes are the user's operations, labelled with the operation and the source text it came
//! from; edges are the data flow (operand to result). Active values (those with an adjoint) are
//! drawn solid, inactive ones (constants, indices, values that do not reach the result) grey and
//! dashed; the result has a double border. Loops and branches are clusters.

use std::fmt::Write as _;

use quote::ToTokens;

use crate::analyze::Activity;
use crate::ir::{Block, Graph, LoopKind, Op, Stmt, ValueId};

/// The DOT text of `graph`, for the function `name`.
pub fn dot(graph: &Graph, activity: &Activity, name: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quoted(name));
    out.push_str("  rankdir=TB;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n");
    for (i, node) in graph.nodes.iter().enumerate() {
        if let Op::Param(p) = node.op {
            let v = ValueId(u32::try_from(i).unwrap_or(u32::MAX));
            let pname = graph
                .param_names
                .get(p)
                .map(ToString::to_string)
                .unwrap_or_default();
            let style = if activity.is_active(v) {
                "shape=ellipse, style=bold"
            } else {
                "shape=ellipse, style=dashed, color=grey50, fontcolor=grey40"
            };
            let _ = writeln!(
                out,
                "  v{i} [label={}, {style}];",
                quoted(&format!("param {pname}"))
            );
        }
    }
    let mut edges = Vec::new();
    let mut cluster = 0;
    block(
        graph,
        activity,
        &graph.body,
        1,
        &mut cluster,
        &mut out,
        &mut edges,
    );
    for (from, to) in edges {
        let _ = writeln!(out, "  v{} -> v{};", from.0, to.0);
    }
    let _ = writeln!(
        out,
        "  ret [label=\"return\", shape=doublecircle];\n  v{} -> ret;",
        graph.ret.0
    );
    out.push_str("}\n");
    out
}

fn block(
    graph: &Graph,
    activity: &Activity,
    b: &Block,
    depth: usize,
    cluster: &mut usize,
    out: &mut String,
    edges: &mut Vec<(ValueId, ValueId)>,
) {
    let pad = "  ".repeat(depth);
    for stmt in &b.stmts {
        match stmt {
            Stmt::Eval(v) => {
                let node = graph.node(*v);
                let op = match &node.op {
                    Op::Param(_) | Op::Region => continue,
                    Op::Verbatim(..) => "constant".to_owned(),
                    Op::Unary(u, ..) => u.name.to_owned(),
                    Op::Binary(f, ..) => f.name.to_owned(),
                    Op::Powi(..) => "powi".to_owned(),
                    Op::MulAdd(..) => "mul_add".to_owned(),
                    Op::Clamp(..) => "clamp".to_owned(),
                    Op::Copy(_) => "copy".to_owned(),
                    Op::Index(..) => "index".to_owned(),
                    Op::Element(..) => "element".to_owned(),
                    Op::Tensor(t, _) => t.name.to_owned(),
                    Op::Field(_, m) => format!("field .{}", m.to_token_stream()),
                    Op::Call(c, _) => format!("call {}", crate::parse::type_text(&c.path.path)),
                };
                let source = node
                    .source
                    .clone()
                    .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                    .map(|s| {
                        if s.chars().count() > 40 {
                            format!("{}…", s.chars().take(39).collect::<String>())
                        } else {
                            s
                        }
                    });
                let mut label = op;
                if let Some(h) = &node.hint {
                    let _ = write!(label, " → {h}");
                }
                if let Some(s) = source {
                    let _ = write!(label, "\n{s}");
                }
                let style = if activity.is_active(*v) {
                    ""
                } else {
                    ", style=dashed, color=grey50, fontcolor=grey40"
                };
                let _ = writeln!(out, "{pad}v{} [label={}{style}];", v.0, quoted(&label));
                // One edge per operand, also for `x * x` (only this node's edges are checked:
                // searching all of them made a big function's graph quadratic).
                let first = edges.len();
                for o in node.op.operands() {
                    if !edges[first..].contains(&(o, *v)) {
                        edges.push((o, *v));
                    }
                }
            }
            Stmt::Verbatim { .. } => {}
            Stmt::Store { array, value, .. } => edges.push((*value, *array)),
            Stmt::If(r) => {
                for (side, blk) in [("then", &r.then_block), ("else", &r.else_block)] {
                    *cluster += 1;
                    let _ = writeln!(
                        out,
                        "{pad}subgraph cluster_{} {{ label={}; style=rounded;",
                        cluster,
                        quoted(&format!("if … {side}"))
                    );
                    block(graph, activity, blk, depth + 1, cluster, out, edges);
                    let _ = writeln!(out, "{pad}}}");
                }
                for (o, t, e) in &r.merges {
                    region_value(graph, activity, *o, "merge", &pad, out);
                    edges.push((*t, *o));
                    edges.push((*e, *o));
                }
            }
            Stmt::Loop(l) => {
                *cluster += 1;
                let title = match &l.kind {
                    LoopKind::For { bound, .. } => {
                        let names: Vec<String> = bound
                            .iter()
                            .filter_map(|v| graph.node(*v).hint.clone())
                            .collect();
                        format!("for {}", names.join(", "))
                    }
                    LoopKind::Loop => "loop".to_owned(),
                };
                let _ = writeln!(
                    out,
                    "{pad}subgraph cluster_{} {{ label={}; style=rounded;",
                    cluster,
                    quoted(&title)
                );
                if let LoopKind::For { bound, .. } = &l.kind {
                    for v in bound {
                        region_value(graph, activity, *v, "loop variable", &pad, out);
                    }
                }
                for c in &l.carried {
                    region_value(graph, activity, c.phi, "carried", &pad, out);
                    edges.push((c.init, c.phi));
                    edges.push((c.next, c.phi));
                }
                block(graph, activity, &l.body, depth + 1, cluster, out, edges);
                let _ = writeln!(out, "{pad}}}");
                for c in &l.carried {
                    region_value(graph, activity, c.exit, "after loop", &pad, out);
                    edges.push((c.phi, c.exit));
                }
            }
        }
    }
}

fn region_value(
    graph: &Graph,
    activity: &Activity,
    v: ValueId,
    what: &str,
    pad: &str,
    out: &mut String,
) {
    let mut label = what.to_owned();
    if let Some(h) = &graph.node(v).hint {
        let _ = write!(label, " {h}");
    }
    let style = if activity.is_active(v) {
        ""
    } else {
        ", style=dashed, color=grey50, fontcolor=grey40"
    };
    let _ = writeln!(
        out,
        "{pad}v{} [label={}, shape=ellipse{style}];",
        v.0,
        quoted(&label)
    );
}

/// Whether a node is an operation a gradient trace records (not a parameter, a region value or
/// a constant).
pub fn traced(op: &Op) -> bool {
    !matches!(op, Op::Param(_) | Op::Region | Op::Verbatim(..))
}

/// An operation and the user's expression, on one line: what a trace calls a node.
pub fn label(graph: &Graph, v: ValueId) -> String {
    let node = graph.node(v);
    let op = match &node.op {
        Op::Unary(u, ..) => u.name.to_owned(),
        Op::Binary(f, ..) => f.name.to_owned(),
        Op::Tensor(t, _) => t.name.to_owned(),
        Op::Call(c, _) => format!("call {}", crate::parse::type_text(&c.path.path)),
        Op::Field(_, m) => format!("field .{}", m.to_token_stream()),
        Op::Powi(..) => "powi".to_owned(),
        Op::MulAdd(..) => "mul_add".to_owned(),
        Op::Clamp(..) => "clamp".to_owned(),
        Op::Copy(_) => "copy".to_owned(),
        Op::Index(..) => "index".to_owned(),
        Op::Element(..) => "element".to_owned(),
        Op::Param(_) | Op::Region | Op::Verbatim(..) => "value".to_owned(),
    };
    let mut text = format!("v{} {op}", v.0);
    if let Some(h) = &node.hint {
        let _ = write!(text, " → {h}");
    }
    if let Some(s) = &node.source {
        let s: Vec<&str> = s.split_whitespace().collect();
        let _ = write!(text, ": {}", s.join(" "));
    }
    text
}

/// A DOT string literal.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
