//! Code generation: the companions `NAME_vjp` and `NAME_grad`.
//!
//! Input:
//! ```text
//! #[differentiate]
//! fn f(x: f64, y: f64) -> f64 { let a = x * y; a.sin() }
//! ```
//! Output (abridged):
//! ```text
//! fn f_vjp(x: f64, y: f64, d_out: f64) -> (f64, (f64, f64)) {
//!     let __a_2 = x * y;                                   // forward: the user's code,
//!     let __t3 = __a_2.sin();                              // one node a line
//!     let __d_a_2 = rt::sin_adjoint(&__a_2, &d_out);       // reverse, last node first
//!     let __d_x_0 = rt::mul_adjoint_lhs(&y, &__d_a_2);
//!     let __d_y_1 = rt::mul_adjoint_rhs(&x, &__d_a_2);
//!     (__t3, (__d_x_0, __d_y_1))
//! }
//! fn f_grad(x: f64, y: f64) -> (f64, (f64, f64)) { f_vjp(x, y, rt::one()) }
//! ```
//!
//! [`forward`] replays the user's code, saving what the reverse pass of a branch or a loop body
//! needs; [`reverse`] writes the adjoints, mirroring the regions. The reverse pass is generated
//! more than once: dry runs find which values it reads and which adjoints it accumulates into,
//! so that the forward pass saves exactly those and the last run declares `mut` only where
//! needed.

mod forward;
mod graph;
mod jvp;
mod localize;
mod reverse;
mod rows;
mod scopes;

use crate::hash::{HashMap, HashSet};

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Attribute, ItemFn};

use crate::analyze::Activity;
use crate::args::Options;
use crate::ir::{Block, Graph, LoopKind, Op, Stmt, ValueId};
use crate::parse::Signature;

/// What a run of the reverse pass found.
#[derive(Clone, Default)]
struct Plan {
    /// Forward values the reverse pass reads.
    referenced: HashSet<ValueId>,
    /// Values whose adjoint gets more than one contribution (declared `mut`).
    accumulated: HashSet<ValueId>,
    /// Regions (by their saved value or tape) whose reverse pass is not empty.
    has_reverse: HashSet<ValueId>,
    /// Loops (by their tape) whose reverse runs inside the forward loop, iteration by
    /// iteration (see `reverse::Sweep::fusable`): what goes before the loop, and what at the end
    /// of each iteration. Made by the sweep, not compared.
    fused: HashMap<ValueId, (TokenStream, TokenStream)>,
}

impl PartialEq for Plan {
    fn eq(&self, other: &Self) -> bool {
        self.referenced == other.referenced
            && self.accumulated == other.accumulated
            && self.has_reverse == other.has_reverse
    }
}

/// Where each value is defined, and which values are arrays.
struct Layout {
    /// The block each value is defined in (0: the function body).
    home: HashMap<ValueId, u32>,
    /// Values indexed, iterated or written as arrays.
    arrays: HashSet<ValueId>,
    /// Arrays written to.
    stored: HashSet<ValueId>,
    /// For each array written to, the position of the last statement of the function body that
    /// writes it (counting statements of the body, a loop or branch being one).
    last_store: HashMap<ValueId, usize>,
    /// For each element read, the position of the statement of the function body it is in.
    read_at: HashMap<ValueId, usize>,
    /// The statement of the function body being walked.
    top: usize,
    /// Values cheap to compute again from values the reverse pass has anyway (see
    /// [`Layout::find_rematerializable`]).
    cheap: HashSet<ValueId>,
    /// Variables of loops over a range written out, with no early exit: the reverse pass walks
    /// the range backwards to get them again, so they are never saved.
    regenerated: HashSet<ValueId>,
    /// Element reads inside a loop that are the same in every iteration (the array is not
    /// written in the loop, the indices come from outside it), with the loop's tape id: they are
    /// read once more before the loop, as an `Option`, and saved there rather than per
    /// iteration (see [`Layout::find_invariant_reads`]).
    hoisted: HashMap<ValueId, ValueId>,
    /// The element reads, by value.
    index_ops: HashMap<ValueId, Op>,
    /// Integer counters a loop carries, `l += 1`: their value at each iteration's start, by
    /// its phi, with the value after the loop and the step. The reverse pass counts them back
    /// down from the value after the loop instead of saving them (integer steps invert exactly).
    counters: HashMap<ValueId, (ValueId, TokenStream)>,
    /// Integer counters a loop carries that an inner loop counts (`for j in i + 1..d { l += 1;
    /// }`, packed triangular indexing): by the outer counter's phi (see
    /// [`Layout::find_counters`]).
    chained: HashMap<ValueId, Chained>,
    /// The arrays and the values a branch or a loop makes of them (`let v = if c { x } else
    /// { y };`, an early `return` of one): copied by `Clone`, since a `Vec` moves.
    whole_arrays: HashSet<ValueId>,
    /// Scratch arrays a loop saves whole at the end of each iteration, for its reverse pass to
    /// read when it reverses that iteration (see [`Layout::find_snapshots`]), by the loop's
    /// tape.
    snapshots: HashMap<ValueId, Vec<ValueId>>,
    /// The bodies of those loops, with the loop's tape.
    snapshot_bodies: HashMap<u32, ValueId>,
    /// The element reads of a snapshot array after the last write to it in the iteration: the
    /// reverse pass reads them again from the snapshot. By read: the loop's tape and the array.
    served: HashMap<ValueId, (ValueId, ValueId)>,
    /// Scratch arrays whose loop fills them whole before anything else in its body touches
    /// them (see [`Layout::snapshot_loop`]), by array (see [`Covering`]). The fill's reverse
    /// reads each element's adjoint instead of taking it; the adjoint is set afresh in each
    /// iteration's reverse, by a first touch (`first_touch`) or by zeroing it at the end of
    /// the iteration's reverse.
    covering: HashMap<ValueId, Covering>,
    /// Reads of a covered array whose reverse is the first touch of each element's adjoint in
    /// the reverse of an iteration: the read of `a[i]` in the last loop of the body that
    /// touches `a`, a loop over its whole range reading that one element per iteration (in its
    /// body, or hoisted out of a loop of its body) and writing none. Its adjoint is stored into
    /// the element rather than added, and the array's adjoint needs no zeroing at the end of
    /// the iteration (see `Layout::covering`). By read: the array, and the tape of the loop the
    /// read is hoisted out of.
    first_touch: HashMap<ValueId, (ValueId, Option<ValueId>)>,
}

impl Layout {
    /// `plain`: the function has no tensors (its arrays are `Vec`s and arrays of numbers).
    fn of(graph: &Graph, plain: bool) -> Self {
        let mut layout = Layout {
            home: HashMap::default(),
            arrays: HashSet::default(),
            stored: HashSet::default(),
            last_store: HashMap::default(),
            read_at: HashMap::default(),
            top: 0,
            cheap: HashSet::default(),
            regenerated: HashSet::default(),
            hoisted: HashMap::default(),
            index_ops: HashMap::default(),
            counters: HashMap::default(),
            chained: HashMap::default(),
            whole_arrays: HashSet::default(),
            snapshots: HashMap::default(),
            covering: HashMap::default(),
            first_touch: HashMap::default(),
            snapshot_bodies: HashMap::default(),
            served: HashMap::default(),
        };
        for (i, node) in graph.nodes.iter().enumerate() {
            let v = ValueId(u32::try_from(i).unwrap_or(u32::MAX));
            if let Op::Param(_) = node.op {
                layout.home.insert(v, 0);
            }
            // Arrays read by element, and structs read by field: their adjoint is made up front.
            if let Op::Index(a, _) | Op::Element(a, _, _) | Op::Field(a, _) = node.op {
                layout.arrays.insert(a);
            }
            if let Op::Index(..) = node.op {
                layout.index_ops.insert(v, node.op.clone());
            }
            // Changed by method calls the IR does not see: never read again in reverse.
            if node.changed_by_calls {
                layout.stored.insert(v);
                layout.last_store.insert(v, usize::MAX);
            }
        }
        layout.walk(&graph.body);
        // A call's unit-seed gradient is bound with its value.
        for (i, node) in graph.nodes.iter().enumerate() {
            if let Op::Call(c, _) = &node.op {
                let v = ValueId(u32::try_from(i).unwrap_or(u32::MAX));
                if let Some(&home) = layout.home.get(&v) {
                    layout.home.insert(c.grads, home);
                }
            }
        }
        layout.find_whole_arrays(&graph.body);
        if plain {
            layout.find_snapshots(graph);
        }
        layout.find_rematerializable(graph);
        // A served read the reverse pass cannot compute again (its index is not at hand) is
        // saved as any other, and an array left with no served read is not snapshot.
        let cheap = &layout.cheap;
        layout.served.retain(|r, _| cheap.contains(r));
        let served = &layout.served;
        layout.snapshots.retain(|tape, arrays| {
            arrays.retain(|a| served.values().any(|(t, b)| t == tape && b == a));
            !arrays.is_empty()
        });
        let snapshots = &layout.snapshots;
        layout
            .snapshot_bodies
            .retain(|_, tape| snapshots.contains_key(tape));
        layout.find_invariant_reads(&graph.body);
        // A first touch through a loop it is read in must be hoisted out of that loop (read
        // once per iteration of the loop over the range), and a direct one must not be.
        let hoisted = &layout.hoisted;
        layout
            .first_touch
            .retain(|r, (_, via)| hoisted.get(r) == via.as_ref());
        layout.find_counters(graph, &graph.body);
        layout
    }

    /// [`Layout::whole_arrays`]: the arrays, then, to a fixed point, every value a branch's
    /// merge or a loop's carried value joins with one.
    fn find_whole_arrays(&mut self, body: &Block) {
        fn joins(b: &Block, out: &mut Vec<Vec<ValueId>>) {
            for stmt in &b.stmts {
                match stmt {
                    Stmt::If(r) => {
                        out.extend(r.merges.iter().map(|(o, t, e)| vec![*o, *t, *e]));
                        joins(&r.then_block, out);
                        joins(&r.else_block, out);
                    }
                    Stmt::Loop(l) => {
                        out.extend(
                            l.carried
                                .iter()
                                .map(|c| vec![c.init, c.phi, c.next, c.exit]),
                        );
                        joins(&l.body, out);
                    }
                    _ => {}
                }
            }
        }
        let mut groups = Vec::new();
        joins(body, &mut groups);
        self.whole_arrays = self.arrays.clone();
        loop {
            let before = self.whole_arrays.len();
            for g in &groups {
                if g.iter().any(|v| self.whole_arrays.contains(v)) {
                    self.whole_arrays.extend(g.iter().copied());
                }
            }
            if self.whole_arrays.len() == before {
                break;
            }
        }
    }

    /// Values the reverse pass of a loop body or branch computes again instead of saving:
    /// literals and constants, pure integer or float arithmetic (`i + 1`, `1.0 - x[i]`, `a * b`
    /// but no division or float method), and reads of arrays that are never written, whenever
    /// their operands are themselves cheap, or bound by the region (a loop index, a carried
    /// value, which are saved), or defined outside it. Recomputing gives the same bits, saves
    /// tape memory, and costs a few cheap instructions.
    fn find_rematerializable(&mut self, graph: &Graph) {
        for (i, node) in graph.nodes.iter().enumerate() {
            let v = ValueId(u32::try_from(i).unwrap_or(u32::MAX));
            let cheap_op = match &node.op {
                // Pure arithmetic, but not a lone variable with no recorded read: that is a copy
                // of a pattern's binding (`for &v in ..`), which the reverse pass does not have.
                Op::Verbatim(tokens, reads) => syn::parse2::<syn::Expr>(tokens.clone()).is_ok_and(|e| {
                    let pattern_copy = reads.is_empty()
                        && matches!(&e, syn::Expr::Path(p) if p.path.get_ident().is_some_and(|i| i.to_string().starts_with(|c: char| c.is_lowercase())));
                    // Lengths too (`0..x.len()`), of arrays no method call resizes.
                    let lengths = reads.iter().all(|r| !graph.node(*r).changed_by_calls);
                    !pattern_copy && (crate::lower::is_pure_arithmetic_with(&e, lengths) || (reads.is_empty() && is_float_constant(&e)))
                }),
                Op::Binary(f, None, _, _) => matches!(f.name, "add" | "sub" | "mul"),
                Op::Unary(f, _, _) => f.name == "neg",
                Op::Copy(_) => true,
                // An array never written again after this read's statement of the function body holds,
                // when the reverse pass runs, what the read saw.
                Op::Index(array, _) => {
                    self.served.contains_key(&v)
                        || self
                            .last_store
                            .get(array)
                            .is_none_or(|last| self.read_at.get(&v).is_some_and(|at| at > last))
                }
                _ => false,
            };
            if !cheap_op {
                continue;
            }
            let home = self.home(v);
            let available = |o: ValueId| {
                self.cheap.contains(&o)
                    || self.home(o) != home
                    || matches!(graph.node(o).op, Op::Region | Op::Param(_))
            };
            if node.op.operands().into_iter().all(available) {
                self.cheap.insert(v);
            }
        }
    }

    fn walk(&mut self, block: &Block) {
        for (position, stmt) in block.stmts.iter().enumerate() {
            if block.id == 0 {
                self.top = position;
            }
            match stmt {
                Stmt::Eval(v) => {
                    self.home.insert(*v, block.id);
                    self.read_at.insert(*v, self.top);
                }
                Stmt::Verbatim { .. } => {}
                Stmt::Store { array, .. } => {
                    self.arrays.insert(*array);
                    self.stored.insert(*array);
                    self.last_store.insert(*array, self.top);
                }
                Stmt::If(r) => {
                    for (out, _, _) in &r.merges {
                        self.home.insert(*out, block.id);
                    }
                    self.home.insert(r.then_saved, block.id);
                    self.home.insert(r.else_saved, block.id);
                    self.walk(&r.then_block);
                    self.walk(&r.else_block);
                }
                Stmt::Loop(l) => {
                    self.home.insert(l.tape, block.id);
                    for c in &l.carried {
                        self.home.insert(c.exit, block.id);
                        self.home.insert(c.phi, l.body.id);
                    }
                    if let LoopKind::For { bound, range, .. } = &l.kind {
                        for v in bound {
                            self.home.insert(*v, l.body.id);
                            if *range && l.broke.is_none() {
                                self.regenerated.insert(*v);
                            }
                        }
                    }
                    self.walk(&l.body);
                }
            }
        }
    }

    fn home(&self, v: ValueId) -> u32 {
        self.home.get(&v).copied().unwrap_or(0)
    }

    /// Finds the loop-invariant element reads of every loop. `x[i]` read in each iteration of
    /// an inner loop over `j` would be saved once per iteration, and its adjoint added into
    /// `dx[i]` once per iteration; instead it is read once more before the loop (with `get`, so
    /// a loop that runs zero times cannot make it panic) and saved there, and its adjoint is
    /// summed over the iterations in a local and added into `dx[i]` once, after the loop's
    /// reverse. The forward pass still reads it where the user wrote it.
    fn find_invariant_reads(&mut self, block: &Block) {
        for stmt in &block.stmts {
            match stmt {
                Stmt::If(r) => {
                    self.find_invariant_reads(&r.then_block);
                    self.find_invariant_reads(&r.else_block);
                }
                Stmt::Loop(l) => {
                    let mut inside = HashSet::default();
                    let mut stored = HashSet::default();
                    blocks_of(&l.body, &mut inside, &mut stored);
                    let outside = |v: &ValueId| !inside.contains(&self.home(*v));
                    let mut found = Vec::new();
                    for s in &l.body.stmts {
                        if let Stmt::Eval(v) = s {
                            if let Some(Op::Index(array, indices)) = self.index_ops.get(v) {
                                // A read a snapshot serves is computed again rather than
                                // saved, but its adjoint is still best summed in a local.
                                if !stored.contains(array)
                                    && outside(array)
                                    && indices.iter().all(outside)
                                    && (!self.cheap.contains(v) || self.served.contains_key(v))
                                {
                                    found.push(*v);
                                }
                            }
                        }
                    }
                    let outer = self.home(l.tape);
                    for v in found {
                        self.hoisted.insert(v, l.tape);
                        // It belongs to the block around the loop: saved there, and its
                        // adjoint summed over the iterations there.
                        self.home.insert(v, outer);
                    }
                    self.find_invariant_reads(&l.body);
                }
                Stmt::Eval(_) | Stmt::Verbatim { .. } | Stmt::Store { .. } => {}
            }
        }
    }
}

impl Layout {
    /// Finds the loops' integer counters: an inactive carried value whose value at the end of
    /// the body is, on every path, its value at the start plus an integer literal.
    ///
    /// A counter of a loop whose value at the end of the body is what an inner loop of the body
    /// (over a range, with no early exit) counted up from its value at the start is chained:
    /// the reverse pass counts it down by the inner loop's trip times its step, so it is never
    /// saved either (see [`Chained`]).
    fn find_counters(&mut self, graph: &Graph, block: &Block) {
        for stmt in &block.stmts {
            match stmt {
                Stmt::If(r) => {
                    self.find_counters(graph, &r.then_block);
                    self.find_counters(graph, &r.else_block);
                }
                Stmt::Loop(l) => {
                    // The inner loops first: a chained counter counts with one of theirs.
                    self.find_counters(graph, &l.body);
                    for c in &l.carried {
                        if graph.varied.get(c.phi.index()).copied().unwrap_or(true)
                            || self.home(c.next) != l.body.id
                        {
                            continue;
                        }
                        let Op::Binary(f, None, a, b) = &graph.node(c.next).op else {
                            continue;
                        };
                        let step = match (f.name, *a == c.phi, *b == c.phi) {
                            ("add", true, false) => *b,
                            ("add", false, true) => *a,
                            _ => continue,
                        };
                        let Op::Verbatim(tokens, reads) = &graph.node(step).op else {
                            continue;
                        };
                        let integer = matches!(
                            syn::parse2::<syn::Expr>(tokens.clone()),
                            Ok(syn::Expr::Lit(syn::ExprLit {
                                lit: syn::Lit::Int(_),
                                ..
                            }))
                        );
                        if integer && reads.is_empty() {
                            self.counters.insert(c.phi, (c.exit, tokens.clone()));
                        }
                    }
                    self.find_chained(graph, l);
                }
                Stmt::Eval(_) | Stmt::Verbatim { .. } | Stmt::Store { .. } => {}
            }
        }
    }
}

impl Layout {
    /// Finds the scratch arrays worth saving whole once per iteration of a loop rather than
    /// element by element as the reverse pass reads them.
    ///
    /// ```text
    /// let mut xc = vec![0.0; d];
    /// for k in 0..m {
    ///     for j in 0..d { xc[j] = x[j] - mu[k * d + j]; }      // fills xc
    ///     for j in 0..d { s += q[k * d + j] * xc[j] * xc[j]; } // reads it
    /// }
    /// ```
    ///
    /// Each iteration of the loop over `k` overwrites `xc`, so the reverse pass, running the
    /// iterations last first, cannot read `xc[j]` as the forward pass saw it; a tape would keep
    /// every read. Instead the loop pushes a copy of `xc` on a tape of its own at the end of each
    /// iteration (`Tape::save_slice`), and the reverse pass of the iteration reads the reads
    /// made after the iteration's last write to `xc` (here all of them) from that copy
    /// (`Tape::view_top`), then drops it. One copy of `d` numbers replaces a tape entry per
    /// read, and the loop's other tapes may go. The array itself is never written back, so the
    /// forward pass, which a fused loop's reverse runs between the iterations of, sees it as it
    /// left it; a fused loop takes no snapshot at all (its reverse runs while the array is as
    /// the iteration left it).
    ///
    /// The array: made in the function body as `vec![c; len]` or `[c; len]` of a constant `c`,
    /// used only by single-index reads and writes inside one loop, and otherwise only for its
    /// length or an element's value in expressions kept as written (no calls, methods, borrows,
    /// moves, returns). Worth it when the loop's body fills it whole, a loop over `0..len` or
    /// `0..a.len()` at the top of the body writing `a[i]`: the copy is then no larger than the
    /// writes (the choice is only one of speed; the snapshot is right for any array so used).
    fn find_snapshots(&mut self, graph: &Graph) {
        let mut lengths: HashMap<ValueId, String> = HashMap::default();
        for (i, node) in graph.nodes.iter().enumerate() {
            let v = ValueId(u32::try_from(i).unwrap_or(u32::MAX));
            if node.changed_by_calls || self.home(v) != 0 || !self.stored.contains(&v) {
                continue;
            }
            if let Op::Verbatim(tokens, _) = &node.op {
                if let Some(len) = repeat_length(tokens) {
                    lengths.insert(v, len);
                }
            }
        }
        if lengths.is_empty() {
            return;
        }
        // Used only by element reads `a[i]`...
        let mut reads: HashMap<ValueId, Vec<ValueId>> = HashMap::default();
        for (i, node) in graph.nodes.iter().enumerate() {
            let v = ValueId(u32::try_from(i).unwrap_or(u32::MAX));
            let read_of = match &node.op {
                Op::Index(a, idx) if idx.len() == 1 && !idx.contains(a) => Some(*a),
                _ => None,
            };
            for o in node.op.operands() {
                if read_of == Some(o) {
                    reads.entry(o).or_default().push(v);
                } else if !matches!(&node.op, Op::Verbatim(tokens, _)
                    if only_elements_or_length(tokens, &graph.value_ident(o).to_string()))
                {
                    lengths.remove(&o);
                }
            }
        }
        lengths.remove(&graph.ret);
        // ... and element writes `a[i] = e`, joined with nothing by branches or loops.
        let mut stores: HashMap<ValueId, usize> = HashMap::default();
        scratch_uses(&graph.body, &mut lengths, &mut stores);
        self.snapshot_loops(graph, &graph.body, &mut lengths, &reads, &stores);
    }

    fn snapshot_loops(
        &mut self,
        graph: &Graph,
        b: &Block,
        lengths: &mut HashMap<ValueId, String>,
        reads: &HashMap<ValueId, Vec<ValueId>>,
        stores: &HashMap<ValueId, usize>,
    ) {
        for stmt in &b.stmts {
            match stmt {
                Stmt::If(r) => {
                    self.snapshot_loops(graph, &r.then_block, lengths, reads, stores);
                    self.snapshot_loops(graph, &r.else_block, lengths, reads, stores);
                }
                Stmt::Loop(l) => {
                    self.snapshot_loop(graph, l, lengths, reads, stores);
                    self.snapshot_loops(graph, &l.body, lengths, reads, stores);
                }
                Stmt::Eval(_) | Stmt::Verbatim { .. } | Stmt::Store { .. } => {}
            }
        }
    }

    /// The arrays loop `l` snapshots (see [`Layout::find_snapshots`]), and their served reads.
    fn snapshot_loop(
        &mut self,
        graph: &Graph,
        l: &crate::ir::LoopRegion,
        lengths: &mut HashMap<ValueId, String>,
        reads: &HashMap<ValueId, Vec<ValueId>>,
        stores: &HashMap<ValueId, usize>,
    ) {
        // Where each value and each write of the body is: the statement of the body holding it.
        let mut block_at: HashMap<u32, usize> = HashMap::default();
        let mut eval_at: HashMap<ValueId, usize> = HashMap::default();
        let mut last_write: HashMap<ValueId, usize> = HashMap::default();
        let mut first_write: HashMap<ValueId, usize> = HashMap::default();
        let mut writes: HashMap<ValueId, usize> = HashMap::default();
        for (p, st) in l.body.stmts.iter().enumerate() {
            let mut ids = HashSet::default();
            let mut written = Vec::new();
            match st {
                Stmt::Eval(v) => {
                    eval_at.insert(*v, p);
                }
                Stmt::If(r) => {
                    let mut unused = HashSet::default();
                    blocks_of(&r.then_block, &mut ids, &mut unused);
                    blocks_of(&r.else_block, &mut ids, &mut unused);
                }
                Stmt::Loop(m) => {
                    let mut unused = HashSet::default();
                    blocks_of(&m.body, &mut ids, &mut unused);
                }
                Stmt::Verbatim { .. } | Stmt::Store { .. } => {}
            }
            crate::ir::stored_arrays(st, &mut written);
            for a in written {
                last_write.insert(a, p);
                first_write.entry(a).or_insert(p);
                *writes.entry(a).or_default() += 1;
            }
            block_at.extend(ids.into_iter().map(|id| (id, p)));
        }
        let homes = &self.home;
        let at = |v: ValueId| -> Option<usize> {
            let home = homes.get(&v).copied().unwrap_or(0);
            if home == l.body.id {
                eval_at.get(&v).copied()
            } else {
                block_at.get(&home).copied()
            }
        };
        let mut candidates: Vec<ValueId> = lengths.keys().copied().collect();
        candidates.sort();
        let mut chosen = Vec::new();
        for a in candidates {
            let a_reads = reads.get(&a).map_or(&[][..], Vec::as_slice);
            let inside =
                writes.get(&a) == stores.get(&a) && a_reads.iter().all(|r| at(*r).is_some());
            let scratch = Scratch {
                array: a,
                // As text without spaces (spelled by `quote` or by the user).
                len: lengths
                    .get(&a)
                    .map(|l| l.split_whitespace().collect::<String>()),
            };
            // A loop over `0..len` at the top of the body writing `a[i]` fills the array.
            let filled = l.body.stmts.iter().any(|st| {
                let Stmt::Loop(m) = st else { return false };
                scratch.fill(graph, m).is_some()
            });
            if !inside || !filled {
                continue;
            }
            let Some(&last) = last_write.get(&a) else {
                continue;
            };
            lengths.remove(&a);
            let first = first_write.get(&a).copied();
            if let Some((covering, touch)) = scratch.covering(graph, l, a_reads, &at, first, last) {
                self.covering.insert(a, covering);
                if let Some((r, via)) = touch {
                    self.first_touch.insert(r, (a, via));
                }
            }
            let served: Vec<ValueId> = a_reads
                .iter()
                .copied()
                .filter(|r| at(*r).is_some_and(|p| p > last))
                .collect();
            chosen.push((a, served));
        }
        for (a, served) in chosen {
            for r in served {
                self.served.insert(r, (l.tape, a));
            }
            self.snapshots.entry(l.tape).or_default().push(a);
            self.snapshot_bodies.insert(l.body.id, l.tape);
        }
    }
}

/// A first touch (see `Layout::first_touch`): the read, and the tape of the loop it is hoisted
/// out of.
type FirstTouch = (ValueId, Option<ValueId>);

/// A scratch array a loop may snapshot: the array and its length as text.
struct Scratch {
    array: ValueId,
    len: Option<String>,
}

impl Scratch {
    /// Whether loop `m` walks the array's whole range, `0..len` or `0..a.len()` with no early
    /// exit: its variable.
    fn whole(&self, graph: &Graph, m: &crate::ir::LoopRegion) -> Option<ValueId> {
        let (var, start, end) = reverse::range_of(graph, m)?;
        let end: String = end.split_whitespace().collect();
        let whole = start == "0"
            && (Some(&end) == self.len.as_ref()
                || end == format!("{}.len()", graph.value_ident(self.array)));
        (m.broke.is_none() && whole).then_some(var)
    }

    /// Whether loop `m` fills the array, walking its whole range and storing `a[i]` at the top
    /// of its body: the value stored, and the loop's variable.
    fn fill(&self, graph: &Graph, m: &crate::ir::LoopRegion) -> Option<(ValueId, ValueId)> {
        let var = self.whole(graph, m)?;
        m.body.stmts.iter().find_map(|s| match s {
            Stmt::Store {
                array,
                indices,
                value,
                ..
            } if *array == self.array && indices.as_slice() == [var] => Some((*value, var)),
            _ => None,
        })
    }

    /// The array's covering fill in loop `l` (see [`Layout::covering`]), and its first touch
    /// (see [`Layout::first_touch`]: the read, and the loop it is hoisted out of): `reads` its
    /// element reads, `at` the statement of the body each is in, `first` and `last` the
    /// statements of its first and last write.
    fn covering(
        &self,
        graph: &Graph,
        l: &crate::ir::LoopRegion,
        reads: &[ValueId],
        at: &dyn Fn(ValueId) -> Option<usize>,
        first: Option<usize>,
        last: usize,
    ) -> Option<(Covering, Option<FirstTouch>)> {
        let a = self.array;
        // The fill covers the array when it is the body's first statement touching it, it
        // stores each element once and reads none, and every iteration runs it whole.
        let covering = first.and_then(|p| {
            let Stmt::Loop(m) = &l.body.stmts[p] else {
                return None;
            };
            let value = self.fill(graph, m)?;
            let mut stored = Vec::new();
            for st in &m.body.stmts {
                crate::ir::stored_arrays(st, &mut stored);
            }
            let once = stored.iter().filter(|s| **s == a).count() == 1;
            let after = reads.iter().all(|r| at(*r).is_some_and(|q| q > p));
            (l.broke.is_none() && once && after).then_some(value)
        });
        let (value, index) = covering?;
        let covering = Covering {
            body: l.body.id,
            value,
            index,
        };
        // The last statement touching the array (after its last write), a loop over the whole
        // range reading `a[i]` once per iteration (see `Layout::first_touch`).
        let last_read = reads.iter().filter_map(|r| at(*r)).max();
        let touch = last_read.filter(|p| *p > last).and_then(|p| {
            let Stmt::Loop(m) = &l.body.stmts[p] else {
                return None;
            };
            let var = self.whole(graph, m)?;
            let here: Vec<ValueId> = reads
                .iter()
                .copied()
                .filter(|r| at(*r) == Some(p))
                .collect();
            let [r] = here.as_slice() else { return None };
            let evaluated =
                |b: &Block| b.stmts.iter().any(|s| matches!(s, Stmt::Eval(v) if v == r));
            let at_var = matches!(&graph.node(*r).op, Op::Index(_, i) if i.as_slice() == [var]);
            let via = m.body.stmts.iter().find_map(|s| match s {
                Stmt::Loop(inner) if evaluated(&inner.body) => Some(inner.tape),
                _ => None,
            });
            (at_var && (evaluated(&m.body) || via.is_some())).then_some((*r, via))
        });
        Some((covering, touch))
    }
}

/// A scratch array's covering fill (see `Layout::covering`).
#[derive(Clone, Copy)]
pub(super) struct Covering {
    /// The body of the loop the array is filled in.
    body: u32,
    /// The store of the fill: the value stored, at the fill loop's variable. (A value alone
    /// does not name a store: another may store the same value.)
    value: ValueId,
    index: ValueId,
}

impl Covering {
    /// Whether `array[indices] = value` is this fill's store.
    pub(super) fn is_fill(&self, indices: &[ValueId], value: ValueId) -> bool {
        self.value == value && indices == [self.index]
    }
}

/// A counter an inner loop counts: `l` in
///
/// ```text
/// let mut l = 0;
/// for i in 0..d { for j in i + 1..d { … l += 1; } }
/// ```
///
/// The loop over `i` ends each iteration with `l` as the loop over `j` left it, having started
/// it at `l`'s value at the iteration's start: the reverse pass, walking `i` back from `l`'s
/// value after the loop, binds `next` (where the loop over `j` counts back from) and then
/// steps back once per item of that loop's range.
#[derive(Clone)]
struct Chained {
    /// The counter's value after the outer loop.
    exit: ValueId,
    /// Its value at the end of the outer body: the inner counter's value after the inner loop.
    next: ValueId,
    /// The inner counter's step.
    step: TokenStream,
    /// The inner loop's range.
    iter: ValueId,
}

impl Layout {
    /// The chained counters of loop `l` (see [`Chained`]).
    fn find_chained(&mut self, graph: &Graph, l: &crate::ir::LoopRegion) {
        let mut inside = HashSet::default();
        let mut unused = HashSet::default();
        blocks_of(&l.body, &mut inside, &mut unused);
        let bound: Vec<ValueId> = match &l.kind {
            LoopKind::For { bound, .. } => bound.clone(),
            LoopKind::Loop => Vec::new(),
        };
        for c in &l.carried {
            if graph.varied.get(c.phi.index()).copied().unwrap_or(true)
                || self.counters.contains_key(&c.phi)
            {
                continue;
            }
            let found = l.body.stmts.iter().find_map(|st| {
                let Stmt::Loop(m) = st else { return None };
                let LoopKind::For {
                    iter, range: true, ..
                } = &m.kind
                else {
                    return None;
                };
                let inner = m
                    .carried
                    .iter()
                    .find(|k| k.exit == c.next && k.init == c.phi)?;
                let (_, step) = self.counters.get(&inner.phi)?;
                // The range again in the reverse pass: from the outer loop's variable and values
                // from outside the outer loop that nothing changes in place (`seen.push(i)` or
                // `m[0] = n - i` in the outer loop would change the range under it).
                let operands_ok = graph.node(*iter).op.operands().iter().all(|o| {
                    let node = graph.node(*o);
                    bound.contains(o)
                        || (!inside.contains(&self.home(*o))
                            && !node.mutable
                            && !node.changed_by_calls)
                });
                (m.broke.is_none() && operands_ok).then(|| Chained {
                    exit: c.exit,
                    next: c.next,
                    step: step.clone(),
                    iter: *iter,
                })
            });
            if let Some(chained) = found {
                self.chained.insert(c.phi, chained);
            }
        }
    }
}

/// `vec![c; len]` or `[c; len]` with `c` a constant: `len` as text, spelled as the lowering
/// spells a range's end (`__d_4`): in a macro's tokens it keeps the user's names and binds them
/// first (`{ let d = __d_4; (vec![0.0; d]) }`), which are put back here.
fn repeat_length(tokens: &TokenStream) -> Option<String> {
    let parsed = syn::parse2::<syn::Expr>(tokens.clone()).ok()?;
    let mut names: HashMap<String, TokenStream> = HashMap::default();
    if let syn::Expr::Block(b) = &parsed {
        for st in &b.block.stmts {
            if let syn::Stmt::Local(syn::Local {
                pat: syn::Pat::Ident(p),
                init: Some(init),
                ..
            }) = st
            {
                let value = &init.expr;
                names.insert(p.ident.to_string(), quote!(#value));
            }
        }
    }
    let e = without_bindings(parsed)?;
    let (element, len) = match e {
        syn::Expr::Repeat(r) => (*r.expr, *r.len),
        syn::Expr::Macro(m) if m.mac.path.is_ident("vec") => m
            .mac
            .parse_body_with(|input: syn::parse::ParseStream<'_>| {
                let element: syn::Expr = input.parse()?;
                input.parse::<syn::Token![;]>()?;
                let len: syn::Expr = input.parse()?;
                Ok((element, len))
            })
            .ok()?,
        _ => return None,
    };
    fn renamed(tokens: TokenStream, names: &HashMap<String, TokenStream>) -> TokenStream {
        tokens
            .into_iter()
            .map(|t| match t {
                proc_macro2::TokenTree::Ident(i) => match names.get(&i.to_string()) {
                    Some(value) => value.clone(),
                    None => quote!(#i),
                },
                proc_macro2::TokenTree::Group(g) => {
                    let inner = renamed(g.stream(), names);
                    proc_macro2::Group::new(g.delimiter(), inner).into_token_stream()
                }
                other => other.into_token_stream(),
            })
            .collect()
    }
    is_float_constant(&element).then(|| renamed(quote!(#len), &names).to_string())
}

/// Whether `tokens` use `name` only for its length or an element's value (`0..xc.len()`,
/// `xc[0] > 1.0`): never borrowed (`&xc[0]`, `xc.iter()`) or moved. Such an expression is kept
/// as written and never computed again in the reverse pass (indexing is not among what it
/// recomputes), so it reads the array as the forward pass left it.
fn only_elements_or_length(tokens: &TokenStream, name: &str) -> bool {
    use proc_macro2::{Delimiter, TokenTree};
    let tokens: Vec<TokenTree> = tokens.clone().into_iter().collect();
    tokens.iter().enumerate().all(|(k, t)| match t {
        TokenTree::Ident(i) if *i == name => {
            let borrowed =
                k > 0 && matches!(&tokens[k - 1], TokenTree::Punct(p) if p.as_char() == '&');
            let used = match &tokens[k + 1..] {
                [TokenTree::Group(g), ..] => g.delimiter() == Delimiter::Bracket,
                [TokenTree::Punct(dot), TokenTree::Ident(len), TokenTree::Group(args), ..] => {
                    dot.as_char() == '.' && *len == "len" && args.stream().is_empty()
                }
                _ => false,
            };
            used && !borrowed
        }
        TokenTree::Group(g) => only_elements_or_length(&g.stream(), name),
        _ => true,
    })
}

/// An expression without the block that binds the variables it reads, which the lowering puts
/// around some (`{ let d = d; (vec![0.0; d]) }`), and without parentheses.
pub(super) fn without_bindings(mut e: syn::Expr) -> Option<syn::Expr> {
    loop {
        e = match e {
            syn::Expr::Paren(p) => *p.expr,
            syn::Expr::Block(mut b) if b.attrs.is_empty() && b.label.is_none() => {
                match b.block.stmts.pop() {
                    Some(syn::Stmt::Expr(last, None))
                        if b.block
                            .stmts
                            .iter()
                            .all(|s| matches!(s, syn::Stmt::Local(_))) =>
                    {
                        last
                    }
                    _ => return None,
                }
            }
            other => return Some(other),
        };
    }
}

/// Counts the element writes of each candidate scratch array (`lengths`) in `b`, and drops the
/// candidates used otherwise: stored whole, written at several indices at once, bound by a
/// statement kept as written, or joined by a branch or a loop.
fn scratch_uses(
    b: &Block,
    lengths: &mut HashMap<ValueId, String>,
    stores: &mut HashMap<ValueId, usize>,
) {
    for stmt in &b.stmts {
        match stmt {
            Stmt::Store {
                array,
                indices,
                value,
                ..
            } => {
                lengths.remove(value);
                for i in indices {
                    lengths.remove(i);
                }
                if indices.len() == 1 {
                    *stores.entry(*array).or_default() += 1;
                } else {
                    lengths.remove(array);
                }
            }
            Stmt::Verbatim { bindings, .. } => {
                for (_, v) in bindings {
                    lengths.remove(v);
                }
            }
            Stmt::If(r) => {
                for (o, t, e) in &r.merges {
                    for v in [o, t, e] {
                        lengths.remove(v);
                    }
                }
                scratch_uses(&r.then_block, lengths, stores);
                scratch_uses(&r.else_block, lengths, stores);
            }
            Stmt::Loop(l) => {
                for c in &l.carried {
                    for v in [c.init, c.phi, c.next, c.exit] {
                        lengths.remove(&v);
                    }
                }
                scratch_uses(&l.body, lengths, stores);
            }
            Stmt::Eval(_) => {}
        }
    }
}

/// The ids of `block` and the blocks nested in it, and the arrays written in them.
fn blocks_of(block: &Block, ids: &mut HashSet<u32>, stored: &mut HashSet<ValueId>) {
    ids.insert(block.id);
    for stmt in &block.stmts {
        match stmt {
            Stmt::Store { array, .. } => {
                stored.insert(*array);
            }
            Stmt::If(r) => {
                blocks_of(&r.then_block, ids, stored);
                blocks_of(&r.else_block, ids, stored);
            }
            Stmt::Loop(l) => blocks_of(&l.body, ids, stored),
            Stmt::Eval(_) | Stmt::Verbatim { .. } => {}
        }
    }
}

/// The name of the runtime support in companion bodies: `use ::autodiff::__private as __autodiff_rt;`.
const RT_ALIAS: &str = "__autodiff_rt";

/// The companions' names, signatures and docs, shared by the real expansion and the fallback.
struct Companions<'a> {
    item: &'a ItemFn,
    sig: &'a Signature,
    /// `::autodiff::__private`, as signatures name it.
    rt: TokenStream,
    /// The name bodies give it (see [`Companions::rt_use`]).
    rt_body: TokenStream,
    d_out: Ident,
}

impl<'a> Companions<'a> {
    fn new(item: &'a ItemFn, sig: &'a Signature, options: &Options) -> Self {
        let krate = &options.krate;
        Companions {
            item,
            sig,
            rt: quote!(#krate::__private),
            rt_body: Ident::new(RT_ALIAS, Span::call_site()).into_token_stream(),
            d_out: Ident::new("d_out", Span::mixed_site()),
        }
    }

    /// The first statement of a body made from the graph, which names the runtime support with
    /// one identifier: `rt::f(..)` rather than `::autodiff::__private::f(..)` in every statement,
    /// a third fewer tokens for the macro to make and rustc to read.
    fn rt_use(&self) -> TokenStream {
        let (rt, alias) = (&self.rt, &self.rt_body);
        quote! {
            #[allow(unused_imports)]
            use #rt as #alias;
        }
    }

    fn names(&self) -> (Ident, Ident) {
        let name = &self.item.sig.ident;
        (
            format_ident!("{}_vjp", name),
            format_ident!("{}_grad", name),
        )
    }

    /// The gradient's type: the active parameters' gradient types, bare for one, a tuple for
    /// several.
    fn grad_type(&self) -> TokenStream {
        let tys: Vec<TokenStream> = self
            .sig
            .active()
            .map(|p| {
                p.tangent
                    .as_ref()
                    .map_or_else(|| p.ty.to_token_stream(), ToTokens::to_token_stream)
            })
            .collect();
        match tys.as_slice() {
            [one] => one.clone(),
            many => quote!((#(#many),*)),
        }
    }

    /// Attributes the companions inherit: conditional compilation and lint levels.
    fn inherited_attrs(&self) -> Vec<&Attribute> {
        self.item
            .attrs
            .iter()
            .filter(|a| {
                matches!(a.style, syn::AttrStyle::Outer)
                    && ["cfg", "cfg_attr", "allow", "warn", "deny", "inline"]
                        .iter()
                        .any(|name| a.path().is_ident(name))
            })
            .collect()
    }

    /// The function's generic arguments, `::<T, N>`, to name it or its companions explicitly;
    /// `None` when it has `impl Trait` parameters, which forbid that.
    fn turbofish(&self) -> Option<TokenStream> {
        let has_impl_trait = self.sig.params.iter().any(|p| {
            p.ty.to_token_stream()
                .into_iter()
                .any(|t| t.to_string() == "impl")
        });
        if has_impl_trait {
            return None;
        }
        let args: Vec<TokenStream> = self
            .item
            .sig
            .generics
            .params
            .iter()
            .filter_map(|p| match p {
                syn::GenericParam::Type(t) => Some(t.ident.to_token_stream()),
                syn::GenericParam::Const(c) => Some(c.ident.to_token_stream()),
                syn::GenericParam::Lifetime(_) => None,
            })
            .collect();
        Some(if args.is_empty() {
            TokenStream::new()
        } else {
            quote!(::<#(#args),*>)
        })
    }

    /// The function's generics with `T: Real` added to each float type parameter, beside the
    /// user's own `Float` bound (inline or in the `where` clause, wherever the user put it).
    fn generics_with_real_bounds(&self) -> syn::Generics {
        let mut generics = self.item.sig.generics.clone();
        let rt = &self.rt;
        let real: syn::TypeParamBound = syn::parse_quote!(#rt::Real);
        for g in &self.sig.float_generics {
            let in_where = generics.where_clause.as_mut().and_then(|wc| {
                wc.predicates.iter_mut().find_map(|p| match p {
                    syn::WherePredicate::Type(pt)
                        if matches!(&pt.bounded_ty, syn::Type::Path(tp) if tp.path.is_ident(g)) =>
                    {
                        Some(pt)
                    }
                    _ => None,
                })
            });
            if let Some(pt) = in_where {
                pt.bounds.push(real.clone());
                continue;
            }
            for p in &mut generics.params {
                if let syn::GenericParam::Type(tp) = p {
                    if tp.ident == *g {
                        tp.bounds.push(real.clone());
                    }
                }
            }
        }
        generics
    }

    /// `NAME_hvp(args..., directions...) -> (value, grad, Hv)`: the Hessian-vector product by
    /// forward over reverse, `NAME_vjp` run on dual numbers (`x + v ε`), for functions generic
    /// over their one float type `T` and returning a `T`. `None` for other functions.
    fn emit_hvp(&self) -> Option<TokenStream> {
        let [float] = self.sig.float_generics.as_slice() else {
            return None;
        };
        let is_method = self.sig.params.iter().any(|p| p.ident == "self");
        if !self.sig.ret_scalar || is_method || self.turbofish().is_none() {
            return None;
        }
        // Dual numbers stand in for `T`: every float parameter must be a `T` or a slice, `Vec`
        // or array of them, and `T`'s bounds ones that dual numbers have.
        if !self.dual_ready(float) {
            return None;
        }
        const DUAL_BOUNDS: &[&str] = &[
            "Float",
            "Real",
            "Copy",
            "Clone",
            "Debug",
            "Display",
            "Send",
            "Sync",
            "PartialOrd",
            "PartialEq",
            "Default",
            "ScalarOperand",
            "LinalgScalar",
            "FloatConst",
            "Num",
            "NumCast",
            "ToPrimitive",
            "Zero",
            "One",
            "NumOps",
            "NumAssign",
            "NumAssignOps",
            "AddAssign",
            "SubAssign",
            "MulAssign",
            "DivAssign",
            "RemAssign",
            "LowerExp",
            "UpperExp",
        ];
        let bound_ok = |b: &syn::TypeParamBound| match b {
            syn::TypeParamBound::Trait(t) => t
                .path
                .segments
                .last()
                .is_some_and(|s| DUAL_BOUNDS.contains(&s.ident.to_string().as_str())),
            syn::TypeParamBound::Lifetime(l) => l.ident == "static",
            _ => false,
        };
        let generics = &self.item.sig.generics;
        let inline_ok = generics
            .type_params()
            .filter(|t| t.ident == *float)
            .all(|t| t.bounds.iter().all(bound_ok));
        let where_ok = generics.where_clause.as_ref().is_none_or(|w| {
            w.predicates.iter().all(|p| match p {
                syn::WherePredicate::Type(pt) => {
                    let about_float = pt
                        .bounded_ty
                        .to_token_stream()
                        .to_string()
                        .contains(&float.to_string());
                    !about_float || pt.bounds.iter().all(bound_ok)
                }
                _ => true,
            })
        });
        if !inline_ok || !where_ok {
            return None;
        }
        let rt = &self.rt;
        let turbofish_args = self
            .item
            .sig
            .generics
            .params
            .iter()
            .filter_map(|p| match p {
                syn::GenericParam::Type(t) if t.ident == *float => Some(quote!(#rt::Dual<#float>)),
                syn::GenericParam::Type(t) => Some(t.ident.to_token_stream()),
                syn::GenericParam::Const(c) => Some(c.ident.to_token_stream()),
                syn::GenericParam::Lifetime(_) => None,
            });
        let (vjp, _) = self.names();
        self.emit_hvp_calling(
            float,
            &quote!(#vjp::<#(#turbofish_args),*>),
            &TokenStream::new(),
        )
    }

    /// `NAME_hvp` for a function written on a concrete float type (`f64`): the copy of it
    /// generic over the float type and the copy's reverse pass, nested in `NAME_hvp`, which
    /// calls it on `Dual<f64>`. `None` where the copy is not made (see [`crate::concrete`]).
    fn emit_concrete_hvp(
        &self,
        options: &Options,
        original: (&Graph, &Layout, &Plan),
    ) -> Option<(TokenStream, Ident)> {
        let (original, layout, plan) = original;
        let is_method = self.sig.params.iter().any(|p| p.ident == "self");
        if is_method {
            return None;
        }
        let (copy, float) = crate::concrete::generic_copy(self.item, self.sig, &self.rt)?;
        if !self.dual_ready(&float) {
            return None;
        }
        let mut diag = crate::diag::Diagnostics::default();
        let options = Options {
            forward: false,
            trace: false,
            vjp: None,
            wrt: options.wrt.clone(),
            krate: options.krate.clone(),
        };
        let sig = crate::parse::parse_signature(&copy, &options, &mut diag);
        let graph = crate::lower::lower_with(&copy, &sig, &self.rt, &mut diag, false);
        if !sig.is_complete() || diag.blocks_codegen() {
            return None;
        }
        let activity = crate::analyze::activity(&graph);
        let companions = Companions::new(&copy, &sig, &options);
        // The copy lowers to the same graph as the original (its constants spelled for the
        // generic type): the original's plan is where its dry runs start, and usually end.
        // Its layout too, unless the copy came out different.
        let own;
        let layout = if crate::ir::same_shape(original, &graph) {
            layout
        } else {
            own = Layout::of(&graph, !sig.params.iter().any(|p| p.is_tensor));
            &own
        };
        let (body, _) =
            vjp_body(&companions, &sig, &graph, &activity, layout, plan.clone()).ok()?;
        if diag.into_result().is_err() {
            return None;
        }
        let vjp_fn = companions.emit_vjp_only(body);
        let rt = &self.rt;
        let prelude = quote! {
            #[allow(warnings, clippy::all, clippy::pedantic)]
            #vjp_fn
        };
        let (vjp, _) = companions.names();
        // The float type, then the function's const generics (`[f64; N]`) by name.
        let mut arguments = vec![quote!(#rt::Dual<#float>)];
        arguments.extend(
            crate::concrete::const_arguments(self.item)
                .into_iter()
                .map(|c| quote!(#c)),
        );
        let hvp = self.emit_hvp_calling(&float, &quote!(#vjp::<#(#arguments),*>), &prelude)?;
        Some((hvp, float))
    }

    /// `NAME_hvp(args..., directions...) -> (value, grad, Hv)`, calling `vjp` (the path of a
    /// reverse pass generic over the float type, with its generic arguments) on dual numbers,
    /// after the items in `prelude`.
    fn emit_hvp_calling(
        &self,
        float: &Ident,
        vjp: &TokenStream,
        prelude: &TokenStream,
    ) -> Option<TokenStream> {
        let rt = &self.rt;
        let item = self.item;
        let vis = &item.vis;
        let name = &item.sig.ident;
        let hvp = format_ident!("{}_hvp", name);
        let ret = self.sig.ret.as_ref()?;
        let generics = self.generics_with_real_bounds();
        let (impl_generics, _, where_clause) = generics.split_for_impl();
        let params: Vec<TokenStream> = self
            .sig
            .params
            .iter()
            .map(|p| declaration(p, false))
            .collect();
        let directions: Vec<(Ident, &syn::Type)> = self
            .sig
            .params
            .iter()
            .filter(|p| p.active)
            .map(|p| {
                (
                    format_ident!("v_{}", p.ident, span = Span::mixed_site()),
                    &p.ty,
                )
            })
            .collect();
        let direction_params = directions.iter().map(|(v, ty)| quote!(#v: #ty));
        let mut next_direction = directions.iter();
        let args: Vec<TokenStream> = self
            .sig
            .params
            .iter()
            .map(|p| {
                let x = &p.ident;
                let (x_ref, by_ref) = if p.is_ref {
                    (quote!(#x), true)
                } else {
                    (quote!(&#x), false)
                };
                let seeded = if p.active {
                    let v = next_direction.next().map(|(v, _)| v.clone());
                    let v_ref = if p.is_ref { quote!(#v) } else { quote!(&#v) };
                    quote!(#rt::seed(#x_ref, #v_ref))
                } else if p.is_float {
                    quote!(#rt::seed(#x_ref, &#rt::zero_like(#x_ref)))
                } else {
                    return quote!(#x);
                };
                if by_ref {
                    quote!(&#seeded)
                } else {
                    seeded
                }
            })
            .collect();
        let grads: Vec<Ident> = (0..directions.len())
            .map(|i| Ident::new(&format!("__g_{i}"), Span::mixed_site()))
            .collect();
        let pattern = match grads.as_slice() {
            [one] => quote!(#one),
            many => quote!((#(#many),*)),
        };
        let parts = |part: &str| {
            let f = Ident::new(part, Span::call_site());
            let each = grads.iter().map(|g| quote!(#rt::DualParts::#f(&#g)));
            match grads.as_slice() {
                [one] => quote!(#rt::DualParts::#f(&#one)),
                _ => quote!((#(#each),*)),
            }
        };
        let (real, dual) = (parts("real_part"), parts("dual_part"));
        let grad_ty = self.grad_type();
        let value = Ident::new("__value", Span::mixed_site());
        let doc = format!(
            " Hessian-vector product of [`{name}`]: its value, its gradient and the Hessian times the direction `v` (one direction per active parameter, of the parameter's type), by forward over reverse mode (the generated reverse pass run on dual numbers `{float} + v ε`). Generated by `#[differentiate]`."
        );
        let header = self.header(&doc);
        Some(quote! {
            #header
            #vis fn #hvp #impl_generics (#(#params,)* #(#direction_params),*) -> (#ret, #grad_ty, #grad_ty) #where_clause {
                #prelude
                let (#value, #pattern) = #vjp (#(#args,)* #rt::one());
                (#value.re, #real, #dual)
            }
        })
    }

    /// Whether every float parameter is a `float`, or a slice, `Vec` or array of them: what
    /// dual numbers can stand in for.
    fn dual_ready(&self, float: &Ident) -> bool {
        let dual_ready = |ty: &syn::Type| -> bool {
            let mut ty = ty;
            if let syn::Type::Reference(r) = ty {
                ty = &r.elem;
            }
            match ty {
                syn::Type::Path(tp) if tp.path.is_ident(float) => true,
                syn::Type::Slice(sl) => matches!(&*sl.elem, syn::Type::Path(tp) if tp.path.is_ident(float)),
                syn::Type::Array(a) => matches!(&*a.elem, syn::Type::Path(tp) if tp.path.is_ident(float)),
                syn::Type::Path(tp) => tp.path.segments.last().is_some_and(|seg| {
                    seg.ident == "Vec"
                        && matches!(&seg.arguments, syn::PathArguments::AngleBracketed(args)
                            if matches!(args.args.first(), Some(syn::GenericArgument::Type(syn::Type::Path(e))) if e.path.is_ident(float)))
                }),
                _ => false,
            }
        };
        self.sig
            .params
            .iter()
            .filter(|p| p.is_float)
            .all(|p| dual_ready(&p.ty))
    }

    /// `NAME_hessian(args...) -> (value, H)`, the dense Hessian from one `NAME_hvp` per unit
    /// direction: `[[T; n]; n]` when the active parameters are `n` floats, `Vec<Vec<T>>` when the
    /// one active parameter is a slice, `Vec` or array. `None` where `NAME_hvp` is not made.
    fn emit_hessian(&self, float: &Ident) -> Option<TokenStream> {
        let rt = &self.rt;
        let item = self.item;
        let vis = &item.vis;
        let name = &item.sig.ident;
        let hvp_name = format_ident!("{}_hvp", name);
        let turbofish = self.turbofish().unwrap_or_default();
        let hvp = quote!(#hvp_name #turbofish);
        let hessian = format_ident!("{}_hessian", name);
        let ret = self.sig.ret.as_ref()?;
        let generics = self.generics_with_real_bounds();
        let (impl_generics, _, where_clause) = generics.split_for_impl();
        let params: Vec<TokenStream> = self
            .sig
            .params
            .iter()
            .map(|p| declaration(p, false))
            .collect();
        let active: Vec<&crate::parse::Param> = self.sig.active().collect();
        let is_float_ty =
            |ty: &syn::Type| matches!(ty, syn::Type::Path(tp) if tp.path.is_ident(float));
        // Every parameter passed again for each direction: references as they are, values cloned.
        let args: Vec<TokenStream> = self
            .sig
            .params
            .iter()
            .map(|p| {
                let x = &p.ident;
                if p.is_ref {
                    quote!(#x)
                } else {
                    quote!(::core::clone::Clone::clone(&#x))
                }
            })
            .collect();
        let value = Ident::new("__value", Span::mixed_site());
        let doc = format!(
            " The Hessian of [`{name}`] with respect to its active parameters, and its value: one Hessian-vector product (`{name}_hvp`) per unit direction. Generated by `#[differentiate]`."
        );
        let (out_ty, body) = if !active.is_empty() && active.iter().all(|p| is_float_ty(&p.ty)) {
            let n = active.len();
            let rows: Vec<TokenStream> = (0..n)
                .map(|k| {
                    let dirs = (0..n).map(|j| {
                        if j == k {
                            quote!(#rt::one::<#float>())
                        } else {
                            quote!(#rt::zero::<#float>())
                        }
                    });
                    let hv = Ident::new("__hv", Span::mixed_site());
                    let entries: Vec<TokenStream> = if n == 1 {
                        vec![quote!(#hv)]
                    } else {
                        (0..n)
                            .map(|j| {
                                let j = syn::Index::from(j);
                                quote!(#hv.#j)
                            })
                            .collect()
                    };
                    quote!({
                        let (__v, _, #hv) = #hvp(#(#args,)* #(#dirs),*);
                        #value = __v;
                        [#(#entries),*]
                    })
                })
                .collect();
            (
                quote!([[#float; #n]; #n]),
                quote! {
                    let mut #value = #rt::zero::<#float>();
                    let __h = [#(#rows),*];
                    (#value, __h)
                },
            )
        } else if let [array] = active.as_slice() {
            let x = &array.ident;
            let x_ref = if array.is_ref {
                quote!(#x)
            } else {
                quote!(&#x)
            };
            let direction = if array.is_ref {
                quote!(&__direction)
            } else {
                quote!(::core::clone::Clone::clone(&__direction))
            };
            (
                quote!(::std::vec::Vec<::std::vec::Vec<#float>>),
                quote! {
                    let __n = ::core::iter::IntoIterator::into_iter(#x_ref).count();
                    let mut #value = #rt::zero::<#float>();
                    let mut __h = ::std::vec::Vec::with_capacity(__n);
                    for __k in 0..__n {
                        let mut __direction = #rt::zero_like(#x_ref);
                        __direction[__k] = #rt::one::<#float>();
                        let (__v, _, __hv) = #hvp(#(#args,)* #direction);
                        #value = __v;
                        __h.push(::core::iter::IntoIterator::into_iter(__hv).collect());
                    }
                    (#value, __h)
                },
            )
        } else {
            return None;
        };
        let header = self.header(&doc);
        Some(quote! {
            #header
            #vis fn #hessian #impl_generics (#(#params),*) -> (#ret, #out_ty) #where_clause {
                #body
            }
        })
    }

    /// The attributes every companion carries: its doc, the user's `cfg`, lint and `inline`
    /// attributes, and the allows for what a companion may leave unused.
    fn header(&self, doc: &str) -> TokenStream {
        let attrs = self.inherited_attrs();
        quote! {
            #[doc = #doc]
            #(#attrs)*
            #[allow(dead_code, clippy::too_many_arguments, clippy::type_complexity, reason = "a companion the user may not call, with the parameters and types the function gives it")]
            #[allow(unused_mut, unused_variables, unused_assignments, unreachable_code, clippy::diverging_sub_expression, clippy::too_many_arguments, clippy::type_complexity, reason = "parameters the user declared `mut` or the companion does not need; code after a branch that panics")]
        }
    }

    /// `NAME_graph() -> &'static str`: the computation graph as Graphviz DOT text.
    fn emit_graph(&self, dot: &str) -> TokenStream {
        let vis = &self.item.vis;
        let name = &self.item.sig.ident;
        let graph = format_ident!("{}_graph", name);
        let attrs: Vec<&Attribute> = self
            .item
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("cfg") || a.path().is_ident("cfg_attr"))
            .collect();
        let doc = format!(
            " The computation graph of [`{name}`] as Graphviz DOT text, made at compile time: the operations with their source text, the data flow, active values solid and constants dashed, loops and branches as clusters. Render it with `dot -Tsvg`. Generated by `#[differentiate]`."
        );
        quote! {
            #[doc = #doc]
            #(#attrs)*
            #[allow(dead_code, clippy::too_many_arguments, clippy::type_complexity, reason = "a companion the user may not call, with the parameters and types the function gives it")]
            #[must_use]
            #vis fn #graph() -> &'static str {
                #dot
            }
        }
    }

    /// The tangent parameter of each active parameter, by index: `tangent_x` for `x`.
    fn tangent_params(&self) -> Vec<(usize, Ident)> {
        self.sig
            .params
            .iter()
            .enumerate()
            .filter(|(_, p)| p.active)
            .map(|(i, p)| {
                (
                    i,
                    format_ident!("tangent_{}", p.ident, span = Span::mixed_site()),
                )
            })
            .collect()
    }

    /// `NAME_jvp(args..., tangents...) -> (value, tangent)`: forward mode along the tangents,
    /// one per active parameter (of the parameter's own type).
    fn emit_jvp(&self, body: &TokenStream, tangents: &[(usize, Ident)]) -> TokenStream {
        let item = self.item;
        let vis = &item.vis;
        let name = &item.sig.ident;
        let (Some(ret), Some(ret_tangent)) = (&self.sig.ret, &self.sig.ret_tangent) else {
            return TokenStream::new();
        };
        let jvp = format_ident!("{}_jvp", name);
        let generics = self.generics_with_real_bounds();
        let (impl_generics, _, where_clause) = generics.split_for_impl();
        let params = self.sig.params.iter().map(|p| declaration(p, p.mutable));
        let tangent_params = tangents.iter().map(|(i, t)| {
            let p = &self.sig.params[*i];
            let ty = &p.ty;
            let mutability = p.mutable.then(|| quote!(mut));
            quote!(#mutability #t: #ty)
        });
        let wrt: Vec<String> = self
            .sig
            .active()
            .map(|p| format!("`{}`", p.ident))
            .collect();
        let doc = format!(
            " Forward mode of [`{name}`]: its value and its directional derivative along the tangents of {}, one per active parameter, of the parameter's type. Generated by `#[differentiate(forward)]`.",
            wrt.join(", ")
        );
        let is_method = self.sig.params.iter().any(|p| p.ident == "self");
        let owner = is_method.then(|| quote!(Self::));
        let use_of_original = self
            .turbofish()
            .map(|t| quote!(#[allow(deprecated)] let _ = #owner #name #t;));
        let header = self.header(&doc);
        let jvp_all = self.emit_jvp_all(tangents, Some(TokenStream::new()));
        let rt_use = self.rt_use();
        let body = scopes::grouped(quote!(#rt_use #use_of_original #body));
        quote! {
            #header
            #vis fn #jvp #impl_generics (#(#params,)* #(#tangent_params),*) -> (#ret, #ret_tangent) #where_clause {
                #body
            }

            #jvp_all
        }
    }

    /// `NAME_jvp_all(args..., slots...)`: what a differentiated caller's forward mode calls, one
    /// tangent slot per parameter (as `NAME_vjp_all` has one gradient slot per parameter): an
    /// `Option` of the parameter's type for an active one (`None` is a zero tangent),
    /// `NotDifferentiated` for a float parameter outside `wrt(...)`, `()` for the others; last,
    /// the caller's `ForwardCall`. `forward` is `Some(TokenStream::new())` to call `NAME_jvp`,
    /// `Some(body)` for another body; `None` for a function without forward mode: a stub whose
    /// last parameter no type fits, so that a forward-mode caller gets a message that says so.
    fn emit_jvp_all(
        &self,
        tangents: &[(usize, Ident)],
        forward: Option<TokenStream>,
    ) -> TokenStream {
        let item = self.item;
        let vis = &item.vis;
        let name = &item.sig.ident;
        let (Some(ret), Some(ret_tangent)) = (&self.sig.ret, &self.sig.ret_tangent) else {
            return TokenStream::new();
        };
        let rt = &self.rt;
        let jvp = format_ident!("{}_jvp", name);
        let jvp_all = format_ident!("{}_jvp_all", name);
        let generics = self.generics_with_real_bounds();
        let (impl_generics, _, where_clause) = generics.split_for_impl();
        let params = self.sig.params.iter().map(|p| declaration(p, false));
        let mut slots = Vec::new();
        let mut unpack = TokenStream::new();
        for (i, p) in self.sig.params.iter().enumerate() {
            let slot = format_ident!("slot_{}", p.ident, span = Span::mixed_site());
            let ty = &p.ty;
            if let Some((_, t)) = tangents.iter().find(|(q, _)| *q == i) {
                slots.push(quote!(#slot: ::core::option::Option<#ty>));
                let x = &p.ident;
                let zero = format_ident!("zero_{}", p.ident, span = Span::mixed_site());
                let is_view = ty.to_token_stream().to_string().contains("View");
                let (declare, made) = if p.is_ref {
                    (
                        quote!(let #zero;),
                        quote!({ #zero = #rt::zero_like(#x); &#zero }),
                    )
                } else if is_view {
                    (
                        quote!(let #zero;),
                        quote!({ #zero = #rt::zero_like(&#x); #zero.view() }),
                    )
                } else {
                    (TokenStream::new(), quote!(#rt::zero_like(&#x)))
                };
                unpack.extend([quote! {
                    #declare
                    let #t: #ty = match #slot {
                        ::core::option::Option::Some(t) => t,
                        ::core::option::Option::None => #made,
                    };
                }]);
            } else if p.is_float {
                slots.push(quote!(_: #rt::NotDifferentiated));
            } else {
                slots.push(quote!(_: ()));
            }
        }
        let args = self.sig.params.iter().map(|p| &p.ident);
        let ts = tangents.iter().map(|(_, t)| t);
        let is_method = self.sig.params.iter().any(|p| p.ident == "self");
        let owner = is_method.then(|| quote!(Self::));
        let turbofish = self.turbofish().unwrap_or_default();
        let (last, body) = if let Some(body) = forward {
            let body = if body.is_empty() {
                quote! {
                    #unpack
                    #owner #jvp #turbofish (#(#args,)* #(#ts),*)
                }
            } else {
                body
            };
            (quote!(#rt::ForwardCall), body)
        } else {
            (
                quote!(impl #rt::HasForwardMode),
                quote!(::core::unreachable!("no type implements `HasForwardMode`")),
            )
        };
        let attrs = self.inherited_attrs();
        quote! {
            #[doc(hidden)]
            #(#attrs)*
            #[allow(dead_code, unused_variables, clippy::too_many_arguments, clippy::type_complexity, reason = "a companion the user may not call, with the parameters and types the function gives it")]
            #[inline]
            #vis fn #jvp_all #impl_generics (#(#params,)* #(#slots,)* _: #last) -> (#ret, #ret_tangent) #where_clause {
                #body
            }
        }
    }

    /// `NAME_vjp` and `NAME_grad` around the given `NAME_vjp` body.
    fn emit(&self, vjp_body: TokenStream) -> TokenStream {
        let item = self.item;
        let vis = &item.vis;
        let name = &item.sig.ident;
        let (Some(ret), Some(ret_tangent)) = (&self.sig.ret, &self.sig.ret_tangent) else {
            return TokenStream::new();
        };
        let (vjp, grad) = self.names();
        let generics = self.generics_with_real_bounds();
        let (impl_generics, _, where_clause) = generics.split_for_impl();
        let grad_params: Vec<TokenStream> = self
            .sig
            .params
            .iter()
            .map(|p| declaration(p, false))
            .collect();
        let args = self.sig.params.iter().map(|p| &p.ident);
        let grad_ty = self.grad_type();
        let d_out = &self.d_out;
        let rt = &self.rt;
        let attrs = self.inherited_attrs();
        let turbofish = self.turbofish();
        // A method's companions are methods too, reached through `Self::`.
        let is_method = self.sig.params.iter().any(|p| p.ident == "self");
        let owner = is_method.then(|| quote!(Self::));
        let wrt: Vec<String> = self
            .sig
            .active()
            .map(|p| format!("`{}`", p.ident))
            .collect();
        let wrt = wrt.join(", ");
        let grad_shape = if self.sig.active().count() == 1 {
            "the gradient".to_owned()
        } else {
            "the gradient, a tuple with one entry per active parameter in argument order".to_owned()
        };
        let vjp_doc = format!(
            " Reverse mode of [`{name}`]: its value and the vector-Jacobian product with `d_out`, with respect to {wrt}.\n\n Returns `(value, grad)`, {grad_shape}, each entry scaled by `d_out`. Generated by `#[differentiate]`; other differentiated functions call this."
        );
        let grad_doc = format!(
            " Value and gradient of [`{name}`] with respect to {wrt}.\n\n Returns `(value, grad)`: `value` is exactly what `{name}` returns, and `grad` is {grad_shape}. Generated by `#[differentiate]`."
        );
        let call_turbofish = turbofish.unwrap_or_default();
        let vjp_fn = self.vjp_fn(vjp_body, true);
        // A tensor-valued function has a Jacobian, not a gradient: only `NAME_vjp`.
        let grad_fn = self.sig.ret_scalar.then(|| {
            quote! {
                #[doc = #grad_doc]
                #(#attrs)*
                #[allow(dead_code, clippy::too_many_arguments, clippy::type_complexity, reason = "a companion the user may not call, with the parameters and types the function gives it")]
                #[inline]
                #[must_use]
                #vis fn #grad #impl_generics (#(#grad_params),*) -> (#ret, #grad_ty) #where_clause {
                    #owner #vjp #call_turbofish (#(#args,)* #rt::one())
                }
            }
        });
        // `NAME_vjp_all`: one gradient slot per parameter, what a differentiated caller calls.
        let vjp_all = format_ident!("{}_vjp_all", name);
        let slot_types = self.sig.params.iter().map(|p| {
            if p.active {
                p.tangent
                    .as_ref()
                    .map_or_else(|| p.ty.to_token_stream(), ToTokens::to_token_stream)
            } else if p.is_float {
                quote!(#rt::NotDifferentiated)
            } else {
                quote!(())
            }
        });
        let active_grads: Vec<Ident> = (0..self.sig.active().count())
            .map(|i| Ident::new(&format!("__g_{i}"), Span::mixed_site()))
            .collect();
        let grad_pattern = match active_grads.as_slice() {
            [one] => quote!(#one),
            many => quote!((#(#many),*)),
        };
        let mut next_grad = active_grads.iter();
        let slot_values: Vec<TokenStream> = self
            .sig
            .params
            .iter()
            .map(|p| {
                if p.active {
                    next_grad.next().map_or_else(|| quote!(()), |g| quote!(#g))
                } else if p.is_float {
                    quote!(#rt::NotDifferentiated)
                } else {
                    quote!(())
                }
            })
            .collect();
        let value = Ident::new("__value", Span::mixed_site());
        let all_args = self.sig.params.iter().map(|p| &p.ident);
        let grad_params_all = grad_params.clone();
        quote! {
            #[doc(hidden)]
            #(#attrs)*
            #[allow(dead_code, clippy::too_many_arguments, clippy::type_complexity, reason = "a companion the user may not call, with the parameters and types the function gives it")]
            #[inline]
            #vis fn #vjp_all #impl_generics (#(#grad_params_all,)* #d_out: #ret_tangent) -> (#ret, (#(#slot_types,)*)) #where_clause {
                let (#value, #grad_pattern) = #owner #vjp #call_turbofish (#(#all_args,)* #d_out);
                (#value, (#(#slot_values,)*))
            }

            #[doc = #vjp_doc]
            #(#attrs)*
            #[allow(dead_code, clippy::too_many_arguments, clippy::type_complexity, reason = "a companion the user may not call, with the parameters and types the function gives it")]
            #vjp_fn

            #grad_fn
        }
    }

    /// `NAME_vjp` alone, undocumented: the reverse pass of a function's hidden generic copy,
    /// which does not mention the copy (the copy itself is not emitted).
    fn emit_vjp_only(&self, vjp_body: TokenStream) -> TokenStream {
        self.vjp_fn(vjp_body, false).unwrap_or_default()
    }

    /// `fn NAME_vjp(params..., d_out) -> (value, grad) { body }`, with the lints it allows;
    /// `uses_original`: the body names the original function, so that it is used.
    fn vjp_fn(&self, vjp_body: TokenStream, uses_original: bool) -> Option<TokenStream> {
        let (Some(ret), Some(ret_tangent)) = (&self.sig.ret, &self.sig.ret_tangent) else {
            return None;
        };
        let vis = &self.item.vis;
        let name = &self.item.sig.ident;
        let (vjp, _) = self.names();
        let generics = self.generics_with_real_bounds();
        let (impl_generics, _, where_clause) = generics.split_for_impl();
        let params = self.sig.params.iter().map(|p| declaration(p, p.mutable));
        let grad_ty = self.grad_type();
        let d_out = &self.d_out;
        let is_method = self.sig.params.iter().any(|p| p.ident == "self");
        let owner = is_method.then(|| quote!(Self::));
        let use_of_original = self
            .turbofish()
            .filter(|_| uses_original)
            .map(|t| quote!(#[allow(deprecated)] let _ = #owner #name #t;));
        // The body moves into its braces: interpolating it would copy every token.
        let mut inner = self.rt_use();
        inner.extend(use_of_original);
        inner.extend([vjp_body]);
        let body = proc_macro2::Group::new(proc_macro2::Delimiter::Brace, scopes::grouped(inner));
        Some(quote! {
            #[allow(unused_mut, unused_variables, unused_assignments, unreachable_code, clippy::diverging_sub_expression, clippy::too_many_arguments, clippy::type_complexity, reason = "parameters the user declared `mut`, or used only in code the companion does not need; code after a branch that panics")]
            #vis fn #vjp #impl_generics (#(#params,)* #d_out: #ret_tangent) -> (#ret, #grad_ty) #where_clause #body
        })
    }
}

/// A parameter as the companions declare it: `x: f64`, or a method's receiver in its short form
/// (`&self`, `self`), as the user wrote it.
fn declaration(p: &crate::parse::Param, mutable: bool) -> TokenStream {
    let (ident, ty) = (&p.ident, &p.ty);
    let mutability = mutable.then(|| quote!(mut));
    if ident == "self" {
        return match ty {
            syn::Type::Reference(r) if matches!(&*r.elem, syn::Type::Path(tp) if tp.path.is_ident("Self")) =>
            {
                let (lifetime, inner_mut) = (&r.lifetime, &r.mutability);
                quote!(&#lifetime #inner_mut #ident)
            }
            syn::Type::Path(tp) if tp.path.is_ident("Self") => quote!(#mutability #ident),
            _ => quote!(#mutability #ident: #ty),
        };
    }
    quote!(#mutability #ident: #ty)
}

/// The companions of a function that lowered without errors.
///
/// # Errors
/// Structural limits found while generating (an active array created inside a loop from
/// something other than a constant), reported at the user's code.
pub fn generate(
    item: &ItemFn,
    sig: &Signature,
    graph: &Graph,
    activity: &Activity,
    options: &Options,
) -> syn::Result<TokenStream> {
    let companions = Companions::new(item, sig, options);
    let layout = Layout::of(graph, !sig.params.iter().any(|p| p.is_tensor));
    let (body, plan) = vjp_body(&companions, sig, graph, activity, &layout, Plan::default())?;
    let mut out = companions.emit(body);
    if let Some(hvp) = companions.emit_hvp() {
        out.extend([hvp]);
        out.extend(companions.emit_hessian(&sig.float_generics[0]));
    } else if let Some((hvp, float)) =
        companions.emit_concrete_hvp(options, (graph, &layout, &plan))
    {
        out.extend([hvp]);
        out.extend(companions.emit_hessian(&float));
    }
    out.extend([companions.emit_graph(&graph::dot(graph, activity, &item.sig.ident.to_string()))]);
    if options.trace && sig.ret_scalar {
        let trace = with_context(&companions, sig, graph, activity, &layout, |cx| {
            trace_companion(&companions, cx)
        })?;
        out.extend([trace]);
    }
    let tangents = companions.tangent_params();
    if options.forward {
        let jvp_body = with_context(&companions, sig, graph, activity, &layout, |cx| {
            jvp::body(cx, &tangents)
        })?;
        out.extend([companions.emit_jvp(&jvp_body, &tangents)]);
    } else {
        out.extend([companions.emit_jvp_all(&tangents, None)]);
    }
    Ok(out)
}

/// Runs `f` with the analyses codegen reads: the layout of values and the kinds (float or
/// tensor) of values.
fn with_context<R>(
    companions: &Companions<'_>,
    sig: &Signature,
    graph: &Graph,
    activity: &Activity,
    layout: &Layout,
    f: impl FnOnce(&reverse::Context<'_>) -> syn::Result<R>,
) -> syn::Result<R> {
    let tensor_params: Vec<bool> = sig.params.iter().map(|p| p.is_tensor).collect();
    let kinds = crate::analyze::kinds(graph, &tensor_params, sig.ret_scalar, &sig.float_generics);
    f(&reverse::Context {
        trace: None,
        row_arrays: std::cell::OnceCell::new(),
        kinds: &kinds,
        graph,
        activity,
        layout,
        rt: &companions.rt_body,
        d_out: &companions.d_out,
        sig,
    })
}

/// Dry runs of the reverse sweep until what the reverse pass reads and accumulates is settled
/// (a loop saving only its variable needs no tape, which changes what the loop around it
/// saves).
fn settled_plan(cx: &reverse::Context<'_>) -> syn::Result<Plan> {
    Ok(settled_sweep(cx, Plan::default())?.0)
}

/// [`settled_plan`], with the reverse sweep made under it (the last dry run's, when it settled).
/// From nothing (`start` empty) the first run cannot be the last, so it writes no
/// contributions; from a plan made for the same function, the first run usually is the last.
fn settled_sweep(
    cx: &reverse::Context<'_>,
    start: Plan,
) -> syn::Result<(Plan, TokenStream, Vec<TokenStream>)> {
    let mut plan = start;
    let mut dry = plan == Plan::default();
    for _ in 0..8 {
        let (reverse, found, grads) = reverse::sweep_with(cx, &plan, dry)?;
        if dry && found == plan {
            // Settled at once after all: the tokens are made by the next run.
            dry = false;
            continue;
        }
        dry = false;
        if found == plan {
            // The same plan, with the fused loops' tokens of this run.
            return Ok((found, reverse, grads));
        }
        plan = found;
    }
    let (reverse, found, grads) = reverse::sweep(cx, &plan)?;
    plan.fused = found.fused;
    Ok((plan, reverse, grads))
}

/// The body of `NAME_vjp`: the forward pass, the reverse sweep, `(value, grad)`.
/// Its dry runs start from `start`; returns the settled plan too.
fn vjp_body(
    companions: &Companions<'_>,
    sig: &Signature,
    graph: &Graph,
    activity: &Activity,
    layout: &Layout,
    start: Plan,
) -> syn::Result<(TokenStream, Plan)> {
    // A plan made for another graph starts nothing (its values might not exist here).
    let n = graph.nodes.len();
    let fits = start
        .referenced
        .iter()
        .chain(&start.accumulated)
        .chain(&start.has_reverse)
        .all(|v| v.index() < n);
    let start = if fits { start } else { Plan::default() };
    with_context(companions, sig, graph, activity, layout, |cx| {
        let (plan, reverse, grads) = settled_sweep(cx, start)?;
        let forward = forward::pass(cx, &plan);
        let grad = match grads.as_slice() {
            [one] => one.clone(),
            many => quote!((#(#many),*)),
        };
        let value = graph.value_ident(graph.ret);
        // Moved, not interpolated: `quote!` would copy every token of both passes.
        let mut body = forward;
        body.extend([reverse]);
        body.extend([quote!((#value, #grad))]);
        Ok((body, plan))
    })
}

/// Companions with the right signatures and an unreachable body, emitted beside the errors so
/// that callers of `NAME_grad` do not get a second error.
pub fn fallback(item: &ItemFn, sig: &Signature, options: &Options) -> TokenStream {
    let companions = Companions::new(item, sig, options);
    let params = sig.params.iter().map(|p| &p.ident);
    let d_out = &companions.d_out;
    let unreachable = quote! {
        ::core::unreachable!("#[differentiate] reported an error for this function")
    };
    let mut out = companions.emit(quote! {
        let _ = (#(#params,)* #d_out);
        #unreachable
    });
    let forward = options.forward.then_some(unreachable);
    out.extend(companions.emit_jvp_all(&companions.tangent_params(), forward));
    out
}

/// The companions of a function with a custom derivative (`vjp = rule`): `NAME_vjp` calls the
/// rule, after checking at compile time that it has `NAME_vjp`'s signature (a function pointer
/// of that type is made from it, so a mismatch is rustc's error at the rule's path, with both
/// signatures).
pub fn custom(item: &ItemFn, sig: &Signature, options: &Options, rule: &syn::Path) -> TokenStream {
    let companions = Companions::new(item, sig, options);
    let (Some(ret), Some(ret_tangent)) = (&sig.ret, &sig.ret_tangent) else {
        return TokenStream::new();
    };
    let tys = sig.params.iter().map(|p| &p.ty);
    let args = sig.params.iter().map(|p| &p.ident);
    let grad_ty = companions.grad_type();
    let d_out = &companions.d_out;
    let checked = Ident::new("__rule", Span::mixed_site());
    let mut out = companions.emit(quote_spanned! {rule.span()=>
        let #checked: fn(#(#tys,)* #ret_tangent) -> (#ret, #grad_ty) = #rule;
        #checked(#(#args,)* #d_out)
    });
    out.extend(companions.emit_jvp_all(&companions.tangent_params(), None));
    out
}

/// A float constant written through the float type, which computing again gives the same bits:
/// `T::one()`, `T::from(100.0).unwrap()`, `f64::EPSILON`, `T::epsilon() * 2.0`.
fn is_float_constant(e: &syn::Expr) -> bool {
    const CONSTRUCTORS: &[&str] = &[
        "one",
        "zero",
        "from",
        "from_f64",
        "from_f32",
        "from_i32",
        "epsilon",
        "max_value",
        "min_value",
        "min_positive_value",
        "infinity",
        "neg_infinity",
        "nan",
    ];
    match e {
        syn::Expr::Lit(_) => true,
        syn::Expr::Path(p) => p.path.segments.len() >= 2,
        syn::Expr::Paren(p) => is_float_constant(&p.expr),
        syn::Expr::Unary(u) => is_float_constant(&u.expr),
        syn::Expr::Binary(b) => is_float_constant(&b.left) && is_float_constant(&b.right),
        syn::Expr::Cast(c) => is_float_constant(&c.expr),
        syn::Expr::Call(c) => {
            matches!(&*c.func, syn::Expr::Path(p) if p.path.segments.len() >= 2
                && p.path.segments.last().is_some_and(|s| CONSTRUCTORS.contains(&s.ident.to_string().as_str())))
                && c.args.iter().all(is_float_constant)
        }
        syn::Expr::MethodCall(m) => {
            (m.method == "unwrap" || m.method == "expect")
                && is_float_constant(&m.receiver)
                && m.args.iter().all(|a| matches!(a, syn::Expr::Lit(_)))
        }
        _ => false,
    }
}

/// `NAME_trace(args...) -> (value, grad, Trace)`: the gradient as `NAME_grad` computes it, with
/// every active float's value and adjoint recorded in a `Trace`.
fn trace_companion(
    companions: &Companions<'_>,
    cx: &reverse::Context<'_>,
) -> syn::Result<TokenStream> {
    let trace = Ident::new("__trace", Span::mixed_site());
    let traced = reverse::Context {
        trace: Some(&trace),
        row_arrays: std::cell::OnceCell::new(),
        graph: cx.graph,
        activity: cx.activity,
        layout: cx.layout,
        rt: cx.rt,
        d_out: cx.d_out,
        sig: cx.sig,
        kinds: cx.kinds,
    };
    let rt = cx.rt;
    // The plan of the traced code itself: a trace runs every loop's reverse after the loop
    // (none inside its forward loop, see `Sweep::fusable`), so it saves what they read.
    let plan = &settled_plan(&traced)?;
    let forward = forward::pass(&traced, plan);
    let (reverse, _, grads) = reverse::sweep(&traced, plan)?;
    let grad = match grads.as_slice() {
        [one] => one.clone(),
        many => quote!((#(#many),*)),
    };
    let value = cx.graph.value_ident(cx.graph.ret);
    let d_out = cx.d_out;
    let item = companions.item;
    let vis = &item.vis;
    let name = &item.sig.ident;
    let trace_fn = format_ident!("{}_trace", name);
    let generics = companions.generics_with_real_bounds();
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    let params = companions
        .sig
        .params
        .iter()
        .map(|p| declaration(p, p.mutable));
    let ret = companions.sig.ret.as_ref();
    let grad_ty = companions.grad_type();
    let doc = format!(
        " Value and gradient of [`{name}`], with the value and adjoint of every operation it evaluated recorded in an `autodiff::Trace` (print it, or draw it with `to_dot`). Generated by `#[differentiate(trace)]`."
    );
    let header = companions.header(&doc);
    let (rt_path, rt_use) = (&companions.rt, companions.rt_use());
    Ok(quote! {
        #header
        #vis fn #trace_fn #impl_generics (#(#params),*) -> (#ret, #grad_ty, #rt_path::Trace) #where_clause {
            #rt_use
            let #d_out: #ret = #rt::one();
            let mut #trace = #rt::Trace::new();
            #forward
            #reverse
            (#value, #grad, #trace)
        }
    })
}
