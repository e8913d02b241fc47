//! The forward pass: the user's computation, one node a statement, with regions saving what
//! their reverse pass needs.
//!
//! Input (IR): a loop carrying `s`, whose body reads `x[i]`.
//! Output (abridged):
//! ```text
//! let mut __s_4 = __s_1;                                   // the carried value's binding
//! let __t5 = IntoIterator::into_iter(0..n);
//! let mut __tape_9 = Tape::with_capacity(size_hint(&__t5).0);
//! for __i_6 in __t5 {
//!     let __t7 = x[__i_6];
//!     let __s_8 = __s_4 + __t7;
//!     __tape_9.push((__i_6,));                             // what the reverse pass reads
//!     __s_4 = __s_8;
//! }
//! let __s_10 = __s_4;                                      // the value after the loop
//! ```
//! A loop that runs exactly its range and saves only floats, counters and hoisted reads takes
//! its run's slots before it starts instead of pushing (`let __run = __tape_9.run_slots(n);`,
//! `for (__i_6, __slot) in zip(range, __run) { ...; *__slot = (__i_6,); }`): a push may grow
//! the tape, a call in the loop that keeps its float sums in memory.
//! A branch returns its merged values and, for each side, an `Option` of what that side's
//! reverse pass reads: `let (__y_5, __saved_6, __saved_7) = if c { ...; (a, Some((..)), None) }
//! else { ...; (b, None, Some((..))) };`.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};

use super::reverse::Context;
use super::Plan;
use crate::ir::{Block, CallForm, IfRegion, LoopKind, LoopRegion, Op, Stmt, ValueId};

/// The forward pass of the function body.
pub(super) fn pass(cx: &Context<'_>, plan: &Plan) -> TokenStream {
    let mut out = TokenStream::new();
    // Array parameters' adjoints, before anything can move the parameter.
    for (a, zero) in cx.forward_arrays() {
        if let Op::Param(_) = cx.graph.node(a).op {
            let adjoint = cx.graph.adjoint_ident(a);
            out.extend([quote!(let mut #adjoint = #zero;)]);
        }
    }
    // The tapes of loops inside regions, shared by all their runs.
    let shared = shared_tapes(cx, plan, &cx.graph.body);
    for tape in &shared {
        let rt = cx.rt;
        out.extend([quote!(let mut #tape = #rt::Tape::new();)]);
    }
    // The snapshots' tapes (see `Layout::find_snapshots`).
    let mut snapshots: Vec<Ident> = Vec::new();
    let mut arrays: Vec<(ValueId, ValueId)> = cx
        .layout
        .snapshots
        .keys()
        .filter(|tape| plan.has_reverse.contains(tape) && !plan.fused.contains_key(tape))
        .flat_map(|tape| cx.snapshots(plan, *tape).into_iter().map(|a| (*tape, a)))
        .collect();
    arrays.sort();
    for (_, a) in arrays {
        snapshots.push(cx.snapshot_tape(a, false));
    }
    let rt = cx.rt;
    for tape in &snapshots {
        out.extend([quote!(let mut #tape = #rt::Tape::new();)]);
    }
    out.extend([block(cx, plan, &cx.graph.body)]);
    for tape in shared.iter().chain(&snapshots) {
        out.extend([quote!(#rt::record_tape(&#tape);)]);
    }
    out
}

/// The tapes shared by all runs of a loop inside another region.
fn shared_tapes(cx: &Context<'_>, plan: &Plan, b: &Block) -> Vec<Ident> {
    let mut out = Vec::new();
    for stmt in &b.stmts {
        match stmt {
            Stmt::If(r) => {
                out.extend(shared_tapes(cx, plan, &r.then_block));
                out.extend(shared_tapes(cx, plan, &r.else_block));
            }
            Stmt::Loop(l) => {
                if plan.has_reverse.contains(&l.tape) && !cx.tapeless(plan, l) && cx.shared_tape(l)
                {
                    out.push(cx.tape_ident(l));
                }
                out.extend(shared_tapes(cx, plan, &l.body));
            }
            Stmt::Eval(_) | Stmt::Verbatim { .. } | Stmt::Store { .. } => {}
        }
    }
    out
}

fn block(cx: &Context<'_>, plan: &Plan, b: &Block) -> TokenStream {
    let graph = cx.graph;
    let mut out = TokenStream::new();
    let arrays_here: Vec<(ValueId, TokenStream)> = if b.id == 0 {
        cx.forward_arrays()
            .into_iter()
            .filter(|(a, _)| !matches!(graph.node(*a).op, Op::Param(_)))
            .collect()
    } else {
        Vec::new()
    };
    let mut k = 0;
    while k < b.stmts.len() {
        // Loops over one range in a row, each element-wise: one loop (see `fused_loops`).
        if let Some((taken, between, fused)) = fused_loops(cx, plan, &b.stmts[k..]) {
            for v in between {
                statement(cx, plan, &Stmt::Eval(v), &arrays_here, &mut out);
            }
            out.extend([fused]);
            k += taken + 1;
            continue;
        }
        statement(cx, plan, &b.stmts[k], &arrays_here, &mut out);
        k += 1;
    }
    out
}

/// One statement of a block's forward pass; `arrays_here`: the arrays of the function body whose
/// adjoints are made with them.
fn statement(
    cx: &Context<'_>,
    plan: &Plan,
    stmt: &Stmt,
    arrays_here: &[(ValueId, TokenStream)],
    out: &mut TokenStream,
) {
    let graph = cx.graph;
    {
        match stmt {
            Stmt::Eval(v) => {
                let node = graph.node(*v);
                let name = graph.value_ident(*v);
                let ty = node.ty.as_ref().map(|t| quote!(: #t));
                let mutability = node.mutable.then(|| quote!(mut));
                match &node.op {
                    // A call with a float result: its value and its gradient for a unit seed.
                    Op::Call(c, args) if cx.unit_seed_call(*v) => {
                        let grads = graph.value_ident(c.grads);
                        let vjp = Context::vjp_all_path(c);
                        let args = cx.call_arguments(c, args);
                        let rt = cx.rt;
                        let ty = node.ty.as_ref().map(|t| quote!(: (#t, _)));
                        out.extend([quote_spanned!(node.span=>
                            let (#mutability #name, #grads) #ty = #vjp(#(#args,)* #rt::one());
                        )]);
                    }
                    _ => {
                        let expr = expression(cx, *v);
                        out.extend([
                            quote_spanned!(node.span=> let #mutability #name #ty = #expr;),
                        ]);
                    }
                }
                if let Some(trace) = cx.trace {
                    if cx.activity.is_active(*v)
                        && cx.is_scalar(*v)
                        && super::graph::traced(&node.op)
                    {
                        let label = super::graph::label(graph, *v);
                        let id = v.0;
                        out.extend([quote!(#trace.value(#id, #label, &#name);)]);
                    }
                }
                // An array's adjoint is made with the array, while its shape is at hand.
                if let Some((_, zero)) = arrays_here.iter().find(|(a, _)| a == v) {
                    let adjoint = graph.adjoint_ident(*v);
                    out.extend([quote!(let mut #adjoint = #zero;)]);
                }
            }
            Stmt::Verbatim { bindings, tokens } => {
                out.extend([verbatim_statement(cx, bindings, tokens)]);
            }
            Stmt::Store {
                array,
                indices,
                value,
                span,
            } => {
                let array = graph.value_ident(*array);
                let indices = indices.iter().map(|i| graph.value_ident(*i));
                let value = graph.value_ident(*value);
                out.extend([quote_spanned!(*span=> #array #([#indices])* = #value;)]);
            }
            Stmt::If(r) => out.extend([if_region(cx, plan, r)]),
            Stmt::Loop(l) => out.extend([loop_region(cx, plan, l)]),
        }
    }
}

/// Loops over the same range in a row (`for j in 0..d { xc[j] = x[j] - mu[j]; }` then
/// `for j in 0..d { z[j] = q[j] * xc[j]; }`) run as one loop, each iteration running the
/// first loop's body and then the second's: the same operations on the same values, so the
/// same bits, with one loop's overhead (and, for the optimiser, one loop's checks that the
/// arrays do not overlap). Only where nothing can tell: both loops walk a range written out,
/// carry nothing, keep no tape and no snapshot, break nowhere, call nothing and keep no
/// statement as written (`println!`), and every array one of them writes is touched by both
/// only at the loop variable (`y[j]`), so that an iteration reads only what the same
/// iteration wrote. The statements between the loops (the second range, `0..d`: expressions
/// kept as written, bound once) are evaluated before the fused loop: they must read nothing the
/// loops write. Returns how many statements after `stmts[0]` it took, the statements between
/// to evaluate first, and the loop; `None` when `stmts` does not start such a run.
fn fused_loops(
    cx: &Context<'_>,
    plan: &Plan,
    stmts: &[Stmt],
) -> Option<(usize, Vec<ValueId>, TokenStream)> {
    if cx.trace.is_some() {
        return None;
    }
    let Some(Stmt::Loop(first)) = stmts.first() else {
        return None;
    };
    let mut loops = vec![plain_loop(cx, plan, first)?];
    let mut between: Vec<ValueId> = Vec::new();
    let mut taken = 0;
    let mut pending: Vec<ValueId> = Vec::new();
    for (i, stmt) in stmts.iter().enumerate().skip(1) {
        match stmt {
            // A range or a length: pure, and reading nothing the loops write.
            Stmt::Eval(v) => match &cx.graph.node(*v).op {
                Op::Verbatim(_, reads)
                    if !cx.graph.node(*v).mutable
                        && reads
                            .iter()
                            .all(|r| loops.iter().all(|l| !l.writes.contains(r))) =>
                {
                    pending.push(*v);
                }
                _ => break,
            },
            Stmt::Loop(l) => {
                let Some(next) = plain_loop(cx, plan, l) else {
                    break;
                };
                if !same_range(cx.graph, loops[0].iter, next.iter)
                    || !loops.iter().all(|a| independent(a, &next))
                {
                    break;
                }
                loops.push(next);
                between.append(&mut pending);
                taken = i;
            }
            _ => break,
        }
    }
    if loops.len() < 2 {
        return None;
    }
    let graph = cx.graph;
    let mut out = TokenStream::new();
    let head = &loops[0];
    let var = graph.value_ident(head.var);
    let mut body = TokenStream::new();
    for (n, l) in loops.iter().enumerate() {
        if n > 0 {
            let theirs = graph.value_ident(l.var);
            body.extend([quote!(let #theirs = #var;)]);
        }
        body.extend([block(cx, plan, &l.region.body)]);
    }
    // The ranges stay for the reverse passes that walk them again; the first is walked here.
    let iter = graph.value_ident(head.iter);
    let (rows, body) =
        super::rows::cut_rows(body, (&var, &iter, &quote!(#var)), cx.row_arrays(), cx.rt);
    out.extend([rows]);
    out.extend([quote_spanned!(head.region.span=>
        for #var in ::core::clone::Clone::clone(&#iter) { #body }
    )]);
    Some((taken, between, out))
}

/// A loop [`fused_loops`] may run fused: its range, its variable, the arrays it writes, and
/// the arrays it touches, each with whether every access is at the loop variable.
struct PlainLoop<'a> {
    region: &'a LoopRegion,
    iter: ValueId,
    var: ValueId,
    writes: Vec<ValueId>,
    at_var_only: Vec<(ValueId, bool)>,
}

fn plain_loop<'a>(cx: &Context<'_>, plan: &Plan, l: &'a LoopRegion) -> Option<PlainLoop<'a>> {
    let (iter, var) = l.range_and_var()?;
    let reversed = plan.has_reverse.contains(&l.tape);
    let quiet = l.carried.is_empty()
        && l.broke.is_none()
        && (!reversed || cx.tapeless(plan, l))
        && !plan.fused.contains_key(&l.tape)
        && cx.layout.hoisted.values().all(|t| *t != l.tape)
        && cx.snapshots(plan, l.tape).is_empty();
    if !quiet {
        return None;
    }
    let mut this = PlainLoop {
        region: l,
        iter,
        var,
        writes: Vec::new(),
        at_var_only: Vec::new(),
    };
    let touch = |this: &mut PlainLoop<'_>, array: ValueId, indices: &[ValueId]| {
        let at = indices == [var];
        match this.at_var_only.iter_mut().find(|(a, _)| *a == array) {
            Some((_, all)) => *all &= at,
            None => this.at_var_only.push((array, at)),
        }
    };
    for st in &l.body.stmts {
        match st {
            Stmt::Eval(v) => match &cx.graph.node(*v).op {
                Op::Call(..) => return None,
                Op::Index(array, indices) => touch(&mut this, *array, indices),
                // Anything else that names an array (an element read kept as written,
                // `y[n - 1 - i]` of an inactive `y`; a copy of the whole array) may read any
                // element of it.
                op => {
                    for operand in op.operands() {
                        touch(&mut this, operand, &[]);
                    }
                }
            },
            Stmt::Store {
                array,
                indices,
                value,
                ..
            } => {
                this.writes.push(*array);
                touch(&mut this, *array, indices);
                // A whole array stored as an element (`m[i] = row`) is read whole.
                touch(&mut this, *value, &[]);
            }
            Stmt::Verbatim { .. } | Stmt::If(_) | Stmt::Loop(_) => return None,
        }
    }
    Some(this)
}

/// Whether `b` may run fused after `a`: every array either writes is touched by both only at
/// the loop variable.
fn independent(a: &PlainLoop<'_>, b: &PlainLoop<'_>) -> bool {
    let at_var_only = |l: &PlainLoop<'_>, array: ValueId| {
        l.at_var_only
            .iter()
            .find(|(x, _)| *x == array)
            .is_none_or(|(_, all)| *all)
    };
    a.writes.iter().chain(&b.writes).all(|w| {
        let touched_by_both =
            a.at_var_only.iter().any(|(x, _)| x == w) && b.at_var_only.iter().any(|(x, _)| x == w);
        !touched_by_both || (at_var_only(a, *w) && at_var_only(b, *w))
    })
}

/// Whether two ranges are one: the same value, or the same expression of the same values.
pub(super) fn same_range(graph: &crate::ir::Graph, a: ValueId, b: ValueId) -> bool {
    a == b
        || match (&graph.node(a).op, &graph.node(b).op) {
            (Op::Verbatim(ta, va), Op::Verbatim(tb, vb)) => {
                va == vb && ta.to_string() == tb.to_string()
            }
            _ => false,
        }
}

/// `(a, b, c,)` of the values a block saves.
fn saved_tuple(cx: &Context<'_>, plan: &Plan, id: u32) -> TokenStream {
    let saves = cx.saves(plan, id).into_iter().map(|v| cx.saved_copy(v));
    quote!((#(#saves,)*))
}

fn if_region(cx: &Context<'_>, plan: &Plan, r: &IfRegion) -> TokenStream {
    let graph = cx.graph;
    let cond = graph.value_ident(r.cond);
    let then_body = block(cx, plan, &r.then_block);
    let else_body = block(cx, plan, &r.else_block);
    // An array the branches leave and the code after them writes is a `mut` binding.
    let mut outs: Vec<TokenStream> = r
        .merges
        .iter()
        .map(|(o, _, _)| {
            let name = graph.value_ident(*o);
            let mutability = graph.node(*o).mutable.then(|| quote!(mut));
            quote!(#mutability #name)
        })
        .collect();
    let mut then_vals: Vec<TokenStream> =
        r.merges.iter().map(|(_, t, _)| cx.owned_copy(*t)).collect();
    let mut else_vals: Vec<TokenStream> =
        r.merges.iter().map(|(_, _, e)| cx.owned_copy(*e)).collect();
    if plan.has_reverse.contains(&r.then_saved) {
        outs.push(graph.value_ident(r.then_saved).into_token_stream());
        outs.push(graph.value_ident(r.else_saved).into_token_stream());
        let then_saved = saved_tuple(cx, plan, r.then_block.id);
        let else_saved = saved_tuple(cx, plan, r.else_block.id);
        then_vals.push(quote!(::core::option::Option::Some(#then_saved)));
        then_vals.push(quote!(::core::option::Option::None));
        else_vals.push(quote!(::core::option::Option::None));
        else_vals.push(quote!(::core::option::Option::Some(#else_saved)));
    }
    if outs.is_empty() {
        if else_body.is_empty() {
            return quote!(if #cond { #then_body });
        }
        return quote!(if #cond { #then_body } else { #else_body });
    }
    // An array the branches leave (`let v = if c { x } else { y };`): its adjoint is made
    // with it, as for any array of the function body.
    let arrays = cx.forward_arrays();
    let adjoints = r.merges.iter().filter_map(|(o, _, _)| {
        let (_, zero) = arrays.iter().find(|(a, _)| a == o)?;
        let adjoint = graph.adjoint_ident(*o);
        Some(quote!(let mut #adjoint = #zero;))
    });
    quote! {
        let (#(#outs,)*) = if #cond {
            #then_body
            (#(#then_vals,)*)
        } else {
            #else_body
            (#(#else_vals,)*)
        };
        #(#adjoints)*
    }
}

fn loop_region(cx: &Context<'_>, plan: &Plan, l: &LoopRegion) -> TokenStream {
    let graph = cx.graph;
    let mut out = TokenStream::new();
    for c in &l.carried {
        let phi = graph.value_ident(c.phi);
        let init = cx.owned_copy(c.init);
        let mutability = (c.next != c.phi).then(|| quote!(mut));
        out.extend([quote!(let #mutability #phi = #init;)]);
    }
    let reversed = plan.has_reverse.contains(&l.tape);
    let taped = reversed && !cx.tapeless(plan, l);
    let shared = taped && cx.shared_tape(l);
    let tape = cx.tape_ident(l);
    let slots = taped && cx.slotted(plan, l);
    let slot = Ident::new("__slot", Span::mixed_site());
    let run = Ident::new("__run", Span::mixed_site());
    let size_hint = match &l.kind {
        LoopKind::For { iter, .. } => {
            let iter = graph.value_ident(*iter);
            Some(quote!(::core::iter::Iterator::size_hint(&#iter).0))
        }
        LoopKind::Loop => None,
    };
    if shared {
        // The tape was declared where the function starts; this run's entries start here.
        if !cx.regenerates(l) {
            let start = graph.value_ident(l.tape);
            out.extend([quote!(let #start = #tape.len();)]);
        }
        if let Some(hint) = &size_hint {
            out.extend([if slots {
                quote!(let #run = #tape.run_slots(#hint);)
            } else {
                quote!(#tape.reserve(#hint);)
            }]);
        }
    } else if taped {
        let rt = cx.rt;
        out.extend([match &size_hint {
            Some(hint) if slots => quote! {
                let mut #tape = #rt::Tape::new();
                let #run = #tape.run_slots(#hint);
            },
            Some(hint) => quote!(let mut #tape = #rt::Tape::with_capacity(#hint);),
            None => quote!(let mut #tape = #rt::Tape::new();),
        }]);
    }
    // Reads that are the same in every iteration, read once more here to be saved once.
    let mut hoisted: Vec<ValueId> = cx
        .layout
        .hoisted
        .iter()
        .filter(|(v, tape)| {
            **tape == l.tape && plan.referenced.contains(v) && !cx.rematerializable(**v)
        })
        .map(|(v, _)| *v)
        .collect();
    hoisted.sort();
    for v in hoisted {
        if let Some(read) = element_read(cx, v, None, true) {
            let name = graph.value_ident(v);
            out.extend([quote!(let #name = #read;)]);
        }
    }
    let mut body = block(cx, plan, &l.body);
    // Snapshots of the scratch arrays as the iteration leaves them, for its reverse pass.
    if reversed && !plan.fused.contains_key(&l.tape) {
        for a in cx.snapshots(plan, l.tape) {
            let snap = cx.snapshot_tape(a, false);
            let array = graph.value_ident(a);
            body.extend([quote!(#snap.save_slice(&#array[..]);)]);
        }
    }
    // A loop whose reverse runs iteration by iteration: its adjoints start before it, and each
    // iteration's reverse follows the iteration.
    if let Some((before, each)) = plan.fused.get(&l.tape) {
        out.extend([before.clone()]);
        body.extend([quote!({ #each })]);
    }
    if taped {
        let saved = saved_tuple(cx, plan, l.body.id);
        body.extend([if slots {
            quote!(*#slot = #saved;)
        } else {
            quote!(#tape.push(#saved);)
        }]);
    }
    let updates = l
        .carried
        .iter()
        .filter(|c| c.next != c.phi)
        .map(|c| {
            let next = graph.value_ident(c.next);
            (graph.value_ident(c.phi), quote!(#next))
        })
        .collect();
    body.extend([carried_updates(updates)]);
    if let Some(broke) = l.broke {
        let broke = graph.value_ident(broke);
        body.extend([quote!(if #broke { break; })]);
    }
    // Adjoint elements carried between iterations in locals, then rows of the arrays the body
    // indexes at the loop variable plus an offset, cut once.
    let mut carried_out = TokenStream::new();
    if let (Some((iter, var)), None, LoopKind::For { pattern, .. }) =
        (l.range_and_var(), l.broke, &l.kind)
    {
        let (var, iter) = (graph.value_ident(var), graph.value_ident(iter));
        if let Some(up) = super::reverse::range_direction(graph, l) {
            let (before, carried, after) = super::rows::carry_neighbours(
                body,
                (&var, &iter, pattern, up),
                cx.float_arrays(),
                cx.rt,
            );
            out.extend([before]);
            carried_out = after;
            body = carried;
        }
        let (rows, cut) =
            super::rows::cut_rows(body, (&var, &iter, pattern), cx.row_arrays(), cx.rt);
        out.extend([rows]);
        body = cut;
    }
    out.extend([match &l.kind {
        LoopKind::For { iter, pattern, .. } if slots => {
            // The range again backwards in the reverse pass, and a slot for each iteration.
            let iter = graph.value_ident(*iter);
            quote_spanned!(l.span=> for (#pattern, #slot) in ::core::iter::Iterator::zip(::core::clone::Clone::clone(&#iter), ::core::iter::IntoIterator::into_iter(#run)) { #body })
        }
        LoopKind::For { iter, pattern, .. } if reversed && cx.regenerates(l) => {
            // The reverse pass walks the same range backwards: iterate over a copy.
            let iter = graph.value_ident(*iter);
            quote_spanned!(l.span=> for #pattern in ::core::clone::Clone::clone(&#iter) { #body })
        }
        LoopKind::For { iter, pattern, .. } => {
            let iter = graph.value_ident(*iter);
            quote_spanned!(l.span=> for #pattern in #iter { #body })
        }
        LoopKind::Loop => quote_spanned!(l.span=> loop { #body }),
    }]);
    out.extend([carried_out]);
    if taped && !shared {
        let rt = cx.rt;
        out.extend([quote!(#rt::record_tape(&#tape);)]);
    }
    for c in &l.carried {
        let exit = graph.value_ident(c.exit);
        let phi = graph.value_ident(c.phi);
        out.extend([quote!(let #exit = #phi;)]);
    }
    // An array the loop leaves (`y = step(&y)` in the loop, `y[0]` after it): its adjoint is
    // made with it, as for any array of the function body.
    let arrays = cx.forward_arrays();
    for c in &l.carried {
        if let Some((_, zero)) = arrays.iter().find(|(a, _)| *a == c.exit) {
            let adjoint = graph.adjoint_ident(c.exit);
            out.extend([quote!(let mut #adjoint = #zero;)]);
        }
    }
    out
}

/// An element read `a[i]` of `from` in place of `a` (a snapshot of it); `checked`: as a read
/// hoisted out of its loop is read before the loop, `Some(a[i])` or `None` when out of bounds
/// (the loop may run zero times).
pub(super) fn element_read(
    cx: &Context<'_>,
    v: ValueId,
    from: Option<&Ident>,
    checked: bool,
) -> Option<TokenStream> {
    let graph = cx.graph;
    let Op::Index(array, indices) = &graph.node(v).op else {
        return None;
    };
    let mut read = match from {
        Some(from) => from.to_token_stream(),
        None => graph.value_ident(*array).to_token_stream(),
    };
    for (k, i) in indices.iter().enumerate() {
        let i = graph.value_ident(*i);
        read = match (checked, k) {
            (false, _) => quote!(#read[#i]),
            (true, 0) => quote!(#read.get(#i)),
            (true, _) => quote!(#read.and_then(|__row| __row.get(#i))),
        };
    }
    Some(if checked {
        quote!(#read.copied())
    } else {
        read
    })
}

/// The expression a node evaluates, in the user's spelling; for values that may be tensors,
/// the runtime's operations on references, which compute the same and move nothing.
pub(super) fn expression(cx: &Context<'_>, id: ValueId) -> TokenStream {
    let graph = cx.graph;
    let rt = cx.rt;
    let op = &graph.node(id).op;
    let v = |id: &ValueId| graph.value_ident(*id);
    let call = |form: &CallForm, args: &[&ValueId]| {
        let args: Vec<Ident> = args.iter().map(|a| v(a)).collect();
        match form {
            CallForm::Method(m) => {
                let (recv, rest) = (&args[0], &args[1..]);
                quote!(#recv.#m(#(#rest),*))
            }
            CallForm::Path(p) => quote!(#p(#(#args),*)),
            CallForm::Mapv(p) => {
                let recv = &args[0];
                quote!(#recv.mapv(#p))
            }
        }
    };
    // A float field's value is the reference `&p.a` (a field may be an array): `*` it for
    // arithmetic, where `T * &T` is not defined for a generic `T: Float`.
    let operand = |id: &ValueId| {
        let ident = graph.value_ident(*id);
        if matches!(graph.node(*id).op, Op::Field(..)) {
            quote!((*#ident))
        } else {
            quote!(#ident)
        }
    };
    let scalar = cx.scalar_node(id);
    // Runtime operations carry the user's span: a shape panic (`#[track_caller]`) points there.
    let span = graph.node(id).span;
    let rt = &respan(rt, span);
    match op {
        Op::Param(_) | Op::Region => quote!(),
        Op::Verbatim(tokens, _) => tokens.clone(),
        Op::Unary(f, _, x) if f.name == "neg" => {
            if scalar {
                let x = operand(x);
                quote!(-#x)
            } else {
                let x = cx.reference(*x);
                quote_spanned!(span=> #rt::neg(#x))
            }
        }
        Op::Unary(_, form, x) => call(form, &[x]),
        Op::Binary(f, None, l, r) if !scalar => {
            let name = Ident::new(f.name, span);
            let (l, r) = (cx.reference(*l), cx.reference(*r));
            quote_spanned!(span=> #rt::#name(#l, #r))
        }
        Op::Binary(f, None, l, r) => {
            let (l, r) = (operand(l), operand(r));
            match f.name {
                "add" => quote!(#l + #r),
                "sub" => quote!(#l - #r),
                "mul" => quote!(#l * #r),
                "div" => quote!(#l / #r),
                _ => quote!(#l % #r),
            }
        }
        Op::Binary(_, Some(form), l, r) => call(form, &[l, r]),
        Op::Powi(form, x, n) => call(form, &[x, n]),
        Op::MulAdd(form, a, b, c) | Op::Clamp(form, a, b, c) => call(form, &[a, b, c]),
        Op::Copy(x) => cx.owned_copy(*x),
        Op::Index(a, indices) => {
            let a = v(a);
            let indices = indices.iter().map(v);
            quote!(#a #([#indices])*)
        }
        Op::Element(_, _, item) => quote!(#rt::element_value(#item)),
        Op::Field(base, member) => {
            let base = v(base);
            quote_spanned!(span=> &#base.#member)
        }
        Op::Call(c, args) => {
            let path = &c.path;
            let args = cx.call_arguments(c, args);
            quote_spanned!(span=> #path(#(#args),*))
        }
        Op::Tensor(f, args) => {
            let name = Ident::new(f.name, span);
            let refs: Vec<TokenStream> = args.iter().map(|a| cx.reference(*a)).collect();
            let idents: Vec<Ident> = args.iter().map(v).collect();
            match (f.name, refs.as_slice(), idents.as_slice()) {
                ("t" | "sum", _, [a]) => quote!(#a.#name()),
                ("mean", _, [a]) => quote!(#a.mean().unwrap()),
                ("sum_axis", _, [a, axis]) => quote!(#a.sum_axis(#axis)),
                ("mean_axis", _, [a, axis]) => quote!(#a.mean_axis(#axis).unwrap()),
                ("dot" | "mse", [a, b], _) => quote_spanned!(span=> #rt::#name(#a, #b)),
                ("softmax" | "log_softmax" | "cross_entropy", [a, _], [_, b]) => {
                    quote_spanned!(span=> #rt::#name(#a, #b))
                }
                (_, [a], _) => quote_spanned!(span=> #rt::#name(#a)),
                _ => quote!(),
            }
        }
    }
}

/// The carried variables' values for the next iteration, `phi = next;` each: one after the
/// other, unless a later one's `next` reads a variable an earlier one has just set (`s4 = s0`
/// after `s0 = x[i]`, where `s4` must get the old `s0`); then all at once, as a tuple assignment
/// whose right side is evaluated first: `(s0, s4) = (x_i, s0);`.
pub(super) fn carried_updates(updates: Vec<(Ident, TokenStream)>) -> TokenStream {
    fn mentions(tokens: &TokenStream, name: &Ident) -> bool {
        tokens.clone().into_iter().any(|t| match t {
            proc_macro2::TokenTree::Ident(i) => i == *name,
            proc_macro2::TokenTree::Group(g) => mentions(&g.stream(), name),
            _ => false,
        })
    }
    let clash = updates.iter().enumerate().any(|(k, (_, next))| {
        updates[..k]
            .iter()
            .any(|(earlier, _)| mentions(next, earlier))
    });
    if clash {
        let (places, values): (Vec<Ident>, Vec<TokenStream>) = updates.into_iter().unzip();
        quote!((#(#places,)*) = (#(#values,)*);)
    } else {
        updates
            .into_iter()
            .map(|(place, value)| quote!(#place = #value;))
            .collect()
    }
}

/// `tokens` with every token given `span`.
pub(super) fn respan(tokens: &TokenStream, span: proc_macro2::Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|mut t| {
            t.set_span(span);
            t
        })
        .collect()
}

/// A statement kept as written, after bindings of the user variables it mentions to their
/// current values.
pub(super) fn verbatim_statement(
    cx: &Context<'_>,
    bindings: &[(Ident, ValueId)],
    tokens: &TokenStream,
) -> TokenStream {
    if bindings.is_empty() {
        return tokens.clone();
    }
    let binds = bindings.iter().map(|(ident, v)| {
        let value = cx.graph.value_ident(*v);
        // An array or a tensor is lent to the statement as a copy (`println!("{y:?}")` of a
        // `Vec` the function goes on using): the statement's name holds it, as the user's did.
        let tensor = cx.kinds.get(v.index()) == Some(&crate::analyze::Kind::Tensor);
        if cx.layout.arrays.contains(v) || tensor {
            quote!(#[allow(unused_variables)] let #ident = ::core::clone::Clone::clone(&#value);)
        } else {
            quote!(#[allow(unused_variables)] let #ident = #value;)
        }
    });
    quote!({ #(#binds)* #tokens })
}
