//! The reverse sweep: adjoint statements, last statement first, mirroring the regions.
//!
//! Input (IR): `%5 = mul(%3, %4)` in a loop body, `%3` carried.
//! Output (abridged):
//! ```text
//! let mut __carry_s_3 = d_out;                      // the carried value's adjoint
//! for (__s_3, __t4) in __tape_9.into_iter().rev() {  // one saved entry per iteration, last first
//!     let __d_s_5 = __carry_s_3;                     // what the next iteration's start received
//!     let __d_s_3 = rt::mul_adjoint_lhs(&__t4, &__d_s_5);
//!     ...
//!     __carry_s_3 = __d_s_3;                         // on to the previous iteration
//! }
//! ```
//!
//! Adjoints live in scopes that mirror the forward blocks. The first contribution to a value
//! defined in the current block declares its adjoint; a contribution inside a branch or a loop
//! to a value defined outside it needs the adjoint to exist before the region, so the region's
//! reverse is preceded by a zero start for those (`zero_like`), the one place zeros are truly
//! needed. Array adjoints are zero-filled when the array is made.

use crate::hash::HashMap;

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, quote_spanned};

use super::{Layout, Plan};
use crate::analyze::{Activity, Kind};
use crate::ir::{
    collect_region_uses, node_users, Block, Graph, IfRegion, LoopRegion, Op, Stmt, ValueId,
};
use crate::parse::Signature;
use crate::rules;

/// What both sweeps and the forward pass work from.
pub(super) struct Context<'a> {
    pub graph: &'a Graph,
    pub activity: &'a Activity,
    pub layout: &'a Layout,
    pub rt: &'a TokenStream,
    pub d_out: &'a Ident,
    pub sig: &'a Signature,
    pub kinds: &'a [Kind],
    /// `Some(trace)` in `NAME_trace`: every active float's value and adjoint are recorded.
    pub trace: Option<&'a Ident>,
    /// [`Context::row_arrays`] and [`Context::float_arrays`], found once.
    pub row_arrays: std::cell::OnceCell<(Vec<Ident>, Vec<Ident>)>,
}

impl Context<'_> {
    /// Whether `v` is known to be a float (plain arithmetic, copied freely).
    pub fn is_scalar(&self, v: ValueId) -> bool {
        self.kinds.get(v.index()).copied().unwrap_or(Kind::Scalar) == Kind::Scalar
    }

    /// Whether the node `v` and its operands are all floats; otherwise its forward and reverse
    /// use the general operations, right for tensors.
    pub fn scalar_node(&self, v: ValueId) -> bool {
        self.is_scalar(v)
            && self
                .graph
                .node(v)
                .op
                .operands()
                .iter()
                .all(|o| self.is_scalar(*o))
    }

    /// Whether a forward value is itself a reference: a parameter of reference type, or an
    /// inactive `&expr`.
    pub fn is_reference(&self, v: ValueId) -> bool {
        if self.graph.node(v).reference {
            return true;
        }
        match &self.graph.node(v).op {
            Op::Param(i) => self.sig.params.get(*i).is_some_and(|p| p.is_ref),
            op => op.holds_reference(),
        }
    }

    /// A reference to a forward value: `&x`, or `x` for a value that is a reference.
    pub fn reference(&self, v: ValueId) -> TokenStream {
        let ident = self.graph.value_ident(v);
        if self.is_reference(v) {
            quote!(#ident)
        } else {
            quote!(&#ident)
        }
    }

    /// The arguments of a call to another differentiated function, as its signature takes
    /// them: a reference where the user wrote `&arg`, else the value (a clone when it may be a
    /// tensor, which the reverse pass still reads).
    pub fn call_arguments(&self, c: &crate::ir::CallFn, args: &[ValueId]) -> Vec<TokenStream> {
        args.iter()
            .enumerate()
            .map(|(i, a)| {
                if c.by_ref.get(i).copied().unwrap_or(false) {
                    self.reference(*a)
                } else if matches!(self.graph.node(*a).op, Op::Field(..)) {
                    // A field passed by value: the callee gets its own copy.
                    let ident = self.graph.value_ident(*a);
                    quote!(::core::clone::Clone::clone(#ident))
                } else if self.is_reference(*a) {
                    // A reference (a `&Array` parameter passed on) is copied as it is.
                    let ident = self.graph.value_ident(*a);
                    quote!(#ident)
                } else {
                    self.owned_copy(*a)
                }
            })
            .collect()
    }

    /// Whether a call's reverse pass scales the callee's gradient for a unit seed, computed with
    /// its value in the forward pass (`let (y, g) = f_vjp_all(args, 1)`), rather than running the
    /// callee's `_vjp_all` again: when the result is a float (its adjoint a scalar, and the
    /// callee's reverse pass linear in it), never when it may be an array.
    pub fn unit_seed_call(&self, v: ValueId) -> bool {
        self.is_scalar(v) && !self.layout.arrays.contains(&v)
    }

    /// The path of a callee's `NAME_vjp_all` companion: the user's path with its last segment
    /// renamed, generic arguments kept.
    pub fn vjp_all_path(c: &crate::ir::CallFn) -> syn::ExprPath {
        Self::companion_path(c, "vjp_all")
    }

    /// The path of a callee's companion `NAME_{suffix}` (`vjp_all`, `jvp_all`).
    pub fn companion_path(c: &crate::ir::CallFn, suffix: &str) -> syn::ExprPath {
        let mut path = c.path.clone();
        if let Some(last) = path.path.segments.last_mut() {
            last.ident = quote::format_ident!("{}_{}", last.ident, suffix);
        }
        path
    }

    /// How the reverse pass binds a saved value popped from a tape or taken from a branch's
    /// `Option`: by name, or `ref name` for a reference (the forward pass saved its referent).
    pub fn saved_pattern(&self, v: ValueId) -> TokenStream {
        let ident = self.graph.value_ident(v);
        if self.is_reference(v) {
            quote!(ref #ident)
        } else {
            quote!(#ident)
        }
    }

    /// A value to move into a tuple or a new binding while the original stays usable: the
    /// value itself for a float, a clone otherwise.
    pub fn owned_copy(&self, v: ValueId) -> TokenStream {
        let ident = self.graph.value_ident(v);
        // An array in a function without tensors is of the scalar kind, but a `Vec` moves: a
        // branch that gives `y` (`return y;`, `if c { y } else { z }`) keeps it for the code
        // after, and the reverse pass reads it.
        if self.is_scalar(v) && !self.is_reference(v) && !self.layout.whole_arrays.contains(&v) {
            quote!(#ident)
        } else {
            // A field's value and a loop variable over an inactive array are references
            // (`&p.b`): a loop's start, a branch's value or a saved value is what they refer to.
            let r = self.reference(v);
            quote!(::core::clone::Clone::clone(#r))
        }
    }

    /// A value to save for the reverse pass ([`Self::owned_copy`]); a view (`a.t()`,
    /// `a.view()`) of an array other than a parameter as an array of its own: a clone would
    /// still borrow the array, which the function may assign again while the clone is saved
    /// (`h = h.t().dot(w)` in a loop).
    pub fn saved_copy(&self, v: ValueId) -> TokenStream {
        let viewed = match &self.graph.node(v).op {
            Op::Tensor(f, args) if f.name == "t" => args.first().copied(),
            Op::Unary(f, _, a) if f.name == "view" => Some(*a),
            _ => None,
        };
        if viewed.is_some_and(|a| !matches!(self.graph.node(a).op, Op::Param(_))) {
            let (rt, ident) = (self.rt, self.graph.value_ident(v));
            quote!(#rt::owned_view(&#ident))
        } else {
            self.owned_copy(v)
        }
    }

    /// The values block `id` saves for its reverse pass, in a fixed order.
    pub fn saves(&self, plan: &Plan, id: u32) -> Vec<ValueId> {
        let mut out: Vec<ValueId> = plan
            .referenced
            .iter()
            .copied()
            .filter(|v| {
                id != 0
                    && self.layout.home(*v) == id
                    && !self.layout.cheap.contains(v)
                    && !self.layout.regenerated.contains(v)
                    && !self.layout.counters.contains_key(v)
                    && !self.layout.chained.contains_key(v)
                    && !self.layout.chained.values().any(|c| c.next == *v)
            })
            .collect();
        out.sort();
        out
    }

    /// Whether one run of a loop can write its tape entries into slots made for it before the
    /// loop (`Tape::run_slots`) instead of pushing them: it regenerates its range (so it runs
    /// exactly as many times as the range has items, with no early exit), is not fused, and
    /// every value it saves is of a type with a `Default` (floats, integer counters, the
    /// `Option`s of hoisted reads; at most twelve of them). A push may grow the tape, a call
    /// inside the loop that keeps the loop's float sums in memory instead of registers; a slot
    /// is a plain store.
    pub fn slotted(&self, plan: &Plan, l: &LoopRegion) -> bool {
        let saves = self.saves(plan, l.body.id);
        // Tuples have a `Default` up to twelve elements.
        self.regenerates(l)
            && !plan.fused.contains_key(&l.tape)
            && saves.len() <= 12
            && saves.iter().all(|v| {
                (self.activity.is_active(*v) && self.is_scalar(*v))
                    || self.layout.hoisted.contains_key(v)
                    || self.layout.counters.values().any(|(exit, _)| exit == v)
                    || self.layout.chained.values().any(|c| c.exit == *v)
            })
    }

    /// Whether a loop's reverse pass walks its range backwards for the loop variable (a range
    /// written out, no early exit).
    pub fn regenerates(&self, l: &LoopRegion) -> bool {
        matches!(&l.kind, crate::ir::LoopKind::For { range: true, .. }) && l.broke.is_none()
    }

    /// Whether a loop needs no tape: it regenerates its variable and saves nothing else.
    pub fn tapeless(&self, plan: &Plan, l: &LoopRegion) -> bool {
        self.regenerates(l) && self.saves(plan, l.body.id).is_empty()
    }

    /// The tape of a loop: a `Vec` declared once, where the function starts (for a loop inside
    /// another region) or just before the loop (for a loop of the function body).
    pub fn tape_ident(&self, l: &LoopRegion) -> Ident {
        Ident::new(&format!("__tape_{}", l.tape.0), Span::mixed_site())
    }

    /// Whether a loop's tape is shared by all runs of the loop (it is inside another region):
    /// each run pushes after the previous one's entries, and the reverse pass drains its own.
    pub fn shared_tape(&self, l: &LoopRegion) -> bool {
        self.layout.home(l.tape) != 0
    }

    /// The arrays loop `tape` saves whole at the end of each iteration for its reverse pass to
    /// read (see `Layout::find_snapshots`): those with a read the reverse pass reads again.
    pub fn snapshots(&self, plan: &Plan, tape: ValueId) -> Vec<ValueId> {
        let Some(arrays) = self.layout.snapshots.get(&tape) else {
            return Vec::new();
        };
        arrays
            .iter()
            .copied()
            .filter(|a| {
                self.layout
                    .served
                    .iter()
                    .any(|(r, (t, b))| *t == tape && b == a && plan.referenced.contains(r))
            })
            .collect()
    }

    /// The tape of an array's snapshots (`view`: the snapshot of the iteration being reversed).
    pub fn snapshot_tape(&self, a: ValueId, view: bool) -> Ident {
        let name = self.graph.value_ident(a).to_string();
        let kind = if view { "__view" } else { "__snap" };
        Ident::new(&format!("{kind}{}", &name[1..]), Span::mixed_site())
    }

    /// The snapshot a served read reads again (see `Layout::find_snapshots`), if its loop takes
    /// one: the read's array, and the view of the snapshot that stands for it.
    pub fn served_from(&self, plan: &Plan, v: ValueId) -> Option<(ValueId, Ident)> {
        let (tape, array) = self.layout.served.get(&v)?;
        self.snapshots(plan, *tape)
            .contains(array)
            .then(|| (*array, self.snapshot_tape(*array, true)))
    }

    /// Whether the reverse pass computes `v` again rather than saving it.
    pub fn rematerializable(&self, v: ValueId) -> bool {
        self.layout.cheap.contains(&v)
    }

    /// The arrays a loop may cut rows of (see [`super::rows`]): parameters that are slices,
    /// `Vec`s or fixed arrays, locals made by `vec![…]` or an array expression, and the
    /// adjoints of both (made by `zero_like`, of the same shape).
    pub fn row_arrays(&self) -> &[Ident] {
        &self.row_arrays.get_or_init(|| self.find_row_arrays()).0
    }

    /// Those of [`Context::row_arrays`] whose elements are floats (parameters of a float
    /// element type, locals `vec![c; n]` or `[c; n]` of a scalar `c`): the arrays a loop may
    /// carry elements of in locals (see [`super::rows::carry_neighbours`]).
    pub fn float_arrays(&self) -> &[Ident] {
        &self.row_arrays.get_or_init(|| self.find_row_arrays()).1
    }

    fn find_row_arrays(&self) -> (Vec<Ident>, Vec<Ident>) {
        let float_type = |t: &syn::Type| match t {
            syn::Type::Path(p) if p.qself.is_none() => p.path.get_ident().is_some_and(|id| {
                id == "f64" || id == "f32" || self.sig.float_generics.contains(id)
            }),
            _ => false,
        };
        // A float literal, or a float type's constant or function (`f64::MAX`, `T::zero()`):
        // not a variable, which may be an array (`[z; 4]`).
        let float_path = |p: &syn::Path| {
            p.segments.len() > 1
                && (p.segments[0].ident == "f64"
                    || p.segments[0].ident == "f32"
                    || self.sig.float_generics.contains(&p.segments[0].ident))
        };
        let scalar = |e: &syn::Expr| match e {
            syn::Expr::Lit(_) => true,
            syn::Expr::Unary(u) => matches!(*u.expr, syn::Expr::Lit(_)),
            syn::Expr::Path(p) => float_path(&p.path),
            syn::Expr::Call(c) => matches!(&*c.func, syn::Expr::Path(p) if float_path(&p.path)),
            _ => false,
        };
        let (mut rows, mut floats) = (Vec::new(), Vec::new());
        for (i, node) in self.graph.nodes.iter().enumerate() {
            // Whether an array, and whether of floats.
            let kind = match &node.op {
                Op::Param(p) => self.sig.params.get(*p).and_then(|p| {
                    let element = crate::lower::element_type(&p.ty).filter(|_| !p.is_tensor)?;
                    Some(float_type(element))
                }),
                Op::Verbatim(tokens, _) => syn::parse2::<syn::Expr>(tokens.clone())
                    .ok()
                    .and_then(super::without_bindings)
                    .and_then(|e| match e {
                        syn::Expr::Repeat(r) => Some(scalar(&r.expr)),
                        syn::Expr::Array(_) => Some(false),
                        syn::Expr::Macro(m) if m.mac.path.is_ident("vec") => Some(
                            m.mac
                                .parse_body_with(|input: syn::parse::ParseStream<'_>| {
                                    let element: syn::Expr = input.parse()?;
                                    input.parse::<syn::Token![;]>()?;
                                    let _: syn::Expr = input.parse()?;
                                    Ok(scalar(&element))
                                })
                                .unwrap_or(false),
                        ),
                        _ => None,
                    }),
                _ => None,
            };
            if let Some(float) = kind {
                let v = ValueId(u32::try_from(i).unwrap_or(u32::MAX));
                for ident in [self.graph.value_ident(v), self.graph.adjoint_ident(v)] {
                    if float {
                        floats.push(ident.clone());
                    }
                    rows.push(ident);
                }
            }
        }
        (rows, floats)
    }

    /// Active arrays whose adjoint the forward pass declares (parameters and arrays of the
    /// function body), with the expression giving their zero.
    pub fn forward_arrays(&self) -> Vec<(ValueId, TokenStream)> {
        let rt = self.rt;
        let mut out: Vec<(ValueId, TokenStream)> = Vec::new();
        // Array parameters too when only passed on (`dotp(&a, v)`): a callee's gradient for
        // them (a slice parameter's `Vec`) is added into an adjoint of the parameter's type.
        let array_params = self
            .graph
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| match n.op {
                Op::Param(p)
                    if self.sig.params.get(p).is_some_and(|p| {
                        p.is_float && !p.is_tensor && crate::lower::element_type(&p.ty).is_some()
                    }) =>
                {
                    Some(ValueId(u32::try_from(i).unwrap_or(u32::MAX)))
                }
                _ => None,
            });
        let mut candidates: Vec<ValueId> = self.layout.arrays.iter().copied().collect();
        for a in array_params {
            if !candidates.contains(&a) {
                candidates.push(a);
            }
        }
        for a in candidates {
            if !self.activity.is_active(a) || self.layout.home(a) != 0 {
                continue;
            }
            let zero = match self.graph.node(a).op {
                Op::Param(i) => {
                    let p = &self.sig.params[i];
                    let ident = &p.ident;
                    if p.is_ref {
                        quote!(#rt::zero_like(#ident))
                    } else {
                        quote!(#rt::zero_like(&#ident))
                    }
                }
                _ => {
                    let reference = self.reference(a);
                    quote!(#rt::zero_like(#reference))
                }
            };
            out.push((a, zero));
        }
        out.sort_by_key(|(a, _)| *a);
        out
    }
}

/// Generates the reverse sweep. Returns its tokens, what it found (for the next run), and the
/// gradient expression of each active parameter.
pub(super) fn sweep(
    cx: &Context<'_>,
    plan: &Plan,
) -> syn::Result<(TokenStream, Plan, Vec<TokenStream>)> {
    sweep_with(cx, plan, false)
}

/// [`sweep`]; `dry`: only what it finds matters, so the nodes' contributions are not written
/// (their tokens are most of a sweep's work).
pub(super) fn sweep_with(
    cx: &Context<'_>,
    plan: &Plan,
    dry: bool,
) -> syn::Result<(TokenStream, Plan, Vec<TokenStream>)> {
    let mut s = Sweep {
        cx,
        plan,
        dry,
        found: Plan::default(),
        scopes: Vec::new(),
        escaped: Vec::new(),
        errors: None,
        in_scope: None,
        in_place: HashMap::default(),
        scaled_squares: HashMap::default(),
        deferred: None,
    };
    // Rewrites that give a node no adjoint of its own are left out where every node's adjoint
    // is traced.
    if cx.trace.is_none() {
        let uses = crate::ir::use_counts(cx.graph);
        s.in_place = in_place_updates(cx, &uses);
        s.scaled_squares = scaled_squares(cx, &uses);
    }
    let graph = cx.graph;
    let mut top = HashMap::default();
    let active_result = cx.activity.is_active(graph.ret);
    // The result's adjoint is `d_out`; a local copy when something adds to it too (a value that
    // is returned and also written into an array that is read: the addition is zero, but it is
    // there).
    let mut seed = TokenStream::new();
    if active_result {
        if plan.accumulated.contains(&graph.ret) {
            let adjoint = graph.adjoint_ident(graph.ret);
            let d_out = cx.d_out;
            seed.extend([quote!(let mut #adjoint = #d_out;)]);
            top.insert(graph.ret, adjoint);
        } else {
            top.insert(graph.ret, cx.d_out.clone());
        }
    }
    for (a, _) in cx.forward_arrays() {
        let adjoint = graph.adjoint_ident(a);
        // A returned array written element by element: its adjoint, made zero with the array,
        // starts from `d_out`.
        if a == graph.ret && active_result {
            let (d_out, rt) = (cx.d_out, cx.rt);
            seed = quote!(#rt::accumulate(&mut #adjoint, #d_out););
        }
        top.insert(a, adjoint);
    }
    s.scopes.push((0, top));
    let tokens = if active_result {
        let body = s.block_body(&graph.body, Vec::new(), &[]);
        seed.extend([body]);
        seed
    } else {
        TokenStream::new()
    };
    // Parameters' gradients: their adjoint, or zero if nothing reached them.
    let rt = cx.rt;
    let mut grads = Vec::new();
    for (i, p) in cx.sig.params.iter().enumerate().filter(|(_, p)| p.active) {
        let value = graph
            .nodes
            .iter()
            .position(|n| matches!(n.op, Op::Param(j) if j == i));
        let adjoint = value.and_then(|v| s.lookup(ValueId(u32::try_from(v).unwrap_or(u32::MAX))));
        let ident = &p.ident;
        grads.push(match adjoint {
            Some(a) => quote!(#a),
            None if p.is_ref => quote!(#rt::zero_like(#ident)),
            None => quote!(#rt::zero_like(&#ident)),
        });
    }
    match s.errors {
        Some(e) => Err(e),
        None => Ok((tokens, s.found, grads)),
    }
}

struct Sweep<'a> {
    cx: &'a Context<'a>,
    plan: &'a Plan,
    /// A dry run: what it finds is kept, the nodes' contributions are not written.
    dry: bool,
    found: Plan,
    /// Declared adjoints by scope, innermost last, each with its block's id.
    scopes: Vec<(u32, HashMap<ValueId, Ident>)>,
    /// Values that got a contribution in a region but are defined outside it: their adjoint
    /// must be declared (as zero) before the region.
    escaped: Vec<ValueId>,
    errors: Option<syn::Error>,
    /// The body of a fused loop being swept: its values are in scope, not computed again.
    in_scope: Option<u32>,
    /// In-place updates of an array element, `a[i] = a[i] + e` (see [`in_place_updates`]): the
    /// stored value and the read it adds to.
    in_place: HashMap<ValueId, ValueId>,
    /// Products `(c * x) * x` with `c` constant (see [`scaled_squares`]): the outer product and
    /// its two operands, the inner product and `x`.
    scaled_squares: HashMap<ValueId, (ValueId, ValueId)>,
    /// The element contributions of a fused loop's iteration, held back to its end.
    deferred: Option<Deferred>,
}

/// The element contributions (`d_x[i] += d`) of a fused loop's iteration to arrays the loop
/// does not write, kept to be added at the iteration's end in the order the forward pass read
/// the elements. Added as the reverse meets them, last read first, an iteration of an
/// ascending loop writes `d_x[i + 1]` before `d_x[i]`, and the next iteration's first write
/// then waits on the store before last: extended Rosenbrock ran 2.8x slower so. Nothing in the
/// iteration reads those elements' adjoints (the loop writes none of their arrays), so only
/// the order of the additions into each element changes. Arrays made in the iteration are not
/// held back: the iteration's reverse reads their adjoints (a callee's `Vec` result, whose
/// adjoint its reverse takes).
struct Deferred {
    /// The fused loop's body.
    block: u32,
    /// Arrays the loop writes: their contributions are not held back (a store's reverse reads
    /// the element's adjoint).
    stored: Vec<ValueId>,
    /// Held back, last read first.
    items: Vec<TokenStream>,
}

impl Sweep<'_> {
    fn lookup(&self, v: ValueId) -> Option<Ident> {
        self.scopes
            .iter()
            .rev()
            .find_map(|(_, s)| s.get(&v).cloned())
    }

    /// An element read's contribution to its array's adjoint (`add`): held to the end of a
    /// fused loop's iteration when it may be (see [`Deferred`]), else written here.
    fn add_element_contribution(
        &mut self,
        read: ValueId,
        array: ValueId,
        add: TokenStream,
        out: &mut TokenStream,
    ) {
        // An array made in the iteration (a callee's `Vec` result) has its adjoint read in the
        // iteration (by the callee's reverse): its contributions go in as they come.
        let layout = self.cx.layout;
        match &mut self.deferred {
            Some(held)
                if layout.home(read) == held.block
                    && layout.home(array) != held.block
                    && !held.stored.contains(&array) =>
            {
                held.items.push(add);
            }
            _ => out.extend([add]),
        }
    }

    fn current_block(&self) -> u32 {
        self.scopes.last().map_or(0, |(id, _)| *id)
    }

    fn declare(&mut self, v: ValueId, ident: Ident) {
        if let Some((_, scope)) = self.scopes.last_mut() {
            scope.insert(v, ident);
        }
    }

    /// A forward value the reverse pass reads: saved by the forward pass, or computed again.
    fn value(&mut self, v: ValueId) -> Ident {
        if self.found.referenced.insert(v)
            && self.cx.layout.home(v) != 0
            && self.cx.rematerializable(v)
        {
            for operand in self.cx.graph.node(v).op.operands() {
                self.value(operand);
            }
        }
        self.cx.graph.value_ident(v)
    }

    /// An active array without an adjoint in scope: its contributions would be lost, a wrong
    /// gradient; a compile error instead (a bug of ours, never expected).
    fn missing_adjoint(&mut self, array: ValueId, span: Span) {
        if self.cx.activity.is_active(array) {
            self.error(
                span,
                "`#[differentiate]` lost track of this array's derivative (a bug in autodiff: please report it); the gradient would be wrong, so no gradient is generated",
            );
        }
    }

    fn error(&mut self, span: Span, message: &str) {
        let e = syn::Error::new(span, message);
        match &mut self.errors {
            Some(all) => all.combine(e),
            None => self.errors = Some(e),
        }
    }

    /// Adds `expr` into `target`'s adjoint.
    fn contribute(
        &mut self,
        target: ValueId,
        expr: &TokenStream,
        span: Span,
        out: &mut TokenStream,
    ) {
        self.contribute_in_place(target, expr, None, span, out);
    }

    /// Adds `expr` into `target`'s adjoint; `in_place`, when given, is a call that adds the same
    /// contribution into an existing adjoint without making it first (`dot_accumulate_lhs`,
    /// a matrix product into the adjoint's own buffer). Its `#acc` is the adjoint.
    fn contribute_in_place(
        &mut self,
        target: ValueId,
        expr: &TokenStream,
        in_place: Option<&dyn Fn(&Ident) -> TokenStream>,
        span: Span,
        out: &mut TokenStream,
    ) {
        let rt = self.cx.rt;
        let add = |adjoint: &Ident| match in_place {
            Some(call) => {
                let call = call(adjoint);
                quote_spanned!(span=> #call;)
            }
            None => quote_spanned!(span=> #rt::accumulate(&mut #adjoint, #expr);),
        };
        if let Some(adjoint) = self.lookup(target) {
            self.found.accumulated.insert(target);
            if !self.dry {
                out.extend([add(&adjoint)]);
            }
        } else if self.cx.layout.home(target) == self.current_block() {
            let adjoint = self.cx.graph.adjoint_ident(target);
            if !self.dry {
                let mutability = self.plan.accumulated.contains(&target).then(|| quote!(mut));
                out.extend([quote_spanned!(span=> let #mutability #adjoint = #expr;)]);
            }
            self.declare(target, adjoint);
        } else {
            let adjoint = self.cx.graph.adjoint_ident(target);
            self.found.accumulated.insert(target);
            self.escaped.push(target);
            if !self.dry {
                out.extend([add(&adjoint)]);
            }
        }
    }

    /// Zero starts, before a region, for the values defined in this block that the region
    /// contributed to; the others are left for the enclosing block.
    fn declare_escaped(&mut self, escaped: Vec<ValueId>) -> TokenStream {
        let rt = self.cx.rt;
        let mut out = TokenStream::new();
        let here = self.current_block();
        let mut seen = Vec::new();
        for t in escaped {
            if seen.contains(&t) || self.lookup(t).is_some() {
                continue;
            }
            seen.push(t);
            if self.cx.layout.home(t) == here {
                let adjoint = self.cx.graph.adjoint_ident(t);
                self.value(t);
                let witness = self.cx.reference(t);
                out.extend([quote!(let mut #adjoint = #rt::zero_like(#witness);)]);
                self.declare(t, adjoint);
            } else {
                self.escaped.push(t);
            }
        }
        out
    }

    /// The reverse of a block, in a scope of its own: `seeds` first (adjoints flowing in from
    /// after the block), then its statements last first, then `outs` (`cell = d(value)`).
    fn block(
        &mut self,
        b: &Block,
        seeds: Vec<(ValueId, TokenStream)>,
        outs: &[(Ident, ValueId)],
    ) -> TokenStream {
        self.scopes.push((b.id, HashMap::default()));
        let tokens = self.block_body(b, seeds, outs);
        self.scopes.pop();
        tokens
    }

    fn block_body(
        &mut self,
        b: &Block,
        seeds: Vec<(ValueId, TokenStream)>,
        outs: &[(Ident, ValueId)],
    ) -> TokenStream {
        let rt = self.cx.rt;
        let mut out = TokenStream::new();
        // The snapshots this block, a loop's body, reverses with (not in a fused loop's body,
        // whose reverse follows the iteration while its arrays are as it left them).
        let snapshots: Vec<(Ident, Ident, Ident)> = match self.cx.layout.snapshot_bodies.get(&b.id)
        {
            Some(tape) if self.in_scope != Some(b.id) => self
                .cx
                .snapshots(self.plan, *tape)
                .into_iter()
                .map(|a| {
                    (
                        self.cx.snapshot_tape(a, false),
                        self.cx.snapshot_tape(a, true),
                        self.cx.graph.value_ident(a),
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
        if b.id != 0 && self.in_scope != Some(b.id) {
            // The iteration's snapshots, read in place of their arrays by the reads they serve.
            for (snap, view, array) in &snapshots {
                out.extend([quote!(let #view = #snap.view_top(#array.len());)]);
            }
            self.recompute(b, &mut out);
        }
        // A fused loop's body has its values in scope, but the adjoints of its arrays start
        // here all the same.
        if b.id != 0 {
            self.declare_local_arrays(b, &mut out);
        }
        for (target, expr) in seeds {
            self.contribute(target, &expr, Span::call_site(), &mut out);
        }
        // A loop's reverse waiting for the loops before it, to run fused with them.
        let mut pending: Option<ReverseLoop> = None;
        for stmt in b.stmts.iter().rev() {
            match stmt {
                // Nothing to reverse: a loop before it may still fuse with the pending one. (A
                // first touch, active or not, sets its element: see `Layout::first_touch`.)
                Stmt::Eval(v)
                    if !self.cx.activity.is_active(*v)
                        && !self.cx.layout.first_touch.contains_key(v) =>
                {
                    continue
                }
                Stmt::Verbatim { .. } => continue,
                Stmt::Loop(l) => {
                    let mut direct = TokenStream::new();
                    let parts = self.loop_parts(l, &mut direct);
                    match (pending.take(), parts) {
                        (Some(mut first), Some(next))
                            if direct.is_empty() && first.fuses_with(&next, self.cx.graph) =>
                        {
                            first.fuse(next);
                            pending = Some(first);
                        }
                        (first, next) => {
                            if let Some(first) = first {
                                first.emit(&mut out, self.cx);
                            }
                            out.extend([direct]);
                            match next {
                                Some(next) if next.fusion.is_some() => pending = Some(next),
                                Some(next) => next.emit(&mut out, self.cx),
                                None => {}
                            }
                        }
                    }
                    continue;
                }
                _ => {}
            }
            if let Some(first) = pending.take() {
                first.emit(&mut out, self.cx);
            }
            match stmt {
                Stmt::Eval(v) => self.node(*v, &mut out),
                Stmt::Verbatim { .. } | Stmt::Loop(_) => {}
                Stmt::Store {
                    array,
                    indices,
                    value,
                    span,
                } => {
                    let Some(d_array) = self.lookup(*array) else {
                        self.missing_adjoint(*array, *span);
                        continue;
                    };
                    let covering = self
                        .cx
                        .layout
                        .covering
                        .get(array)
                        .is_some_and(|c| c.is_fill(indices, *value));
                    let indices: Vec<Ident> = indices.iter().map(|i| self.value(*i)).collect();
                    let take = if self.in_place.contains_key(value) || covering {
                        // `a[i] = a[i] + e`: the element's adjoint is also the old element's; a
                        // covering fill's is left for the next iteration's reverse to set afresh
                        // (see `Layout::covering`).
                        quote_spanned!(*span=> #d_array #([#indices])*)
                    } else {
                        quote_spanned!(*span=> #rt::take(&mut #d_array #([#indices])*))
                    };
                    if self.cx.activity.is_active(*value) {
                        self.contribute(*value, &take, *span, &mut out);
                    } else {
                        out.extend([quote!(#take;)]);
                    }
                }
                Stmt::If(r) => self.if_region(r, &mut out),
            }
        }
        if let Some(first) = pending.take() {
            first.emit(&mut out, self.cx);
        }
        if let Some(held) = self.deferred.as_mut().filter(|held| held.block == b.id) {
            out.extend(held.items.drain(..).rev());
        }
        for (cell, phi) in outs {
            let next = match self.lookup(*phi) {
                Some(d) => quote!(#d),
                None => quote!(#rt::zero_like(&#cell)),
            };
            out.extend([quote!(#cell = #next;)]);
        }
        for (snap, _, array) in &snapshots {
            out.extend([quote!(#snap.drop_top(#array.len());)]);
        }
        // Scratch arrays the iteration fills whole: the fill's reverse read their adjoints
        // without zeroing them, so unless a first touch sets them afresh (see
        // `Layout::first_touch`) they are zeroed here for the iteration before, as they were
        // before the last one (see `Layout::covering`). Zeroed at the end rather than the
        // start: the first additions of an iteration would wait on the zeroing stores.
        let layout = &self.cx.layout;
        let mut covered: Vec<ValueId> = layout
            .covering
            .iter()
            .filter(|(a, c)| c.body == b.id && !layout.first_touch.values().any(|(t, _)| t == *a))
            .map(|(a, _)| *a)
            .collect();
        covered.sort();
        for a in covered {
            if let Some(d_array) = self.lookup(a) {
                out.extend([quote!(#rt::clear(&mut #d_array[..]);)]);
            }
        }
        out
    }

    /// The values of this block the reverse pass reads and computes again rather than saves.
    fn recompute(&mut self, b: &Block, out: &mut TokenStream) {
        let mut values: Vec<ValueId> = self
            .plan
            .referenced
            .iter()
            .copied()
            .filter(|v| self.cx.layout.home(*v) == b.id && self.cx.rematerializable(*v))
            .collect();
        values.sort();
        for v in values {
            let name = self.cx.graph.value_ident(v);
            // A read hoisted out of a loop is an `Option` (see `Layout::find_invariant_reads`);
            // a read a snapshot serves reads the snapshot, except in the body of a fused loop,
            // where the array is as the iteration left it.
            let in_fused = |tape: &ValueId| {
                self.in_scope
                    .is_some_and(|id| self.cx.layout.snapshot_bodies.get(&id) == Some(tape))
            };
            let served = match self.cx.layout.served.get(&v) {
                Some((tape, _)) if !in_fused(tape) => self.cx.served_from(self.plan, v),
                _ => None,
            };
            let hoisted = self.cx.layout.hoisted.contains_key(&v);
            let view = served.as_ref().map(|(_, view)| view);
            let expr = (hoisted || view.is_some())
                .then(|| super::forward::element_read(self.cx, v, view, hoisted))
                .flatten()
                .unwrap_or_else(|| super::forward::expression(self.cx, v));
            for operand in self.cx.graph.node(v).op.operands() {
                self.value(operand);
            }
            out.extend([quote!(let #name = #expr;)]);
        }
    }

    /// Adjoints of arrays made inside this block: zero, shaped by evaluating the array's
    /// constant initialiser again.
    fn declare_local_arrays(&mut self, b: &Block, out: &mut TokenStream) {
        let rt = self.cx.rt;
        let mut arrays: Vec<ValueId> = self
            .cx
            .layout
            .arrays
            .iter()
            .copied()
            .filter(|a| self.cx.layout.home(*a) == b.id && self.cx.activity.is_active(*a))
            .collect();
        arrays.sort();
        for a in arrays {
            let node = self.cx.graph.node(a);
            let Op::Verbatim(init, reads) = &node.op else {
                // An array computed here (a callee's or a tensor operation's result): its zero
                // takes the shape of the value itself, which the reverse pass then reads.
                self.value(a);
                let adjoint = self.cx.graph.adjoint_ident(a);
                let value = self.cx.reference(a);
                out.extend([quote!(let mut #adjoint = #rt::zero_like(#value);)]);
                self.declare(a, adjoint);
                continue;
            };
            for r in reads {
                self.value(*r);
            }
            let adjoint = self.cx.graph.adjoint_ident(a);
            out.extend([quote!(let mut #adjoint = #rt::zero_like(&(#init));)]);
            self.declare(a, adjoint);
        }
    }

    /// The reverse of a running maximum or minimum (see [`crate::ir::Extremum`]): the adjoint
    /// goes to the other operand in the iteration that won last, and stays on the running value
    /// in the others. The same contributions as the rule's, decided from the iteration that won
    /// rather than from the operands: neither is saved. Returns whether `v` is one.
    fn running_extremum(
        &mut self,
        v: ValueId,
        op: &Op,
        d: &Ident,
        wants: &dyn Fn(ValueId) -> bool,
        out: &mut TokenStream,
    ) -> bool {
        let cx = self.cx;
        let Some(e) = cx.graph.extrema.iter().find(|e| e.node == v).copied() else {
            return false;
        };
        let Op::Binary(_, _, lhs, rhs) = op else {
            return false;
        };
        let (won, at) = (self.value(e.won), self.value(e.at));
        let rt = cx.rt;
        let span = cx.graph.node(v).span;
        let hit = quote!(#won == ::core::option::Option::Some(#at));
        let zero = quote!(#rt::zero_like(&#d));
        for target in [*lhs, *rhs] {
            if !wants(target) {
                continue;
            }
            let expr = if target == e.running {
                quote_spanned!(span=> if #hit { #zero } else { #d })
            } else {
                quote_spanned!(span=> if #hit { #d } else { #zero })
            };
            self.contribute_in_place(target, &expr, None, span, out);
        }
        true
    }

    /// Sets the element a first-touch read (see `Layout::first_touch`) reads to zero: its
    /// reverse adds nothing, and the element's adjoint must still be set.
    fn first_touch_zero(&mut self, v: ValueId, out: &mut TokenStream) {
        let rt = self.cx.rt;
        let Some((array, _)) = self.cx.layout.first_touch.get(&v) else {
            return;
        };
        let Op::Index(_, indices) = &self.cx.graph.node(v).op else {
            return;
        };
        let Some(d_array) = self.lookup(*array) else {
            return;
        };
        let indices: Vec<Ident> = indices.iter().map(|i| self.value(*i)).collect();
        out.extend([quote!(#d_array #([#indices])* = #rt::zero_like(&#d_array #([#indices])*);)]);
    }

    /// The reverse of one evaluated node.
    fn node(&mut self, v: ValueId, out: &mut TokenStream) {
        let cx = self.cx;
        let v_id = v.0;
        let first_touch =
            cx.layout.first_touch.contains_key(&v) && !cx.layout.hoisted.contains_key(&v);
        let d = cx.activity.is_active(v).then(|| self.lookup(v)).flatten();
        let Some(d) = d else {
            // A first touch with nothing to add still sets the element (see
            // `Layout::first_touch`): to zero.
            if first_touch {
                self.first_touch_zero(v, out);
            }
            return;
        };
        let node = cx.graph.node(v);
        let rt = cx.rt;
        if let Some(trace) = cx.trace {
            if cx.is_scalar(v) && super::graph::traced(&node.op) {
                out.extend([quote!(#trace.adjoint(#v_id, &#d);)]);
            }
        }
        match &node.op {
            // A read hoisted out of its loop: its adjoint is added after the loop's reverse.
            Op::Index(..) if cx.layout.hoisted.contains_key(&v) => {}
            Op::Index(array, indices) => {
                let Some(d_array) = self.lookup(*array) else {
                    self.missing_adjoint(*array, node.span);
                    return;
                };
                let indices: Vec<Ident> = indices.iter().map(|i| self.value(*i)).collect();
                if first_touch {
                    out.extend([quote_spanned!(node.span=> #d_array #([#indices])* = #d;)]);
                    return;
                }
                let add =
                    quote_spanned!(node.span=> #rt::accumulate(&mut #d_array #([#indices])*, #d););
                self.add_element_contribution(v, *array, add, out);
            }
            Op::Element(array, counter, _) => {
                let Some(d_array) = self.lookup(*array) else {
                    return;
                };
                let counter = self.value(*counter);
                let add = quote_spanned!(node.span=> #rt::accumulate(&mut #d_array[#counter], #d););
                self.add_element_contribution(v, *array, add, out);
            }
            // A field's adjoint goes into the struct's adjoint, field by field.
            Op::Field(base, member) => {
                if let Some(place) = self.field_place(*base) {
                    out.extend([
                        quote_spanned!(node.span=> #rt::accumulate(&mut #place.#member, #d);),
                    ]);
                }
            }
            // A call: the callee's `_vjp_all` gives every argument's share at once.
            Op::Call(c, args) => {
                let active: Vec<(usize, ValueId)> = args
                    .iter()
                    .copied()
                    .enumerate()
                    .filter(|(_, a)| cx.activity.is_active(*a))
                    .collect();
                if active.is_empty() {
                    return;
                }
                // The check that the callee differentiates each argument reports at the call.
                let rt_here = super::forward::respan(rt, node.span);
                if cx.unit_seed_call(v) {
                    let grads = self.value(c.grads);
                    // Located at the call, so a missing gradient is reported there.
                    let grads =
                        Ident::new(&grads.to_string(), Span::mixed_site().located_at(node.span));
                    for (i, a) in active {
                        let index = syn::Index {
                            index: u32::try_from(i).unwrap_or(u32::MAX),
                            span: node.span,
                        };
                        let expr = quote_spanned!(node.span=> #rt_here::callee_gradient_scaled(#grads.#index, #d));
                        let into = |adj: &Ident| quote_spanned!(node.span=> #rt_here::accumulate_gradient(&mut #adj, #expr));
                        self.contribute_in_place(a, &expr, Some(&into), node.span, out);
                    }
                    return;
                }
                for a in args {
                    self.value(*a);
                }
                let vjp = Context::vjp_all_path(c);
                let call_args = cx.call_arguments(c, args);
                let grads = Ident::new(
                    &format!("__g{}", v.0),
                    Span::mixed_site().located_at(node.span),
                );
                out.extend([quote_spanned!(node.span=>
                    let (_, #grads) = #vjp(#(#call_args,)* #d);
                )]);
                for (i, a) in active {
                    let index = syn::Index {
                        index: u32::try_from(i).unwrap_or(u32::MAX),
                        span: node.span,
                    };
                    let expr = quote_spanned!(node.span=> #rt_here::callee_gradient(#grads.#index));
                    // Into an adjoint already made: `accumulate_gradient`, which also adds a
                    // slice parameter's `Vec` gradient into a fixed array's adjoint.
                    let into = |adj: &Ident| quote_spanned!(node.span=> #rt_here::accumulate_gradient(&mut #adj, #expr));
                    self.contribute_in_place(a, &expr, Some(&into), node.span, out);
                }
            }
            op => {
                // The read of an in-place update gets no adjoint: the element's adjoint is left
                // where it is rather than taken and added back.
                let in_place_read = self.in_place.get(&v).copied();
                let wants = |o: ValueId| cx.activity.is_active(o) && Some(o) != in_place_read;
                let general = !cx.scalar_node(v);
                if !general && self.running_extremum(v, op, &d, &wants, out) {
                    return;
                }
                if general && !rules::has_general_rule(op) {
                    let name = match op {
                        Op::Binary(f, ..) => f.name,
                        Op::MulAdd(..) => "mul_add",
                        _ => "clamp",
                    };
                    self.error(
                        node.span,
                        &format!("`{name}` is differentiated only on floats (`f64`, `f32`, `T: Float`), and an operand here may be an ndarray array: write it with `+ - * /` and the elementwise methods `#[differentiate]` supports on arrays (`exp`, `ln`, `tanh`, `powi`, `powf`, `mapv(f64::...)`, ...)"),
                    );
                    return;
                }
                let contributions = match self.scaled_squares.get(&v) {
                    Some(&(m, x)) if !general && wants(x) => vec![rules::scaled_square(m, x)],
                    _ => rules::contributions(op, v, &wants, general),
                };
                // An elementwise rule on a tensor that is the only reader of the adjoint writes
                // over the adjoint's buffer (nothing reads `d` after a node's own reverse).
                let reuse = contributions.len() == 1
                    && contributions[0].view
                    && !contributions[0].reads.is_empty()
                    && matches!(op, Op::Unary(..) | Op::Powi(..) | Op::Binary(..));
                for c in contributions {
                    for read in &c.reads {
                        let (rules::Read::Value(r) | rules::Read::Int(r)) = read;
                        self.value(*r);
                    }
                    let value = |x: ValueId| cx.graph.value_ident(x);
                    let reference = |x: ValueId| cx.reference(x);
                    // (Only tokens depend on it: a dry run skips it.)
                    let inline = (!general && !c.view && !self.dry)
                        .then(|| {
                            // Floats passed by value: a reference (`x: &f64`) keeps the call.
                            let reads = c
                                .reads
                                .iter()
                                .map(|read| match read {
                                    rules::Read::Value(r) if !cx.is_reference(*r) => {
                                        Some(cx.graph.value_ident(*r))
                                    }
                                    _ => None,
                                })
                                .collect::<Option<Vec<Ident>>>()?;
                            rules::inline_on_floats(&c.function, &reads, &d)
                        })
                        .flatten();
                    let inline_float = inline.is_some();
                    let expr = if self.dry {
                        TokenStream::new()
                    } else if let Some(inline) = inline {
                        inline
                    } else if reuse {
                        rules::render_into(&c, rt, &value, &reference, &d)
                    } else {
                        rules::render(&c, rt, &value, &reference, &d)
                    };
                    // A matrix product's adjoint adds into an existing adjoint in place.
                    let accumulating = c
                        .function
                        .strip_prefix("dot_adjoint_")
                        .map(|side| format!("dot_accumulate_{side}"));
                    let in_place = accumulating.map(|function| rules::Contribution {
                        function,
                        reads: c.reads.clone(),
                        target: c.target,
                        view: false,
                    });
                    let call = |acc: &Ident| -> TokenStream {
                        let Some(c) = &in_place else {
                            return TokenStream::new();
                        };
                        let call = rules::render(c, rt, &value, &reference, &d);
                        // `rt::f(reads..., &d)` becomes `rt::f(&mut acc, reads..., &d)`.
                        splice_first_argument(call, quote!(&mut #acc))
                    };
                    // A float's contribution written inline adds with `+=` (what `accumulate`
                    // does on floats), or subtracts `d` with `-=` where it is `-d` (the same bits:
                    // `a - d` is `a + -d` in IEEE arithmetic).
                    let negated = matches!(c.function.as_str(), "sub_adjoint_rhs" | "neg_adjoint");
                    let add_float = |acc: &Ident| {
                        if negated {
                            quote!(#acc -= #d)
                        } else {
                            quote!(#acc += #expr)
                        }
                    };
                    // A copy's adjoint (`Copy`, `.clone()`) may be a callee's gradient of
                    // another type (a slice parameter's `Vec` for a fixed array copied at the
                    // call): added as a callee's gradient is.
                    let copy_into =
                        |acc: &Ident| quote!(#rt::accumulate_gradient(&mut #acc, #expr));
                    let in_place_call: Option<&dyn Fn(&Ident) -> TokenStream> =
                        if in_place.is_some() {
                            Some(&call)
                        } else if inline_float {
                            Some(&add_float)
                        } else if matches!(op, Op::Copy(_))
                            || matches!(op, Op::Unary(f, ..) if f.name == "clone")
                        {
                            Some(&copy_into)
                        } else {
                            None
                        };
                    self.contribute_in_place(c.target, &expr, in_place_call, node.span, out);
                }
            }
        }
    }

    /// Where the adjoint of a parameter struct (or of one of its fields) lives: its own adjoint
    /// if it has one, else the place in its parent's adjoint.
    fn field_place(&mut self, v: ValueId) -> Option<TokenStream> {
        if let Some(adjoint) = self.lookup(v) {
            self.found.accumulated.insert(v);
            return Some(quote!(#adjoint));
        }
        match &self.cx.graph.node(v).op {
            Op::Field(base, member) => {
                let member = member.clone();
                let place = self.field_place(*base)?;
                Some(quote!(#place.#member))
            }
            _ => None,
        }
    }

    /// `if let Some(saved) = then_saved { reverse of then } else if let ...`.
    fn if_region(&mut self, r: &IfRegion, out: &mut TokenStream) {
        let rt = self.cx.rt;
        let outer_escaped = std::mem::take(&mut self.escaped);
        let seeds_for = |this: &mut Self, pick: fn(&(ValueId, ValueId, ValueId)) -> ValueId| {
            let mut seeds = Vec::new();
            for m in &r.merges {
                if this.cx.activity.is_active(m.0) {
                    if let Some(d) = this.lookup(m.0) {
                        seeds.push((pick(m), quote!(#rt::pass_adjoint(&#d))));
                    }
                }
            }
            seeds
        };
        let then_seeds = seeds_for(self, |m| m.1);
        let else_seeds = seeds_for(self, |m| m.2);
        let then_tokens = self.block(&r.then_block, then_seeds, &[]);
        let else_tokens = self.block(&r.else_block, else_seeds, &[]);
        let escaped = std::mem::replace(&mut self.escaped, outer_escaped);
        if then_tokens.is_empty() && else_tokens.is_empty() {
            self.escaped.extend(escaped);
            return;
        }
        self.found.has_reverse.insert(r.then_saved);
        let then_saved = self.value(r.then_saved);
        let else_saved = self.value(r.else_saved);
        let then_pat = self
            .cx
            .saves(self.plan, r.then_block.id)
            .into_iter()
            .map(|v| self.cx.saved_pattern(v));
        let else_pat = self
            .cx
            .saves(self.plan, r.else_block.id)
            .into_iter()
            .map(|v| self.cx.saved_pattern(v));
        out.extend([self.declare_escaped(escaped)]);
        out.extend([quote! {
            if let ::core::option::Option::Some((#(#then_pat,)*)) = #then_saved {
                #then_tokens
            } else if let ::core::option::Option::Some((#(#else_pat,)*)) = #else_saved {
                #else_tokens
            }
        }]);
    }

    /// Whether the reverse of loop `l` can run inside its forward loop, iteration by iteration,
    /// with no tape: a loop of the function body whose one active carried value is a sum
    /// (`s = s + e`, `s += e`, `s -= e`, with `s` used nowhere else) returned as the result. The
    /// sum's adjoint is then `d_out` in every iteration, known before the loop, and each
    /// iteration's contributions depend only on that iteration's values (the loop writes no
    /// active array), so adding them right after the iteration gives the same sums. Not when
    /// something after the loop already made the adjoint of a value the loop reads.
    fn fusable(&self, l: &LoopRegion, carried: &[&crate::ir::Carried]) -> Option<TokenStream> {
        let cx = self.cx;
        let graph = cx.graph;
        let [c] = carried else {
            return None;
        };
        if cx.trace.is_some()
            || self.current_block() != 0
            || self.scopes.len() != 1
            || self.plan.accumulated.contains(&graph.ret)
            || !cx.is_scalar(c.phi)
            || cx.layout.hoisted.values().any(|t| *t == l.tape)
        {
            return None;
        }
        // The sum's adjoint: `d_out`, or `-d_out`, when the sum reaches the result through
        // additions and subtractions only, each value on the way used once.
        let negated = exit_sign(cx, c.exit)?;
        let d_out = cx.d_out;
        let seed = if negated {
            quote!(::core::ops::Neg::neg(#d_out))
        } else {
            quote!(#d_out)
        };
        let additive = match &graph.node(c.next).op {
            Op::Binary(f, _, a, b) => {
                (f.name == "add" && (*a == c.phi) != (*b == c.phi))
                    || (f.name == "sub" && *a == c.phi && *b != c.phi)
            }
            _ => false,
        };
        if !additive {
            return None;
        }
        // Active uses of the sum besides its update, active stores, and reads of values whose
        // adjoint the reverse pass has already made.
        let mut uses = 0;
        let mut stores = false;
        let mut outer_reads = Vec::new();
        let mut scratch = Vec::new();
        scan_body(
            cx,
            &l.body,
            c.phi,
            &mut uses,
            &mut stores,
            &mut outer_reads,
            &mut scratch,
        );
        let forward_arrays = cx.forward_arrays();
        let made_after = outer_reads.iter().any(|o| {
            cx.layout.home(*o) == 0
                && self.lookup(*o).is_some()
                && !forward_arrays.iter().any(|(a, _)| a == o)
        });
        // An array the loop reads and a later statement writes: that write's reverse moves the
        // element's adjoint out before the loop's reverse adds to it, which fusing would undo.
        let position = graph
            .body
            .stmts
            .iter()
            .position(|st| matches!(st, Stmt::Loop(m) if m.tape == l.tape));
        let mut written_after = Vec::new();
        if let Some(p) = position {
            for st in &graph.body.stmts[p + 1..] {
                crate::ir::stored_arrays(st, &mut written_after);
            }
        }
        if position.is_none() || outer_reads.iter().any(|o| written_after.contains(o)) {
            return None;
        }
        // Arrays the loop writes: scratch, each element read in an iteration written earlier in
        // that iteration, and nothing after the loop reading them. Then each iteration's reverse
        // leaves their adjoints as it found them (its stores take what its reads added).
        let mut read_after = Vec::new();
        if let Some(p) = position {
            for st in &graph.body.stmts[p + 1..] {
                read_arrays(cx, st, &mut read_after);
            }
        }
        scratch.sort();
        scratch.dedup();
        let scratch_ok = scratch.iter().all(|a| {
            !read_after.contains(a)
                && *a != graph.ret
                && (cx.layout.home(*a) == l.body.id
                    || covered(
                        cx,
                        &l.body,
                        *a,
                        &mut Vec::new(),
                        &mut Vec::new(),
                        &mut Vec::new(),
                    ))
        });
        (uses == 1 && !stores && scratch_ok && !made_after).then_some(seed)
    }

    /// The first-touch reads (see `Layout::first_touch`) hoisted out of loop `l` that got no
    /// adjoint (not in `seen`), in a fixed order.
    fn untouched_first_touches(&self, l: &LoopRegion, seen: &[ValueId]) -> Vec<ValueId> {
        let mut out: Vec<ValueId> = self
            .cx
            .layout
            .first_touch
            .iter()
            .filter(|(r, (_, via))| *via == Some(l.tape) && !seen.contains(r))
            .map(|(r, _)| *r)
            .collect();
        out.sort();
        out
    }

    /// Whether the reverse of loop `l` (which walks a range with no tape, see [`Fusion`]) may
    /// run its iterations in the forward order: their reverses commute (no element's adjoint
    /// one iteration writes is touched by another, `accesses` by the rule of
    /// [`ReverseLoop::fuses_with`]), nothing inside reads a tape or a snapshot (whose entries
    /// are last first), and its counters can count up from where they started (`counted`: those
    /// it binds). Walked forwards, the loads and stores of an iteration follow the forward
    /// pass's order, which the hand-written gradients of such loops keep.
    fn ascending(&self, l: &LoopRegion, accesses: &[Access], counted: &[ValueId]) -> bool {
        let cx = self.cx;
        let commute = accesses
            .iter()
            .all(|x| accesses.iter().all(|y| x.commutes_with(y)));
        let layout = &cx.layout;
        // A start the reverse pass has without saving it: computed again, from the function
        // body, or another loop's counter or variable.
        let available = |v: ValueId| {
            cx.rematerializable(v)
                || layout.home(v) == 0
                || layout.counters.contains_key(&v)
                || layout.chained.contains_key(&v)
                || layout.regenerated.contains(&v)
        };
        let starts = counted.iter().all(|phi| {
            l.carried
                .iter()
                .find(|c| c.phi == *phi)
                .is_some_and(|c| available(c.init))
        });
        commute && starts && self.untaped(&l.body)
    }

    /// Whether the reverse of block `b` reads no tape or snapshot: every loop in it walks a
    /// range with no tape, and none takes snapshots.
    fn untaped(&self, b: &Block) -> bool {
        let cx = self.cx;
        let snapshots = cx
            .layout
            .snapshot_bodies
            .get(&b.id)
            .is_some_and(|tape| !cx.snapshots(self.plan, *tape).is_empty());
        !snapshots
            && b.stmts.iter().all(|st| match st {
                Stmt::Loop(m) => cx.tapeless(self.plan, m) && self.untaped(&m.body),
                Stmt::If(r) => self.untaped(&r.then_block) && self.untaped(&r.else_block),
                _ => true,
            })
    }

    /// What the reverse of loop `l`'s iterations does to the adjoints of arrays (see
    /// [`Access`]), or `None` when not known (a branch or loop inside joining whole arrays).
    /// An operation other than an element read adds into all of each operand's adjoint.
    fn accesses(&self, l: &LoopRegion) -> Option<Vec<Access>> {
        let var = match &l.kind {
            crate::ir::LoopKind::For { bound, .. } => bound.first().copied(),
            crate::ir::LoopKind::Loop => None,
        };
        let mut out = Vec::new();
        self.block_accesses(&l.body, var, l.tape, &mut out)?;
        Some(out)
    }

    /// [`Self::accesses`] of a block of loop `tape`'s body.
    fn block_accesses(
        &self,
        b: &Block,
        var: Option<ValueId>,
        tape: ValueId,
        out: &mut Vec<Access>,
    ) -> Option<()> {
        let cx = self.cx;
        let at_var = |indices: &[ValueId]| var.is_some_and(|v| indices == [v]);
        // The read of an in-place update gets no adjoint of its own (see `Sweep::node`); a
        // read hoisted out of the loop adds after it, not in an iteration.
        let in_place_read = |v: &ValueId| self.in_place.values().any(|r| r == v);
        let hoisted_out = |v: &ValueId| cx.layout.hoisted.get(v) == Some(&tape);
        for st in &b.stmts {
            match st {
                Stmt::Eval(v) if in_place_read(v) || hoisted_out(v) => {}
                Stmt::Eval(v) if cx.layout.first_touch.contains_key(v) => {
                    // Stored, not added: a write.
                    if let Op::Index(array, indices) = &cx.graph.node(*v).op {
                        out.push(Access {
                            array: *array,
                            touch: Touch::Take,
                            at_var: at_var(indices),
                            scalar: cx.is_scalar(*v),
                        });
                    }
                }
                Stmt::Eval(v) if cx.activity.is_active(*v) => match &cx.graph.node(*v).op {
                    Op::Index(array, indices) => out.push(Access {
                        array: *array,
                        touch: Touch::Add,
                        at_var: at_var(indices),
                        scalar: cx.is_scalar(*v),
                    }),
                    op => out.extend(
                        op.operands()
                            .into_iter()
                            .filter(|o| cx.activity.is_active(*o))
                            .map(|array| Access {
                                array,
                                touch: Touch::Add,
                                at_var: false,
                                scalar: false,
                            }),
                    ),
                },
                Stmt::Eval(_) | Stmt::Verbatim { .. } => {}
                Stmt::Store {
                    array,
                    indices,
                    value,
                    ..
                } => {
                    let covering = cx
                        .layout
                        .covering
                        .get(array)
                        .is_some_and(|c| c.is_fill(indices, *value));
                    let touch = if self.in_place.contains_key(value) || covering {
                        Touch::Read
                    } else {
                        Touch::Take
                    };
                    out.push(Access {
                        array: *array,
                        touch,
                        at_var: at_var(indices),
                        scalar: cx.is_scalar(*value),
                    });
                    // The stored value's adjoint gets the element's: an addition into every
                    // element of an array stored whole (`m[i] = row`).
                    if cx.activity.is_active(*value) {
                        out.push(Access {
                            array: *value,
                            touch: Touch::Add,
                            at_var: false,
                            scalar: false,
                        });
                    }
                }
                Stmt::If(r) => {
                    if r.merges
                        .iter()
                        .any(|(m, _, _)| cx.layout.whole_arrays.contains(m))
                    {
                        return None;
                    }
                    self.block_accesses(&r.then_block, var, tape, out)?;
                    self.block_accesses(&r.else_block, var, tape, out)?;
                }
                Stmt::Loop(inner) => {
                    if inner
                        .carried
                        .iter()
                        .any(|c| cx.layout.whole_arrays.contains(&c.phi))
                    {
                        return None;
                    }
                    self.block_accesses(&inner.body, var, tape, out)?;
                }
            }
        }
        Some(())
    }

    /// The loop run backwards over its tape, carrying the adjoints of its carried values, in
    /// parts (see [`ReverseLoop`]); or `None` when there is nothing to run backwards: an empty
    /// reverse, or a loop fused with its forward loop (see [`Self::fusable`]), each iteration's
    /// reverse for the forward loop to run at the iteration's end, with what goes before the
    /// loop in `out`.
    fn loop_parts(&mut self, l: &LoopRegion, out: &mut TokenStream) -> Option<ReverseLoop> {
        let rt = self.cx.rt;
        let graph = self.cx.graph;
        let outer_escaped = std::mem::take(&mut self.escaped);
        let carried: Vec<_> = l
            .carried
            .iter()
            .filter(|c| self.cx.activity.is_active(c.phi))
            .collect();
        let fused_seed = self.fusable(l, &carried);
        let fused = fused_seed.is_some();
        let mut cells = Vec::new();
        let mut inits = TokenStream::new();
        let mut seeds = Vec::new();
        let mut outs = Vec::new();
        for c in &carried {
            let phi = graph.adjoint_ident(c.phi).to_string();
            let cell = Ident::new(&format!("__carry{}", &phi[3..]), Span::mixed_site());
            let start = match self.lookup(c.exit) {
                Some(d) => quote!(#rt::pass_adjoint(&#d)),
                None => {
                    self.value(c.exit);
                    let exit = self.cx.reference(c.exit);
                    quote!(#rt::zero_like(#exit))
                }
            };
            inits.extend([quote!(let mut #cell = #start;)]);
            seeds.push((c.next, quote!(#rt::pass_adjoint(&#cell))));
            outs.push((cell.clone(), c.phi));
            cells.push((cell, c.init));
        }
        if fused {
            self.in_scope = Some(l.body.id);
            let mut stored = Vec::new();
            for st in &l.body.stmts {
                crate::ir::stored_arrays(st, &mut stored);
            }
            self.deferred = Some(Deferred {
                block: l.body.id,
                stored,
                items: Vec::new(),
            });
        }
        let body = self.block(&l.body, seeds, &outs);
        if fused {
            self.in_scope = None;
            self.deferred = None;
        }
        let escaped = std::mem::replace(&mut self.escaped, outer_escaped);
        if body.is_empty() && carried.is_empty() {
            self.escaped.extend(escaped);
            for v in self.untouched_first_touches(l, &[]) {
                self.first_touch_zero(v, out);
            }
            return None;
        }
        if let Some(seed) = fused_seed {
            // The zero starts of the adjoints the loop adds to, and the sum's adjoint, go before
            // the forward loop; each iteration's reverse, at its end. Here: the sum's start.
            let inits: TokenStream = cells
                .iter()
                .map(|(cell, _)| quote!(let mut #cell = #seed;))
                .collect();
            let declared = self.declare_escaped(escaped);
            self.found
                .fused
                .insert(l.tape, (quote!(#declared #inits), body));
            for (cell, init) in cells {
                if self.cx.activity.is_active(init) {
                    self.contribute(init, &quote!(#cell), l.span, out);
                }
            }
            return None;
        }
        self.found.has_reverse.insert(l.tape);
        let pattern: Vec<TokenStream> = self
            .cx
            .saves(self.plan, l.body.id)
            .into_iter()
            .map(|v| self.cx.saved_pattern(v))
            .collect();
        // The adjoints of reads hoisted out of this loop start at zero before it and are added
        // into their arrays after it.
        let (mine, escaped): (Vec<ValueId>, Vec<ValueId>) = escaped
            .into_iter()
            .partition(|v| self.cx.layout.hoisted.get(v) == Some(&l.tape));
        let declared = self.declare_escaped(escaped);
        let mut hoisted_adjoints = TokenStream::new();
        let mut after = TokenStream::new();
        let mut seen = Vec::new();
        for v in mine {
            if seen.contains(&v) {
                continue;
            }
            seen.push(v);
            let Op::Index(array, indices) = &graph.node(v).op else {
                continue;
            };
            let Some(d_array) = self.lookup(*array) else {
                continue;
            };
            let indices: Vec<Ident> = indices.iter().map(|i| self.value(*i)).collect();
            let adjoint = graph.adjoint_ident(v);
            hoisted_adjoints
                .extend([quote!(let mut #adjoint = #rt::zero_like(&#d_array #([#indices])*);)]);
            if self.cx.layout.first_touch.contains_key(&v) {
                after.extend([quote!(#d_array #([#indices])* = #adjoint;)]);
            } else {
                after.extend([quote!(#rt::accumulate(&mut #d_array #([#indices])*, #adjoint);)]);
            }
        }
        // First touches hoisted out of this loop with nothing added: set to zero.
        for v in self.untouched_first_touches(l, &seen) {
            self.first_touch_zero(v, &mut after);
        }
        // Chained counters (see `Layout::find_counters`) this reverse uses: the inner loop's
        // range is read again, from the loop variable and values from outside.
        let mut chained: Vec<(ValueId, super::Chained)> = self
            .cx
            .layout
            .chained
            .iter()
            .filter(|(phi, ch)| {
                l.carried.iter().any(|c| c.phi == **phi)
                    && [**phi, ch.next].iter().any(|v| {
                        self.found.referenced.contains(v) || self.plan.referenced.contains(v)
                    })
            })
            .map(|(phi, ch)| (*phi, ch.clone()))
            .collect();
        chained.sort_by_key(|(phi, _)| *phi);
        for (_, ch) in &chained {
            for o in graph.node(ch.iter).op.operands() {
                self.value(o);
            }
        }
        let regenerated = match &l.kind {
            crate::ir::LoopKind::For { iter, bound, .. } if self.cx.regenerates(l) => {
                // The loop variable again, from the range walked backwards.
                let iter = self.value(*iter);
                let var = match bound.first() {
                    Some(v)
                        if self.found.referenced.contains(v)
                            || self.plan.referenced.contains(v) =>
                    {
                        let v = graph.value_ident(*v);
                        quote!(#v)
                    }
                    _ => quote!(_),
                };
                Some((var, quote!(::core::iter::Iterator::rev(#iter))))
            }
            _ => None,
        };
        // The loop variable and the range, for rows cut before the loop (see `super::rows`):
        // when the reverse walks the whole range.
        let rows = match (&regenerated, l.range_and_var(), l.broke) {
            (Some((var, _)), Some((iter, _)), None) if var.to_string() != "_" => {
                syn::parse2::<Ident>(var.clone())
                    .ok()
                    .map(|v| (v, graph.value_ident(iter)))
            }
            _ => None,
        };
        let mut prelude = TokenStream::new();
        let entries = if self.cx.tapeless(self.plan, l) {
            None
        } else {
            let tape = self.cx.tape_ident(l);
            Some(if self.cx.shared_tape(l) {
                let start = match &l.kind {
                    // As many entries as the range has items: no start to save.
                    crate::ir::LoopKind::For { iter, .. } if self.cx.regenerates(l) => {
                        let iter = self.value(*iter);
                        let from = Ident::new("__from", Span::mixed_site());
                        prelude.extend([quote!(let #from = #tape.len() - ::core::iter::Iterator::size_hint(&#iter).0;)]);
                        quote!(#from)
                    }
                    _ => {
                        let start = self.value(l.tape);
                        quote!(#start)
                    }
                };
                quote!(#tape.drain_to(#start))
            } else {
                quote!(#tape.drain_to(0))
            })
        };
        let tapeless_var = match (&regenerated, &entries) {
            (Some((var, _)), None) => Some(var.clone()),
            _ => None,
        };
        let (pattern, iterator) = match (regenerated, entries) {
            (Some((var, range)), None) => (var, range),
            (Some((var, range)), Some(entries)) => (
                quote!((#var, (#(#pattern,)*))),
                quote!(::core::iter::Iterator::zip(#range, #entries)),
            ),
            (None, Some(entries)) => (quote!((#(#pattern,)*)), entries),
            (None, None) => (quote!(_), quote!(::core::iter::empty::<()>())),
        };
        // Integer counters, counted back down from their value after the loop (or, walking the
        // range forwards, up from their value before it).
        let mut counters: Vec<(ValueId, (ValueId, TokenStream))> = self
            .cx
            .layout
            .counters
            .iter()
            .filter(|(phi, _)| {
                l.carried.iter().any(|c| c.phi == **phi)
                    && (self.found.referenced.contains(phi) || self.plan.referenced.contains(phi))
            })
            .map(|(phi, c)| (*phi, c.clone()))
            .collect();
        counters.sort_by_key(|(phi, _)| *phi);
        // Fused with its neighbours (see `ReverseLoop::fuses_with`) when it walks a range back
        // with no tape, and nothing of it runs after its last iteration; run forwards when its
        // iterations' reverses commute (see `Sweep::ascending`).
        let walks = match (&l.kind, &tapeless_var) {
            (crate::ir::LoopKind::For { iter, .. }, Some(var)) if cells.is_empty() => self
                .accesses(l)
                .map(|accesses| (*iter, syn::parse2::<Ident>(var.clone()).ok(), accesses)),
            _ => None,
        };
        let counted: Vec<ValueId> = counters
            .iter()
            .map(|(phi, _)| *phi)
            .chain(chained.iter().map(|(phi, _)| *phi))
            .collect();
        let ascending = walks
            .as_ref()
            .is_some_and(|(_, _, accesses)| self.ascending(l, accesses, &counted));
        let range_walked = walks.as_ref().map(|(range, _, _)| *range);
        // Which way the reverse walks the range (forwards when `ascending`, else backwards).
        let rows = rows.and_then(|(var, range)| {
            range_direction(graph, l).map(|up| (var, range, up == ascending))
        });
        // Hoisted reads' adjoints are added after the loop: not after a fused loop's.
        let fusion = walks
            .filter(|_| after.is_empty())
            .map(|(range, var, accesses)| {
                let mut adjoints: Vec<(ValueId, Ident)> = Vec::new();
                for a in &accesses {
                    if let Some(d) = self.lookup(a.array) {
                        if !adjoints.iter().any(|(b, _)| *b == a.array) {
                            adjoints.push((a.array, d));
                        }
                    }
                }
                Fusion {
                    range,
                    var,
                    aliases: Vec::new(),
                    accesses,
                    adjoints,
                    ascending,
                }
            });
        let start_of = |phi: ValueId| {
            l.carried
                .iter()
                .find(|c| c.phi == phi)
                .map_or(phi, |c| c.init)
        };
        let iterator = match (range_walked, ascending) {
            (Some(range), true) => {
                let range = self.value(range);
                quote!(#range)
            }
            _ => iterator,
        };
        let mut count_down = TokenStream::new();
        let mut step_back = TokenStream::new();
        for (phi, (exit, step)) in counters {
            let from = self.value(if ascending { start_of(phi) } else { exit });
            let phi = graph.value_ident(phi);
            let back = Ident::new(
                &format!("__back{}", &phi.to_string()[1..]),
                Span::mixed_site(),
            );
            count_down.extend([quote!(let mut #back = #from;)]);
            step_back.extend([if ascending {
                quote!(let #phi = #back; #back += #step;)
            } else {
                quote!(#back -= #step; let #phi = #back;)
            }]);
        }
        for (phi, ch) in chained {
            let from = self.value(if ascending { start_of(phi) } else { ch.exit });
            let next = graph.value_ident(ch.next);
            let used = self.found.referenced.contains(&phi) || self.plan.referenced.contains(&phi);
            let phi = graph.value_ident(phi);
            let back = Ident::new(
                &format!("__back{}", &phi.to_string()[1..]),
                Span::mixed_site(),
            );
            let bind_phi = used.then(|| quote!(let #phi = #back;));
            let step = &ch.step;
            let range = super::forward::expression(self.cx, ch.iter);
            count_down.extend([quote!(let mut #back = #from;)]);
            step_back.extend([if ascending {
                quote! {
                    #bind_phi
                    for _ in #range {
                        #back += #step;
                    }
                    let #next = #back;
                }
            } else {
                quote! {
                    let #next = #back;
                    for _ in #range {
                        #back -= #step;
                    }
                    #bind_phi
                }
            }]);
        }
        // Reads hoisted out of the loop: a `None` means the loop never ran.
        let mut hoisted: Vec<ValueId> = self
            .cx
            .layout
            .hoisted
            .iter()
            .filter(|(v, tape)| {
                **tape == l.tape
                    && (self.found.referenced.contains(v) || self.plan.referenced.contains(v))
            })
            .map(|(v, _)| *v)
            .collect();
        hoisted.sort();
        let hoisted: Vec<Ident> = hoisted.iter().map(|v| self.value(*v)).collect();
        let only = match (&tapeless_var, carried.as_slice()) {
            (Some(_), [c]) if count_down.is_empty() && hoisted.is_empty() && after.is_empty() => {
                self.winner_only(l, c.next)
            }
            _ => None,
        };
        let mut after = after;
        for (cell, init) in cells {
            if self.cx.activity.is_active(init) {
                self.contribute(init, &quote!(#cell), l.span, &mut after);
            }
        }
        Some(ReverseLoop {
            before: quote!(#declared #hoisted_adjoints #inits #prelude),
            count_down,
            hoisted,
            pattern,
            iterator,
            bodies: vec![quote!(#step_back #body)],
            after,
            fusion,
            only,
            rows,
        })
    }

    /// The loop of a running extremum (`next`, see [`crate::ir::Extremum`]) whose reverse
    /// adds into adjoints only what reaches it through the extremum, reading no tape: the
    /// iterations but the one that won add zeros, so only that one runs. Returns the value
    /// holding its loop variable.
    fn winner_only(&mut self, l: &LoopRegion, next: ValueId) -> Option<Ident> {
        // A trace shows every iteration's adjoints.
        if self.cx.trace.is_some() {
            return None;
        }
        let e = self.cx.graph.extrema.iter().find(|e| e.node == next)?;
        let accesses = self.accesses(l)?;
        if !accesses.iter().all(|a| a.touch == Touch::Add) || !self.untaped(&l.body) {
            return None;
        }
        Some(self.value(e.won))
    }
}

/// A loop's reverse in parts: adjacent loops over the same range run as one loop (see
/// [`Sweep::fuse`]).
struct ReverseLoop {
    /// Before the loop: zero starts of the adjoints it adds to, the carried adjoints' starts.
    before: TokenStream,
    /// The counters' values after the loop, to count back down from.
    count_down: TokenStream,
    /// Reads hoisted out of the loop, `Option`s: all `Some` when the loop ran.
    hoisted: Vec<Ident>,
    /// What each item binds, and the items, last first.
    pattern: TokenStream,
    iterator: TokenStream,
    /// One iteration's reverse: the counters stepped back, then the body's; for loops run
    /// fused, each loop's in turn.
    bodies: Vec<TokenStream>,
    /// After the loop: hoisted reads' adjoints added into their arrays, the carried values'
    /// adjoints into their starts.
    after: TokenStream,
    /// Set when the loop may run fused with its neighbours.
    fusion: Option<Fusion>,
    /// Set when only one iteration's reverse adds anything (see [`Sweep::winner_only`]): the
    /// `Option` holding its loop variable.
    only: Option<Ident>,
    /// The loop variable and the range, when the reverse walks the whole range: rows of the
    /// arrays it indexes may be cut before it, elements carried between its iterations (see
    /// [`super::rows`]); and whether it walks the range upwards.
    rows: Option<(Ident, Ident, bool)>,
}

/// A loop's reverse that may run fused with the reverses of the loops next to it: it walks a
/// range back with no tape and leaves nothing for after its last iteration.
struct Fusion {
    /// The range.
    range: ValueId,
    /// The loop variable, when the reverse reads it.
    var: Option<Ident>,
    /// The variables of the loops fused into this one, bound to `var`.
    aliases: Vec<Ident>,
    /// What its iterations do to the adjoints of arrays.
    accesses: Vec<Access>,
    /// The adjoints of the arrays in `accesses`, by name.
    adjoints: Vec<(ValueId, Ident)>,
    /// Whether it walks the range forwards (see `Sweep::ascending`).
    ascending: bool,
}

/// What a loop's reverse does to one element (or to all) of an array's adjoint.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Touch {
    /// Adds into it (the reverse of a read).
    Add,
    /// Reads it and leaves it (an in-place update's reverse, a covering fill's).
    Read,
    /// Reads it and zeroes it (a store's reverse).
    Take,
}

#[derive(Clone, Copy)]
struct Access {
    array: ValueId,
    touch: Touch,
    /// At the element the loop variable indexes, `a[i]`; else at any.
    at_var: bool,
    /// The element is a float (what [`super::localize`] may copy into a local).
    scalar: bool,
}

impl Access {
    /// Whether this access in one iteration and `other` in another (of the same loop or of
    /// a loop fused with it) may run in either order: different arrays, additions alone,
    /// reads alone, or both at the loop variable (then they meet only in one iteration).
    fn commutes_with(&self, other: &Access) -> bool {
        self.array != other.array
            || (self.touch == Touch::Add && other.touch == Touch::Add)
            || (self.touch == Touch::Read && other.touch == Touch::Read)
            || (self.at_var && other.at_var)
    }
}

impl ReverseLoop {
    fn emit(self, out: &mut TokenStream, cx: &Context<'_>) {
        let (row_arrays, float_arrays, rt) = (cx.row_arrays(), cx.float_arrays(), cx.rt);
        let Self {
            before,
            count_down,
            hoisted,
            pattern,
            iterator,
            mut bodies,
            after,
            only,
            fusion,
            rows,
        } = self;
        // Elements each iteration touches only at its loop variable, kept in locals.
        let (local_reads, local_writes) = match (&fusion, &only) {
            (Some(f), None) => f.var.as_ref().map(|var| {
                let arrays: Vec<Ident> = f
                    .adjoints
                    .iter()
                    .filter(|(array, _)| {
                        f.accesses
                            .iter()
                            .filter(|x| x.array == *array)
                            .all(|x| x.at_var && x.scalar)
                    })
                    .map(|(_, d)| d.clone())
                    .collect();
                let vars: Vec<Ident> = std::iter::once(var.clone())
                    .chain(f.aliases.iter().cloned())
                    .collect();
                super::localize::localize(&mut bodies, &arrays, &vars, var)
            }),
            _ => None,
        }
        .unwrap_or_default();
        let body = match bodies.as_slice() {
            [one] => one.clone(),
            _ => quote!(#({ #bodies })*),
        };
        let body = quote!(#local_reads #body #local_writes);
        let mut reverse_loop = match only {
            Some(won) => quote! {
                if let ::core::option::Option::Some(#pattern) = #won {
                    #body
                }
            },
            None => {
                // Elements carried between iterations, rows cut before the loop.
                let (mut cut, mut body, mut carried_out) =
                    (TokenStream::new(), body, TokenStream::new());
                if let Some((var, range, up)) = &rows {
                    (cut, body, carried_out) = super::rows::carry_neighbours(
                        body,
                        (var, range, &pattern, *up),
                        float_arrays,
                        rt,
                    );
                    let (rows, rest) =
                        super::rows::cut_rows(body, (var, range, &pattern), row_arrays, rt);
                    cut.extend([rows]);
                    body = rest;
                }
                quote! {
                    #count_down
                    #cut
                    for #pattern in #iterator {
                        #body
                    }
                    #carried_out
                }
            }
        };
        if !hoisted.is_empty() {
            reverse_loop = quote! {
                if let (#(::core::option::Option::Some(#hoisted),)*) = (#(#hoisted,)*) {
                    #reverse_loop
                }
            };
        }
        out.extend([quote! {
            #before
            #reverse_loop
            #after
        }]);
    }

    /// Whether `next`, the reverse of the loop before this one in the forward pass, can run
    /// fused with it: each of its iterations then runs right after this loop's iteration of the
    /// same item, before this loop's iterations of the other items. Right when both walk the
    /// same range the same way, and no element's adjoint one of them writes (takes, or reads
    /// where the other adds) is touched by the other at another item
    /// ([`Access::commutes_with`]).
    fn fuses_with(&self, next: &ReverseLoop, graph: &Graph) -> bool {
        let (Some(a), Some(b)) = (&self.fusion, &next.fusion) else {
            return false;
        };
        super::forward::same_range(graph, a.range, b.range)
            && a.ascending == b.ascending
            && a.accesses
                .iter()
                .all(|x| b.accesses.iter().all(|y| x.commutes_with(y)))
    }

    /// Appends `next` (see [`ReverseLoop::fuses_with`]) into this loop.
    fn fuse(&mut self, next: ReverseLoop) {
        let (Some(a), Some(b)) = (self.fusion.as_mut(), next.fusion) else {
            return;
        };
        self.before.extend([next.before]);
        self.count_down.extend([next.count_down]);
        self.hoisted.extend(next.hoisted);
        self.after.extend([next.after]);
        // Rows only when every fused loop walks its whole range.
        match (&self.rows, next.rows) {
            (Some((_, _, up)), Some((_, _, theirs))) if *up == theirs => {}
            _ => self.rows = None,
        }
        for mut body in next.bodies {
            match (&a.var, &b.var) {
                (Some(mine), Some(theirs)) => {
                    body = quote!(let #theirs = #mine; #body);
                    a.aliases.push(theirs.clone());
                }
                (None, Some(theirs)) => {
                    a.var = Some(theirs.clone());
                    self.pattern = quote!(#theirs);
                }
                _ => {}
            }
            self.bodies.push(body);
        }
        a.accesses.extend(b.accesses);
        for (array, d) in b.adjoints {
            if !a.adjoints.iter().any(|(b, _)| *b == array) {
                a.adjoints.push((array, d));
            }
        }
    }
}

/// In `b` and the regions in it: the active uses of `phi` (`uses`), whether an active array or
/// `phi` is stored (`stores`), and the operands of active values (`reads`).
fn scan_body(
    cx: &Context<'_>,
    b: &Block,
    phi: ValueId,
    uses: &mut usize,
    stores: &mut bool,
    reads: &mut Vec<ValueId>,
    scratch: &mut Vec<ValueId>,
) {
    for stmt in &b.stmts {
        match stmt {
            Stmt::Eval(v) if cx.activity.is_active(*v) => {
                for o in cx.graph.node(*v).op.operands() {
                    if o == phi {
                        *uses += 1;
                    }
                    reads.push(o);
                }
            }
            Stmt::Store { array, value, .. } => {
                *stores |= *value == phi;
                reads.push(*value);
                if cx.activity.is_active(*array) {
                    scratch.push(*array);
                }
            }
            Stmt::If(r) => {
                *uses += r
                    .merges
                    .iter()
                    .filter(|(_, a, b)| *a == phi || *b == phi)
                    .count();
                // A branch's value flows out through its merge: a read of what flows in.
                for (_, a, b) in &r.merges {
                    reads.push(*a);
                    reads.push(*b);
                }
                scan_body(cx, &r.then_block, phi, uses, stores, reads, scratch);
                scan_body(cx, &r.else_block, phi, uses, stores, reads, scratch);
            }
            Stmt::Loop(inner) => {
                *uses += inner.carried.iter().filter(|k| k.init == phi).count();
                reads.extend(inner.carried.iter().map(|k| k.init));
                *stores |= inner
                    .carried
                    .iter()
                    .any(|k| cx.activity.is_active(k.phi) && !cx.is_scalar(k.phi));
                scan_body(cx, &inner.body, phi, uses, stores, reads, scratch);
            }
            _ => {}
        }
    }
}

/// Whether `v` reaches the result through additions and subtractions only, each value on the
/// way used once: `Some(true)` when an odd number of subtractions negate it.
fn exit_sign(cx: &Context<'_>, v: ValueId) -> Option<bool> {
    let graph = cx.graph;
    let uses = node_users(graph);
    let mut region_uses = Vec::new();
    collect_region_uses(&graph.body, &mut region_uses);
    let mut at = v;
    let mut negated = false;
    for _ in 0..graph.nodes.len() {
        if at == graph.ret {
            return Some(negated);
        }
        if region_uses.contains(&at) {
            return None;
        }
        let [user] = uses.get(at.index())?.as_slice() else {
            return None;
        };
        match &graph.node(*user).op {
            Op::Binary(f, _, a, b) if f.name == "add" && (*a == at) != (*b == at) => {}
            Op::Binary(f, _, a, b) if f.name == "sub" && *a == at && *b != at => {}
            Op::Binary(f, _, a, b) if f.name == "sub" && *b == at && *a != at => {
                negated = !negated;
            }
            _ => return None,
        }
        at = *user;
    }
    None
}

/// The in-place updates of array elements, `a[i] = a[i] + e` (also `e + a[i]`, `a[i] - e`):
/// the stored value, mapped to the read it adds to. Their reverse reads the element's adjoint
/// where the general one takes it (making it zero) and adds the same back through the read:
/// the result is the same (up to the sign of a zero), one store and one addition fewer. Only
/// where that is sure: a float element, the read and the sum each used once, and between the
/// read and the store nothing but plain operations (no store, region or call that could take
/// the element's adjoint; other reads of the array only add to it, which commutes).
fn in_place_updates(cx: &Context<'_>, uses: &[usize]) -> HashMap<ValueId, ValueId> {
    let mut out = HashMap::default();
    find_in_place(cx, &cx.graph.body, uses, &mut out);
    out
}

/// The products `y = m * x` (or `x * m`) of floats where `m = c * x` (or `x * c`), `c` is
/// constant and `m` is used only here: `100.0 * b * b`, `0.5 * k * v * v`. Mapped to `(m, x)`.
///
/// Their reverse is one contribution, `d_x += m (d + d)`, where the two products' rules give
/// `d m + (d x) c`: the same derivative (`m` is `c x` as computed), rounded once less, and the
/// inner product gets no adjoint. This is what a person writes by hand (`200 b d`); the two
/// terms are not the same floating-point expression, so the compiler may not fold them.
fn scaled_squares(cx: &Context<'_>, uses: &[usize]) -> HashMap<ValueId, (ValueId, ValueId)> {
    let graph = cx.graph;
    let product = |v: ValueId| match &graph.node(v).op {
        Op::Binary(f, _, l, r) if f.name == "mul" && l != r && cx.scalar_node(v) => Some((*l, *r)),
        _ => None,
    };
    let mut out = HashMap::default();
    for (i, _) in graph.nodes.iter().enumerate() {
        let y = ValueId(u32::try_from(i).unwrap_or(u32::MAX));
        if !cx.activity.is_active(y) {
            continue;
        }
        let Some((l, r)) = product(y) else { continue };
        for (m, x) in [(l, r), (r, l)] {
            let scaled = product(m).is_some_and(|(a, b)| {
                (a == x && !cx.activity.is_active(b)) || (b == x && !cx.activity.is_active(a))
            });
            if scaled && uses.get(m.index()) == Some(&1) && cx.activity.is_active(x) {
                out.insert(y, (m, x));
                break;
            }
        }
    }
    out
}

fn find_in_place(
    cx: &Context<'_>,
    b: &Block,
    count: &[usize],
    out: &mut HashMap<ValueId, ValueId>,
) {
    let graph = cx.graph;
    let once = |v: ValueId| count.get(v.index()) == Some(&1);
    for (p, stmt) in b.stmts.iter().enumerate() {
        match stmt {
            Stmt::If(r) => {
                find_in_place(cx, &r.then_block, count, out);
                find_in_place(cx, &r.else_block, count, out);
            }
            Stmt::Loop(l) => find_in_place(cx, &l.body, count, out),
            Stmt::Store {
                array,
                indices,
                value,
                ..
            } => {
                let Op::Binary(f, _, x, y) = &graph.node(*value).op else {
                    continue;
                };
                let reads_element = |o: ValueId| {
                    matches!(&graph.node(o).op, Op::Index(a, i) if a == array && same_indices(graph, i, indices))
                        && !cx.layout.hoisted.contains_key(&o)
                };
                let read = match f.name {
                    "add" if x != y && reads_element(*x) => *x,
                    "add" if x != y && reads_element(*y) => *y,
                    "sub" if x != y && reads_element(*x) => *x,
                    _ => continue,
                };
                if !(once(read)
                    && once(*value)
                    && cx.activity.is_active(read)
                    && cx.is_scalar(read)
                    && cx.is_scalar(*value))
                {
                    continue;
                }
                let Some(q) = b.stmts[..p]
                    .iter()
                    .position(|s| matches!(s, Stmt::Eval(v) if *v == read))
                else {
                    continue;
                };
                let plain = b.stmts[q + 1..p].iter().all(|s| match s {
                    Stmt::Eval(v) => !matches!(graph.node(*v).op, Op::Call(..)),
                    _ => false,
                });
                if plain {
                    out.insert(*value, read);
                }
            }
            Stmt::Eval(_) | Stmt::Verbatim { .. } => {}
        }
    }
}

/// The nodes each value is an operand of (an operand used twice, as in `x * x`, counts twice).
/// Whether two index lists give the same indices: the same values, or constants written the
/// same (`y[0] = y[0] + e`, whose two `0`s the generic copy behind `NAME_hvp` makes two nodes;
/// also `y[x.len() - 1]`, whose length is read twice there: the fuzzer, seed 66, found the
/// copy's reverse walking the other way and summing in another order).
fn same_indices(graph: &Graph, a: &[ValueId], b: &[ValueId]) -> bool {
    let same = |x: ValueId, y: ValueId| {
        x == y
            || match (&graph.node(x).op, &graph.node(y).op) {
                (Op::Verbatim(tx, rx), Op::Verbatim(ty, ry)) => {
                    rx == ry
                        && tx.to_string() == ty.to_string()
                        && syn::parse2::<syn::Expr>(tx.clone())
                            .is_ok_and(|e| crate::lower::is_pure_arithmetic_with(&e, true))
                }
                _ => false,
            }
    };
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(*x, *y))
}

/// The arrays `stmt` (and the regions in it) reads: operands of its values that are arrays
/// (read by index, passed on, copied).
fn read_arrays(cx: &Context<'_>, stmt: &Stmt, out: &mut Vec<ValueId>) {
    match stmt {
        Stmt::Eval(v) => out.extend(cx.graph.node(*v).op.operands()),
        Stmt::Store { value, .. } => out.push(*value),
        Stmt::Verbatim { bindings, .. } => out.extend(bindings.iter().map(|(_, v)| *v)),
        Stmt::If(r) => {
            for st in r.then_block.stmts.iter().chain(&r.else_block.stmts) {
                read_arrays(cx, st, out);
            }
        }
        Stmt::Loop(l) => {
            out.extend(l.carried.iter().map(|c| c.init));
            for st in &l.body.stmts {
                read_arrays(cx, st, out);
            }
        }
    }
}

/// A `for` loop over a range written out: the range (`a..b`, `a..=b`) and whether the loop
/// walks it upwards (`false` under `.rev()`).
fn written_range(graph: &Graph, l: &LoopRegion) -> Option<(syn::ExprRange, bool)> {
    let (iter, _) = l.range_and_var()?;
    let Op::Verbatim(tokens, _) = &graph.node(iter).op else {
        return None;
    };
    let mut e = super::without_bindings(syn::parse2(tokens.clone()).ok()?)?;
    if let syn::Expr::Call(c) = &e {
        e = c.args.first()?.clone();
    }
    let mut up = true;
    loop {
        e = match e {
            syn::Expr::Paren(p) => *p.expr,
            syn::Expr::MethodCall(m) if m.method == "rev" && m.args.is_empty() => {
                up = !up;
                *m.receiver
            }
            syn::Expr::Range(r) => return Some((r, up)),
            _ => return None,
        };
    }
}

/// Which way a `for` loop over a range written out walks it: `Some(true)` upwards (`a..b`,
/// `a..=b`), `Some(false)` downwards (`(a..b).rev()`), `None` for any other loop.
pub(super) fn range_direction(graph: &Graph, l: &LoopRegion) -> Option<bool> {
    written_range(graph, l).map(|(_, up)| up)
}

/// A `for` loop over a range written out: its variable, and the range's start and end as text.
pub(super) fn range_of(graph: &Graph, l: &LoopRegion) -> Option<(ValueId, String, String)> {
    let (_, var) = l.range_and_var()?;
    let (r, _) = written_range(graph, l)?;
    if !matches!(r.limits, syn::RangeLimits::HalfOpen(_)) {
        return None;
    }
    let text = |x: &Option<Box<syn::Expr>>| x.as_ref().map(|x| quote!(#x).to_string());
    Some((var, text(&r.start)?, text(&r.end)?))
}

/// Whether every read of array `a` in `b` reads an element written earlier in `b`: written by
/// a `for` loop over `0..end` storing `a[var]` unconditionally, read at a loop variable whose
/// range ends at the same `end`, at a literal index, or at the very index value a store
/// before it in the same iteration wrote (`xc[j] = …; … xc[j] …`). `ranges`: the written
/// ranges so far; `elements`: the index values stored at so far; `loops`: the enclosing loops'
/// variables and ranges.
fn covered(
    cx: &Context<'_>,
    b: &Block,
    a: ValueId,
    ranges: &mut Vec<(String, String)>,
    elements: &mut Vec<ValueId>,
    loops: &mut Vec<(ValueId, String, String)>,
) -> bool {
    let graph = cx.graph;
    let read_ok = |idx: &[ValueId],
                   ranges: &[(String, String)],
                   elements: &[ValueId],
                   loops: &[(ValueId, String, String)]| {
        let [i] = idx else {
            return false;
        };
        if elements.contains(i) {
            return true;
        }
        if let Some((_, _, end)) = loops.iter().find(|(v, _, _)| v == i) {
            return ranges.iter().any(|(s, e)| s == "0" && e == end);
        }
        // A literal index `k`: covered by a range `0..n` with `n` a literal above `k`, or over
        // every element, `0..a.len()` or `0..len` of `vec![c; len]` (`main_term[0]` after
        // `for ik in 0..k { main_term[ik] = … }`, GMM's).
        let literal = match &graph.node(*i).op {
            Op::Verbatim(t, _) => match syn::parse2::<syn::Expr>(t.clone()) {
                Ok(syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Int(k),
                    ..
                })) => k.base10_parse::<usize>().ok(),
                _ => None,
            },
            _ => None,
        };
        let node = graph.node(a);
        let mut whole: Vec<String> = node
            .hint
            .iter()
            .map(|name| {
                let name = Ident::new(name, Span::call_site());
                quote!(#name.len()).to_string()
            })
            .collect();
        if let (Op::Verbatim(tokens, _), false) = (&node.op, node.changed_by_calls) {
            whole.extend(super::repeat_length(tokens));
        }
        literal.is_some_and(|k| {
            ranges.iter().any(|(s, e)| {
                s == "0" && (e.parse::<usize>().is_ok_and(|n| k < n) || whole.contains(e))
            })
        })
    };
    for stmt in &b.stmts {
        match stmt {
            Stmt::Eval(v) => {
                let op = &graph.node(*v).op;
                match op {
                    Op::Index(arr, idx) if *arr == a && !read_ok(idx, ranges, elements, loops) => {
                        return false;
                    }
                    Op::Index(arr, _) if *arr == a => {}
                    other if other.operands().contains(&a) => return false,
                    _ => {}
                }
            }
            Stmt::Store { value, .. } if *value == a => return false,
            Stmt::Store { array, indices, .. } => {
                if let ([i], true) = (indices.as_slice(), *array == a) {
                    elements.push(*i);
                }
            }
            Stmt::Verbatim { bindings, .. } => {
                if bindings.iter().any(|(_, v)| *v == a) {
                    return false;
                }
            }
            Stmt::If(r) => {
                let (mut then_ranges, mut else_ranges) = (ranges.clone(), ranges.clone());
                let (mut then_elements, mut else_elements) = (elements.clone(), elements.clone());
                if !covered(
                    cx,
                    &r.then_block,
                    a,
                    &mut then_ranges,
                    &mut then_elements,
                    loops,
                ) || !covered(
                    cx,
                    &r.else_block,
                    a,
                    &mut else_ranges,
                    &mut else_elements,
                    loops,
                ) {
                    return false;
                }
            }
            Stmt::Loop(l) => {
                if l.carried.iter().any(|c| c.init == a) {
                    return false;
                }
                let range = range_of(graph, l);
                if let Some(r) = &range {
                    loops.push(r.clone());
                }
                let mut inner = ranges.clone();
                let ok = covered(cx, &l.body, a, &mut inner, &mut elements.clone(), loops);
                if range.is_some() {
                    loops.pop();
                }
                if !ok {
                    return false;
                }
                // A loop over `s..e` whose body stores `a[var]` unconditionally writes `s..e`.
                if let Some((var, start, end)) = range {
                    let writes = l.body.stmts.iter().any(|st| {
                        matches!(st, Stmt::Store { array, indices, .. }
                            if *array == a && indices.as_slice() == [var])
                    });
                    if writes && l.broke.is_none() {
                        ranges.push((start, end));
                    }
                }
            }
        }
    }
    true
}

/// `path(args)` with `first` inserted as its first argument.
fn splice_first_argument(call: TokenStream, first: TokenStream) -> TokenStream {
    let mut tokens: Vec<proc_macro2::TokenTree> = call.into_iter().collect();
    if let Some(proc_macro2::TokenTree::Group(g)) = tokens.last_mut() {
        let inner = g.stream();
        let mut group = proc_macro2::Group::new(g.delimiter(), quote!(#first, #inner));
        group.set_span(g.span());
        *g = group;
    }
    tokens.into_iter().collect()
}
