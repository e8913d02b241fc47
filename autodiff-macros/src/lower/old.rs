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
//! refers to. An expression that reads no active value is kept as written (a [`Op::Verbatim`]
//! node, its variables renamed to their values): the derivative of a constant is zero, so any
//! Rust is allowed there. An expression that does read an active value must be made of the
//! operations in [`crate::rules`]; anything else is reported at its span, and lowering goes on so
//! that every error in the function shows at once.

use std::collections::HashSet;

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{quote, ToTokens};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::visit_mut::VisitMut;
use syn::{BinOp, Expr, Ident, ItemFn, Local, Pat, Stmt as SynStmt, Type, UnOp};

use crate::diag::Diagnostics;
use crate::ir::{BinaryFn, Block, CallForm, Graph, Node, Op, Stmt, UnaryFn, ValueId};
use crate::parse::Signature;
use crate::rules;

/// Lowers `item`'s body into a [`Graph`]. Errors go to `diag`; the graph is then incomplete
/// and must not be generated from.
pub fn lower(item: &ItemFn, sig: &Signature, diag: &mut Diagnostics) -> Graph {
    let mut cx = Lowerer {
        nodes: Vec::new(),
        varied: Vec::new(),
        scopes: vec![Vec::new()],
        stmts: Vec::new(),
        param_names: sig.params.iter().map(|p| p.ident.clone()).collect(),
        float_generics: sig.float_generics.iter().map(ToString::to_string).collect(),
        diag,
    };
    for (i, p) in sig.params.iter().enumerate() {
        let v = cx.push_node(Op::Param(i), p.ident.span(), None);
        cx.varied[v.index()] = p.active;
        cx.bind(&p.ident, Some(v), false);
    }
    let ret = cx.lower_body(&item.block);
    Graph {
        nodes: cx.nodes,
        body: Block { stmts: cx.stmts },
        ret,
        param_names: cx.param_names,
    }
}

/// A user variable in scope.
struct Var {
    ident: Ident,
    /// The value it holds now; `None` for `let x;` before its first assignment.
    value: Option<ValueId>,
    mutable: bool,
}

struct Lowerer<'a> {
    nodes: Vec<Node>,
    /// Whether each value depends on an active parameter (forward activity).
    varied: Vec<bool>,
    /// Innermost scope last; within a scope, later bindings shadow earlier ones.
    scopes: Vec<Vec<Var>>,
    /// The forward program, flattened: nested blocks only open scopes.
    stmts: Vec<Stmt>,
    param_names: Vec<Ident>,
    float_generics: HashSet<String>,
    diag: &'a mut Diagnostics,
}

/// What a statement sequence ended with.
enum Ending {
    /// A tail expression or `return`: the block's value.
    Value(ValueId),
    /// No value (the block ends with a `;`).
    Unit,
}

impl Lowerer<'_> {
    // ----- nodes and variables ---------------------------------------------------------------

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
        });
        self.varied.push(varied);
        id
    }

    /// Adds a node and evaluates it here.
    fn eval(&mut self, op: Op, span: Span) -> ValueId {
        let v = self.push_node(op, span, None);
        self.stmts.push(Stmt::Eval(v));
        v
    }

    fn verbatim(&mut self, tokens: TokenStream, span: Span) -> ValueId {
        self.eval(Op::Verbatim(tokens), span)
    }

    /// A placeholder for an expression that failed to lower (its error is already reported).
    fn poisoned(&mut self, span: Span) -> ValueId {
        self.push_node(Op::Verbatim(quote!(())), span, None)
    }

    fn is_varied(&self, v: ValueId) -> bool {
        self.varied.get(v.index()).copied().unwrap_or(false)
    }

    fn lookup(&self, name: &str) -> Option<&Var> {
        self.scopes
            .iter()
            .rev()
            .flat_map(|s| s.iter().rev())
            .find(|v| v.ident == name)
    }

    fn lookup_mut(&mut self, name: &str) -> Option<&mut Var> {
        self.scopes
            .iter_mut()
            .rev()
            .flat_map(|s| s.iter_mut().rev())
            .find(|v| v.ident == name)
    }

    fn bind(&mut self, ident: &Ident, value: Option<ValueId>, mutable: bool) {
        if let Some(scope) = self.scopes.last_mut() {
            scope.push(Var {
                ident: ident.clone(),
                value,
                mutable,
            });
        }
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

    // ----- blocks and statements -------------------------------------------------------------

    /// The function body: its statements, then the returned value.
    fn lower_body(&mut self, block: &syn::Block) -> ValueId {
        match self.lower_stmts(&block.stmts, true) {
            Ending::Value(v) => v,
            Ending::Unit => {
                // rustc reports the missing value on the original function.
                self.diag.left_to_rustc();
                self.poisoned(block.brace_token.span.close())
            }
        }
    }

    /// A nested block: a new scope over the same flat program.
    fn lower_block_expr(&mut self, block: &syn::Block) -> Ending {
        self.scopes.push(Vec::new());
        let ending = self.lower_stmts(&block.stmts, false);
        self.scopes.pop();
        ending
    }

    fn lower_stmts(&mut self, stmts: &[SynStmt], is_body: bool) -> Ending {
        let mut ending = Ending::Unit;
        for (i, stmt) in stmts.iter().enumerate() {
            let last = i + 1 == stmts.len();
            match stmt {
                SynStmt::Local(local) => self.lower_let(local),
                SynStmt::Item(item) => self.stmts.push(Stmt::Verbatim {
                    bindings: Vec::new(),
                    tokens: item.to_token_stream(),
                }),
                SynStmt::Macro(m) => self.keep_statement(m.to_token_stream()),
                SynStmt::Expr(expr, semi) => {
                    if let Expr::Return(ret) = expr {
                        if !(last && is_body) {
                            self.diag.error_spanned(
                                ret,
                                "`#[differentiate]` supports `return` only as the last statement of the function for now: end the function with the returned value",
                            );
                            continue;
                        }
                        ending = match &ret.expr {
                            Some(e) => Ending::Value(self.lower_expr(e)),
                            None => Ending::Unit,
                        };
                    } else if semi.is_none() && last {
                        ending = self.lower_tail(expr);
                    } else {
                        self.lower_expr_stmt(expr);
                    }
                }
            }
        }
        ending
    }

    /// The last expression of a block, without `;`.
    fn lower_tail(&mut self, expr: &Expr) -> Ending {
        match expr {
            Expr::Assign(_) | Expr::Macro(_) => {
                self.lower_expr_stmt(expr);
                Ending::Unit
            }
            Expr::Binary(b) if is_compound_assign(&b.op) => {
                self.lower_expr_stmt(expr);
                Ending::Unit
            }
            _ => Ending::Value(self.lower_expr(expr)),
        }
    }

    /// A statement kept as written: `println!`, `assert!`, and other statement macros. The user
    /// variables it mentions are bound to their current values first.
    fn keep_statement(&mut self, tokens: TokenStream) {
        let bindings = self.mentioned_variables(&tokens);
        self.stmts.push(Stmt::Verbatim { bindings, tokens });
    }

    /// Variables in scope whose name appears in `tokens`, as an identifier or inside a string
    /// literal (`println!("{x}")`), with the values they hold now.
    fn mentioned_variables(&self, tokens: &TokenStream) -> Vec<(Ident, ValueId)> {
        let mut words = HashSet::new();
        collect_words(tokens.clone(), &mut words);
        self.variables_named(&words)
    }

    /// Variables in scope named by one of `words`, with the values they hold now.
    fn variables_named(&self, words: &HashSet<String>) -> Vec<(Ident, ValueId)> {
        let mut out: Vec<(Ident, ValueId)> = Vec::new();
        for scope in &self.scopes {
            for var in scope {
                if let Some(v) = var.value {
                    if words.contains(&var.ident.to_string()) {
                        out.retain(|(i, _)| *i != var.ident);
                        out.push((var.ident.clone(), v));
                    }
                }
            }
        }
        out
    }

    fn lower_let(&mut self, local: &Local) {
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
                let value = init.map(|e| self.lower_binding(e, &pi.ident, ty));
                self.bind(&pi.ident, value, pi.mutability.is_some());
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
                    // rustc reports the mismatched annotation.
                    Some(_) => {
                        self.diag.left_to_rustc();
                        return;
                    }
                };
                // Evaluate every element before binding any, as Rust does.
                let mut bound = Vec::new();
                for ((p, e), ty) in pt.elems.iter().zip(&te.elems).zip(types) {
                    match p {
                        Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                            let v = self.lower_binding(e, &pi.ident, ty);
                            bound.push((pi.ident.clone(), v, pi.mutability.is_some()));
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
                for (ident, v, mutable) in bound {
                    self.bind(&ident, Some(v), mutable);
                }
            }
            (_, Some(_)) if init.is_some_and(|e| !self.reads_varied(e)) => {
                if let Some(e) = init {
                    self.bind_pattern_as_written(pat, ty.as_ref(), e);
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
        self.stmts.push(Stmt::Verbatim {
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
        if let Some(ty) = ty {
            let node = &mut self.nodes[v.index()];
            if v.index() >= fresh_from && node.ty.is_none() {
                node.ty = Some(ty);
            } else {
                let span = expr.span();
                let copy = self.push_node(Op::Copy(v), span, Some(ty));
                self.stmts.push(Stmt::Eval(copy));
                v = copy;
            }
        }
        self.name_after(v, name, fresh_from);
        v
    }

    /// An expression statement: assignments, or an expression evaluated for nothing.
    fn lower_expr_stmt(&mut self, expr: &Expr) {
        match expr {
            Expr::Assign(a) => {
                let target = self.assign_target(&a.left);
                let fresh_from = self.nodes.len();
                let v = self.lower_expr(&a.right);
                if let Some(ident) = target {
                    self.name_after(v, &ident, fresh_from);
                    self.assign(&ident, v);
                }
            }
            Expr::Binary(b) if is_compound_assign(&b.op) => {
                let target = self.assign_target(&b.left);
                let Some(ident) = target else { return };
                let Some(current) = self.lookup(&ident.to_string()).and_then(|var| var.value)
                else {
                    self.diag.error(
                        b.left.span(),
                        format!("`{ident}` is used before it has a value"),
                    );
                    return;
                };
                let fresh_from = self.nodes.len();
                let rhs = self.lower_expr(&b.right);
                let name = match b.op {
                    BinOp::AddAssign(_) => "add",
                    BinOp::SubAssign(_) => "sub",
                    BinOp::MulAssign(_) => "mul",
                    BinOp::DivAssign(_) => "div",
                    _ => "rem",
                };
                let v = self.binary_node(name, current, rhs, expr.span());
                self.name_after(v, &ident, fresh_from);
                self.assign(&ident, v);
            }
            Expr::Macro(m) => self.keep_statement(m.to_token_stream()),
            _ => {
                self.lower_expr(expr);
            }
        }
    }

    /// The variable on the left of `=` or `op=`; reports anything else.
    fn assign_target(&mut self, left: &Expr) -> Option<Ident> {
        if let Expr::Path(p) = strip_parens(left) {
            if let Some(ident) = p.path.get_ident() {
                return match self.lookup(&ident.to_string()) {
                    Some(var) if var.mutable || var.value.is_none() => Some(ident.clone()),
                    Some(_) => {
                        // rustc reports this on the original function; say nothing twice.
                        None
                    }
                    None => {
                        self.diag.error(
                            left.span(),
                            "`#[differentiate]` can assign only to local variables of the function",
                        );
                        None
                    }
                };
            }
        }
        self.diag.error(
            left.span(),
            "`#[differentiate]` supports assigning only to a variable here (`a = ...`, `a += ...`)",
        );
        None
    }

    fn assign(&mut self, ident: &Ident, v: ValueId) {
        if let Some(var) = self.lookup_mut(&ident.to_string()) {
            var.value = Some(v);
        }
    }

    // ----- expressions -----------------------------------------------------------------------

    fn lower_expr(&mut self, expr: &Expr) -> ValueId {
        if !self.reads_varied(expr) {
            return self.lower_constant(expr);
        }
        let span = expr.span();
        match expr {
            Expr::Paren(p) => self.lower_expr(&p.expr),
            Expr::Group(g) => self.lower_expr(&g.expr),
            Expr::Path(p) => match p.path.get_ident().and_then(|i| self.lookup(&i.to_string())) {
                Some(Var { value: Some(v), .. }) => *v,
                _ => self.lower_constant(expr),
            },
            Expr::Block(b) if b.label.is_none() => match self.lower_block_expr(&b.block) {
                Ending::Value(v) => v,
                Ending::Unit => {
                    // rustc reports a block without a value where one is needed.
                    self.diag.left_to_rustc();
                    self.poisoned(span)
                }
            },
            Expr::Unary(u) => match u.op {
                UnOp::Neg(_) => {
                    let x = self.lower_expr(&u.expr);
                    self.eval(Op::Unary(UnaryFn { name: "neg" }, CallForm::Method(Ident::new("neg", span)), x), span)
                }
                UnOp::Not(_) => self.lower_constant(expr),
                _ => self.unsupported(expr, "dereferencing an active value is not supported: use the value directly"),
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
                if m.turbofish.is_some() {
                    return self.unsupported(expr, "method calls with `::<...>` are not supported on active values: call the method without the turbofish");
                }
                self.lower_float_method(&m.method, form, &args, expr)
            }
            Expr::Call(c) => self.lower_call(c, expr),
            Expr::Cast(_) => self.unsupported(
                expr,
                "`as` casts of active values are not supported: cast only inactive integers (like a loop index), and keep active values in one float type",
            ),
            Expr::Lit(_) => self.lower_constant(expr),
            Expr::If(_) => self.unsupported(expr, "`if` on or around active values is not supported by `#[differentiate]` yet: write the function without branches, or compute the branch with `max`, `min`, `abs` or `clamp`"),
            Expr::Match(_) => self.unsupported(expr, "`match` on or around active values is not supported by `#[differentiate]` yet: compute the value with `max`, `min`, `abs` or `clamp`"),
            Expr::ForLoop(_) | Expr::While(_) | Expr::Loop(_) => self.unsupported(expr, "loops that read or write active values are not supported by `#[differentiate]` yet: write the iterations out"),
            Expr::Closure(_) => self.unsupported(expr, "closures are not supported on active values: write the computation inline, or as a `#[differentiate]` function"),
            Expr::Struct(_) => self.unsupported(expr, "struct literals of active values are not supported: use the float values directly instead of packing them in a struct"),
            Expr::Tuple(_) => self.unsupported(expr, "tuples of active values are supported only in `let (a, b) = (x, y);`"),
            Expr::Array(_) | Expr::Repeat(_) => self.unsupported(expr, "arrays of active values are not supported by `#[differentiate]` yet: use separate variables"),
            Expr::Index(_) => self.unsupported(expr, "indexing active values is not supported by `#[differentiate]` yet: use the variables directly"),
            Expr::Field(_) => self.unsupported(expr, "field access on active values is not supported: pass the field as its own argument"),
            Expr::Reference(_) => self.unsupported(expr, "references to active values are not supported: use the value itself"),
            Expr::Macro(m) => self.unsupported(expr, format!("the macro `{}!` cannot be differentiated: compute the value without it", m.mac.path.to_token_stream())),
            // A function returning a float cannot use `?`: rustc says so.
            Expr::Try(_) => {
                self.diag.left_to_rustc();
                self.poisoned(span)
            }
            Expr::Return(_) => self.unsupported(expr, "`return` is supported only as the last statement of the function"),
            Expr::Assign(_) => self.unsupported(expr, "assignments inside expressions are not supported: assign in a statement of its own"),
            Expr::Async(_) | Expr::Await(_) => self.unsupported(expr, "`async` code cannot be differentiated"),
            Expr::Unsafe(_) => self.unsupported(expr, "`unsafe` blocks are not allowed in a `#[differentiate]` function"),
            Expr::Block(_) => self.unsupported(expr, "labelled blocks are not supported by `#[differentiate]`: remove the label"),
            _ => self.unsupported(expr, "this expression cannot be differentiated by `#[differentiate]`"),
        }
    }

    fn binary_node(&mut self, name: &'static str, l: ValueId, r: ValueId, span: Span) -> ValueId {
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
            let name = crate::parse::type_text(&fp.path);
            return self.unsupported(
                &call.func,
                format!(
                    "`{name}` cannot be differentiated through: calls with active arguments are not supported in this version (calls between `#[differentiate]` functions come later); inline its body here, or pass it only inactive values"
                ),
            );
        }
        self.unsupported(expr, "calling this expression cannot be differentiated: call a float method or a function by name")
    }

    /// A float method in either spelling; `args[0]` is the receiver.
    fn lower_float_method(
        &mut self,
        method: &Ident,
        form: CallForm,
        args: &[&Expr],
        expr: &Expr,
    ) -> ValueId {
        let span = expr.span();
        let name = method.to_string();
        // A wrong argument count is rustc's to report, on the original function.
        let arity_error = |this: &mut Self, _want: usize| {
            this.diag.left_to_rustc();
            this.poisoned(span)
        };
        if rules::ZERO_DERIVATIVE_METHODS.contains(&name.as_str()) {
            return self.lower_constant(expr);
        }
        if name == "clone" {
            return match args {
                [x] => self.lower_expr(x),
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
            (iterator, _) if ITERATOR_METHODS.contains(&iterator) => self.unsupported(
                expr,
                format!("`{name}`: iterator chains over active values are not supported by `#[differentiate]`: write the computation without iterators"),
            ),
            _ => self.unsupported(
                method,
                format!(
                    "`{name}` has no derivative rule in `#[differentiate]`: rewrite it with the supported float methods ({}), or apply it only to inactive values",
                    rules::supported_methods()
                ),
            ),
        }
    }

    /// An expression with no derivative: evaluated as written, its variables renamed to the
    /// values they hold.
    fn lower_constant(&mut self, expr: &Expr) -> ValueId {
        // A bare variable needs no node of its own.
        if let Expr::Path(p) = strip_parens(expr) {
            if let Some(Var { value: Some(v), .. }) =
                p.path.get_ident().and_then(|i| self.lookup(&i.to_string()))
            {
                return *v;
            }
        }
        let mut renamed = expr.clone();
        let mut renamer = Renamer {
            cx: self,
            shadowed: HashSet::new(),
            macro_words: HashSet::new(),
        };
        let mut bound = PatternIdents::default();
        bound.visit_expr(expr);
        renamer.shadowed = bound.0.clone();
        renamer.visit_expr_mut(&mut renamed);
        let words = renamer.macro_words;
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
        let tokens = if words.is_empty() {
            renamed.to_token_stream()
        } else {
            // Macros inside: bind the variables they mention around the expression.
            let mentioned = self.variables_named(&words);
            let binds = mentioned.iter().map(|(name, v)| {
                let value = self.value_ident(*v);
                quote!(let #name = #value;)
            });
            quote!({ #(#binds)* #renamed })
        };
        self.verbatim(tokens, expr.span())
    }

    /// Whether `expr` reads a variable whose value depends on an active parameter.
    fn reads_varied(&self, expr: &Expr) -> bool {
        let mut finder = VariableReads {
            names: Vec::new(),
            macro_words: HashSet::new(),
        };
        finder.visit_expr(expr);
        finder.names.iter().chain(finder.macro_words.iter()).any(
            |n| matches!(self.lookup(n), Some(Var { value: Some(v), .. }) if self.is_varied(*v)),
        )
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

fn is_compound_assign(op: &BinOp) -> bool {
    matches!(
        op,
        BinOp::AddAssign(_)
            | BinOp::SubAssign(_)
            | BinOp::MulAssign(_)
            | BinOp::DivAssign(_)
            | BinOp::RemAssign(_)
    )
}

fn strip_parens(mut e: &Expr) -> &Expr {
    loop {
        match e {
            Expr::Paren(p) => e = &p.expr,
            Expr::Group(g) => e = &g.expr,
            _ => return e,
        }
    }
}

/// Every identifier in `tokens`, and every `{name` / `{name:` inside its string literals.
fn collect_words(tokens: TokenStream, out: &mut HashSet<String>) {
    for tt in tokens {
        match tt {
            TokenTree::Ident(i) => {
                out.insert(i.to_string());
            }
            TokenTree::Group(g) => collect_words(g.stream(), out),
            TokenTree::Literal(lit) => {
                let text = lit.to_string();
                for piece in text.split('{').skip(1) {
                    let name: String = piece
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if name.starts_with(|c: char| c.is_alphabetic() || c == '_') {
                        out.insert(name);
                    }
                }
            }
            TokenTree::Punct(_) => {}
        }
    }
}

/// Single-identifier paths an expression reads (candidates for local variables), and the words
/// inside any macro it contains.
struct VariableReads {
    names: Vec<String>,
    macro_words: HashSet<String>,
}

impl<'ast> Visit<'ast> for VariableReads {
    fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
        if let Some(i) = p.path.get_ident() {
            self.names.push(i.to_string());
        }
        syn::visit::visit_expr_path(self, p);
    }
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        collect_words(m.tokens.clone(), &mut self.macro_words);
    }
}

/// Identifiers bound by patterns: as a set (inside an expression, closure parameters and inner
/// `let`s shadow the function's variables, so they are never renamed), and in order with their
/// mutability (the variables a `let` pattern binds).
#[derive(Default)]
struct PatternIdents(HashSet<String>, Vec<(Ident, bool)>);

impl<'ast> Visit<'ast> for PatternIdents {
    fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
        self.0.insert(p.ident.to_string());
        self.1.push((p.ident.clone(), p.mutability.is_some()));
        syn::visit::visit_pat_ident(self, p);
    }
}

/// Removes `mut` from a pattern: the generated code copies each variable into a value and
/// never assigns to the pattern's own bindings.
struct StripMut;

impl VisitMut for StripMut {
    fn visit_pat_ident_mut(&mut self, p: &mut syn::PatIdent) {
        p.mutability = None;
        syn::visit_mut::visit_pat_ident_mut(self, p);
    }
}

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
    shadowed: HashSet<String>,
    macro_words: HashSet<String>,
}

impl Renamer<'_, '_> {
    fn replacement(&self, path: &syn::ExprPath) -> Option<Ident> {
        if path.qself.is_some() {
            return None;
        }
        let ident = path.path.get_ident()?;
        let name = ident.to_string();
        if self.shadowed.contains(&name) {
            return None;
        }
        let v = self.cx.lookup(&name)?.value?;
        Some(self.cx.value_ident(v))
    }
}

impl VisitMut for Renamer<'_, '_> {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        if let Expr::Path(p) = e {
            if let Some(new) = self.replacement(p) {
                *e = syn::parse_quote!(#new);
            }
            return;
        }
        syn::visit_mut::visit_expr_mut(self, e);
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
