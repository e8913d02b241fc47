//! Branches and loops: `if`, `match` on inactive values, `for`, `while`, `loop`, and the
//! `break`, `continue` and `return` that leave them.
//!
//! Input:
//! ```text
//! let mut s = 0.0;
//! for i in 0..n { if i % 2 == 0 { continue; } s += x * i as f64; }
//! ```
//! Output (abridged):
//! ```text
//! %4 = verbatim `0.0` ; s
//! for [i] in `...` carry [%6 = (%4, %12) -> %13] {
//!   %8 = verbatim `false`                     ; the iteration's exit flag
//!   %9 = verbatim `__i_7 % 2 == 0`
//!   if %9 { %10 = verbatim `true` } else { } merge [%11 = (%10, %8)]
//!   if !%11 { ... %12 = add(%6, ...) ; s } merge [...]
//! }
//! ```
//!
//! A variable a branch changes is merged: the `if` produces a new value from each branch's. A
//! variable a loop changes is carried: one value for each iteration's start (`phi`), updated
//! from the body's end (`next`), and read after the loop (`exit`). `break`, `continue` and
//! `return` set flags (synthetic variables) instead of jumping: the statements after one that
//! may leave run under `if !flag`, and the loop ends after an iteration that set `broke`. So
//! every region has one entry and one exit, which is what the reverse pass mirrors.

use crate::hash::HashSet;

use proc_macro2::{Ident, Span};
use quote::{quote, ToTokens};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::visit_mut::VisitMut;
use syn::{Expr, Pat};

use super::scan::{self, strip_parens, PatternIdents, StripMut};
use super::{Ending, LoopCx, Lowerer, Tail, Var};
use crate::ir::{Carried, IfRegion, LoopKind, LoopRegion, Op, Stmt, ValueId};

/// Walking the elements of an active array of more than one axis.
const MULTI_AXIS_WALK: &str = "`#[differentiate]` walks the elements of an active ndarray array of one axis only: loop over the indices (`for i in 0..x.nrows() { for j in 0..x.ncols() { ... x[[i, j]] ... } }`), or use the array operations (`x.sum()`, `x.mapv(f64::exp)`, `(&x * &x).sum()`)";

impl Lowerer<'_> {
    /// `if cond { ... } else { ... }`, as a statement (`Tail::Unit`), as a value, or as the
    /// function's result.
    pub(super) fn lower_if(&mut self, expr: &syn::ExprIf, tail: Tail) -> Ending {
        if let Expr::Let(l) = strip_parens(&expr.cond) {
            self.diag.error_spanned(l, "`if let` is not supported by `#[differentiate]` yet: test the value with `if`/`match` on integers, or unpack it before");
            return Ending::Unit;
        }
        let cond = self.lower_expr(&expr.cond);
        let else_branch = expr.else_branch.as_ref().map(|(_, e)| &**e);
        self.lower_branches(
            cond,
            expr.if_token.span,
            |this| this.lower_scoped(&expr.then_branch.stmts, tail),
            |this| match else_branch.map(strip_parens) {
                None => Ending::Unit,
                Some(Expr::If(nested)) => this.lower_if(nested, tail),
                Some(Expr::Block(b)) => this.lower_scoped(&b.block.stmts, tail),
                Some(other) => this.lower_tail(other, tail),
            },
            tail,
        )
    }

    /// Statements in a scope of their own.
    pub(super) fn lower_scoped(&mut self, stmts: &[syn::Stmt], tail: Tail) -> Ending {
        self.push_scope();
        let ending = self.lower_stmts(stmts, tail);
        self.pop_scope();
        ending
    }

    /// The region of a branch: lowers both sides, merges what they leave different.
    pub(super) fn lower_branches(
        &mut self,
        cond: ValueId,
        span: Span,
        then_side: impl FnOnce(&mut Self) -> Ending,
        else_side: impl FnOnce(&mut Self) -> Ending,
        tail: Tail,
    ) -> Ending {
        let before = self.snapshot();
        self.open_block();
        let then_end = then_side(self);
        let then_block = self.close_block();
        let after_then = self.snapshot();
        self.restore(&before);
        self.open_block();
        let else_end = else_side(self);
        let else_block = self.close_block();
        let after_else = self.snapshot();

        let mut merges = Vec::new();
        let mut then_block = then_block;
        let mut else_block = else_block;
        for ((s, i, _), ((_, _, t), (_, _, e))) in
            before.iter().zip(after_then.iter().zip(&after_else))
        {
            // A variable given its first value on one side only, the other leaving (`return`,
            // `break`): where the code goes on, it has that value; the side that leaves gives
            // a placeholder of the same type that nothing reads.
            let placeholder = |this: &mut Self, block: &mut crate::ir::Block| {
                let v = this.push_node(
                    Op::Verbatim(quote!(::core::default::Default::default()), Vec::new()),
                    span,
                    None,
                );
                block.stmts.push(Stmt::Eval(v));
                v
            };
            let (t, e) = match (*t, *e) {
                (Some(t), Some(e)) => (t, e),
                (Some(t), None) if matches!(else_end, Ending::Diverged) => {
                    (t, placeholder(self, &mut else_block))
                }
                (None, Some(e)) if matches!(then_end, Ending::Diverged) => {
                    (placeholder(self, &mut then_block), e)
                }
                _ => continue,
            };
            let var = &self.scopes[*s][*i];
            let value = if t == e {
                t
            } else {
                let hint = if var.synthetic {
                    None
                } else {
                    Some(var.ident.to_string())
                };
                let varied = self.is_varied(t) || self.is_varied(e);
                let merged = self.region_value(span, hint, varied);
                merges.push((merged, t, e));
                merged
            };
            self.scopes[*s][*i].value = Some(value);
        }
        let ending = match (tail, then_end, else_end) {
            (Tail::Value, Ending::Value(t), Ending::Value(e)) => {
                let varied = self.is_varied(t) || self.is_varied(e);
                let merged = self.region_value(span, None, varied);
                merges.push((merged, t, e));
                Ending::Value(merged)
            }
            (Tail::Value, Ending::Value(_), Ending::Diverged)
            | (Tail::Value, Ending::Diverged, Ending::Value(_)) => {
                self.diag.error(
                    span,
                    "an `if` whose value is used cannot `break`, `continue` or `return` in one branch in `#[differentiate]` yet: assign the value in each branch instead",
                );
                Ending::Unit
            }
            (_, Ending::Diverged, Ending::Diverged) => Ending::Diverged,
            _ => Ending::Unit,
        };
        let then_saved = self.region_value(span, Some("saved".to_owned()), false);
        let else_saved = self.region_value(span, Some("saved".to_owned()), false);
        self.push_stmt(Stmt::If(Box::new(IfRegion {
            cond,
            then_block,
            else_block,
            merges,
            then_saved,
            else_saved,
        })));
        ending
    }

    /// `match` on an inactive value, as a chain of `if`s on `matches!`.
    pub(super) fn lower_match(&mut self, m: &syn::ExprMatch, tail: Tail) -> Ending {
        if self.reads_varied(&m.expr) {
            self.diag.error_spanned(
                &m.expr,
                "`match` on an active value is not supported by `#[differentiate]`: use `if` on comparisons, or `max`, `min`, `abs`, `clamp`",
            );
            return Ending::Unit;
        }
        for arm in &m.arms {
            // A plain binding (`k => ...`, `k if k > 2 => ...`) names the scrutinee; other
            // patterns must bind nothing.
            if matches!(&arm.pat, Pat::Ident(pi) if pi.subpat.is_none() && pi.by_ref.is_none()) {
                continue;
            }
            let mut names = PatternIdents::default();
            names.visit_pat(&arm.pat);
            if let Some((binding, _)) = names
                .1
                .iter()
                .find(|(i, _)| i.to_string().starts_with(|c: char| c.is_lowercase()))
            {
                self.diag.error(
                    binding.span(),
                    "`match` arms that bind parts of the value are not supported by `#[differentiate]`: test with `if` and index the parts instead",
                );
                return Ending::Unit;
            }
        }
        let scrutinee = self.lower_constant(&m.expr);
        self.lower_arms(scrutinee, &m.arms, tail, m.match_token.span)
    }

    fn lower_arms(
        &mut self,
        scrutinee: ValueId,
        arms: &[syn::Arm],
        tail: Tail,
        span: Span,
    ) -> Ending {
        let Some((first, rest)) = arms.split_first() else {
            return Ending::Unit;
        };
        let binding = matches!(&first.pat, Pat::Ident(pi) if pi.ident.to_string().starts_with(|c: char| c.is_lowercase()));
        let catch_all = (matches!(first.pat, Pat::Wild(_)) || binding) && first.guard.is_none();
        if catch_all || rest.is_empty() {
            return self.lower_arm_body(first, scrutinee, tail);
        }
        let s = self.value_ident(scrutinee);
        let pat = &first.pat;
        let test: Expr = match &first.guard {
            Some((_, guard)) => syn::parse_quote!(::core::matches!(#s, #pat if #guard)),
            None => syn::parse_quote!(::core::matches!(#s, #pat)),
        };
        let cond = self.lower_constant(&test);
        self.lower_branches(
            cond,
            span,
            |this| this.lower_arm_body(first, scrutinee, tail),
            |this| this.lower_arms(scrutinee, rest, tail, span),
            tail,
        )
    }

    fn lower_arm_body(&mut self, arm: &syn::Arm, scrutinee: ValueId, tail: Tail) -> Ending {
        self.push_scope();
        if let Pat::Ident(pi) = &arm.pat {
            if pi.ident.to_string().starts_with(|c: char| c.is_lowercase()) {
                self.bind(&pi.ident, Some(scrutinee), pi.mutability.is_some());
            }
        }
        let ending = match strip_parens(&arm.body) {
            Expr::Block(b) if b.label.is_none() => self.lower_stmts(&b.block.stmts, tail),
            other => self.lower_tail(other, tail),
        };
        self.pop_scope();
        ending
    }

    /// `return e`: the function's result, set by flag unless it is the last statement.
    pub(super) fn lower_return(&mut self, ret: &syn::ExprReturn) -> Ending {
        let Some(value) = &ret.expr else {
            self.diag.left_to_rustc();
            return Ending::Diverged;
        };
        if !self.ret_scalar && !self.loops.is_empty() {
            // The result would be carried through the loop's iterations and saved in each.
            self.diag.error_spanned(
                ret,
                "`#[differentiate]` returns an array, `Vec` or tensor early only from outside loops: `break` out of the loop (`'outer` for nested ones) and return after it",
            );
            return Ending::Diverged;
        }
        let v = self.lower_expr(value);
        match self.early_return.clone() {
            Some((returned, result)) => {
                self.assign_synthetic(&result, v);
                let yes = self.verbatim(quote!(true), ret.span());
                self.assign_synthetic(&returned, yes);
                Ending::Diverged
            }
            // The only `return`, the function's last statement.
            None => Ending::Value(v),
        }
    }

    pub(super) fn lower_break(&mut self, b: &syn::ExprBreak) {
        if b.expr.is_some() {
            self.diag.error_spanned(
                b,
                "`#[differentiate]` supports only a plain `break;` (no value)",
            );
            return;
        }
        self.leave(b.label.as_ref(), true, b.span());
    }

    pub(super) fn lower_continue(&mut self, c: &syn::ExprContinue) {
        self.leave(c.label.as_ref(), false, c.span());
    }

    /// `break` (`ends`) or `continue`, of the innermost loop or of the one `label` names: the
    /// loops inside that one end (their `exit` and `broke` flags set), and it skips the rest of
    /// its iteration, and ends if `ends`.
    fn leave(&mut self, label: Option<&syn::Lifetime>, ends: bool, span: Span) {
        let target = match label {
            None => self.loops.len().checked_sub(1),
            Some(l) => {
                let name = l.ident.to_string();
                self.loops
                    .iter()
                    .rposition(|cx| cx.label.as_deref() == Some(name.as_str()))
            }
        };
        // Outside a loop, or a label no loop has: rustc says what is wrong.
        let Some(target) = target else {
            self.diag.left_to_rustc();
            return;
        };
        let yes = self.verbatim(quote!(true), span);
        let flags: Vec<(Ident, bool)> = self.loops[target..]
            .iter()
            .enumerate()
            .flat_map(|(k, cx)| {
                let inner = k > 0;
                [(cx.exit.clone(), true), (cx.broke.clone(), inner || ends)]
            })
            .collect();
        for (flag, set) in flags {
            if set {
                self.assign_synthetic(&flag, yes);
            }
        }
    }

    /// The statements after one that may leave: run only if nothing has left.
    pub(super) fn lower_guarded_rest(&mut self, rest: &[syn::Stmt], tail: Tail) -> Ending {
        // A block whose value is used cannot also leave early: its value would be missing on
        // the path that leaves.
        if tail == Tail::Value {
            let span = rest.first().map_or_else(Span::call_site, Spanned::span);
            self.diag.error(
                span,
                "a block whose value is used cannot `break`, `continue` or `return` before its end in `#[differentiate]` yet: compute the value in a variable, and leave from a statement of its own",
            );
            return Ending::Value(self.poisoned(span));
        }
        let mut flags = Vec::new();
        if let Some(cx) = self.loops.last() {
            flags.extend(self.synthetic_value(&cx.exit));
        }
        if let Some((returned, _)) = &self.early_return {
            flags.extend(self.synthetic_value(returned));
        }
        let flags: Vec<_> = flags.iter().map(|v| self.value_ident(*v)).collect();
        let span = rest.first().map_or_else(Span::call_site, Spanned::span);
        let cond = self.verbatim(quote!(!(#(#flags)||*)), span);
        if let Some(node) = self.nodes.get_mut(cond.index()) {
            if let Op::Verbatim(_, reads) = &mut node.op {
                reads.clear();
            }
        }
        self.lower_branches(
            cond,
            span,
            |this| this.lower_stmts(rest, tail),
            |_| Ending::Unit,
            tail,
        )
    }

    // ----- loops -----------------------------------------------------------------------------

    /// `for PAT in ITER { body }`.
    pub(super) fn lower_for(&mut self, f: &syn::ExprForLoop) {
        // `for v in [a, b]`, `for v in vec![a, b].iter()`: the literal made first, in a variable
        // of its own, and the loop walks that variable.
        let mut walked = (*f.expr).clone();
        let mut hoist = LiteralHoist {
            cx: self,
            found: Vec::new(),
        };
        syn::visit_mut::VisitMut::visit_expr_mut(&mut hoist, &mut walked);
        let found = hoist.found;
        if !found.is_empty() {
            self.push_scope();
            for (ident, literal) in &found {
                let fresh_from = self.nodes.len();
                let v = self.lower_expr(literal);
                if v.index() >= fresh_from {
                    self.nodes[v.index()].hint = Some("literal".to_string());
                }
                self.bind(ident, Some(v), false);
            }
            let mut f = f.clone();
            *f.expr = walked;
            self.lower_for(&f);
            self.pop_scope();
            return;
        }
        // `for w in x.windows(k)`, `for c in x.chunks(k)` of an active `x`: a loop over the
        // positions, `w[j]` read as `x[i + j]`.
        if let Some(rewritten) = self.windows_as_positions(f) {
            if let Some(f) = rewritten {
                self.lower_for(&f);
            }
            return;
        }
        // `for v in y` over an array the body writes elements of: Rust walks a copy, taken as
        // the loop starts (the lowering writes `y` in place, where the walk would see it).
        if let Expr::Path(p) = strip_parens(&f.expr) {
            let walked = p
                .path
                .get_ident()
                .filter(|y| p.qself.is_none() && self.element_written.contains(&y.to_string()))
                .and_then(|y| Some((y, self.lookup(&y.to_string())?.value?)));
            if let Some((y, v)) = walked {
                let span = f.expr.span();
                let copy = self.copy_of(v, span);
                let name = Ident::new(&format!("__autodiff_walked_{y}"), span);
                self.push_scope();
                self.bind(&name, Some(copy), false);
                let mut f = f.clone();
                *f.expr = syn::parse_quote_spanned!(span=> #name);
                self.lower_for(&f);
                self.pop_scope();
                return;
            }
        }
        // What the loop as written walks by value; then an active array it would consume
        // (`for v in y` of a `Vec` parameter) is walked by reference instead, since the reverse
        // pass still reads it. The elements are values either way.
        let by_value = self.elements_by_value(&f.expr) && self.reads_varied(&f.expr);
        let sides_by_value = match strip_parens(&f.expr) {
            Expr::MethodCall(m) if m.method == "zip" && m.args.len() == 1 => [
                self.elements_by_value(&m.receiver) && self.reads_varied(&m.receiver),
                self.elements_by_value(&m.args[0]) && self.reads_varied(&m.args[0]),
            ],
            _ => [false, false],
        };
        let borrowed;
        let f = if by_value || sides_by_value.contains(&true) {
            let mut copy = f.clone();
            copy.expr = Box::new(match strip_parens(&f.expr) {
                Expr::MethodCall(m) if m.method == "zip" && m.args.len() == 1 => {
                    let mut m = m.clone();
                    if sides_by_value[0] {
                        m.receiver = Box::new(borrow_walked(&m.receiver));
                    }
                    if sides_by_value[1] {
                        m.args[0] = borrow_walked(&m.args[0]);
                    }
                    Expr::MethodCall(m)
                }
                other => borrow_walked(other),
            });
            borrowed = copy;
            &borrowed
        } else {
            f
        };
        let span = f.for_token.span;
        if let Some(sides) = self.zipped_iteration(&f.expr) {
            self.lower_zipped_for(f, sides, sides_by_value);
            return;
        }
        let ActiveIteration {
            array: element_of,
            enumerated,
            base,
            adaptors,
            slice,
        } = self.active_iteration(&f.expr);
        // `x.iter().rev().enumerate()`, `x.iter().skip(1).enumerate()`: the numbers would not be
        // the elements' positions.
        let enumerate_after = match strip_parens(&f.expr) {
            Expr::MethodCall(m) if m.method == "enumerate" && m.args.is_empty() => {
                let inner = self.active_iteration(&m.receiver);
                inner
                    .array
                    .and(inner.adaptors.first().map(|a| a.method.to_string()))
            }
            _ => None,
        };
        if element_of.is_some() && enumerated && slice.is_some() {
            self.diag.error_spanned(
                &f.expr,
                "`#[differentiate]` does not take `enumerate()` over a range of an active array (it numbers from the range's start, not by position in the array): loop over the positions, as in `for i in a..b` reading `x[i]`, or over `x[a..b].iter()` without numbering",
            );
            return;
        }
        if let Some(adaptor) = enumerate_after {
            self.diag.error_spanned(
                &f.expr,
                format!("`#[differentiate]` does not take `enumerate()` after `{adaptor}(..)` over an active array (its numbers would not be the elements' positions in the array): number the elements first, as in `x.iter().enumerate().{adaptor}(..)`, which gives each element its position"),
            );
            return;
        }
        if let Some(field) = walked_field(&f.expr).filter(|_| self.reads_varied(&f.expr)) {
            let text = quote::ToTokens::to_token_stream(field)
                .to_string()
                .replace(' ', "");
            let name = match field {
                Expr::Field(fe) => match &fe.member {
                    syn::Member::Named(n) => n.to_string(),
                    syn::Member::Unnamed(_) => "items".to_owned(),
                },
                _ => "items".to_owned(),
            };
            self.diag.error_spanned(
                field,
                format!("`#[differentiate]` loops over an active array only through a variable, not a field: bind it first, as in `let {name} = &{text};`, then loop over `{name}.iter()`"),
            );
            return;
        }
        if element_of.is_none() && self.reads_varied(&f.expr) {
            self.diag.error_spanned(
                &f.expr,
                "`#[differentiate]` iterates over an active array as `x.iter()`, `&x`, `x` or `x.iter().enumerate()`, each also followed by `.rev()`, `.skip(n)`, `.take(n)` or `.step_by(n)`, or over two arrays as `x.iter().zip(y.iter())`: write the loop in one of these forms, or over the indices",
            );
            return;
        }
        if element_of.is_some_and(|a| self.is_multi_axis(a)) {
            self.diag.error_spanned(&f.expr, MULTI_AXIS_WALK);
            return;
        }
        let nested = element_of.is_some_and(|a| {
            matches!(self.nodes.get(a.index()).map(|n| &n.op), Some(Op::Param(i))
                if self.nested_array_params.get(*i).copied().unwrap_or(false))
        });
        if nested {
            self.diag.error_spanned(
                &f.expr,
                "`#[differentiate]` does not iterate over the rows of an array of arrays: loop over the indices, as in `for i in 0..m.len()`, and read `m[i][j]`",
            );
            return;
        }
        let iter_expr = &*f.expr;
        let yields_references = self.yields_references(iter_expr);
        let iter: Expr = if element_of.is_some() && !enumerated {
            positioned(base, &adaptors, slice)
        } else {
            syn::parse_quote!(::core::iter::IntoIterator::into_iter(#iter_expr))
        };
        let iter = self.lower_constant(&iter);
        let range = is_range(iter_expr);
        let pattern = &*f.pat;
        self.lower_loop_region(span, &f.body, None, label_of(f.label.as_ref()), move |this| {
            // Bind the pattern's variables for the iteration, and say how to write the pattern.
            match element_of {
                Some(array) => {
                    // With `.enumerate()`, the pattern is `(i, v)`: `i` is the position.
                    let (position, element_pattern) = match (enumerated, pattern) {
                        (false, p) => (None, p),
                        (true, Pat::Tuple(t)) if t.elems.len() == 2 => (Some(&t.elems[0]), &t.elems[1]),
                        (true, p) => (None, p),
                    };
                    let stripped = if enumerated && position.is_none() { None } else { strip_pattern(element_pattern) };
                    let (ident, by_ref) = match stripped {
                        Some((ident, by_ref)) => (ident, by_ref && !by_value),None => {
                            this.diag.error_spanned(
                                pattern,
                                "iterate over an active array with one variable, as in `for v in x.iter()` or `for &v in &x`; or loop over the indices",
                            );
                            return LoopKind::Loop;
                        }
                    };
                    let counter = this.region_value(span, Some("k".to_owned()), false);
                    match position {
                        Some(Pat::Ident(pi)) => this.bind(&pi.ident, Some(counter), false),
                        Some(Pat::Wild(_)) | None => {}
                        Some(other) => this.diag.error_spanned(other, "bind the position to a plain name, as in `for (i, v) in x.iter().enumerate()`"),
                    }
                    let item = proc_macro2::Ident::new("__item", Span::mixed_site());
                    this.bind_element(array, counter, &item, (ident, by_ref), pattern.span());
                    let counter_ident = this.value_ident(counter);
                    LoopKind::For { iter, pattern: quote!((#counter_ident, #item)), bound: vec![counter], range: false }
                }
                None => match pattern {
                    Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                        let v = this.region_value(pi.ident.span(), Some(pi.ident.to_string()), false);
                        if let Some(node) = this.nodes.get_mut(v.index()) {
                            node.reference = yields_references;
                        }
                        this.bind(&pi.ident, Some(v), pi.mutability.is_some());
                        LoopKind::For { iter, pattern: this.value_ident(v).to_token_stream(), bound: vec![v], range }
                    }
                    _ => {
                        let written = this.bind_loop_pattern(pattern, false);
                        LoopKind::For { iter, pattern: written, bound: Vec::new(), range: false }
                    }
                },
            }
        });
    }

    /// Whether `array` is a parameter that is an ndarray array of more than one axis.
    fn is_multi_axis(&self, array: ValueId) -> bool {
        matches!(self.nodes.get(array.index()).map(|n| &n.op), Some(Op::Param(i))
            if self.multi_axis_params.get(*i).copied().unwrap_or(false))
    }

    /// `a.iter().zip(b.iter())` (also `.zip(&b)`, `.zip(b)`, `x.iter().zip(x[1..].iter())`)
    /// where `a` or `b` is an active array (in a form [`Self::active_iteration`] takes, without
    /// `enumerate`) and the other side is an active array too or reads nothing active: each
    /// side's iterator (with positions for an active side) and array, or `None` for an inactive
    /// side.
    fn zipped_iteration<'e>(&self, iter: &'e Expr) -> Option<[(Expr, Option<ValueId>); 2]> {
        let Expr::MethodCall(m) = strip_parens(iter) else {
            return None;
        };
        if m.method != "zip" || m.args.len() != 1 {
            return None;
        }
        let side = |e: &'e Expr| -> Option<(Expr, Option<ValueId>)> {
            match self.active_iteration(e) {
                ActiveIteration {
                    array: Some(array),
                    enumerated: false,
                    base,
                    adaptors,
                    slice,
                } => {
                    let nested = matches!(self.nodes.get(array.index()).map(|n| &n.op), Some(Op::Param(i))
                        if self.nested_array_params.get(*i).copied().unwrap_or(false));
                    (!nested).then(|| (positioned(base, &adaptors, slice), Some(array)))
                }
                ActiveIteration { array: None, .. } if !self.reads_varied(e) => Some((
                    syn::parse_quote!(::core::iter::IntoIterator::into_iter(#e)),
                    None,
                )),
                _ => None,
            }
        };
        let sides = [side(&m.receiver)?, side(&m.args[0])?];
        if sides
            .iter()
            .any(|(_, a)| a.is_some_and(|a| self.is_multi_axis(a)))
        {
            return None;
        }
        sides.iter().any(|(_, a)| a.is_some()).then_some(sides)
    }

    /// `for (a, b) in x.iter().zip(y.iter())`: each active side walks with its elements'
    /// positions (see [`positioned`]: `x.iter().enumerate()`, `(1..n).zip(x[1..].iter())`, with
    /// the side's adaptors), the two zipped, and each element is read at its own position.
    fn lower_zipped_for(
        &mut self,
        f: &syn::ExprForLoop,
        sides: [(Expr, Option<ValueId>); 2],
        sides_by_value: [bool; 2],
    ) {
        let span = f.for_token.span;
        let pattern = match &*f.pat {
            Pat::Paren(p) => &*p.pat,
            other => other,
        };
        let Pat::Tuple(pair) = pattern else {
            self.diag.error_spanned(
                &f.pat,
                "bind the two sides of a `zip` to a pair of names, as in `for (&a, &b) in x.iter().zip(y.iter())`",
            );
            return;
        };
        let parts: Vec<&Pat> = pair.elems.iter().collect();
        let [first, second] = parts.as_slice() else {
            self.diag.error_spanned(
                &f.pat,
                "bind the two sides of a `zip` to a pair of names, as in `for (&a, &b) in x.iter().zip(y.iter())`",
            );
            return;
        };
        let subpatterns = [(*first).clone(), (*second).clone()];
        for ((_, array), sub) in sides.iter().zip(&subpatterns) {
            if array.is_some() && strip_pattern(sub).is_none() {
                self.diag.error_spanned(
                    sub,
                    "bind each element of an active array to one name, as in `(a, b)` or `(&a, &b)`",
                );
                return;
            }
        }
        let (by_value, side_references) = match strip_parens(&f.expr) {
            Expr::MethodCall(m) => (
                sides_by_value,
                [
                    self.yields_references(&m.receiver),
                    m.args.first().is_some_and(|a| self.yields_references(a)),
                ],
            ),
            _ => (sides_by_value, [false, false]),
        };
        let (receiver, other) = (&sides[0].0, &sides[1].0);
        let iter: Expr = syn::parse_quote!(::core::iter::Iterator::zip(#receiver, #other));
        let iter = self.lower_constant(&iter);
        let arrays = [sides[0].1, sides[1].1];
        self.lower_loop_region(
            span,
            &f.body,
            None,
            label_of(f.label.as_ref()),
            move |this| {
                let mut items = Vec::new();
                let mut counters = Vec::new();
                for (i, (array, sub)) in arrays.into_iter().zip(&subpatterns).enumerate() {
                    match (array, strip_pattern(sub)) {
                        (Some(array), Some((ident, by_ref))) => {
                            let by_ref = by_ref && !by_value[i];
                            // Each active side walks with its elements' positions, `(k, item)`.
                            let counter = this.region_value(span, Some("k".to_owned()), false);
                            counters.push(counter);
                            let item =
                                proc_macro2::Ident::new(&format!("__item_{i}"), Span::mixed_site());
                            this.bind_element(array, counter, &item, (ident, by_ref), sub.span());
                            let counter = this.value_ident(counter);
                            items.push(quote!((#counter, #item)));
                        }
                        // An inactive side: its pattern as written.
                        _ => items.push(this.bind_loop_pattern(sub, side_references[i])),
                    }
                }
                let (a, b) = (&items[0], &items[1]);
                LoopKind::For {
                    iter,
                    pattern: quote!((#a, #b)),
                    bound: counters,
                    range: false,
                }
            },
        );
    }

    /// Binds `name` (with whether the user's binding is a reference) to the element of `array`
    /// the loop visits at position `counter`, which the loop's pattern binds to `item`.
    fn bind_element(
        &mut self,
        array: ValueId,
        counter: ValueId,
        item: &proc_macro2::Ident,
        (ident, by_ref): (proc_macro2::Ident, bool),
        span: Span,
    ) {
        let element = self.eval(Op::Element(array, counter, item.to_token_stream()), span);
        if let Some(node) = self.nodes.get_mut(element.index()) {
            node.hint = Some(ident.to_string());
        }
        self.bind_var(Var {
            ident,
            value: Some(element),
            mutable: false,
            synthetic: false,
            by_ref,
            ty: None,
        });
    }

    /// A loop pattern over inactive items, kept as written (without `mut`): each name it binds
    /// is the value the pattern gives it. Returns the pattern to write.
    /// `references`: the pattern is one name over items that are references.
    fn bind_loop_pattern(&mut self, pattern: &Pat, references: bool) -> proc_macro2::TokenStream {
        let references = references && matches!(pattern, Pat::Ident(_));
        let mut names = PatternIdents::default();
        names.visit_pat(pattern);
        let mut written = pattern.clone();
        StripMut.visit_pat_mut(&mut written);
        for (ident, mutable) in names.1 {
            let v = self.verbatim(ident.to_token_stream(), ident.span());
            if let Some(node) = self.nodes.get_mut(v.index()) {
                node.hint = Some(ident.to_string());
                node.reference = references;
            }
            self.bind(&ident, Some(v), mutable);
        }
        written.to_token_stream()
    }

    /// `while cond { body }`: a `loop` whose body tests first.
    pub(super) fn lower_while(&mut self, w: &syn::ExprWhile) {
        if let Expr::Let(l) = strip_parens(&w.cond) {
            self.diag.error_spanned(l, "`while let` is not supported by `#[differentiate]`: use `while` on a condition, or `loop` with `break`");
            return;
        }
        let span = w.while_token.span;
        let label = label_of(w.label.as_ref());
        self.lower_loop_region(span, &w.body, Some(&w.cond), label, |_| LoopKind::Loop);
    }

    /// `loop { body }`.
    pub(super) fn lower_loop(&mut self, l: &syn::ExprLoop) {
        let label = label_of(l.label.as_ref());
        self.lower_loop_region(l.loop_token.span, &l.body, None, label, |_| LoopKind::Loop);
    }

    /// The active array a `for` loop walks element by element, if it does: `x.iter()`, `&x`,
    /// `x`, `x.into_iter()`, optionally `.enumerate()`, then any of `.rev()`, `.skip(n)`,
    /// `.take(n)`, `.step_by(n)` (which keep each element's position: the loop applies the same
    /// adaptors to the elements numbered first). Returns the array, whether the user numbered
    /// the elements with `enumerate`, the expression before the adaptors, and the adaptors in
    /// the order they apply.
    /// Whether iterating `iter` yields the elements themselves, not references to them: a
    /// collection the function owns walked by value (`for v in y` or `y.into_iter()` of a `Vec`
    /// or array parameter taken by value, or of one the body made). Then a pattern `v` binds a
    /// float, where over `x.iter()`, `&x` or a slice parameter it binds a reference.
    fn elements_by_value(&self, iter: &Expr) -> bool {
        let mut e = strip_parens(iter);
        while let Expr::MethodCall(m) = e {
            if !(scan::keeps_positions(m) || (m.method == "enumerate" && m.args.is_empty())) {
                break;
            }
            e = strip_parens(&m.receiver);
        }
        if let Expr::MethodCall(m) = e {
            if m.method == "into_iter" && m.args.is_empty() {
                e = strip_parens(&m.receiver);
            } else {
                return false;
            }
        }
        let Expr::Path(p) = e else {
            return false;
        };
        let Some(var) = p.path.get_ident().and_then(|i| self.lookup(&i.to_string())) else {
            return false;
        };
        if var.by_ref {
            return false;
        }
        match var
            .value
            .and_then(|v| self.nodes.get(v.index()))
            .map(|n| &n.op)
        {
            Some(Op::Param(i)) => self.owned_array_params.get(*i).copied().unwrap_or(false),
            // A field's value (`let w = &p.w;`) or `&expr` kept as written is a reference.
            Some(op) => !op.holds_reference(),
            None => false,
        }
    }

    /// Whether walking `iter` surely yields references: `x.iter()`, `&x`, a parameter of a
    /// reference type or a by-reference variable (each maybe followed by `rev`, `skip`, ...).
    fn yields_references(&self, iter: &Expr) -> bool {
        match scan::strip_adaptors(iter) {
            Expr::MethodCall(m) => m.method == "iter" && m.args.is_empty(),
            Expr::Reference(r) => r.mutability.is_none(),
            Expr::Path(p) => {
                let Some(var) = p.path.get_ident().and_then(|i| self.lookup(&i.to_string())) else {
                    return false;
                };
                var.by_ref
                    || matches!(var.value.and_then(|v| self.nodes.get(v.index())).map(|n| &n.op),
                        Some(Op::Param(i)) if self.reference_params.get(*i).copied().unwrap_or(false))
            }
            _ => false,
        }
    }

    fn active_iteration<'e>(&self, iter: &'e Expr) -> ActiveIteration<'e> {
        let mut e = strip_parens(iter);
        let mut adaptors = Vec::new();
        while let Expr::MethodCall(m) = e {
            if !scan::keeps_positions(m) {
                break;
            }
            adaptors.push(m);
            e = strip_parens(&m.receiver);
        }
        adaptors.reverse();
        let base = e;
        let mut enumerated = false;
        if let Expr::MethodCall(m) = e {
            if m.method == "enumerate" && m.args.is_empty() {
                enumerated = true;
                e = strip_parens(&m.receiver);
            }
        }
        loop {
            match e {
                Expr::Reference(r) => e = strip_parens(&r.expr),
                Expr::MethodCall(m)
                    if (m.method == "iter" || m.method == "into_iter") && m.args.is_empty() =>
                {
                    e = strip_parens(&m.receiver);
                }
                _ => break,
            }
        }
        // `x[a..b].iter()`, `&x[a..]`: a range of the array.
        let mut slice = None;
        if let Expr::Index(ix) = e {
            if let Expr::Range(range) = strip_parens(&ix.index) {
                slice = Some((range, &*ix.expr));
                e = strip_parens(&ix.expr);
            }
        }
        let array = match e {
            Expr::Path(p) => p
                .path
                .get_ident()
                .and_then(|i| self.lookup(&i.to_string()))
                .and_then(|var| var.value)
                .filter(|v| self.is_varied(*v)),
            _ => None,
        };
        ActiveIteration {
            array,
            enumerated,
            base,
            adaptors,
            slice,
        }
    }
}

/// The iterable with the collection it walks borrowed: `y` becomes `(&y)`, `y.into_iter().rev()`
/// becomes `(&y).into_iter().rev()`.
fn borrow_walked(e: &Expr) -> Expr {
    match e {
        Expr::Paren(p) => borrow_walked(&p.expr),
        Expr::MethodCall(m)
            if m.method == "into_iter" || m.method == "enumerate" || scan::keeps_positions(m) =>
        {
            let mut m = m.clone();
            m.receiver = Box::new(borrow_walked(&m.receiver));
            Expr::MethodCall(m)
        }
        Expr::Path(_) => syn::parse_quote!((&#e)),
        other => other.clone(),
    }
}

/// A field walked by a `for` loop's iterable (`p.w.iter()`, `&p.w`, either side of a `zip`).
fn walked_field(e: &Expr) -> Option<&Expr> {
    match strip_parens(e) {
        f @ Expr::Field(_) => Some(f),
        Expr::Reference(r) => walked_field(&r.expr),
        Expr::MethodCall(m) if m.method == "zip" => {
            walked_field(&m.receiver).or_else(|| m.args.first().and_then(walked_field))
        }
        Expr::MethodCall(m)
            if m.method == "iter"
                || m.method == "into_iter"
                || m.method == "enumerate"
                || scan::keeps_positions(m) =>
        {
            walked_field(&m.receiver)
        }
        _ => None,
    }
}

/// What [`Lowerer::active_iteration`] finds in a `for` loop's iterable.
struct ActiveIteration<'e> {
    /// The active array walked, if any.
    array: Option<ValueId>,
    /// Numbered by the user with `enumerate()`, before any adaptor.
    enumerated: bool,
    /// The iterable before the adaptors.
    base: &'e Expr,
    /// `rev`, `skip`, `take`, `step_by`, in the order they apply.
    adaptors: Vec<&'e syn::ExprMethodCall>,
    /// `x[range]`: the range, and the array expression.
    slice: Option<(&'e syn::ExprRange, &'e Expr)>,
}

impl Lowerer<'_> {
    /// A loop region: carried variables, the body (with `cond` tested first, for `while`), the
    /// exit flags. `label` is the loop's (see [`LoopCx::label`]); `bind` binds the loop's own
    /// variables inside the body and says how to iterate.
    fn lower_loop_region(
        &mut self,
        span: Span,
        body: &syn::Block,
        cond: Option<&Expr>,
        label: Option<String>,
        bind: impl FnOnce(&mut Self) -> LoopKind,
    ) {
        // A macro of the user's may hide a `break`, `continue` or `return` the loop's reverse
        // must see (once, from the outermost loop).
        if self.loops.is_empty() {
            for m in scan::control_hiding_macros(body) {
                self.loop_macros.insert(format!("{:?}", m.path.span()));
                let name = m
                    .path
                    .segments
                    .last()
                    .map(|s| s.ident.to_string())
                    .unwrap_or_default();
                self.diag.error_spanned(
                    &m,
                    format!("the macro `{name}!` in a loop body may hide a `break`, `continue` or `return` that the reverse pass would not see: write out what it does, or make it a function"),
                );
            }
        }
        self.ordinal += 1;
        let ordinal = self.ordinal;
        // The variables the body may change, user and synthetic, with their values now.
        let mut carried_vars: Vec<(usize, usize)> = Vec::new();
        let names = scan::assigned_names(body, cond);
        let returns = scan::block_returns(body);
        // `break 'l` / `continue 'l` in the body: of this loop (its flags are needed even when
        // they come from a loop inside), or of a loop around it, whose flags, and those of
        // every loop in between, the body then sets and carries.
        let named = scan::labels_named(body);
        let own = |kind: bool| {
            named
                .iter()
                .any(|(l, k)| *k == kind && label.as_deref() == Some(l.as_str()))
        };
        let (own_breaks, own_continues) = (own(true), own(false));
        let outermost_named = self.loops.iter().position(|cx| {
            cx.label
                .as_ref()
                .is_some_and(|l| named.iter().any(|(n, _)| n == l))
        });
        let outer_flags: Vec<Ident> = outermost_named
            .map(|j| {
                self.loops[j..]
                    .iter()
                    .flat_map(|cx| [cx.exit.clone(), cx.broke.clone()])
                    .collect()
            })
            .unwrap_or_default();
        // `let r;` before the loop and `r = …` inside: carried from a start value that is never
        // read (rustc accepts the function only if `r` is set before any read).
        let unset: Vec<(Ident, Option<syn::Type>)> = names
            .iter()
            .filter_map(|name| self.lookup(name))
            .filter(|var| !var.synthetic && var.value.is_none())
            .map(|var| (var.ident.clone(), var.ty.clone()))
            .collect();
        for (ident, ty) in unset {
            let rt = &self.rt;
            let turbofish = ty.map(|ty| quote!(::<#ty>));
            let start = self.verbatim(quote!(#rt::return_start #turbofish ()), span);
            if let Some(var) = self.lookup_exact_mut(&ident, false) {
                var.value = Some(start);
                // Assigned once more, in the loop: what `let r;` allows.
                var.mutable = true;
            }
        }
        let mut seen: HashSet<(String, bool)> = HashSet::default();
        for (s, scope) in self.scopes.iter().enumerate().rev() {
            for (i, var) in scope.iter().enumerate().rev() {
                let name = var.ident.to_string();
                let user = !var.synthetic && names.contains(&name);
                if !seen.insert((name, var.synthetic)) {
                    continue; // shadowed by a later binding
                }
                let flag = var.synthetic
                    && (returns
                        && self
                            .early_return
                            .as_ref()
                            .is_some_and(|(r, v)| *r == var.ident || *v == var.ident)
                        || outer_flags.contains(&var.ident));
                if (user || flag) && var.value.is_some() {
                    carried_vars.push((s, i));
                }
            }
        }
        carried_vars.reverse();

        let mut carried: Vec<(usize, usize, Carried)> = Vec::new();
        // A read before the loop may be stale in a later iteration, and one inside it after.
        self.reads.clear();
        self.open_block();
        self.push_scope();
        for &(s, i) in &carried_vars {
            let var = &self.scopes[s][i];
            let Some(init) = var.value else { continue };
            let key = (ordinal, var.ident.to_string());
            let varied = self.is_varied(init) || self.forced.contains(&key);
            let hint = if var.synthetic {
                None
            } else {
                Some(var.ident.to_string())
            };
            let phi = self.region_value(span, hint, varied);
            self.keys.insert(phi, key);
            self.scopes[s][i].value = Some(phi);
            carried.push((
                s,
                i,
                Carried {
                    phi,
                    init,
                    next: phi,
                    exit: phi,
                },
            ));
        }
        let kind = bind(self);
        // The flags exist only when the body can leave early.
        let (breaks, continues) = scan::block_leaves(body);
        // Leaving a loop around this one ends this one too.
        let breaks = breaks || own_breaks || outermost_named.is_some();
        let continues = continues || own_continues;
        let (exit, broke) = if cond.is_some() || breaks || continues || returns {
            let no = self.verbatim(quote!(false), span);
            (self.synthetic("__exit", no), self.synthetic("__broke", no))
        } else {
            let unused = proc_macro2::Ident::new("__no_flag", Span::mixed_site());
            (unused.clone(), unused)
        };
        self.loops.push(LoopCx {
            exit: exit.clone(),
            broke: broke.clone(),
            label,
        });
        match cond {
            Some(cond) => {
                let test = self.lower_expr(cond);
                let broke_flag = broke.clone();
                self.lower_branches(
                    test,
                    span,
                    |this| this.lower_scoped(&body.stmts, Tail::Unit),
                    move |this| {
                        let yes = this.verbatim(quote!(true), span);
                        this.assign_synthetic(&broke_flag, yes);
                        Ending::Unit
                    },
                    Tail::Unit,
                );
            }
            None => {
                self.lower_scoped(&body.stmts, Tail::Unit);
            }
        }
        self.loops.pop();
        let breaks = cond.is_some() || breaks || returns;
        let broke = if breaks {
            let mut flags = Vec::new();
            flags.extend(self.synthetic_value(&broke));
            if returns {
                if let Some((returned, _)) = self.early_return.clone() {
                    flags.extend(self.synthetic_value(&returned));
                }
            }
            match flags.as_slice() {
                [one] => Some(*one),
                _ => {
                    let idents: Vec<_> = flags.iter().map(|v| self.value_ident(*v)).collect();
                    let any = self.verbatim(quote!(#(#idents)||*), span);
                    if let Some(Op::Verbatim(_, reads)) =
                        self.nodes.get_mut(any.index()).map(|n| &mut n.op)
                    {
                        reads.clear();
                    }
                    Some(any)
                }
            }
        } else {
            None
        };
        self.pop_scope();
        let body_block = self.close_block();

        // Read what the body left, and put the exit values in place.
        for (s, i, c) in &mut carried {
            c.next = self.scopes[*s][*i].value.unwrap_or(c.phi);
            if self.is_varied(c.next) && !self.is_varied(c.phi) {
                if let Some(key) = self.keys.get(&c.phi) {
                    self.discovered.insert(key.clone());
                }
            }
        }
        let mut out = Vec::new();
        for (s, i, mut c) in carried {
            let var = &self.scopes[s][i];
            let hint = if var.synthetic {
                None
            } else {
                Some(var.ident.to_string())
            };
            let varied = self.is_varied(c.phi);
            c.exit = self.region_value(span, hint, varied);
            self.scopes[s][i].value = Some(c.exit);
            out.push(c);
        }
        self.reads.clear();
        let tape = self.region_value(span, Some("start".to_owned()), false);
        self.push_stmt(Stmt::Loop(Box::new(LoopRegion {
            kind,
            body: body_block,
            carried: out,
            broke,
            tape,
            span,
        })));
    }
}

/// Whether a `for` loop's iterable is a range written out: `a..b`, `a..=b`, or one of those
/// with `.rev()`.
fn is_range(e: &Expr) -> bool {
    match strip_parens(e) {
        Expr::Range(r) => r.start.is_some() && r.end.is_some(),
        Expr::MethodCall(m) if m.method == "rev" && m.args.is_empty() => {
            matches!(strip_parens(&m.receiver), Expr::Range(r) if r.start.is_some() && r.end.is_some())
        }
        _ => false,
    }
}

/// The variable of `v`, `mut v` or `&v`, and whether the user may treat it as a reference
/// (the plain form: `*v` then means the element itself).
/// The elements of an active array's iteration with their positions in the array, `(position,
/// element)`: numbered first, then the user's adaptors, so each element keeps its position. A
/// range of the array is numbered from its start, the slice itself still taken (and its bounds
/// checked) as the user wrote it.
fn positioned(
    base: &Expr,
    adaptors: &[&syn::ExprMethodCall],
    slice: Option<(&syn::ExprRange, &Expr)>,
) -> Expr {
    let mut walk: Expr = match slice {
        Some((range, array)) => {
            let start = range
                .start
                .as_deref()
                .map_or_else(|| quote!(0), ToTokens::to_token_stream);
            let end = match (&range.end, &range.limits) {
                (None, _) => quote!(#array[..].len()),
                (Some(end), syn::RangeLimits::HalfOpen(_)) => end.to_token_stream(),
                (Some(end), syn::RangeLimits::Closed(_)) => quote!((#end) + 1),
            };
            syn::parse_quote!(::core::iter::Iterator::zip(#start..#end, ::core::iter::IntoIterator::into_iter(#base)))
        }
        None => {
            syn::parse_quote!(::core::iter::Iterator::enumerate(::core::iter::IntoIterator::into_iter(#base)))
        }
    };
    for adaptor in adaptors {
        let (method, args) = (&adaptor.method, &adaptor.args);
        walk = syn::parse_quote!(::core::iter::Iterator::#method(#walk, #args));
    }
    walk
}

fn strip_pattern(pat: &Pat) -> Option<(proc_macro2::Ident, bool)> {
    match pat {
        Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
            Some((pi.ident.clone(), true))
        }
        Pat::Reference(r) => match &*r.pat {
            Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                Some((pi.ident.clone(), false))
            }
            _ => None,
        },
        Pat::Paren(p) => strip_pattern(&p.pat),
        _ => None,
    }
}

/// A loop's label without its `'`, as [`LoopCx::label`] keeps it.
fn label_of(label: Option<&syn::Label>) -> Option<String> {
    label.map(|l| l.name.ident.to_string())
}

impl Lowerer<'_> {
    /// `for w in x.windows(k) { .. w[j] .. w.len() .. }` with `x` active and `k` a literal or a
    /// variable: `for i in 0..x.windows(k).len() { .. x[window_index(i, j, k)] .. (k) .. }`, and
    /// `x.chunks(k)` likewise over chunk starts `i * k` of length `x.len().min(i * k + k) - i * k`.
    /// `window_index` panics as `w[j]` would for `j` past the window. `None`: not such a loop;
    /// `Some(None)`: one whose body uses the window otherwise (reported).
    fn windows_as_positions(&mut self, f: &syn::ExprForLoop) -> Option<Option<syn::ExprForLoop>> {
        let Expr::MethodCall(m) = strip_parens(&f.expr) else {
            return None;
        };
        let chunks = match m.method.to_string().as_str() {
            "windows" => false,
            "chunks" => true,
            _ => return None,
        };
        if m.args.len() != 1 || !self.reads_varied(&m.receiver) {
            return None;
        }
        let size = &m.args[0];
        let simple = matches!(strip_parens(size), Expr::Lit(_))
            || matches!(strip_parens(size), Expr::Path(p) if p.path.get_ident().is_some());
        let window = match &*f.pat {
            Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() && simple => {
                pi.ident.clone()
            }
            Pat::Ident(_) => {
                self.diag.error_spanned(
                    size,
                    format!("`#[differentiate]` walks `{}(k)` of an active array with `k` a literal or a variable: bind the size to a variable first (`let k = ...;`)", m.method),
                );
                return Some(None);
            }
            _ => {
                self.diag.error_spanned(
                    &f.pat,
                    format!("`#[differentiate]` walks `{}(k)` of an active array with a plain name for each window, as in `for w in x.{}(2) {{ s += w[1] - w[0]; }}`", m.method, m.method),
                );
                return Some(None);
            }
        };
        let array = &m.receiver;
        let rt = &self.rt;
        let position = Ident::new(&format!("__autodiff_{}", m.method), Span::mixed_site());
        let (start, len): (Expr, Expr) = if chunks {
            (
                syn::parse_quote!((#position * #size)),
                syn::parse_quote!((#array.len().min(#position * #size + #size) - #position * #size)),
            )
        } else {
            (syn::parse_quote!(#position), syn::parse_quote!((#size)))
        };
        // A body that binds the window's name again would have its own `w[j]` taken for the
        // window's.
        let mut bound = PatternIdents::default();
        bound.visit_block(&f.body);
        if bound.0.contains(&window.to_string()) {
            self.diag.error_spanned(
                &f.pat,
                format!("`#[differentiate]` walks `{}(k)` of an active array with a window name the loop's body does not bind again: rename one of them", m.method),
            );
            return Some(None);
        }
        let mut rewrite = WindowUses {
            window: &window,
            array,
            start: &start,
            len: &len,
            rt,
            other: None,
        };
        let mut body = f.body.clone();
        rewrite.visit_block_mut(&mut body);
        if let Some(span) = rewrite.other {
            self.diag.error(
                span,
                format!("`#[differentiate]` reads the window of `{}(k)` over an active array only as `{window}[j]` and `{window}.len()`: write the other uses with those", m.method),
            );
            return Some(None);
        }
        let mut out = f.clone();
        out.pat = Box::new(syn::parse_quote!(#position));
        let method = &m.method;
        *out.expr = syn::parse_quote!(0..#array.#method(#size).len());
        out.body = body;
        Some(Some(out))
    }
}

/// The uses of a `windows`/`chunks` loop's window in its body (see
/// [`Lowerer::windows_as_positions`]); `other`: where it is used some other way.
struct WindowUses<'a> {
    window: &'a Ident,
    array: &'a Expr,
    start: &'a Expr,
    len: &'a Expr,
    rt: &'a proc_macro2::TokenStream,
    other: Option<Span>,
}

impl WindowUses<'_> {
    fn is_window(&self, e: &Expr) -> bool {
        matches!(strip_parens(e), Expr::Path(p) if p.path.is_ident(self.window))
    }
}

impl VisitMut for WindowUses<'_> {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        match e {
            Expr::Index(ix) if self.is_window(&ix.expr) => {
                self.visit_expr_mut(&mut ix.index);
                let (array, start, len, rt, j) =
                    (self.array, self.start, self.len, self.rt, &ix.index);
                let span = ix.span();
                *e = syn::parse_quote_spanned!(span=> #array[#rt::window_index(#start, #j, #len)]);
            }
            Expr::MethodCall(m)
                if self.is_window(&m.receiver) && m.method == "len" && m.args.is_empty() =>
            {
                *e = self.len.clone();
            }
            Expr::Path(p) if p.path.is_ident(self.window) => {
                self.other.get_or_insert(p.span());
            }
            // A closure or a nested item may bind the name again: left to the checks on them.
            _ => syn::visit_mut::visit_expr_mut(self, e),
        }
    }
}

/// Replaces the array literals of active values in a loop's iterated expression (`[a, b]`,
/// `vec![a, b]`, `[x; 3]`) by fresh variables, collecting each with its literal.
struct LiteralHoist<'a, 'b> {
    cx: &'a Lowerer<'b>,
    found: Vec<(Ident, Expr)>,
}

impl syn::visit_mut::VisitMut for LiteralHoist<'_, '_> {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        // Closures are refused with their own message.
        if matches!(e, Expr::Closure(_)) {
            return;
        }
        if scan::is_array_literal(e) && self.cx.reads_varied(e) {
            let ident = Ident::new(
                &format!("__autodiff_literal{}", self.found.len()),
                Span::mixed_site(),
            );
            let replaced = std::mem::replace(e, syn::parse_quote!(#ident));
            self.found.push((ident, replaced));
            return;
        }
        syn::visit_mut::visit_expr_mut(self, e);
    }
}
