//! Syntactic questions about the user's code, answered before or while lowering it: which
//! variables a loop assigns, whether a statement can leave its block, which names a pattern
//! binds. Nothing here knows about values.

use crate::hash::HashSet;

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;
use syn::visit_mut::VisitMut;
use syn::{BinOp, Expr, Ident};

pub fn is_compound_assign(op: &BinOp) -> bool {
    matches!(
        op,
        BinOp::AddAssign(_)
            | BinOp::SubAssign(_)
            | BinOp::MulAssign(_)
            | BinOp::DivAssign(_)
            | BinOp::RemAssign(_)
    )
}

/// Whether `e` gives a reference on every path: `&r` (not `&mut`) where `referent(r)`, a path
/// where `reference_name(path)`, or an `if`/`match`/block giving one of those on each path.
pub fn gives_reference(
    e: &Expr,
    referent: &dyn Fn(&Expr) -> bool,
    reference_name: &dyn Fn(&Expr) -> bool,
) -> bool {
    let again = |e: &Expr| gives_reference(e, referent, reference_name);
    let tail = |b: &syn::Block| match b.stmts.last() {
        Some(syn::Stmt::Expr(e, None)) => again(e),
        _ => false,
    };
    match strip_parens(e) {
        Expr::Reference(r) => r.mutability.is_none() && referent(&r.expr),
        p @ Expr::Path(_) => reference_name(p),
        Expr::Block(b) => tail(&b.block),
        Expr::If(i) => {
            tail(&i.then_branch) && i.else_branch.as_ref().is_some_and(|(_, els)| again(els))
        }
        Expr::Match(m) => !m.arms.is_empty() && m.arms.iter().all(|a| again(&a.body)),
        _ => false,
    }
}

pub fn strip_parens(mut e: &Expr) -> &Expr {
    loop {
        match e {
            Expr::Paren(p) => e = &p.expr,
            Expr::Group(g) => e = &g.expr,
            _ => return e,
        }
    }
}

/// Every identifier in `tokens`, and every `{name` / `{name:` inside its string literals.
pub fn collect_words(tokens: TokenStream, out: &mut HashSet<String>) {
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

/// Looks through the single-identifier paths an expression reads for its value (candidates
/// for local variables) and the words inside any macro it contains, calling `read` on each and
/// stopping at the first for which it says `true` (`found`). Subexpressions whose value cannot
/// carry a derivative are skipped: comparisons and logic, and the receivers of methods with
/// derivative zero (`x.len()`, `x.floor()`), so `0..x.len()` reads nothing active.
pub struct VariableReads<F: FnMut(&str) -> bool> {
    pub read: F,
    pub found: bool,
}

impl<'ast, F: FnMut(&str) -> bool> Visit<'ast> for VariableReads<F> {
    fn visit_expr(&mut self, e: &'ast Expr) {
        if !self.found {
            syn::visit::visit_expr(self, e);
        }
    }
    fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
        if let Some(i) = p.path.get_ident() {
            self.found |= (self.read)(&i.to_string());
        }
        syn::visit::visit_expr_path(self, p);
    }
    fn visit_expr_binary(&mut self, b: &'ast syn::ExprBinary) {
        let constant = matches!(
            b.op,
            BinOp::Eq(_)
                | BinOp::Ne(_)
                | BinOp::Lt(_)
                | BinOp::Le(_)
                | BinOp::Gt(_)
                | BinOp::Ge(_)
                | BinOp::And(_)
                | BinOp::Or(_)
        );
        if !constant {
            syn::visit::visit_expr_binary(self, b);
        }
    }
    fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
        if !crate::rules::ZERO_DERIVATIVE_METHODS.contains(&m.method.to_string().as_str()) {
            syn::visit::visit_expr_method_call(self, m);
        }
    }
    fn visit_expr_cast(&mut self, c: &'ast syn::ExprCast) {
        if !is_integer_type(&c.ty) {
            syn::visit::visit_expr_cast(self, c);
        }
    }
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        // `vec![a; n]` and `vec![a, b]` read their expressions like an array literal does.
        if m.path.is_ident("vec") {
            if let Ok(exprs) = m.parse_body_with(vec_body) {
                for e in &exprs {
                    self.visit_expr(e);
                }
                return;
            }
        }
        let mut words = HashSet::default();
        collect_words(m.tokens.clone(), &mut words);
        for w in &words {
            if self.found {
                break;
            }
            self.found |= (self.read)(w);
        }
    }
}

/// Whether `ty` is a primitive integer type (a cast to it has derivative zero).
pub fn is_integer_type(ty: &syn::Type) -> bool {
    const INTEGERS: &[&str] = &[
        "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize",
    ];
    matches!(ty, syn::Type::Path(p) if p.qself.is_none() && INTEGERS.iter().any(|i| p.path.is_ident(i)))
}

/// The expressions of a `vec!` body: `a; n` or `a, b, ...`.
fn vec_body(input: syn::parse::ParseStream<'_>) -> syn::Result<Vec<Expr>> {
    if input.is_empty() {
        return Ok(Vec::new());
    }
    let first: Expr = input.parse()?;
    if input.peek(syn::Token![;]) {
        input.parse::<syn::Token![;]>()?;
        let n: Expr = input.parse()?;
        return Ok(vec![first, n]);
    }
    let mut out = vec![first];
    while input.peek(syn::Token![,]) {
        input.parse::<syn::Token![,]>()?;
        if input.is_empty() {
            break;
        }
        out.push(input.parse()?);
    }
    Ok(out)
}

/// Identifiers bound by patterns: as a set (inside an expression, closure parameters and inner
/// `let`s shadow the function's variables, so they are never renamed), and in order with their
/// mutability (the variables a `let` pattern binds).
#[derive(Default)]
pub struct PatternIdents(pub HashSet<String>, pub Vec<(Ident, bool)>);

impl<'ast> Visit<'ast> for PatternIdents {
    fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
        self.0.insert(p.ident.to_string());
        self.1.push((p.ident.clone(), p.mutability.is_some()));
        syn::visit::visit_pat_ident(self, p);
    }
}

/// Removes `mut` from a pattern: the generated code copies each variable into a value and
/// never assigns to the pattern's own bindings.
pub struct StripMut;

impl VisitMut for StripMut {
    fn visit_pat_ident_mut(&mut self, p: &mut syn::PatIdent) {
        p.mutability = None;
        syn::visit_mut::visit_pat_ident_mut(self, p);
    }
}

/// What a piece of code does to control flow and to variables, closures excluded.
#[derive(Default)]
struct Flow {
    /// `return` anywhere.
    returns: usize,
    /// `break`/`continue` that would leave the code being scanned (not inside a loop of its own).
    leaves_loop: bool,
    /// Variables assigned (`a = `, `a op= `), not array elements.
    assigned: HashSet<String>,
    /// Whether anything at all is assigned (also elements and fields).
    assigns: bool,
    /// Variables whose elements are assigned (`a[i] = `, `a[i][j] op= `).
    elements: HashSet<String>,
    loop_depth: usize,
    /// The labels of the loops being scanned inside the code, innermost last: a `break` or
    /// `continue` naming one of them does not leave the code.
    labels: Vec<String>,
}

impl<'ast> Visit<'ast> for Flow {
    fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
    fn visit_item(&mut self, _: &'ast syn::Item) {}
    fn visit_expr_return(&mut self, r: &'ast syn::ExprReturn) {
        self.returns += 1;
        syn::visit::visit_expr_return(self, r);
    }
    fn visit_expr_break(&mut self, b: &'ast syn::ExprBreak) {
        self.leaves_loop |= self.leaves(b.label.as_ref());
        syn::visit::visit_expr_break(self, b);
    }
    fn visit_expr_continue(&mut self, c: &'ast syn::ExprContinue) {
        self.leaves_loop |= self.leaves(c.label.as_ref());
    }
    fn visit_expr_for_loop(&mut self, f: &'ast syn::ExprForLoop) {
        self.visit_expr(&f.expr);
        self.enter(f.label.as_ref());
        self.visit_block(&f.body);
        self.exit();
    }
    fn visit_expr_while(&mut self, w: &'ast syn::ExprWhile) {
        self.enter(w.label.as_ref());
        self.visit_expr(&w.cond);
        self.visit_block(&w.body);
        self.exit();
    }
    fn visit_expr_loop(&mut self, l: &'ast syn::ExprLoop) {
        self.enter(l.label.as_ref());
        self.visit_block(&l.body);
        self.exit();
    }
    fn visit_expr_assign(&mut self, a: &'ast syn::ExprAssign) {
        self.target(&a.left);
        syn::visit::visit_expr_assign(self, a);
    }
    fn visit_expr_binary(&mut self, b: &'ast syn::ExprBinary) {
        if is_compound_assign(&b.op) {
            self.target(&b.left);
        }
        syn::visit::visit_expr_binary(self, b);
    }
}

impl Flow {
    /// Whether a `break`/`continue` (naming `label`) leaves the code scanned: a plain one
    /// outside the loops in it, a labelled one naming none of them.
    fn leaves(&self, label: Option<&syn::Lifetime>) -> bool {
        match label {
            None => self.loop_depth == 0,
            Some(l) => !self.labels.iter().any(|inner| l.ident == inner),
        }
    }

    fn enter(&mut self, label: Option<&syn::Label>) {
        self.loop_depth += 1;
        self.labels
            .push(label.map(|l| l.name.ident.to_string()).unwrap_or_default());
    }

    fn exit(&mut self) {
        self.loop_depth -= 1;
        self.labels.pop();
    }

    fn target(&mut self, target: &Expr) {
        self.assigns = true;
        let mut e = strip_parens(target);
        let element = matches!(e, Expr::Index(_));
        while let Expr::Index(ix) = e {
            e = strip_parens(&ix.expr);
        }
        if let Expr::Path(p) = e {
            if let Some(i) = p.path.get_ident() {
                let names = if element {
                    &mut self.elements
                } else {
                    &mut self.assigned
                };
                names.insert(i.to_string());
            }
        }
    }
}

fn flow_of_stmt(stmt: &syn::Stmt) -> Flow {
    let mut flow = Flow::default();
    flow.visit_stmt(stmt);
    flow
}

/// The variables a loop body (and a `while` condition) assign, as candidates to carry.
pub fn assigned_names(block: &syn::Block, cond: Option<&Expr>) -> Vec<String> {
    let mut flow = Flow::default();
    if let Some(c) = cond {
        flow.visit_expr(c);
    }
    flow.visit_block(block);
    let mut names: Vec<String> = flow.assigned.into_iter().collect();
    names.sort();
    names
}

/// Whether a loop body contains `return`.
pub fn block_returns(block: &syn::Block) -> bool {
    let mut flow = Flow::default();
    flow.visit_block(block);
    flow.returns > 0
}

/// Whether a loop body contains a `break`, and a `continue`, of its own loop.
pub fn block_leaves(block: &syn::Block) -> (bool, bool) {
    #[derive(Default)]
    struct Leaves {
        breaks: bool,
        continues: bool,
        depth: usize,
    }
    impl<'ast> Visit<'ast> for Leaves {
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
        fn visit_expr_break(&mut self, b: &'ast syn::ExprBreak) {
            self.breaks |= self.depth == 0;
            syn::visit::visit_expr_break(self, b);
        }
        fn visit_expr_continue(&mut self, _: &'ast syn::ExprContinue) {
            self.continues |= self.depth == 0;
        }
        fn visit_expr_for_loop(&mut self, f: &'ast syn::ExprForLoop) {
            self.depth += 1;
            syn::visit::visit_expr_for_loop(self, f);
            self.depth -= 1;
        }
        fn visit_expr_while(&mut self, w: &'ast syn::ExprWhile) {
            self.depth += 1;
            syn::visit::visit_expr_while(self, w);
            self.depth -= 1;
        }
        fn visit_expr_loop(&mut self, l: &'ast syn::ExprLoop) {
            self.depth += 1;
            syn::visit::visit_expr_loop(self, l);
            self.depth -= 1;
        }
    }
    let mut leaves = Leaves::default();
    leaves.visit_block(block);
    (leaves.breaks, leaves.continues)
}

/// The labels a block's `break 'label` (`true`) and `continue 'label` (`false`) name, at any
/// depth (not in closures).
pub fn labels_named(block: &syn::Block) -> Vec<(String, bool)> {
    #[derive(Default)]
    struct Named(Vec<(String, bool)>);
    impl<'ast> Visit<'ast> for Named {
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
        fn visit_item(&mut self, _: &'ast syn::Item) {}
        fn visit_expr_break(&mut self, b: &'ast syn::ExprBreak) {
            if let Some(l) = &b.label {
                self.0.push((l.ident.to_string(), true));
            }
            syn::visit::visit_expr_break(self, b);
        }
        fn visit_expr_continue(&mut self, c: &'ast syn::ExprContinue) {
            if let Some(l) = &c.label {
                self.0.push((l.ident.to_string(), false));
            }
        }
    }
    let mut named = Named::default();
    named.visit_block(block);
    named.0
}

/// Whether the function needs the early-return machinery: a `return` anywhere but as the last
/// statement of the body.
pub fn needs_early_return(block: &syn::Block) -> bool {
    let mut flow = Flow::default();
    flow.visit_block(block);
    let final_return = matches!(
        block.stmts.last(),
        Some(syn::Stmt::Expr(Expr::Return(_), _))
    );
    flow.returns > usize::from(final_return)
}

/// Whether the statements after `stmt` may not run: it contains `return`, or (inside a loop)
/// a `break`/`continue` of the enclosing loop.
pub fn may_leave(stmt: &syn::Stmt, in_loop: bool) -> bool {
    let flow = flow_of_stmt(stmt);
    flow.returns > 0 || (in_loop && flow.leaves_loop)
}

/// Whether control flow can be kept as written: it assigns nothing, and neither returns nor
/// leaves a loop around it.
pub fn is_statement_like(expr: &Expr) -> bool {
    let mut flow = Flow::default();
    flow.visit_expr(expr);
    flow.returns == 0 && !flow.leaves_loop && !flow.assigns
}

/// Whether an expression is only literals, paths, operators, parentheses and casts: no call, no
/// method, no macro, so evaluating it again has no effect and gives the same value.
pub fn is_pure_arithmetic(e: &syn::Expr) -> bool {
    is_pure_arithmetic_with(e, false)
}

/// [`is_pure_arithmetic`], with `lengths`: also `v.len()` of a variable, which gives the same
/// value again as long as nothing changes `v`'s length (the caller checks that).
pub fn is_pure_arithmetic_with(e: &syn::Expr, lengths: bool) -> bool {
    let pure = |e: &syn::Expr| is_pure_arithmetic_with(e, lengths);
    match e {
        syn::Expr::Lit(_) | syn::Expr::Path(_) => true,
        // A range, as a loop's iterable: `IntoIterator::into_iter(a..b)`, `(a..b).rev()`.
        syn::Expr::Range(r) => {
            r.start.as_deref().is_none_or(pure) && r.end.as_deref().is_none_or(pure)
        }
        syn::Expr::Call(c) => {
            let into_iter = matches!(&*c.func, syn::Expr::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "into_iter"));
            into_iter
                && c.args.len() == 1
                && c.args.iter().all(|a| {
                    matches!(
                        a,
                        syn::Expr::Range(_) | syn::Expr::Paren(_) | syn::Expr::MethodCall(_)
                    ) && pure(a)
                })
        }
        syn::Expr::MethodCall(mc) if mc.method == "len" && lengths => {
            mc.args.is_empty()
                && matches!(&*mc.receiver, syn::Expr::Path(p) if p.path.get_ident().is_some())
        }
        syn::Expr::MethodCall(mc) => mc.method == "rev" && mc.args.is_empty() && pure(&mc.receiver),
        syn::Expr::Paren(p) => pure(&p.expr),
        syn::Expr::Cast(c) => pure(&c.expr),
        syn::Expr::Unary(u) => !matches!(u.op, syn::UnOp::Deref(_)) && pure(&u.expr),
        syn::Expr::Binary(b) => {
            !matches!(b.op, syn::BinOp::Div(_) | syn::BinOp::Rem(_))
                && pure(&b.left)
                && pure(&b.right)
        }
        _ => false,
    }
}

/// Variables a body may change other than by assignment: the receivers of method calls that may
/// take `&mut self` (`v.push(x)`, `v.sort_by(..)`), and variables passed as `&mut v`. The
/// generated code keeps them mutable and never reads them again in the reverse pass.
pub fn mutated_by_calls(block: &syn::Block) -> HashSet<String> {
    /// Methods that only read (on slices, `Vec`s, arrays and floats).
    const READ_ONLY: &[&str] = &[
        "len",
        "is_empty",
        "iter",
        "get",
        "first",
        "last",
        "contains",
        "clone",
        "to_vec",
        "to_owned",
        "as_slice",
        "windows",
        "chunks",
        "starts_with",
        "ends_with",
        "binary_search",
        "capacity",
    ];
    #[derive(Default)]
    struct Calls(HashSet<String>);
    impl<'ast> Visit<'ast> for Calls {
        fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
            if let Expr::Path(p) = strip_parens(&m.receiver) {
                if let Some(i) = p.path.get_ident() {
                    if !READ_ONLY.contains(&m.method.to_string().as_str()) {
                        self.0.insert(i.to_string());
                    }
                }
            }
            syn::visit::visit_expr_method_call(self, m);
        }
        fn visit_expr_reference(&mut self, r: &'ast syn::ExprReference) {
            if r.mutability.is_some() {
                if let Expr::Path(p) = strip_parens(&r.expr) {
                    if let Some(i) = p.path.get_ident() {
                        self.0.insert(i.to_string());
                    }
                }
            }
            syn::visit::visit_expr_reference(self, r);
        }
    }
    let mut calls = Calls::default();
    calls.visit_block(block);
    calls.0
}

/// Variables whose elements the body writes (`a[i] = …`, `a[i][j] += …`): arrays the lowering
/// changes in place, so a second name bound to one (`let b = a;`) must get a copy of its own.
pub fn element_written(block: &syn::Block) -> HashSet<String> {
    let mut flow = Flow::default();
    flow.visit_block(block);
    flow.elements
}

/// The `#[cfg]` and `#[cfg_attr]` attributes on statements and expressions of `block` (not on
/// the items in it, which are kept as written). The macro cannot tell which configuration is
/// built: lowering such a statement anyway would differentiate code the function compiles out.
pub fn configured(block: &syn::Block) -> Vec<&syn::Attribute> {
    #[derive(Default)]
    struct Cfg<'ast>(Vec<&'ast syn::Attribute>);
    impl<'ast> Visit<'ast> for Cfg<'ast> {
        fn visit_item(&mut self, _: &'ast syn::Item) {}
        fn visit_attribute(&mut self, a: &'ast syn::Attribute) {
            if a.path().is_ident("cfg") || a.path().is_ident("cfg_attr") {
                self.0.push(a);
            }
        }
    }
    let mut cfg = Cfg::default();
    cfg.visit_block(block);
    cfg.0
}

/// `panic!`, `todo!`, `unimplemented!`, `unreachable!`: macros that never return, whose
/// "value" has any type.
pub fn is_diverging_macro(m: &syn::ExprMacro) -> bool {
    m.mac.path.get_ident().is_some_and(|i| {
        matches!(
            i.to_string().as_str(),
            "panic" | "todo" | "unimplemented" | "unreachable"
        )
    })
}

/// The names of the functions declared in `body` (at any depth) without `#[differentiate]`:
/// they have no companions, so a call of one on an active value cannot be differentiated.
pub fn plain_fn_items(body: &syn::Block) -> HashSet<String> {
    struct Find(HashSet<String>);
    impl<'ast> syn::visit::Visit<'ast> for Find {
        fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
            let differentiated = f.attrs.iter().any(|a| {
                a.path()
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "differentiate")
            });
            if !differentiated {
                self.0.insert(f.sig.ident.to_string());
            }
            syn::visit::visit_item_fn(self, f);
        }
    }
    let mut find = Find(HashSet::default());
    syn::visit::Visit::visit_block(&mut find, body);
    find.0
}

/// The standard library's macros that neither leave a loop nor bind a name: printing,
/// formatting, `dbg!`, assertions, `vec!`, `matches!`, `cfg!`, the compile-time strings and the
/// diverging ones.
pub const QUIET_MACROS: [&str; 30] = [
    "vec",
    "println",
    "print",
    "eprintln",
    "eprint",
    "dbg",
    "concat",
    "stringify",
    "line",
    "column",
    "file",
    "module_path",
    "env",
    "option_env",
    "format",
    "format_args",
    "write",
    "writeln",
    "assert",
    "assert_eq",
    "assert_ne",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "matches",
    "cfg",
    "panic",
    "todo",
    "unimplemented",
    "unreachable",
];

/// The macros in `body` that may hide a `break`, `continue` or `return` (a user's `skip!(j)`):
/// any but the [`QUIET_MACROS`].
pub fn control_hiding_macros(body: &syn::Block) -> Vec<syn::Macro> {
    struct Find(Vec<syn::Macro>);
    impl<'ast> syn::visit::Visit<'ast> for Find {
        fn visit_macro(&mut self, m: &'ast syn::Macro) {
            let name = m.path.segments.last().map(|s| s.ident.to_string());
            if !name.is_some_and(|n| QUIET_MACROS.contains(&n.as_str())) {
                self.0.push(m.clone());
            }
        }
    }
    let mut find = Find(Vec::new());
    syn::visit::Visit::visit_block(&mut find, body);
    find.0
}

/// `e` without its parentheses and the adaptors that keep items where they are (`rev()`,
/// `skip(n)`, `take(n)`, `step_by(n)`): what a loop walks.
pub fn strip_adaptors(e: &Expr) -> &Expr {
    let mut e = strip_parens(e);
    while let Expr::MethodCall(m) = e {
        if !keeps_positions(m) {
            break;
        }
        e = strip_parens(&m.receiver);
    }
    e
}

/// Whether a method call is an iterator adaptor that keeps each item where it was, only
/// dropping or reordering items: `rev()`, `skip(n)`, `take(n)`, `step_by(n)`. Numbered before
/// one of these, items keep their numbers.
pub fn keeps_positions(m: &syn::ExprMethodCall) -> bool {
    match m.method.to_string().as_str() {
        "rev" => m.args.is_empty(),
        "skip" | "take" | "step_by" => m.args.len() == 1,
        _ => false,
    }
}

/// Whether `e` is an array literal: `[a, b]`, `[x; n]`, `vec![..]`.
pub(crate) fn is_array_literal(e: &Expr) -> bool {
    match strip_parens(e) {
        Expr::Array(_) | Expr::Repeat(_) => true,
        Expr::Macro(m) => m.mac.path.is_ident("vec"),
        _ => false,
    }
}
