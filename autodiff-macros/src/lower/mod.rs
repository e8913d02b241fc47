//! Lowering: the user's function body (syn) to the IR, one operation per node.
//!
//! Input:
//! ```text
//! let a = 1.0 - x;
//! a * a
//! ```
//! Output (as [`crate::ir`] prints it):
//! ```text
//! %1 = verbatim `1.0`
//! %2 = sub(%1, %0)       ; a
//! %3 = mul(%2, %2)
//! return %3
//! ```
//!
//! Variables become SSA values: `let`, reassignment and shadowing only change which value a name
//! refers to; branches merge the values they leave different ([`control`]), loops carry the
//! values their body changes. An expression that reads no active value is kept as written (a
//! [`Op::Verbatim`] node, its variables renamed to their values): the derivative of a constant is
//! zero, so any Rust is allowed there. An expression that does read an active value must be made
//! of the operations in [`crate::rules`] ([`expr`]); anything else is reported at its span, and
//! lowering goes on so that every error in the function shows at once.
//!
//! Whether a loop's variable or an array is active can depend on code after its first use (a
//! loop-carried sum, an array written inside a loop). Lowering assumes not, and when it finds
//! otherwise it starts again with that variable marked active, until nothing changes.

mod control;
mod expr;
mod extrema;
mod scan;
mod source;
mod span;

use crate::hash::{HashMap, HashSet};

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::visit_mut::VisitMut;
use syn::{Expr, Ident, ItemFn, Local, Pat, Stmt as SynStmt, Type};

use crate::diag::Diagnostics;
use crate::ir::{Block, Graph, Node, Op, Stmt, ValueId};
use crate::parse::Signature;
pub use scan::{
    gives_reference, is_pure_arithmetic_with, keeps_positions, strip_adaptors, strip_parens,
    QUIET_MACROS,
};
use scan::{PatternIdents, StripMut};

/// What identifies a variable across lowering attempts: the order in which its binding was met
/// (or its loop), and its name.
type Key = (u32, String);

/// Lowers `item`'s body into a [`Graph`]. Errors go to `diag`; the graph is then incomplete
/// and must not be generated from. `rt` is the runtime's path, for the few values lowering
/// itself writes (the zero an early `return` starts from).
pub fn lower(item: &ItemFn, sig: &Signature, rt: &TokenStream, diag: &mut Diagnostics) -> Graph {
    lower_with(item, sig, rt, diag, true)
}

/// [`lower`], with the nodes' source text (`labels`: for the graph export and traces) or
/// without (a graph only differentiated, as the hidden generic copy of [`crate::concrete`]).
pub fn lower_with(
    item: &ItemFn,
    sig: &Signature,
    rt: &TokenStream,
    diag: &mut Diagnostics,
    labels: bool,
) -> Graph {
    for attr in scan::configured(&item.block) {
        diag.error_spanned(
            attr,
            "`#[differentiate]` does not support `#[cfg]` inside the function: it cannot tell which configuration is built, and would differentiate code the function leaves out. Branch on the configuration instead (`if cfg!(feature = \"x\") { ... } else { ... }`), or put `#[cfg]` on whole functions",
        );
    }
    let mut forced: HashSet<Key> = HashSet::default();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut attempt_diag = Diagnostics::default();
        let mut cx = Lowerer::new(sig, rt, &forced, &mut attempt_diag);
        cx.changed_by_calls = scan::mutated_by_calls(&item.block);
        cx.plain_fns = scan::plain_fn_items(&item.block);
        cx.element_written = scan::element_written(&item.block);
        cx.float_suffix = float_suffix(item, sig);
        cx.labels = labels;
        let ret = cx.lower_body(&item.block);
        let discovered = std::mem::take(&mut cx.discovered);
        let graph = cx.finish(ret);
        // Another attempt only helps if it would mark something new (and a function has finitely
        // many variables, so this ends; the bound is a safety net).
        if discovered.is_subset(&forced) || attempts >= 16 {
            diag.absorb(attempt_diag);
            return graph;
        }
        forced.extend(discovered);
    }
}

/// How deep an expression may nest: lowering and the passes after it recurse once per level,
/// and a debug build of the macro runs out of rustc's 8 MiB stack somewhere past 1 500 levels
/// of method calls (2 000 of `+`).
pub const MAX_NESTING: usize = 1200;

/// The span of the first outermost expression of `block` nesting deeper than
/// [`MAX_NESTING`], found without recursing deeper than that.
pub fn too_deep(block: &syn::Block) -> Option<Span> {
    struct Depth<'ast> {
        depth: usize,
        outermost: Option<&'ast Expr>,
        found: Option<Span>,
    }
    impl<'ast> Visit<'ast> for Depth<'ast> {
        fn visit_expr(&mut self, e: &'ast Expr) {
            if self.found.is_some() {
                return;
            }
            if self.depth >= MAX_NESTING {
                self.found = self.outermost.map(span::span_of);
                return;
            }
            if self.depth == 0 {
                self.outermost = Some(e);
            }
            self.depth += 1;
            syn::visit::visit_expr(self, e);
            self.depth -= 1;
        }
    }
    let mut d = Depth {
        depth: 0,
        outermost: None,
        found: None,
    };
    d.visit_block(block);
    d.found
}

/// The crate's name in `path::__private`: the identifier before `__private`.
fn krate_name(rt: &TokenStream) -> String {
    let idents: Vec<String> = rt
        .clone()
        .into_iter()
        .filter_map(|t| match t {
            proc_macro2::TokenTree::Ident(i) => Some(i.to_string()),
            _ => None,
        })
        .collect();
    idents
        .len()
        .checked_sub(2)
        .and_then(|i| idents.get(i))
        .cloned()
        .unwrap_or_else(|| "autodiff".to_owned())
}

/// A variable in scope.
struct Var {
    ident: Ident,
    /// The value it holds now; `None` for `let x;` before its first assignment.
    value: Option<ValueId>,
    mutable: bool,
    /// Made by lowering (loop flags, the early-return value): no user code can name it.
    synthetic: bool,
    /// A loop variable over an array by reference (`for v in x.iter()`): the user's `v` is a
    /// reference, while its value is the element.
    by_ref: bool,
    /// The type the user's `let` gave it, for the values later assignments give it.
    ty: Option<Type>,
}

/// The loop being lowered.
struct LoopCx {
    /// Set by `break`, `continue` and `return`: the rest of the iteration is skipped.
    exit: Ident,
    /// Set by `break` and `return`: the loop ends after this iteration.
    broke: Ident,
    /// The loop's label, `'outer` for `'outer: for ...`, which its own `break`s and
    /// `continue`s may name.
    label: Option<String>,
}

struct Lowerer<'a> {
    nodes: Vec<Node>,
    /// Whether each value depends on an active parameter (forward activity).
    varied: Vec<bool>,
    /// Innermost scope last; within a scope, later bindings shadow earlier ones.
    scopes: Vec<Vec<Var>>,
    /// Where each name is bound in `scopes` (scope, position), latest last: lookups go
    /// straight to a name's bindings instead of scanning every variable in scope, which made
    /// a long function quadratic to lower.
    by_name: HashMap<String, Vec<(usize, usize)>>,
    /// The blocks being built, innermost last: `(id, statements)`.
    blocks: Vec<(u32, Vec<Stmt>)>,
    next_block: u32,
    param_names: Vec<Ident>,
    float_generics: HashSet<String>,
    /// The function's return type and the runtime path, for the early-return machinery.
    ret_ty: Option<Type>,
    /// Whether the function returns a float (not an array, `Vec` or tensor).
    ret_scalar: bool,
    rt: TokenStream,
    /// The facade crate's name (`autodiff`, or the last segment of `crate = path`): calls
    /// `autodiff::sigmoid(x)` are to its differentiable helpers.
    krate_name: String,
    loops: Vec<LoopCx>,
    /// The macros reported as possibly hiding a `continue` in a loop body (by their spans, as
    /// text): not reported again as not differentiable.
    loop_macros: HashSet<String>,
    /// `Some((returned, ret))` when the function returns from inside a branch or a loop.
    early_return: Option<(Ident, Ident)>,
    /// Variables assumed active from the start (found active by an earlier attempt).
    forced: &'a HashSet<Key>,
    /// Variables found active after code already treated them as constants.
    discovered: HashSet<Key>,
    /// Variables the body may change through method calls (see [`scan::mutated_by_calls`]).
    changed_by_calls: HashSet<String>,
    /// Functions declared in the body without `#[differentiate]` (see
    /// [`scan::plain_fn_items`]): a call of one on an active value is reported here.
    plain_fns: HashSet<String>,
    /// Variables whose elements the body writes (see [`scan::element_written`]).
    element_written: HashSet<String>,
    /// The key of each array value and loop-carried value, for `discovered`.
    keys: HashMap<ValueId, Key>,
    /// Counts bindings and loops as they are met, for keys.
    ordinal: u32,
    /// Element reads already made, `(array, indices) -> (value, block)`, so `x[i] * x[i]` reads
    /// once. An entry dies with its block, with a write to its array, and at every loop.
    reads: Vec<((ValueId, Vec<ValueId>), ValueId, u32)>,
    /// Pure constant expressions already evaluated, `text -> (value, block)`, so `h + i`
    /// written twice is one value (and `s[h + i]` one read). An entry dies with its block.
    pure: Vec<(String, ValueId, u32)>,
    /// Fields of active parameter structs already read, `(struct, field) -> value`: each is
    /// read once, where the function starts.
    fields: Vec<((ValueId, String), ValueId)>,
    /// Parameters of a reference type (`&[T]`, `&Vec<T>`): walking one yields references.
    reference_params: Vec<bool>,
    /// Parameters that are owned arrays (`Vec<T>`, `[T; N]`): `let mut y = x;` copies them, so
    /// that writing `y` never writes the parameter's binding.
    owned_array_params: Vec<bool>,
    /// The one float type of a function written on `f64` (or `f32`) alone: the type of a bare
    /// float literal assigned to a variable.
    float_suffix: Option<&'static str>,
    /// Whether nodes get their source text.
    labels: bool,
    /// Parameters that are arrays of arrays (`&[Vec<f64>]`): read by index only.
    nested_array_params: Vec<bool>,
    /// Parameters that are ndarray arrays of more than one axis (or of any number, `ArrayD`):
    /// their elements are read by `x[[i, j]]`, not walked.
    multi_axis_params: Vec<bool>,
    diag: &'a mut Diagnostics,
}

/// What a tail expression (the last one of a block, without `;`) means.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// The block's value.
    Value,
    /// The function's result (with early returns: it sets the result variable).
    Return,
    /// Nothing: a statement block, a loop body.
    Unit,
}

/// How a sequence of statements ended.
enum Ending {
    /// With a value (a tail expression).
    Value(ValueId),
    /// Without a value.
    Unit,
    /// By `break`, `continue` or `return`: the statements after it do not run.
    Diverged,
}

impl<'a> Lowerer<'a> {
    fn new(
        sig: &Signature,
        rt: &TokenStream,
        forced: &'a HashSet<Key>,
        diag: &'a mut Diagnostics,
    ) -> Self {
        let mut cx = Lowerer {
            nodes: Vec::new(),
            varied: Vec::new(),
            scopes: vec![Vec::new()],
            by_name: HashMap::default(),
            blocks: vec![(0, Vec::new())],
            next_block: 1,
            param_names: sig.params.iter().map(|p| p.ident.clone()).collect(),
            float_generics: sig.float_generics.iter().map(ToString::to_string).collect(),
            ret_ty: sig.ret.clone(),
            ret_scalar: sig.ret_scalar,
            rt: rt.clone(),
            krate_name: krate_name(rt),
            loops: Vec::new(),
            loop_macros: HashSet::default(),
            early_return: None,
            forced,
            discovered: HashSet::default(),
            keys: HashMap::default(),
            changed_by_calls: HashSet::default(),
            plain_fns: HashSet::default(),
            element_written: HashSet::default(),
            ordinal: 0,
            reads: Vec::new(),
            pure: Vec::new(),
            fields: Vec::new(),
            float_suffix: None,
            labels: true,
            nested_array_params: sig
                .params
                .iter()
                .map(|p| p.is_float && element_type(&p.ty).and_then(element_type).is_some())
                .collect(),
            multi_axis_params: sig
                .params
                .iter()
                .map(|p| {
                    let text = crate::parse::type_text(&p.ty);
                    p.is_tensor
                        && !["Array1", "ArrayView1", "ArrayViewMut1", "Ix1"]
                            .iter()
                            .any(|one| text.contains(one))
                })
                .collect(),
            reference_params: sig
                .params
                .iter()
                .map(|p| matches!(p.ty, Type::Reference(_)))
                .collect(),
            owned_array_params: sig
                .params
                .iter()
                .map(|p| {
                    p.is_float
                        && (matches!(&p.ty, Type::Array(_))
                            || crate::parse::type_text(&p.ty).starts_with("Vec<"))
                })
                .collect(),
            diag,
        };
        for (i, p) in sig.params.iter().enumerate() {
            let v = cx.push_node(Op::Param(i), p.ident.span(), None);
            cx.varied[v.index()] = p.active;
            cx.keys.insert(v, (0, format!("param {i}")));
            cx.bind(&p.ident, Some(v), true);
        }
        cx
    }

    fn finish(mut self, ret: ValueId) -> Graph {
        let (_, stmts) = self.blocks.pop().unwrap_or_default();
        let mut graph = Graph {
            nodes: self.nodes,
            varied: self.varied,
            body: Block { stmts, id: 0 },
            ret,
            param_names: self.param_names,
            extrema: Vec::new(),
            names: std::cell::OnceCell::new(),
        };
        extrema::find(&mut graph, &self.rt);
        graph
    }

    // ----- nodes, blocks and variables -------------------------------------------------------

    fn push_node(&mut self, op: Op, span: Span, ty: Option<Type>) -> ValueId {
        let varied = op
            .differentiable_operands()
            .iter()
            .any(|o| self.is_varied(*o));
        let id = ValueId(u32::try_from(self.nodes.len()).unwrap_or(u32::MAX));
        self.nodes.push(Node {
            op,
            span,
            hint: None,
            ty,
            mutable: false,
            changed_by_calls: false,
            source: None,
            reference: false,
        });
        self.varied.push(varied);
        id
    }

    fn push_stmt(&mut self, stmt: Stmt) {
        if let Some((_, stmts)) = self.blocks.last_mut() {
            stmts.push(stmt);
        }
    }

    /// Adds a node and evaluates it here.
    fn eval(&mut self, op: Op, span: Span) -> ValueId {
        let v = self.push_node(op, span, None);
        self.push_stmt(Stmt::Eval(v));
        v
    }

    fn verbatim(&mut self, tokens: TokenStream, span: Span) -> ValueId {
        self.eval(Op::Verbatim(tokens, Vec::new()), span)
    }

    /// A value bound by a region (a merge, a carried value, a loop variable), named `hint`.
    fn region_value(&mut self, span: Span, hint: Option<String>, varied: bool) -> ValueId {
        let v = self.push_node(Op::Region, span, None);
        self.nodes[v.index()].hint = hint;
        self.varied[v.index()] = varied;
        v
    }

    /// A placeholder for an expression that failed to lower (its error is already reported).
    fn poisoned(&mut self, span: Span) -> ValueId {
        self.push_node(Op::Verbatim(quote!(()), Vec::new()), span, None)
    }

    /// Opens a block; statements go into it until [`Self::close_block`].
    fn open_block(&mut self) -> u32 {
        let id = self.next_block;
        self.next_block += 1;
        self.blocks.push((id, Vec::new()));
        id
    }

    fn close_block(&mut self) -> Block {
        let (id, stmts) = self.blocks.pop().unwrap_or_default();
        self.reads.retain(|(_, _, block)| *block != id);
        self.pure.retain(|(_, _, block)| *block != id);
        Block { stmts, id }
    }

    /// `array[indices]`, read once per block while the array is not written.
    fn read_element(&mut self, array: ValueId, indices: Vec<ValueId>, span: Span) -> ValueId {
        let key = (array, indices);
        if let Some((_, v, _)) = self.reads.iter().find(|(k, _, _)| *k == key) {
            return *v;
        }
        let v = self.eval(Op::Index(key.0, key.1.clone()), span);
        let block = self.blocks.last().map_or(0, |(id, _)| *id);
        self.reads.push((key, v, block));
        v
    }

    fn is_varied(&self, v: ValueId) -> bool {
        self.varied.get(v.index()).copied().unwrap_or(false)
    }

    fn mark_varied(&mut self, v: ValueId) {
        if let Some(slot) = self.varied.get_mut(v.index()) {
            *slot = true;
        }
    }

    /// Where the innermost binding of `name` that is (or is not) synthetic is.
    fn position(&self, name: &str, synthetic: bool) -> Option<(usize, usize)> {
        self.by_name
            .get(name)?
            .iter()
            .rev()
            .copied()
            .find(|&(s, i)| self.scopes[s][i].synthetic == synthetic)
    }

    /// The user variable `name` (never a synthetic one).
    fn lookup(&self, name: &str) -> Option<&Var> {
        let (s, i) = self.position(name, false)?;
        Some(&self.scopes[s][i])
    }

    /// The variable `ident`, user or synthetic.
    fn lookup_exact_mut(&mut self, ident: &Ident, synthetic: bool) -> Option<&mut Var> {
        let (s, i) = self.position(&ident.to_string(), synthetic)?;
        Some(&mut self.scopes[s][i])
    }

    fn synthetic_value(&self, ident: &Ident) -> Option<ValueId> {
        let (s, i) = self.position(&ident.to_string(), true)?;
        self.scopes[s][i].value
    }

    /// Opens a scope: the bindings made until [`Self::pop_scope`] end with it.
    fn push_scope(&mut self) {
        self.scopes.push(Vec::new());
    }

    fn pop_scope(&mut self) {
        let Some(scope) = self.scopes.pop() else {
            return;
        };
        // A scope's bindings are the last ones of each of their names.
        for var in scope.iter().rev() {
            if let Some(positions) = self.by_name.get_mut(&var.ident.to_string()) {
                positions.pop();
            }
        }
    }

    fn bind(&mut self, ident: &Ident, value: Option<ValueId>, mutable: bool) {
        self.bind_var(Var {
            ident: ident.clone(),
            value,
            mutable,
            synthetic: false,
            by_ref: false,
            ty: None,
        });
    }

    fn bind_var(&mut self, var: Var) {
        let s = self.scopes.len() - 1;
        let name = var.ident.to_string();
        self.by_name
            .entry(name)
            .or_default()
            .push((s, self.scopes[s].len()));
        self.scopes[s].push(var);
    }

    /// Sets the variable to a new value (an assignment).
    fn assign(&mut self, ident: &Ident, v: ValueId) {
        if let Some(var) = self.lookup_exact_mut(ident, false) {
            var.value = Some(v);
        }
    }

    fn assign_synthetic(&mut self, ident: &Ident, v: ValueId) {
        if let Some(var) = self.lookup_exact_mut(ident, true) {
            var.value = Some(v);
        }
    }

    /// A fresh synthetic variable holding `value`, in the current scope.
    fn synthetic(&mut self, name: &str, value: ValueId) -> Ident {
        self.ordinal += 1;
        let ident = Ident::new(&format!("{name}{}", self.ordinal), Span::mixed_site());
        self.bind_var(Var {
            ident: ident.clone(),
            value: Some(value),
            mutable: true,
            synthetic: true,
            by_ref: false,
            ty: None,
        });
        ident
    }

    /// Names a value after the variable it is first bound to, when the value was created for
    /// that binding (a fresh node nobody refers to yet).
    fn name_after(&mut self, v: ValueId, ident: &Ident, fresh_from: usize) {
        if v.index() >= fresh_from {
            if let Some(node) = self.nodes.get_mut(v.index()) {
                if node.hint.is_none() && !matches!(node.op, Op::Param(_)) {
                    node.hint = Some(ident.to_string());
                }
            }
        }
    }

    fn value_ident(&self, v: ValueId) -> Ident {
        crate::ir::value_ident(&self.nodes, &self.param_names, v)
    }

    /// Every variable in scope with its value, innermost binding of each name (user and
    /// synthetic), to compare before and after a branch or a loop body.
    fn snapshot(&self) -> Vec<(usize, usize, Option<ValueId>)> {
        let mut out = Vec::new();
        for (s, scope) in self.scopes.iter().enumerate() {
            for (i, var) in scope.iter().enumerate() {
                out.push((s, i, var.value));
            }
        }
        out
    }

    fn restore(&mut self, snapshot: &[(usize, usize, Option<ValueId>)]) {
        for &(s, i, value) in snapshot {
            if let Some(var) = self.scopes.get_mut(s).and_then(|scope| scope.get_mut(i)) {
                var.value = value;
            }
        }
    }

    // ----- blocks and statements -------------------------------------------------------------

    /// The function body: its statements, then the returned value.
    fn lower_body(&mut self, block: &syn::Block) -> ValueId {
        if scan::needs_early_return(block) {
            let returned = self.verbatim(quote!(false), Span::call_site());
            let zero = match &self.ret_ty {
                Some(ty) => {
                    let rt = &self.rt;
                    quote!(#rt::return_start::<#ty>())
                }
                None => quote!(()),
            };
            let ret = self.verbatim(zero, Span::call_site());
            let returned = self.synthetic("__returned", returned);
            let ret = self.synthetic("__ret", ret);
            self.early_return = Some((returned, ret.clone()));
            self.lower_stmts(&block.stmts, Tail::Return);
            return self
                .synthetic_value(&ret)
                .unwrap_or_else(|| self.poisoned(Span::call_site()));
        }
        match self.lower_stmts(&block.stmts, Tail::Value) {
            Ending::Value(v) => v,
            Ending::Unit | Ending::Diverged => {
                // Without a value at the end (a missing tail, or a `loop` that never ends) there
                // is nothing to differentiate: said here too, so that valid Rust never gets
                // placeholder companions.
                // (A function whose signature returns nothing differentiable is reported there.)
                if self.ret_ty.is_some() {
                    self.diag.error(
                        block.brace_token.span.close(),
                        "`#[differentiate]` needs the function's value at the end of its body: end it with the value it returns",
                    );
                } else {
                    self.diag.left_to_rustc();
                }
                self.poisoned(block.brace_token.span.close())
            }
        }
    }

    /// A nested block expression `{ ... }`: a new scope.
    fn lower_block_expr(&mut self, block: &syn::Block) -> Ending {
        self.lower_scoped(&block.stmts, Tail::Value)
    }

    /// A statement sequence. After a statement that may leave it (`break`, `continue`,
    /// `return` inside), the rest runs under a guard on the exit flags.
    fn lower_stmts(&mut self, stmts: &[SynStmt], tail: Tail) -> Ending {
        for (i, stmt) in stmts.iter().enumerate() {
            let last = i + 1 == stmts.len();
            match stmt {
                SynStmt::Local(local) => self.lower_let(local),
                SynStmt::Item(item) => self.push_stmt(Stmt::Verbatim {
                    bindings: Vec::new(),
                    tokens: item.to_token_stream(),
                }),
                // A macro as the block's value (`vec![x, y]` at the end): an expression.
                SynStmt::Macro(m) if last && m.semi_token.is_none() && tail != Tail::Unit => {
                    let expr = Expr::Macro(syn::ExprMacro {
                        attrs: m.attrs.clone(),
                        mac: m.mac.clone(),
                    });
                    return self.lower_tail(&expr, tail);
                }
                // `panic!();`: kept, and nothing after it runs.
                SynStmt::Macro(m)
                    if scan::is_diverging_macro(&syn::ExprMacro {
                        attrs: Vec::new(),
                        mac: m.mac.clone(),
                    }) =>
                {
                    self.keep_statement(m.to_token_stream());
                    // Where a value is wanted, any value of the right type: nothing reads it.
                    if tail == Tail::Value {
                        let placeholder = quote!(::core::default::Default::default());
                        return Ending::Value(self.verbatim(placeholder, m.span()));
                    }
                    return Ending::Diverged;
                }
                SynStmt::Macro(m) => self.keep_statement(m.to_token_stream()),
                // A lone `;`: nothing.
                SynStmt::Expr(Expr::Verbatim(t), _) if t.is_empty() => {}
                SynStmt::Expr(expr, semi) => {
                    match strip_parens(expr) {
                        Expr::Return(ret) => return self.lower_return(ret),
                        Expr::Break(b) => {
                            self.lower_break(b);
                            return Ending::Diverged;
                        }
                        Expr::Continue(c) => {
                            self.lower_continue(c);
                            return Ending::Diverged;
                        }
                        _ => {}
                    }
                    if semi.is_none() && last {
                        return self.lower_tail(expr, tail);
                    }
                    self.lower_expr_stmt(expr);
                }
            }
            let rest = &stmts[i + 1..];
            if !rest.is_empty() && scan::may_leave(stmt, !self.loops.is_empty()) {
                return self.lower_guarded_rest(rest, tail);
            }
        }
        Ending::Unit
    }

    /// The last expression of a block, without `;`.
    fn lower_tail(&mut self, expr: &Expr, tail: Tail) -> Ending {
        let e = strip_parens(expr);
        // A statement macro (`println!`, `assert!`) as the tail is a statement; any other macro
        // (`vec![x, y]`) is the block's value.
        let statement_macro = matches!(e, Expr::Macro(m) if m.mac.path.get_ident().is_some_and(|i| {
            matches!(
                i.to_string().as_str(),
                "println" | "print" | "eprintln" | "eprint" | "assert" | "assert_eq" | "assert_ne"
                    | "debug_assert" | "debug_assert_eq" | "debug_assert_ne" | "dbg"
            )
        })) || (tail == Tail::Unit
            && matches!(e, Expr::Macro(m) if scan::is_diverging_macro(m)));
        let assignment = matches!(e, Expr::Assign(_))
            || statement_macro
            || matches!(e, Expr::Binary(b) if scan::is_compound_assign(&b.op));
        // A tail whose value nobody takes (a statement block, a loop body) is a statement.
        if assignment
            || tail == Tail::Unit
            || matches!(e, Expr::ForLoop(_) | Expr::While(_) | Expr::Loop(_))
        {
            self.lower_expr_stmt(expr);
            // A branch ending in `panic!()` does not go on.
            if matches!(e, Expr::Macro(m) if scan::is_diverging_macro(m)) {
                return Ending::Diverged;
            }
            return Ending::Unit;
        }
        let ending = match e {
            Expr::If(i) if tail == Tail::Return => self.lower_if(i, tail),
            Expr::Match(mt) if tail == Tail::Return => self.lower_match(mt, tail),
            Expr::Return(r) => self.lower_return(r),
            _ => Ending::Value(self.lower_expr(expr)),
        };
        match (tail, ending) {
            (Tail::Return, Ending::Value(v)) => {
                if let Some((_, ret)) = self.early_return.clone() {
                    self.assign_synthetic(&ret, v);
                }
                Ending::Unit
            }
            (_, ending) => ending,
        }
    }

    /// A statement kept as written: `println!`, `assert!`, and other statement macros. The user
    /// variables it mentions are bound to their current values first.
    fn keep_statement(&mut self, tokens: TokenStream) {
        let mut words = HashSet::default();
        scan::collect_words(tokens.clone(), &mut words);
        let bindings = self.variables_named(&words);
        self.push_stmt(Stmt::Verbatim { bindings, tokens });
    }

    /// Variables in scope named by one of `words`, with the values they hold now.
    fn variables_named(&self, words: &HashSet<String>) -> Vec<(Ident, ValueId)> {
        let mut out: Vec<(Ident, ValueId)> = Vec::new();
        for scope in &self.scopes {
            for var in scope {
                if let (false, Some(v)) = (var.synthetic, var.value) {
                    if words.contains(&var.ident.to_string()) {
                        out.retain(|(i, _)| *i != var.ident);
                        out.push((var.ident.clone(), v));
                    }
                }
            }
        }
        out
    }

    /// Whether `e` gives a reference the lowering sees through: `&e`, a by-reference variable,
    /// or an `if`/`match`/block giving one of those on every path.
    fn yields_reference(&self, e: &Expr) -> bool {
        // A field's value is a reference already (`&p.w`): not one the lowering sees through.
        scan::gives_reference(e, &|r| !self.is_field(r), &|p| {
            self.by_ref_variable(p).is_some()
        })
    }

    /// Whether `e` is a field of a struct, or a variable holding one (whose value is the
    /// reference `&p.w`).
    fn is_field(&self, e: &Expr) -> bool {
        match strip_parens(e) {
            Expr::Field(_) => true,
            Expr::Path(p) => p
                .path
                .get_ident()
                .and_then(|i| self.lookup(&i.to_string()))
                .and_then(|var| var.value)
                .and_then(|v| self.nodes.get(v.index()))
                .is_some_and(|n| matches!(n.op, Op::Field(..))),
            _ => false,
        }
    }

    fn lower_let(&mut self, local: &Local) {
        self.ordinal += 1;
        let ordinal = self.ordinal;
        if let Some((else_token, _)) = local.init.as_ref().and_then(|i| i.diverge.as_ref()) {
            self.diag.error(
                else_token.span,
                "`let ... else` is not supported by `#[differentiate]`: bind the value with a plain `let` (handle the other case before calling)",
            );
            return;
        }
        let (pat, ty) = match &local.pat {
            Pat::Type(pt) => (&*pt.pat, Some((*pt.ty).clone())),
            other => (other, None),
        };
        let init = local.init.as_ref().map(|i| &*i.expr);
        match (pat, init.map(strip_parens)) {
            (Pat::Ident(pi), _) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                let declared = ty.clone();
                // `let r = &x[0];` (or `let w = v;` of such a variable, or a branch giving one of
                // those in each arm) lowered as a computation:
                // the user's `r` is a reference while its value is what it refers to, as for a
                // loop variable over an array by reference. (Kept as written, its value is the
                // reference itself.)
                let by_ref = init.is_some_and(|e| self.yields_reference(e) && self.reads_varied(e));
                let fresh_from = self.nodes.len();
                let mut value = init.map(|e| self.lower_binding(e, &pi.ident, ty));
                // `let mut y = x;` of an owned array parameter: a copy of its own.
                if let (Some(v), Some(_)) = (value, pi.mutability) {
                    let param = match self.nodes.get(v.index()).map(|n| &n.op) {
                        Some(Op::Param(i)) => Some(*i),
                        _ => None,
                    };
                    if param
                        .is_some_and(|i| self.owned_array_params.get(i).copied().unwrap_or(false))
                    {
                        let span = init.map_or_else(Span::call_site, Spanned::span);
                        let copy = self.copy_of(v, span);
                        self.name_after(copy, &pi.ident, copy.index());
                        value = Some(copy);
                    }
                }
                // `let mut v = Vec::new(); v.push(..)`: a binding the user changes in place.
                if let (Some(v), Some(_)) = (value, pi.mutability) {
                    let changed = self.changed_by_calls.contains(&pi.ident.to_string());
                    if let Some(node) = self
                        .nodes
                        .get_mut(v.index())
                        .filter(|_| v.index() >= fresh_from)
                    {
                        node.mutable |= changed;
                        node.changed_by_calls |= changed;
                    }
                }
                if let Some(v) = value {
                    let key = (ordinal, pi.ident.to_string());
                    if self.forced.contains(&key) {
                        self.mark_varied(v);
                    }
                    self.keys.entry(v).or_insert(key);
                }
                self.bind(&pi.ident, value, pi.mutability.is_some());
                if let Some(var) = self.lookup_exact_mut(&pi.ident, false) {
                    var.ty = declared;
                    var.by_ref = by_ref;
                }
            }
            (Pat::Wild(_), _) => {
                if let Some(e) = init {
                    self.lower_expr(e);
                }
            }
            (Pat::Tuple(pt), Some(Expr::Tuple(te))) if te.elems.len() == pt.elems.len() => {
                let types: Vec<Option<Type>> = match &ty {
                    None => vec![None; pt.elems.len()],
                    Some(Type::Tuple(tt)) if tt.elems.len() == pt.elems.len() => {
                        tt.elems.iter().cloned().map(Some).collect()
                    }
                    // `_`, an alias, parentheses: the elements go without annotations.
                    Some(_) => vec![None; pt.elems.len()],
                };
                // Evaluate every element before binding any, as Rust does.
                let mut bound = Vec::new();
                for ((p, e), ty) in pt.elems.iter().zip(&te.elems).zip(types) {
                    match p {
                        Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                            let by_ref = self.yields_reference(e) && self.reads_varied(e);
                            let v = self.lower_binding(e, &pi.ident, ty);
                            bound.push((pi.ident.clone(), v, pi.mutability.is_some(), by_ref));
                        }
                        Pat::Wild(_) => {
                            self.lower_expr(e);
                        }
                        other => self.diag.error_spanned(
                            other,
                            "bind a plain variable name here, as in `let (a, b) = (x, y);`",
                        ),
                    }
                }
                for (ident, v, mutable, by_ref) in bound {
                    self.bind(&ident, Some(v), mutable);
                    if let Some(var) = self.lookup_exact_mut(&ident, false) {
                        var.by_ref = by_ref;
                    }
                }
            }
            (_, Some(_)) if init.is_some_and(|e| !self.reads_varied(e)) => {
                if let Some(e) = init {
                    self.bind_pattern_as_written(pat, ty.as_ref(), e);
                }
            }
            // `let [a, b, _] = x;` of a fixed array (rustc checks the length on the function as
            // written): `let a = x[0]; let b = x[1];`, every element read before any is bound.
            (Pat::Slice(ps), Some(Expr::Path(array)))
                if array.qself.is_none()
                    && array.path.get_ident().is_some()
                    && ps.elems.iter().all(|p| {
                        matches!(p, Pat::Wild(_))
                            || matches!(p, Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none())
                    }) =>
            {
                let mut bound = Vec::new();
                for (k, p) in ps.elems.iter().enumerate() {
                    let Pat::Ident(pi) = p else { continue };
                    let span = pi.ident.span();
                    let index = syn::LitInt::new(&k.to_string(), span);
                    let element: Expr = syn::parse_quote_spanned!(span=> #array[#index]);
                    let v = self.lower_binding(&element, &pi.ident, None);
                    bound.push((pi.ident.clone(), v, pi.mutability.is_some()));
                }
                for (ident, v, mutable) in bound {
                    self.bind(&ident, Some(v), mutable);
                }
            }
            // `let [a, b, _] = [e0, e1, e2];`: each element evaluated, in order, then bound.
            (Pat::Slice(ps), Some(Expr::Array(arr)))
                if ps.elems.len() == arr.elems.len()
                    && ps.elems.iter().all(|p| {
                        matches!(p, Pat::Wild(_))
                            || matches!(p, Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none())
                    }) =>
            {
                let mut bound = Vec::new();
                for (p, element) in ps.elems.iter().zip(&arr.elems) {
                    match p {
                        Pat::Ident(pi) => {
                            let v = self.lower_binding(element, &pi.ident, None);
                            bound.push((pi.ident.clone(), v, pi.mutability.is_some()));
                        }
                        _ => {
                            self.lower_expr(element);
                        }
                    }
                }
                for (ident, v, mutable) in bound {
                    self.bind(&ident, Some(v), mutable);
                }
            }
            (_, Some(_)) => {
                let before = self.diag.error_count();
                if let Some(e) = init {
                    self.lower_expr(e);
                }
                if self.diag.error_count() == before {
                    self.diag.error_spanned(
                        pat,
                        "`#[differentiate]` does not destructure active values: write one `let` per variable, as in `let a = ...;`",
                    );
                }
            }
            (_, None) => self.diag.error_spanned(
                pat,
                "`#[differentiate]` needs one variable per `let` without a value, as in `let a;`",
            ),
        }
    }

    /// `let PATTERN = init;` on an inactive value, with any pattern Rust allows: evaluated as
    /// written, then each variable it binds is copied into a value of its own.
    fn bind_pattern_as_written(&mut self, pat: &Pat, ty: Option<&Type>, init: &Expr) {
        let value = self.lower_constant(init);
        let value = self.value_ident(value);
        let mut names = PatternIdents::default();
        names.visit_pat(pat);
        let mut pattern = pat.clone();
        StripMut.visit_pat_mut(&mut pattern);
        let ty = ty.map(|t| quote!(: #t));
        self.push_stmt(Stmt::Verbatim {
            bindings: Vec::new(),
            tokens: quote!(let #pattern #ty = #value;),
        });
        for (ident, mutable) in names.1 {
            let v = self.verbatim(ident.to_token_stream(), ident.span());
            if let Some(node) = self.nodes.get_mut(v.index()) {
                node.hint = Some(ident.to_string());
            }
            self.bind(&ident, Some(v), mutable);
        }
    }

    /// Lowers the value of `let name[: ty] = expr`, naming the new value after `name`.
    fn lower_binding(&mut self, expr: &Expr, name: &Ident, ty: Option<Type>) -> ValueId {
        let fresh_from = self.nodes.len();
        let mut v = self.lower_expr(expr);
        v = self.copy_if_shared(expr, v, name);
        if ty.is_some() {
            if v.index() >= fresh_from && self.nodes[v.index()].ty.is_none() {
                self.nodes[v.index()].ty = ty;
            } else {
                let copy = self.push_node(Op::Copy(v), span::span_of(expr), ty);
                self.push_stmt(Stmt::Eval(copy));
                v = copy;
            }
        }
        self.name_after(v, name, fresh_from);
        v
    }

    /// `v`, the value of `expr` about to be bound to `name` (`let name = expr;`, `name = expr;`),
    /// or a copy of it when `expr` is another variable and the body writes elements of either
    /// (`let prev = cur;` then `cur[i] = …`). The lowering writes an array in place, so two
    /// names for one value would see each other's writes; in Rust a fixed array is copied (and
    /// a `Vec` moved, which a copy matches).
    fn copy_if_shared(&mut self, expr: &Expr, v: ValueId, name: &Ident) -> ValueId {
        let Expr::Path(p) = strip_parens(expr) else {
            return v;
        };
        let Some(source) = p.path.get_ident().filter(|_| p.qself.is_none()) else {
            return v;
        };
        let written = |n: &Ident| self.element_written.contains(&n.to_string());
        if !(written(source) || written(name))
            || self.lookup(&source.to_string()).and_then(|var| var.value) != Some(v)
        {
            return v;
        }
        self.copy_of(v, expr.span())
    }

    /// `v.clone()`: a value of its own, whose adjoint flows back whole.
    fn copy_of(&mut self, v: ValueId, span: Span) -> ValueId {
        let clone = Ident::new("clone", span);
        self.eval(
            Op::Unary(
                crate::ir::UnaryFn { name: "clone" },
                crate::ir::CallForm::Method(clone),
                v,
            ),
            span,
        )
    }

    /// An expression statement: assignments, branches and loops, or an expression evaluated for
    /// nothing.
    fn lower_expr_stmt(&mut self, expr: &Expr) {
        match strip_parens(expr) {
            Expr::Assign(a) => self.lower_assign(&a.left, None, &a.right, expr),
            Expr::Binary(b) if scan::is_compound_assign(&b.op) => {
                let name = match b.op {
                    syn::BinOp::AddAssign(_) => "add",
                    syn::BinOp::SubAssign(_) => "sub",
                    syn::BinOp::MulAssign(_) => "mul",
                    syn::BinOp::DivAssign(_) => "div",
                    _ => "rem",
                };
                self.lower_assign(&b.left, Some(name), &b.right, expr);
            }
            // A statement macro, with the `;` a statement needs (a loop body's last line may
            // have none).
            Expr::Macro(m) => self.keep_statement(quote!(#m;)),
            e @ (Expr::If(_)
            | Expr::Match(_)
            | Expr::ForLoop(_)
            | Expr::While(_)
            | Expr::Loop(_))
                if !self.reads_varied(e) && scan::is_statement_like(e) =>
            {
                // Control flow that touches no active value and no variable of the function:
                // kept as written.
                self.lower_constant(e);
            }
            Expr::If(i) => {
                self.lower_if(i, Tail::Unit);
            }
            Expr::Match(m) => {
                self.lower_match(m, Tail::Unit);
            }
            Expr::Block(b) if b.label.is_none() => {
                // A block statement: its tail, if any, is a statement too.
                self.lower_scoped(&b.block.stmts, Tail::Unit);
            }
            Expr::ForLoop(f) => self.lower_for(f),
            Expr::While(w) => self.lower_while(w),
            Expr::Loop(l) => self.lower_loop(l),
            _ => {
                self.lower_expr(expr);
            }
        }
    }

    /// `target = value` or `target op= value`, to a variable or an array element.
    fn lower_assign(
        &mut self,
        target: &Expr,
        op: Option<&'static str>,
        value: &Expr,
        whole: &Expr,
    ) {
        match strip_parens(target) {
            Expr::Path(p) => {
                let Some(ident) = p.path.get_ident().cloned() else {
                    self.diag.error_spanned(target, "`#[differentiate]` can assign only to local variables of the function");
                    return;
                };
                let current = match self.lookup(&ident.to_string()) {
                    Some(var) if var.mutable || var.value.is_none() => var.value,
                    // rustc reports assigning twice to an immutable variable; say nothing twice.
                    Some(_) => {
                        self.diag.left_to_rustc();
                        return;
                    }
                    None => {
                        self.diag.error_spanned(target, "`#[differentiate]` can assign only to local variables of the function");
                        return;
                    }
                };
                let fresh_from = self.nodes.len();
                let rhs = self.lower_expr(value);
                let v = match (op, current) {
                    (None, _) => self.copy_if_shared(value, rhs, &ident),
                    (Some(name), Some(current)) => self.binary_node(name, current, rhs, whole.span()),
                    (Some(_), None) => {
                        self.diag.left_to_rustc();
                        return;
                    }
                };
                self.name_after(v, &ident, fresh_from);
                // `let mut s: f64 = ..; s = 3.0;`: the new value keeps the declared type. In a
                // function on `f64` alone, a bare literal assigned is an `f64` (the generated
                // code binds it to a name of its own, which a method call may use before
                // anything fixes its type: `s = 1.5; s.powi(2)`).
                // `s = 1.5;`, `s = -2.0;`, `s = -(-2.0) * 0.5;`
                let bare_literal = op.is_none() && literals_only(value);
                let declared = self.lookup(&ident.to_string()).and_then(|var| var.ty.clone()).or_else(|| {
                    let suffix = self.float_suffix.filter(|_| bare_literal)?;
                    Some(Type::Verbatim(Ident::new(suffix, Span::call_site()).to_token_stream()))
                });
                if let (Some(ty), true) = (declared, v.index() >= fresh_from) {
                    if let Some(node) = self.nodes.get_mut(v.index()) {
                        if node.ty.is_none() {
                            node.ty = Some(ty);
                        }
                    }
                }
                self.assign(&ident, v);
            }
            Expr::Index(_) => self.lower_store(target, op, value, whole),
            _ => self.diag.error_spanned(
                target,
                "`#[differentiate]` supports assigning only to a variable or an array element here (`a = ...`, `a[i] += ...`)",
            ),
        }
    }

    /// `a[i] = v`, `a[i][j] += v`: an in-place write to an array.
    fn lower_store(&mut self, target: &Expr, op: Option<&'static str>, value: &Expr, whole: &Expr) {
        let Some((array, indices)) = self.lower_place(target) else {
            return;
        };
        let rhs = self.lower_expr(value);
        let v = match op {
            None => rhs,
            Some(name) => {
                let current = self.read_element(array, indices.clone(), target.span());
                self.binary_node(name, current, rhs, whole.span())
            }
        };
        self.store_element(array, indices, v, whole.span());
    }

    /// Writes `v` into `array[indices]`.
    fn store_element(&mut self, array: ValueId, indices: Vec<ValueId>, v: ValueId, span: Span) {
        if self.is_varied(v) && !self.is_varied(array) {
            // Reads of this array before this point were lowered as constants: start again.
            if let Some(key) = self.keys.get(&array) {
                self.discovered.insert(key.clone());
            }
            self.mark_varied(array);
        }
        if let Some(node) = self.nodes.get_mut(array.index()) {
            node.mutable = true;
        }
        self.reads.retain(|((a, _), _, _)| *a != array);
        self.push_stmt(Stmt::Store {
            array,
            indices,
            value: v,
            span,
        });
    }

    /// The array and the indices of `a[i][j]`, the indices lowered (they must be inactive).
    fn lower_place(&mut self, target: &Expr) -> Option<(ValueId, Vec<ValueId>)> {
        let mut indices = Vec::new();
        let mut e = strip_parens(target);
        while let Expr::Index(ix) = e {
            indices.push(&*ix.index);
            e = strip_parens(&ix.expr);
        }
        indices.reverse();
        let array = match e {
            Expr::Path(p) => p
                .path
                .get_ident()
                .and_then(|i| self.lookup(&i.to_string()))
                .and_then(|v| v.value),
            // An array field of a parameter struct: `params.w[i]`.
            Expr::Field(_) if self.reads_varied(e) => Some(self.lower_expr(e)),
            // An array literal read at once: `[a, b, c][k]`.
            _ if scan::is_array_literal(e) && self.reads_varied(e) => Some(self.lower_expr(e)),
            _ => None,
        };
        let Some(array) = array else {
            self.diag.error_spanned(e, "`#[differentiate]` indexes only variables of the function here: bind the array to a variable first");
            return None;
        };
        let mut lowered = Vec::new();
        for index in indices {
            if matches!(strip_parens(index), Expr::Range(_)) {
                let name = e.to_token_stream().to_string().replace(' ', "");
                let range = index.to_token_stream().to_string().replace(' ', "");
                // The positions the slice covers, as a loop's range.
                let positions = match strip_parens(index) {
                    Expr::Range(r) => {
                        let start = r.start.as_ref().map_or_else(
                            || "0".to_owned(),
                            |s| s.to_token_stream().to_string().replace(' ', ""),
                        );
                        match (&r.end, &r.limits) {
                            (Some(end), limits) => {
                                let end = end.to_token_stream().to_string().replace(' ', "");
                                let dots = match limits {
                                    syn::RangeLimits::HalfOpen(_) => "..",
                                    syn::RangeLimits::Closed(_) => "..=",
                                };
                                format!("{start}{dots}{end}")
                            }
                            (None, _) => format!("{start}..{name}.len()"),
                        }
                    }
                    _ => range.clone(),
                };
                self.diag.error_spanned(
                    index,
                    format!("slices of active arrays (`{name}[{range}]`) are not supported by `#[differentiate]` outside a loop's iterable: index the elements, as in `for i in {positions} {{ s += {name}[i]; }}`, or walk them with `for v in {name}[{range}].iter()`"),
                );
                return None;
            }
            if self.reads_varied(index) {
                self.diag.error_spanned(
                    index,
                    "an index cannot depend on active values: compute it from integers only",
                );
                return None;
            }
            lowered.push(self.lower_constant(index));
        }
        Some((array, lowered))
    }
}

/// The element type of a slice, array or `Vec` (through references); `None` for other types.
pub(crate) fn element_type(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Reference(r) => element_type(&r.elem),
        Type::Paren(p) => element_type(&p.elem),
        Type::Slice(s) => Some(&s.elem),
        Type::Array(a) => Some(&a.elem),
        Type::Path(tp) => {
            let last = tp.path.segments.last()?;
            if last.ident != "Vec" {
                return None;
            }
            match &last.arguments {
                syn::PathArguments::AngleBracketed(a) => match a.args.first()? {
                    syn::GenericArgument::Type(t) => Some(t),
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    }
}

/// `Some("f64")` for a function that names `f64` and not `f32` (and is not generic over its
/// float type), `Some("f32")` for the reverse, `None` otherwise.
fn float_suffix(item: &ItemFn, sig: &Signature) -> Option<&'static str> {
    use crate::concrete::Names;
    if !sig.float_generics.is_empty() {
        return None;
    }
    match (
        Names::new("f64").in_item(item),
        Names::new("f32").in_item(item),
    ) {
        (true, false) => Some("f64"),
        (false, true) => Some("f32"),
        _ => None,
    }
}

/// Whether `e` is arithmetic on unsuffixed float literals only (`1.5`, `-(-2.0) * 0.5`): a
/// value whose type nothing in it fixes.
fn literals_only(e: &Expr) -> bool {
    match strip_parens(e) {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Float(f),
            ..
        }) => f.suffix().is_empty(),
        Expr::Unary(u) => matches!(u.op, syn::UnOp::Neg(_)) && literals_only(&u.expr),
        Expr::Binary(b) => {
            matches!(
                b.op,
                syn::BinOp::Add(_)
                    | syn::BinOp::Sub(_)
                    | syn::BinOp::Mul(_)
                    | syn::BinOp::Div(_)
                    | syn::BinOp::Rem(_)
            ) && literals_only(&b.left)
                && literals_only(&b.right)
        }
        _ => false,
    }
}
