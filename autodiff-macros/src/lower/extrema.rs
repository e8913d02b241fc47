//! Running maxima and minima (see [`Extremum`]), found once the body is lowered.
//!
//! The reverse of `m = m.max(e)` sends `m`'s adjoint to `m` or to `e`, depending on which the
//! forward `max` returned; in a loop that reads the old `m` of every iteration, so the loop saved
//! `m` on its tape and the reverse decided iteration by iteration, along a chain through the
//! carried adjoint. When nothing else in the loop reads `m`, the whole adjoint reaching the
//! loop's `m` ends at one place: the `e` of the last iteration whose `e` won (the carried
//! adjoint is zero before it), or the `m` the loop started from. The forward loop records that
//! iteration's loop variable in a carried `Option` (`won`), and the reverse compares it with the
//! loop variable, which a range regenerates: the loop saves nothing for `m`.
//!
//! The comparison is the rule's own (the runtime's `max_keeps_lhs`, `min_keeps_lhs`), so ties
//! and NaNs go where `max_adjoint_lhs` sends them.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ir::{value_ident, Block, Carried, Extremum, Graph, LoopKind, Node, Op, Stmt, ValueId};

/// Finds the running maxima and minima of `graph`'s loops, adds their `won` values and records
/// them in `graph.extrema`. `rt` is the runtime's path.
pub(super) fn find(graph: &mut Graph, rt: &TokenStream) {
    let uses = crate::ir::use_counts(graph);
    let mut body = std::mem::take(&mut graph.body);
    visit(&mut body, graph, &uses, rt);
    graph.body = body;
}

fn visit(block: &mut Block, graph: &mut Graph, uses: &[usize], rt: &TokenStream) {
    let mut i = 0;
    while i < block.stmts.len() {
        let mut before = None;
        match &mut block.stmts[i] {
            Stmt::If(r) => {
                visit(&mut r.then_block, graph, uses, rt);
                visit(&mut r.else_block, graph, uses, rt);
            }
            Stmt::Loop(l) => {
                visit(&mut l.body, graph, uses, rt);
                before = rewrite(l, graph, uses, rt);
            }
            _ => {}
        }
        // The `None`s the new carried values start from, evaluated before the loop.
        if let Some(inits) = before {
            let n = inits.len();
            for (k, init) in inits.into_iter().enumerate() {
                block.stmts.insert(i + k, Stmt::Eval(init));
            }
            i += n;
        }
        i += 1;
    }
}

/// Adds `won` to each running extremum of loop `l`; returns the values to evaluate before it.
fn rewrite(
    l: &mut crate::ir::LoopRegion,
    graph: &mut Graph,
    uses: &[usize],
    rt: &TokenStream,
) -> Option<Vec<ValueId>> {
    let LoopKind::For {
        range: true, bound, ..
    } = &l.kind
    else {
        return None;
    };
    let &at = bound.first()?;
    if l.broke.is_some() {
        return None;
    }
    let mut inits = Vec::new();
    let mut added = Vec::new();
    for c in &l.carried {
        let Some(running_lhs) = running(graph, uses, c) else {
            continue;
        };
        // Evaluated in the body itself: `won` is updated right after it.
        let Some(k) = l
            .body
            .stmts
            .iter()
            .position(|s| matches!(s, Stmt::Eval(v) if *v == c.next))
        else {
            continue;
        };
        let Op::Binary(f, _, lhs, rhs) = &graph.node(c.next).op else {
            continue;
        };
        let keeps = quote::format_ident!("{}_keeps_lhs", f.name);
        let (lhs, rhs) = (*lhs, *rhs);
        let span = graph.node(c.next).span;
        let init = push(
            graph,
            Op::Verbatim(quote!(::core::option::Option::None), Vec::new()),
            span,
            None,
        );
        let phi = push(graph, Op::Region, span, Some("won"));
        let exit = push(graph, Op::Region, span, Some("won"));
        let name = |v: ValueId| value_ident(&graph.nodes, &graph.param_names, v);
        let (l_name, r_name, phi_name, at_name) = (name(lhs), name(rhs), name(phi), name(at));
        let took = quote!(::core::option::Option::Some(#at_name));
        let (if_kept, if_not) = if running_lhs {
            (quote!(#phi_name), took)
        } else {
            (took, quote!(#phi_name))
        };
        let tokens = quote!(if #rt::#keeps(&#l_name, &#r_name) { #if_kept } else { #if_not });
        let next = push(
            graph,
            Op::Verbatim(tokens, vec![phi, lhs, rhs, at]),
            span,
            None,
        );
        // What the graph export shows.
        let var = graph.node(at).hint.clone().unwrap_or_default();
        graph.nodes[next.index()].source = Some(format!("the last {var} whose value won"));
        inits.push(init);
        added.push((
            k,
            Carried {
                phi,
                init,
                next,
                exit,
            },
        ));
        graph.extrema.push(Extremum {
            node: c.next,
            running: c.phi,
            won: exit,
            at,
        });
    }
    // Last position first, so that each insertion leaves the positions before it in place.
    let mut updates: Vec<(usize, ValueId)> = added.iter().map(|(k, c)| (*k, c.next)).collect();
    updates.sort_by_key(|&(k, _)| std::cmp::Reverse(k));
    for (k, next) in updates {
        l.body.stmts.insert(k + 1, Stmt::Eval(next));
    }
    l.carried.extend(added.into_iter().map(|(_, c)| c));
    (!inits.is_empty()).then_some(inits)
}

/// Adds a node no active value reaches.
fn push(graph: &mut Graph, op: Op, span: proc_macro2::Span, hint: Option<&str>) -> ValueId {
    let v = ValueId(u32::try_from(graph.nodes.len()).unwrap_or(u32::MAX));
    graph.nodes.push(Node {
        op,
        span,
        hint: hint.map(str::to_string),
        ty: None,
        mutable: false,
        changed_by_calls: false,
        source: None,
        reference: false,
    });
    graph.varied.push(false);
    v
}

/// Whether carried value `c` is a running extremum: its value at the end of the body is a
/// scalar `max` or `min` of its value at the start and another value, and nothing else reads
/// either. Returns whether the running value is the left operand.
fn running(graph: &Graph, uses: &[usize], c: &Carried) -> Option<bool> {
    let Op::Binary(f, _, lhs, rhs) = &graph.node(c.next).op else {
        return None;
    };
    if !matches!(f.name, "max" | "min") || lhs == rhs {
        return None;
    }
    if !graph.varied.get(c.next.index()).copied().unwrap_or(false) {
        return None;
    }
    let reference = |v: &ValueId| {
        let n = graph.node(*v);
        n.reference || n.op.holds_reference()
    };
    if reference(lhs) || reference(rhs) {
        return None;
    }
    let count = |v: ValueId| uses.get(v.index()).copied().unwrap_or(usize::MAX);
    if count(c.phi) != 1 || count(c.next) != 1 {
        return None;
    }
    (*lhs == c.phi || *rhs == c.phi).then_some(*lhs == c.phi)
}
