//! Expressions: operations with a derivative rule become nodes; everything that reads no
//! active value is kept as written, a constant.
//!
//! Input: `(x * y).sin() + n as f64`, with `x`, `y` active and `n` an integer.
//! Output:
//! ```text
//! %3 = mul(%0, %1)
//! %4 = sin(%3)
//! %5 = verbatim `n as f64`
//! %6 = add(%4, %5)
//! ```

use crate::hash::HashSet;

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::visit_mut::VisitMut;
use syn::{BinOp, Expr, Ident, UnOp};

use super::scan::{
    collect_words, is_compound_assign, is_pure_arithmetic, strip_parens, PatternIdents,
    VariableReads,
};
use super::{Ending, Lowerer, Tail, Var};
use crate::ir::{BinaryFn, CallForm, Op, TensorFn, UnaryFn, ValueId};
use crate::rules;

impl Lowerer<'_> {
    pub(super) fn lower_expr(&mut self, expr: &Expr) -> ValueId {
        let before = self.nodes.len();
        let v = self.lower_expr_here(expr);
        // The first expression that made a node names it in the graph export.
        if self.labels && v.index() >= before {
            if let Some(node) = self.nodes.get_mut(v.index()) {
                if node.source.is_none() {
                    node.source = super::source::source_text(expr);
                }
            }
        }
        v
    }

    fn lower_expr_here(&mut self, expr: &Expr) -> ValueId {
        let control = matches!(
            strip_parens(expr),
            Expr::If(_) | Expr::Match(_) | Expr::Block(_)
        );
        if !self.reads_varied(expr) && (!control || super::scan::is_statement_like(expr)) {
            return self.lower_constant(expr);
        }
        let span = super::span::span_of(expr);
        // `*x.last().unwrap()`, `x.first().copied().unwrap()`: the element read they are.
        if let Some(read) = end_element(expr) {
            return self.lower_expr(&read);
        }
        match expr {
            Expr::Paren(p) => self.lower_expr(&p.expr),
            Expr::Group(g) => self.lower_expr(&g.expr),
            Expr::Path(p) => match p.path.get_ident().and_then(|i| self.lookup(&i.to_string())) {
                Some(Var { value: Some(v), .. }) => *v,
                _ => self.lower_constant(expr),
            },
            Expr::Block(b) if b.label.is_none() => match self.lower_block_expr(&b.block) {
                Ending::Value(v) => v,
                // A block of statements used as a value: `()`, which rustc checks the use of.
                Ending::Unit => self.verbatim(quote!(()), span),
                Ending::Diverged => self.unsupported(
                    expr,
                    "a block used as a value that always leaves the function (`return`) is not supported by `#[differentiate]`: return from a statement of its own",
                ),
            },
            Expr::Unary(u) => match u.op {
                UnOp::Neg(_) => {
                    let x = self.lower_expr(&u.expr);
                    self.eval(Op::Unary(UnaryFn { name: "neg" }, CallForm::Method(Ident::new("neg", span)), x), span)
                }
                UnOp::Not(_) => self.lower_constant(expr),
                UnOp::Deref(_) => match self.by_ref_variable(&u.expr) {
                    Some(v) => v,
                    None => self.unsupported(expr, "dereferencing an active value is not supported: use the value directly"),
                },
                _ => self.unsupported(expr, "this operator cannot be differentiated"),
            },
            Expr::Binary(b) => {
                let name = match b.op {
                    BinOp::Add(_) => "add",
                    BinOp::Sub(_) => "sub",
                    BinOp::Mul(_) => "mul",
                    BinOp::Div(_) => "div",
                    BinOp::Rem(_) => "rem",
                    BinOp::Eq(_) | BinOp::Ne(_) | BinOp::Lt(_) | BinOp::Le(_) | BinOp::Gt(_) | BinOp::Ge(_)
                    | BinOp::And(_) | BinOp::Or(_) => return self.lower_constant(expr),
                    // Bit operators and shifts do not apply to floats: rustc says so.
                    _ => {
                        self.diag.left_to_rustc();
                        return self.poisoned(span);
                    }
                };
                let l = self.lower_expr(&b.left);
                let r = self.lower_expr(&b.right);
                self.binary_node(name, l, r, span)
            }
            Expr::MethodCall(m) => {
                let form = CallForm::Method(m.method.clone());
                let args: Vec<&Expr> = std::iter::once(&*m.receiver).chain(m.args.iter()).collect();
                if m.turbofish.is_some() && !ITERATOR_METHODS.contains(&m.method.to_string().as_str()) {
                    return self.unsupported(expr, "method calls with `::<...>` are not supported on active values: call the method without the turbofish");
                }
                self.lower_float_method(&m.method, form, &args, expr)
            }
            Expr::Call(c) => self.lower_call(c, expr),
            // A float cast to an integer has derivative zero: a constant, as written.
            Expr::Cast(cast) if super::scan::is_integer_type(&cast.ty) => self.lower_constant(expr),
            // `x.len() as f64`, `q.ncols() as f64`: a size, whatever the array holds.
            Expr::Cast(cast) if matches!(strip_parens(&cast.expr), Expr::MethodCall(m) if rules::ZERO_DERIVATIVE_METHODS.contains(&m.method.to_string().as_str()) && !m.method.to_string().starts_with("is_")) => self.lower_constant(expr),
            Expr::Cast(_) => self.unsupported(
                expr,
                "`as` casts of active values are not supported: cast only inactive integers (like a loop index), and keep active values in one float type",
            ),
            Expr::Lit(_) => self.lower_constant(expr),
            Expr::If(i) => match self.lower_if(i, Tail::Value) {
                Ending::Value(v) => v,
                // An `if` of statements (or without `else`) has the value `()`: rustc checks
                // its use.
                _ => self.verbatim(quote!(()), span),
            },
            Expr::Match(m) => match self.lower_match(m, Tail::Value) {
                Ending::Value(v) => v,
                _ => self.poisoned(span),
            },
            Expr::ForLoop(_) | Expr::While(_) | Expr::Loop(_) => self.unsupported(expr, "a loop used as a value is not supported by `#[differentiate]`: write the loop as a statement and use the variables it sets"),
            Expr::Closure(_) => self.unsupported(expr, "closures are not supported on active values: write the computation inline, or as a `#[differentiate]` function"),
            Expr::Struct(_) => self.unsupported(expr, "struct literals of active values are not supported: use the float values directly instead of packing them in a struct"),
            Expr::Tuple(_) => self.unsupported(expr, "tuples of active values are supported only in `let (a, b) = (x, y);`"),
            Expr::Array(a) => {
                let elems: Vec<&Expr> = a.elems.iter().collect();
                self.lower_array_literal(&elems, false, span)
            }
            Expr::Repeat(r) => match repeat_count(&r.len) {
                Some(n) => self.lower_array_literal(&vec![&*r.expr; n], false, span),
                None => self.unsupported(expr, "`[x; N]` of an active value is supported only with a literal length of at most 64: start from `[0.0; N]` and write the elements in a loop, `for i in 0..N { a[i] = x; }`"),
            },
            Expr::Index(_) => match self.lower_place(expr) {
                // `m[i]` of a `&[Vec<f64>]` parameter: a whole row, a `Vec` the generated code
                // would have to move out of the slice.
                Some((array, indices))
                    if indices.len() == 1
                        && matches!(self.nodes.get(array.index()).map(|n| &n.op), Some(Op::Param(i))
                            if self.nested_array_params.get(*i).copied().unwrap_or(false)) =>
                {
                    self.unsupported(expr, "`#[differentiate]` reads an array of arrays element by element: read `m[i][j]` where the row is used, rather than the row `m[i]` itself")
                }
                Some((array, indices)) => self.read_element(array, indices, span),
                None => self.poisoned(span),
            },
            Expr::Field(f) => self.lower_field(f, expr),
            // `&a + &b`, `x.dot(&w)`: the generated code takes operands by reference anyway.
            Expr::Reference(r) if r.mutability.is_none() => self.lower_expr(&r.expr),
            Expr::Reference(_) => self.unsupported(expr, "mutable references to active values are not supported: use the value itself"),
            // `panic!()`, `todo!()`: no value, of any type; evaluated as written.
            Expr::Macro(m) if super::scan::is_diverging_macro(m) => self.lower_constant(expr),
            Expr::Macro(m) if m.mac.path.is_ident("vec") => {
                let parser = syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated;
                match syn::parse::Parser::parse2(parser, m.mac.tokens.clone()) {
                    Ok(elems) => {
                        let elems: Vec<&Expr> = elems.iter().collect();
                        self.lower_array_literal(&elems, true, span)
                    }
                    Err(_) => match syn::parse::Parser::parse2(parse_repeat, m.mac.tokens.clone())
                        .ok()
                        .and_then(|(elem, len)| Some((elem, repeat_count(&len)?)))
                    {
                        Some((elem, n)) => self.lower_array_literal(&vec![&elem; n], true, span),
                        None => self.unsupported(expr, "`vec![x; n]` of an active value is supported only with a literal length of at most 64: start from `vec![0.0; n]` and write the elements in a loop, `for i in 0..n { v[i] = x; }`"),
                    },
                }
            }
            // In a loop the macro is reported already (it may hide a `continue`): once is enough.
            Expr::Macro(m) if self.loop_macros.contains(&format!("{:?}", m.mac.path.span())) => {
                self.lower_constant(expr)
            }
            Expr::Macro(m) => self.unsupported(expr, format!("the macro `{}!` cannot be differentiated: compute the value without it", m.mac.path.to_token_stream())),
            // A function returning a float cannot use `?`: rustc says so.
            Expr::Try(_) => {
                self.diag.left_to_rustc();
                self.poisoned(span)
            }
            Expr::Return(_) | Expr::Break(_) | Expr::Continue(_) => self.unsupported(expr, "`return`, `break` and `continue` are supported as statements, not inside expressions, in `#[differentiate]`"),
            Expr::Assign(_) => self.unsupported(expr, "assignments inside expressions are not supported: assign in a statement of its own"),
            Expr::Async(_) | Expr::Await(_) => self.unsupported(expr, "`async` code cannot be differentiated"),
            Expr::Unsafe(_) => self.unsupported(expr, "`unsafe` blocks are not allowed in a `#[differentiate]` function"),
            Expr::Block(_) => self.unsupported(expr, "labelled blocks are not supported by `#[differentiate]`: remove the label"),
            _ => self.unsupported(expr, "this expression cannot be differentiated by `#[differentiate]`"),
        }
    }

    pub(super) fn binary_node(
        &mut self,
        name: &'static str,
        l: ValueId,
        r: ValueId,
        span: Span,
    ) -> ValueId {
        self.eval(Op::Binary(BinaryFn { name }, None, l, r), span)
    }

    fn unsupported(
        &mut self,
        expr: &(impl Spanned + ToTokens),
        message: impl std::fmt::Display,
    ) -> ValueId {
        self.diag.error_spanned(expr, message);
        self.poisoned(expr.span())
    }

    /// `f64::sin(x)`, `T::powf(x, p)`, `Float::max(a, b)`; other calls are reported.
    fn lower_call(&mut self, call: &syn::ExprCall, expr: &Expr) -> ValueId {
        if let Expr::Path(fp) = &*call.func {
            let segments = &fp.path.segments;
            let n = segments.len();
            let on_float_type = fp.qself.is_some()
                || (n >= 2 && {
                    let ty = segments[n - 2].ident.to_string();
                    ty == "f64"
                        || ty == "f32"
                        || ty == "Float"
                        || ty == "Real"
                        || self.float_generics.contains(&ty)
                });
            if let (true, Some(last)) = (on_float_type, segments.last()) {
                let args: Vec<&Expr> = call.args.iter().collect();
                if args.is_empty() {
                    return self.unsupported(expr, "this call takes no value to differentiate");
                }
                let form = CallForm::Path(fp.to_token_stream());
                return self.lower_float_method(&last.ident, form, &args, expr);
            }
            // The casts of a concrete-float function's generic copy (see `crate::concrete`):
            // as the `as` casts they stand for, constants.
            if n >= 2 && segments[n - 2].ident == "__private" {
                let last = segments[n - 1].ident.to_string();
                // `y.floor() as f64`, and `y as i32 as f64` (`cast_float(cast_int(y))`).
                let zero_derivative = |e: &Expr| match strip_parens(e) {
                    Expr::MethodCall(m) => {
                        rules::ZERO_DERIVATIVE_METHODS.contains(&m.method.to_string().as_str())
                            && !m.method.to_string().starts_with("is_")
                    }
                    Expr::Call(c) => matches!(&*c.func, Expr::Path(p)
                        if p.path.segments.len() >= 2
                            && p.path.segments[p.path.segments.len() - 2].ident == "__private"
                            && p.path.segments[p.path.segments.len() - 1].ident == "cast_int"),
                    _ => false,
                };
                if last == "cast_int"
                    || (last == "cast_float" && call.args.iter().all(zero_derivative))
                {
                    return self.lower_constant(expr);
                }
            }
            // A tensor helper of the runtime: `autodiff::softmax(&z, Axis(1))`.
            if let Some(last) = segments.last() {
                let name = last.ident.to_string();
                let ours = n >= 2 && segments[n - 2].ident == self.krate_name && fp.qself.is_none();
                if let (true, Some((helper, arity))) = (
                    ours && rules::TENSOR_HELPERS.contains(&name.as_str()),
                    rules::tensor(&name),
                ) {
                    if call.args.len() != arity {
                        self.diag.left_to_rustc();
                        return self.poisoned(super::span::span_of(expr));
                    }
                    let args: Vec<ValueId> = call.args.iter().map(|a| self.lower_expr(a)).collect();
                    return self.eval(
                        Op::Tensor(TensorFn { name: helper }, args),
                        super::span::span_of(expr),
                    );
                }
                if n == 1 && rules::TENSOR_HELPERS.contains(&name.as_str()) {
                    return self.unsupported(
                        &call.func,
                        format!("call the differentiable helper by its path, as in `{}::{name}(...)`, so `#[differentiate]` can tell it from a function of your own with the same name", self.krate_name),
                    );
                }
            }
            // A differentiable helper of the runtime: `autodiff::sigmoid(x)`.
            if let Some(last) = segments.last() {
                if let Some(helper) = rules::helper(&last.ident.to_string()) {
                    let ours = n >= 2 && segments[n - 2].ident == self.krate_name;
                    let args: Vec<&Expr> = call.args.iter().collect();
                    if ours && fp.qself.is_none() {
                        return match args.as_slice() {
                            [x] => {
                                let x = self.lower_expr(x);
                                let form = CallForm::Path(fp.to_token_stream());
                                self.eval(
                                    Op::Unary(UnaryFn { name: helper }, form, x),
                                    super::span::span_of(expr),
                                )
                            }
                            _ => {
                                self.diag.left_to_rustc();
                                self.poisoned(super::span::span_of(expr))
                            }
                        };
                    }
                    if n == 1 {
                        return self.unsupported(
                            &call.func,
                            format!("call the differentiable helper by its path, as in `{}::{helper}(x)`, so `#[differentiate]` can tell it from a function of your own with the same name", self.krate_name),
                        );
                    }
                }
            }
            // A closure (or a function pointer) bound to a local variable: nothing to call.
            if let Some(name) = fp.path.get_ident().filter(|_| fp.qself.is_none()) {
                if self.lookup(&name.to_string()).is_some() {
                    return self.unsupported(
                        expr,
                        format!("`{name}` is a local variable: calling a closure on active values is not supported by `#[differentiate]`: write the computation inline, or as a `#[differentiate]` function"),
                    );
                }
            }
            // A call to another differentiated function: its `_vjp_all` companion gives the
            // reverse pass. A function without one is reported by rustc at this call.
            let args: Vec<&Expr> = call.args.iter().collect();
            return self.lower_user_call(fp.clone(), &args, expr);
        }
        self.unsupported(expr, "calling this expression cannot be differentiated: call a float method or a function by name")
    }

    /// A call to another `#[differentiate]` function (`path(args)`), or to a differentiated
    /// method through `Self::name(self, args)`.
    fn lower_user_call(
        &mut self,
        path: syn::ExprPath,
        call_args: &[&Expr],
        expr: &Expr,
    ) -> ValueId {
        let mut by_ref = Vec::new();
        let mut args = Vec::new();
        for &arg in call_args {
            if let Expr::Reference(r) = strip_parens(arg) {
                if r.mutability.is_some() {
                    return self.unsupported(arg, "a `&mut` argument cannot be differentiated through a call: pass the value, and return what the callee computes");
                }
            }
            by_ref.push(matches!(strip_parens(arg), Expr::Reference(_)));
            let value = self.lower_expr(arg);
            // A `let mut` array may be written after the call, and the reverse pass reads
            // the argument: the callee gets a copy of what it holds now.
            let inner = match strip_parens(arg) {
                Expr::Reference(r) => strip_parens(&r.expr),
                other => other,
            };
            let mutable = match inner {
                Expr::Path(p) => p
                    .path
                    .get_ident()
                    .and_then(|i| self.lookup(&i.to_string()))
                    .is_some_and(|v| v.mutable && !v.synthetic),
                _ => false,
            };
            let local = !matches!(
                self.nodes.get(value.index()).map(|n| &n.op),
                Some(Op::Param(_))
            );
            let value = if mutable && local && self.is_varied(value) {
                let clone = Ident::new("clone", arg.span());
                self.eval(
                    Op::Unary(UnaryFn { name: "clone" }, CallForm::Method(clone), value),
                    arg.span(),
                )
            } else {
                value
            };
            args.push(value);
        }
        let varied = args.iter().any(|a| self.is_varied(*a));
        // A function of the body's own, without companions: said at the call.
        if let Some(name) = path
            .path
            .get_ident()
            .filter(|_| path.qself.is_none() && varied)
        {
            let name = name.to_string();
            if self.plain_fns.contains(&name) && self.lookup(&name).is_none() {
                return self.unsupported(
                    expr,
                    format!("`{name}` is declared in this function without `#[differentiate]`, so it has no reverse pass to call: put `#[differentiate]` on `fn {name}`, or compute the value inline"),
                );
            }
        }
        let grads = self.region_value(super::span::span_of(expr), None, varied);
        let callee = crate::ir::CallFn {
            path,
            by_ref,
            grads,
        };
        self.eval(Op::Call(callee, args), super::span::span_of(expr))
    }

    /// A float method in either spelling; `args[0]` is the receiver.
    fn lower_float_method(
        &mut self,
        method: &Ident,
        form: CallForm,
        args: &[&Expr],
        expr: &Expr,
    ) -> ValueId {
        let span = super::span::span_of(expr);
        let name = method.to_string();
        // A wrong argument count is rustc's to report, on the original function.
        let arity_error = |this: &mut Self, _want: usize| {
            this.diag.left_to_rustc();
            this.poisoned(span)
        };
        if rules::ZERO_DERIVATIVE_METHODS.contains(&name.as_str()) {
            return self.lower_constant(expr);
        }
        // A copy: a value of its own (an array copied and then written must not write the
        // original); its adjoint flows back whole.
        if let Some(copy) = ["clone", "to_vec", "to_owned", "view"]
            .into_iter()
            .find(|c| *c == name)
        {
            return match (args, &form) {
                ([x], CallForm::Method(_)) => {
                    let x = self.lower_expr(x);
                    self.eval(Op::Unary(UnaryFn { name: copy }, form, x), span)
                }
                // `f64::clone(&x)`, `T::to_owned(&x)`: the same copy, written as a method call.
                ([x], CallForm::Path(_)) => {
                    let x = self.lower_expr(x);
                    let method = CallForm::Method(Ident::new(copy, span));
                    self.eval(Op::Unary(UnaryFn { name: copy }, method, x), span)
                }
                _ => arity_error(self, 1),
            };
        }
        if let Some(f) = rules::unary(&name) {
            return match args {
                [x] => {
                    let x = self.lower_expr(x);
                    self.eval(Op::Unary(UnaryFn { name: f }, form, x), span)
                }
                _ => arity_error(self, 1),
            };
        }
        if let Some(f) = rules::binary(&name) {
            return match args {
                [a, b] => {
                    let a = self.lower_expr(a);
                    let b = self.lower_expr(b);
                    self.eval(Op::Binary(BinaryFn { name: f }, Some(form), a, b), span)
                }
                _ => arity_error(self, 2),
            };
        }
        if let (Some(tensor), CallForm::Method(_)) =
            (self.lower_tensor_method(&name, args, expr), &form)
        {
            return tensor;
        }
        match (name.as_str(), args) {
            ("powi", [x, n]) => {
                if self.reads_varied(n) {
                    return self.unsupported(*n, "the exponent of `powi` is an integer and cannot depend on active values: use `powf` for a float exponent");
                }
                let x = self.lower_expr(x);
                let n = self.lower_expr(n);
                self.eval(Op::Powi(form, x, n), span)
            }
            ("mul_add", [a, b, c]) => {
                let (a, b, c) = (self.lower_expr(a), self.lower_expr(b), self.lower_expr(c));
                self.eval(Op::MulAdd(form, a, b, c), span)
            }
            ("clamp", [x, lo, hi]) => {
                let (x, lo, hi) = (self.lower_expr(x), self.lower_expr(lo), self.lower_expr(hi));
                self.eval(Op::Clamp(form, x, lo, hi), span)
            }
            ("powi", _) | ("mul_add", _) | ("clamp", _) => arity_error(self, if name == "powi" { 2 } else { 3 }),
            ("sin_cos", _) => self.unsupported(
                method,
                "`sin_cos` has no derivative rule in `#[differentiate]`: call `x.sin()` and `x.cos()` separately",
            ),
            ("push" | "extend" | "insert" | "extend_from_slice", _) => self.unsupported(
                expr,
                format!("`{name}`: growing a collection of active values is not supported by `#[differentiate]`: make it with `vec![0.0; n]` and write its elements by index"),
            ),
            (iterator, _) if ITERATOR_METHODS.contains(&iterator) => self.unsupported(
                expr,
                format!("`{name}`: iterator chains over active values are not supported by `#[differentiate]`: write a `for` loop instead, as in `for &v in x.iter() {{ s += v; }}`"),
            ),
            // `self.name(args)` in a method: another differentiated method of the same type.
            _ if matches!((&form, args.first().map(|a| strip_parens(a))), (CallForm::Method(_), Some(Expr::Path(p))) if p.path.is_ident("self")) => {
                let path: syn::ExprPath = syn::parse_quote!(Self::#method);
                self.lower_user_call(path, args, expr)
            }
            _ => {
                // Not a float method at all: perhaps a differentiated method of the user's.
                const OTHER_FLOAT_METHODS: &[&str] = &[
                    "copysign", "rem_euclid", "div_euclid", "total_cmp", "to_bits", "abs_sub",
                    "midpoint", "lerp", "gamma", "ln_gamma", "erf", "erfc", "to_int_unchecked",
                    "row", "column", "slice", "index_axis", "diag", "into_shape", "reshape",
                    "norm", "max_value", "min_value", "product", "var", "std",
                ];
                let hint = if OTHER_FLOAT_METHODS.contains(&name.as_str()) {
                    String::new()
                } else {
                    format!("; if it is a `#[differentiate]` method of your own, call it by path, as in `Type::{name}(value, ...)`")
                };
                self.unsupported(
                    method,
                    format!(
                        "`{name}` has no derivative rule in `#[differentiate]`: rewrite it with the supported float methods ({}) or ndarray operations (`dot`, `t`, `sum`, `mean`, `sum_axis`, `mean_axis`, `mapv`), or apply it only to inactive values{hint}",
                        rules::supported_methods()
                    ),
                )
            }
        }
    }

    /// `s.field` of an active parameter struct: one value per field, read where the function
    /// starts (the struct is a parameter and does not change).
    fn lower_field(&mut self, f: &syn::ExprField, expr: &Expr) -> ValueId {
        let base = self.lower_expr(&f.base);
        let base_op = self.nodes.get(base.index()).map(|n| &n.op);
        if !matches!(base_op, Some(Op::Param(_) | Op::Field(..))) {
            return self.unsupported(expr, "field access on active values is differentiated for parameter structs (`#[derive(autodiff::Tangent)]`, named in `wrt(...)`) and their fields: pass the struct as an argument");
        }
        let key = (base, f.member.to_token_stream().to_string());
        if let Some((_, v)) = self.fields.iter().find(|(k, _)| *k == key) {
            return *v;
        }
        let v = self.push_node(
            Op::Field(base, f.member.clone()),
            super::span::span_of(expr),
            None,
        );
        if let Some((_, stmts)) = self.blocks.first_mut() {
            stmts.push(crate::ir::Stmt::Eval(v));
        }
        self.fields.push((key, v));
        v
    }

    /// ndarray methods with a rule: `a.dot(&b)`, `a.t()`, `a.sum()`, `a.mean().unwrap()`,
    /// `a.sum_axis(Axis(k))`, `a.mean_axis(Axis(k)).unwrap()`, `a.mapv(f64::exp)`. `None` when
    /// the method is none of these.
    fn lower_tensor_method(&mut self, name: &str, args: &[&Expr], expr: &Expr) -> Option<ValueId> {
        let span = super::span::span_of(expr);
        let tensor = |this: &mut Self, name: &'static str, args: &[&Expr]| {
            let args: Vec<ValueId> = args.iter().map(|a| this.lower_expr(a)).collect();
            this.eval(Op::Tensor(TensorFn { name }, args), span)
        };
        Some(match (name, args) {
            ("dot", [a, b]) => tensor(self, "dot", &[a, b]),
            ("t", [a]) => tensor(self, "t", &[a]),
            ("sum", [a]) => tensor(self, "sum", &[a]),
            ("sum_axis", [a, axis]) => tensor(self, "sum_axis", &[a, axis]),
            // `mean` returns an `Option` (`None` for an empty array): the value is its `unwrap`.
            ("unwrap" | "expect", [inner, ..]) => match strip_parens(inner) {
                Expr::MethodCall(m) if m.method == "mean" && m.args.is_empty() => {
                    tensor(self, "mean", &[&m.receiver])
                }
                Expr::MethodCall(m) if m.method == "mean_axis" && m.args.len() == 1 => {
                    tensor(self, "mean_axis", &[&m.receiver, &m.args[0]])
                }
                _ => return None,
            },
            ("mean" | "mean_axis", _) => {
                let call = if name == "mean" {
                    "mean()"
                } else {
                    "mean_axis(Axis(k))"
                };
                self.unsupported(
                    expr,
                    format!("`{name}` returns an `Option` (`None` for an empty array): write `.{call}.unwrap()`, whose value `#[differentiate]` differentiates"),
                )
            }
            ("mapv", [x, f]) => {
                let path = match strip_parens(f) {
                    Expr::Path(p) if p.qself.is_none() => p,
                    _ => {
                        return Some(self.unsupported(
                            *f,
                            format!("`mapv` is differentiated with a function path: a float method (`f64::exp`, `f64::tanh`) or a differentiable helper (`{}::sigmoid`); closures cannot be differentiated", self.krate_name),
                        ))
                    }
                };
                let segments = &path.path.segments;
                let n = segments.len();
                let last = segments
                    .last()
                    .map(|s| s.ident.to_string())
                    .unwrap_or_default();
                let ours = n >= 2 && segments[n - 2].ident == self.krate_name;
                let f = match (rules::unary(&last), rules::helper(&last)) {
                    (Some(f), _) if n >= 2 && !ours => f,
                    (_, Some(h)) if ours => h,
                    _ => {
                        return Some(self.unsupported(
                            *f,
                            format!("`mapv({})` cannot be differentiated: use a float method with a rule (`f64::exp`, `f64::tanh`, ...) or a differentiable helper (`{}::sigmoid`, `{}::relu`, `{}::softplus`)", crate::parse::type_text(&path.path), self.krate_name, self.krate_name, self.krate_name),
                        ))
                    }
                };
                let x = self.lower_expr(x);
                self.eval(
                    Op::Unary(
                        UnaryFn { name: f },
                        CallForm::Mapv(path.to_token_stream()),
                        x,
                    ),
                    span,
                )
            }
            _ => return None,
        })
    }

    /// An expression with no derivative: evaluated as written, its variables renamed to the
    /// values they hold.
    pub(super) fn lower_constant(&mut self, expr: &Expr) -> ValueId {
        // A bare variable needs no node of its own.
        if let Expr::Path(p) = strip_parens(expr) {
            if let Some(Var { value: Some(v), .. }) =
                p.path.get_ident().and_then(|i| self.lookup(&i.to_string()))
            {
                return *v;
            }
        }
        // `(n as f64)` needs no parentheses of its own once bound to a name.
        let expr = strip_parens(expr);
        let mut renamed = expr.clone();
        let mut renamer = Renamer {
            cx: self,
            shadowed: HashSet::default(),
            macro_words: HashSet::default(),
            reads: Vec::new(),
        };
        let mut bound = PatternIdents::default();
        bound.visit_expr(expr);
        renamer.shadowed = bound.0.clone();
        renamer.visit_expr_mut(&mut renamed);
        let words = renamer.macro_words;
        let mut reads = renamer.reads;
        let mut effects = Effects {
            cx: self,
            shadowed: &bound.0,
            found: Vec::new(),
            in_closure: 0,
        };
        effects.visit_expr(expr);
        for (tokens, message) in effects.found {
            self.diag.error_spanned(&tokens, message);
        }
        let tokens = if let (true, Expr::Index(_)) = (words.is_empty(), &renamed) {
            // An element of inactive data bound to a name of its own: a copy (`xs[t]` of a
            // `&[Array2<f64>]` cannot be moved out; for a float the copy is the value).
            quote!(::core::clone::Clone::clone(&#renamed))
        } else if words.is_empty() {
            renamed.to_token_stream()
        } else {
            // Macros inside: bind the variables they mention around the expression.
            let mentioned = self.variables_named(&words);
            reads.extend(mentioned.iter().map(|(_, v)| *v));
            let binds = mentioned.iter().map(|(name, v)| {
                let value = self.value_ident(*v);
                quote!(#[allow(unused_variables)] let #name = #value;)
            });
            quote!({ #(#binds)* (#renamed) })
        };
        reads.sort();
        reads.dedup();
        // Not a bare literal: `2.0` may be an f32 here and an f64 there.
        // Not a range either: a loop consumes it.
        let scalar = matches!(expr, Expr::Binary(_) | Expr::Unary(_) | Expr::Cast(_));
        let pure =
            (scalar && is_pure_arithmetic(expr) && !reads.is_empty()).then(|| tokens.to_string());
        if let Some(text) = &pure {
            if let Some((_, v, _)) = self.pure.iter().find(|(t, _, _)| t == text) {
                return *v;
            }
        }
        let v = self.eval(Op::Verbatim(tokens, reads), super::span::span_of(expr));
        if let Some(node) = self.nodes.get_mut(v.index()).filter(|_| self.labels) {
            node.source = super::source::source_text(expr);
        }
        if let Some(text) = pure {
            let block = self.blocks.last().map_or(0, |(id, _)| *id);
            self.pure.push((text, v, block));
        }
        v
    }

    /// The value of `v` when `v` is a loop variable over an array by reference (`*v` is then
    /// the element itself).
    pub(super) fn by_ref_variable(&self, e: &Expr) -> Option<ValueId> {
        let Expr::Path(p) = strip_parens(e) else {
            return None;
        };
        match self.lookup(&p.path.get_ident()?.to_string())? {
            Var {
                value: Some(v),
                by_ref: true,
                ..
            } => Some(*v),
            _ => None,
        }
    }

    /// `[a, b, c]` or `vec![a, b, c]` with active elements: the array as written, made from
    /// the elements' values, then each element written into it (`t[0] = a;`), so that the
    /// writes carry the derivatives as `let mut t = [0.0; 3]; t[0] = a; ...` would. The writes
    /// store what is there already: the values are those the user's literal makes.
    fn lower_array_literal(&mut self, elems: &[&Expr], vec: bool, span: Span) -> ValueId {
        let values: Vec<ValueId> = elems.iter().map(|e| self.lower_expr(e)).collect();
        let idents: Vec<Ident> = values.iter().map(|v| self.value_ident(*v)).collect();
        let tokens = if vec {
            quote!(::std::vec![#(#idents),*])
        } else {
            quote!([#(#idents),*])
        };
        let array = self.eval(Op::Verbatim(tokens, values.clone()), span);
        self.mark_varied(array);
        for (i, value) in values.into_iter().enumerate() {
            if self.is_varied(value) {
                let index = self.verbatim(quote!(#i), span);
                self.store_element(array, vec![index], value, span);
            }
        }
        array
    }

    /// Whether `expr` reads a variable whose value depends on an active parameter.
    pub(super) fn reads_varied(&self, expr: &Expr) -> bool {
        let mut finder = VariableReads {
            read: |n: &str| matches!(self.lookup(n), Some(Var { value: Some(v), .. }) if self.is_varied(*v)),
            found: false,
        };
        finder.visit_expr(expr);
        finder.found
    }
}

/// Methods of iterators and collections: a chain of them over active values gets one message
/// about iterators, not one about a missing float method.
const ITERATOR_METHODS: &[&str] = &[
    "iter",
    "into_iter",
    "iter_mut",
    "map",
    "sum",
    "product",
    "fold",
    "for_each",
    "zip",
    "enumerate",
    "filter",
    "rev",
    "collect",
    "reduce",
    "copied",
    "cloned",
    "chain",
    "take",
    "skip",
];

/// Effects a constant expression may not have, because it is emitted as written: `return`
/// (which would leave the generated function with the wrong type) and assignments to the
/// function's variables (whose values the generated code keeps in fixed bindings).
struct Effects<'a, 'b> {
    cx: &'a Lowerer<'b>,
    /// Names bound inside the expression itself, which it may assign freely.
    shadowed: &'a HashSet<String>,
    found: Vec<(TokenStream, String)>,
    in_closure: usize,
}

impl<'ast> Visit<'ast> for Effects<'_, '_> {
    fn visit_expr_closure(&mut self, c: &'ast syn::ExprClosure) {
        self.in_closure += 1;
        syn::visit::visit_expr_closure(self, c);
        self.in_closure -= 1;
    }
    fn visit_expr_return(&mut self, r: &'ast syn::ExprReturn) {
        if self.in_closure == 0 {
            self.found.push((
                r.to_token_stream(),
                "`#[differentiate]` supports `return` only as the last statement of the function for now: end the function with the returned value".to_owned(),
            ));
        }
        syn::visit::visit_expr_return(self, r);
    }
    fn visit_expr_assign(&mut self, a: &'ast syn::ExprAssign) {
        self.check_target(&a.left);
        syn::visit::visit_expr_assign(self, a);
    }
    fn visit_expr_binary(&mut self, b: &'ast syn::ExprBinary) {
        if is_compound_assign(&b.op) {
            self.check_target(&b.left);
        }
        syn::visit::visit_expr_binary(self, b);
    }
}

impl Effects<'_, '_> {
    fn check_target(&mut self, target: &Expr) {
        let mut root = strip_parens(target);
        loop {
            match root {
                Expr::Field(f) => root = strip_parens(&f.base),
                Expr::Index(i) => root = strip_parens(&i.expr),
                _ => break,
            }
        }
        if let Expr::Path(p) = root {
            if let Some(ident) = p.path.get_ident() {
                let name = ident.to_string();
                if !self.shadowed.contains(&name) && self.cx.lookup(&name).is_some() {
                    self.found.push((
                        target.to_token_stream(),
                        format!("assigning to `{ident}` inside a branch, a loop or a closure is not supported by `#[differentiate]` yet: compute its new value in a `let` of its own"),
                    ));
                }
            }
        }
    }
}

/// Renames the function's variables in a constant expression to the values they hold.
struct Renamer<'a, 'b> {
    cx: &'a Lowerer<'b>,
    /// The values the renamed expression reads.
    reads: Vec<ValueId>,
    shadowed: HashSet<String>,
    macro_words: HashSet<String>,
}

impl Renamer<'_, '_> {
    fn replacement(&mut self, path: &syn::ExprPath) -> Option<(Ident, bool)> {
        if path.qself.is_some() {
            return None;
        }
        let ident = path.path.get_ident()?;
        let name = ident.to_string();
        if self.shadowed.contains(&name) {
            return None;
        }
        let var = self.cx.lookup(&name)?;
        let v = var.value?;
        self.reads.push(v);
        Some((self.cx.value_ident(v), var.by_ref))
    }
}

impl VisitMut for Renamer<'_, '_> {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        match e {
            Expr::Path(p) => match self.replacement(p) {
                // A loop variable over an array by reference holds the element itself: where
                // the expression reads it as written (`v < &1.0`, `v.abs()`), a reference to it,
                // so the expression keeps the types it was written with.
                Some((new, true)) => *e = syn::parse_quote!((&#new)),
                Some((new, false)) => *e = syn::parse_quote!(#new),
                None => {}
            },
            // `*v` of a loop variable over an array by reference is the element itself.
            Expr::Unary(syn::ExprUnary {
                op: UnOp::Deref(_),
                expr: inner,
                ..
            }) => {
                if let Expr::Path(p) = strip_parens(inner) {
                    if let Some((new, true)) = self.replacement(p) {
                        *e = syn::parse_quote!(#new);
                        return;
                    }
                }
                syn::visit_mut::visit_expr_mut(self, e);
            }
            _ => syn::visit_mut::visit_expr_mut(self, e),
        }
    }
    fn visit_field_value_mut(&mut self, fv: &mut syn::FieldValue) {
        // `S { x }` must become `S { x: __x_3 }`.
        if fv.colon_token.is_none() {
            fv.colon_token = Some(syn::Token![:](Span::call_site()));
        }
        syn::visit_mut::visit_field_value_mut(self, fv);
    }
    fn visit_macro_mut(&mut self, m: &mut syn::Macro) {
        collect_words(m.tokens.clone(), &mut self.macro_words);
    }
}

/// The length of `[x; N]` when it is an integer literal of at most 64.
fn repeat_count(len: &Expr) -> Option<usize> {
    match strip_parens(len) {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(n),
            ..
        }) => n.base10_parse::<usize>().ok().filter(|n| *n <= 64),
        _ => None,
    }
}

/// The tokens of `vec![x; n]`: `x` and `n`.
fn parse_repeat(input: syn::parse::ParseStream<'_>) -> syn::Result<(Expr, Expr)> {
    let elem: Expr = input.parse()?;
    input.parse::<syn::Token![;]>()?;
    let len: Expr = input.parse()?;
    Ok((elem, len))
}

/// `*x.last().unwrap()` (or `.expect(..)`), `x.first().copied().unwrap()`, `x.last().cloned()
/// .unwrap()`: the element read `x[x.len() - 1]` or `x[0]` they make (an empty `x` panics
/// either way), spanned as the user's expression. `None` for anything else.
fn end_element(expr: &Expr) -> Option<Expr> {
    let unwrapped = |e: &Expr| -> Option<Expr> {
        let Expr::MethodCall(m) = strip_parens(e) else {
            return None;
        };
        let unwrap = (m.method == "unwrap" && m.args.is_empty())
            || (m.method == "expect" && m.args.len() == 1);
        if !unwrap {
            return None;
        }
        Some((*m.receiver).clone())
    };
    let (option, by_value) = match strip_parens(expr) {
        Expr::Unary(u) if matches!(u.op, UnOp::Deref(_)) => (unwrapped(&u.expr)?, false),
        e => (unwrapped(e)?, true),
    };
    let option = match (strip_parens(&option), by_value) {
        (Expr::MethodCall(m), true)
            if (m.method == "copied" || m.method == "cloned") && m.args.is_empty() =>
        {
            (*m.receiver).clone()
        }
        (_, true) => return None,
        (other, false) => other.clone(),
    };
    let Expr::MethodCall(end) = strip_parens(&option) else {
        return None;
    };
    if !end.args.is_empty() || end.turbofish.is_some() {
        return None;
    }
    let array = &end.receiver;
    let span = super::span::span_of(expr);
    match end.method.to_string().as_str() {
        "first" => Some(syn::parse_quote_spanned!(span=> #array[0])),
        "last" => Some(syn::parse_quote_spanned!(span=> #array[#array.len() - 1])),
        _ => None,
    }
}
