//! Second order for functions written on `f64`.
//!
//! `NAME_hvp` runs the generated reverse pass on dual numbers, which a function written on
//! `f64` cannot take. So for such a function the macro makes a copy of it generic over its float
//! type (`__F` standing for `f64`), differentiates the copy like any generic function, and
//! `NAME_hvp` calls the copy's reverse pass on `Dual<f64>` (the copy itself is only lowered, not
//! emitted: its reverse pass is all `NAME_hvp` needs). What the copy changes:
//!
//! - the float type in every type becomes `__F`;
//! - a float literal `2.5` becomes `<__F as NumCast>::from(2.5_f64).unwrap()` (exact);
//! - `f64::consts::PI` and `f64::EPSILON`-like constants become the same constants of `__F`;
//! - `e as f64` becomes `cast_float::<__F, _>(e)` and `e as usize` becomes `cast_int(e)`, which
//!   the lowering treats as it treats the casts they stand for.
//!
//! The copy is made only where it is sure to compile: every name the body reads is one of its
//! own variables, every call is a float method or a runtime helper, every method one that
//! floats, slices, `Vec`s and integers share with their generic forms, every macro one whose
//! arguments are expressions. Anything else (a call to another function, a constant of the
//! module, a struct) means no `NAME_hvp`, never an error in code the user did not write.

use crate::hash::{HashMap, HashSet};

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::visit::Visit;
use syn::visit_mut::VisitMut;
use syn::{Expr, Ident, ItemFn, Type};

use crate::parse::Signature;

/// Methods of `num_traits::Float`, which the copy calls on `__F` as the original calls them on
/// `f64`.
const FLOAT_METHODS: &[&str] = &[
    "is_nan",
    "is_infinite",
    "is_finite",
    "is_normal",
    "is_subnormal",
    "floor",
    "ceil",
    "round",
    "trunc",
    "fract",
    "abs",
    "signum",
    "is_sign_positive",
    "is_sign_negative",
    "mul_add",
    "recip",
    "powi",
    "powf",
    "sqrt",
    "exp",
    "exp2",
    "ln",
    "log",
    "log2",
    "log10",
    "to_degrees",
    "to_radians",
    "max",
    "min",
    "clamp",
    "cbrt",
    "hypot",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "atan2",
    "sin_cos",
    "exp_m1",
    "ln_1p",
    "sinh",
    "cosh",
    "tanh",
    "asinh",
    "acosh",
    "atanh",
    "copysign",
];

/// Methods of slices, `Vec`s, ranges and integers that mean the same whatever the element type.
const OTHER_METHODS: &[&str] = &[
    "skip",
    "take",
    "len",
    "is_empty",
    "iter",
    "iter_mut",
    "into_iter",
    "enumerate",
    "zip",
    "rev",
    "step_by",
    "clone",
    "to_vec",
    "to_owned",
    "push",
    "pow",
    "saturating_sub",
    "saturating_add",
    "wrapping_sub",
    "wrapping_add",
    "windows",
    "chunks",
    "first",
    "last",
    "copied",
    "cloned",
    "unwrap",
    "expect",
];

/// Macros whose arguments are expressions (after a format string).
const MACROS: &[&str] = &[
    "vec",
    "println",
    "print",
    "eprintln",
    "eprint",
    "assert",
    "assert_eq",
    "assert_ne",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "panic",
    "unreachable",
    "todo",
    "unimplemented",
];

/// The constants of `std::f64::consts`, which a function may use imported (`use
/// std::f64::consts::PI;`).
const STD_CONSTS: &[&str] = &[
    "PI",
    "TAU",
    "E",
    "SQRT_2",
    "LN_2",
    "LN_10",
    "LOG2_E",
    "LOG2_10",
    "LOG10_E",
    "LOG10_2",
    "FRAC_PI_2",
    "FRAC_PI_3",
    "FRAC_PI_4",
    "FRAC_PI_6",
    "FRAC_PI_8",
    "FRAC_1_PI",
    "FRAC_2_PI",
    "FRAC_2_SQRT_PI",
    "FRAC_1_SQRT_2",
];

const INTEGERS: &[&str] = &[
    "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize",
];

/// `f64::EPSILON` and friends, as `Float` constructors.
const CONSTANTS: &[(&str, &str)] = &[
    ("EPSILON", "epsilon"),
    ("MAX", "max_value"),
    ("MIN", "min_value"),
    ("MIN_POSITIVE", "min_positive_value"),
    ("INFINITY", "infinity"),
    ("NEG_INFINITY", "neg_infinity"),
    ("NAN", "nan"),
];

/// The copy of `item` generic over its float type, named as the original, with the float
/// type's name (`f64`), or `None` where the copy might not compile.
pub fn generic_copy(item: &ItemFn, sig: &Signature, rt: &TokenStream) -> Option<(ItemFn, Ident)> {
    let s = &item.sig;
    // Lifetimes and const generics (`[f64; N]`) are kept; a type parameter might be anything.
    let no_types = s
        .generics
        .params
        .iter()
        .all(|p| !matches!(p, syn::GenericParam::Type(_)));
    if !sig.float_generics.is_empty()
        || !no_types
        || s.generics.where_clause.is_some()
        || s.asyncness.is_some()
        || s.constness.is_some()
        || s.unsafety.is_some()
        || s.abi.is_some()
        || s.variadic.is_some()
        || !sig.ret_scalar
    {
        return None;
    }
    // `f64` only: a float literal nothing gives a type is an `f64` in the original, so the
    // copy may make it the generic type only where that type stands for `f64` (in an `f32`
    // function, `(0.3 / 0.1) as usize` is 2 in the original and would be 3 in the copy).
    let float = match sig.ret.as_ref()? {
        Type::Path(tp) if tp.qself.is_none() && tp.path.is_ident("f64") => "f64",
        _ => return None,
    };
    let other = "f32";
    let mut locals: HashSet<String> = HashSet::default();
    for p in &sig.params {
        if p.ident == "self" || p.is_tensor || !plain_type(&p.ty, float) {
            return None;
        }
        // Floats only as the dual numbers can stand in for them: `f64`, slices, `Vec`s and
        // arrays of them.
        if p.is_float != Names::new(float).in_type(&p.ty) {
            return None;
        }
        locals.insert(p.ident.to_string());
    }
    if s.inputs.len() != sig.params.len() {
        return None;
    }
    // A const generic is read as a variable is (`for i in 0..N`).
    for p in s.generics.const_params() {
        locals.insert(p.ident.to_string());
    }
    let mut bindings = Bindings(&mut locals);
    bindings.visit_block(&item.block);
    if Names::new(other).in_block(&item.block) {
        return None;
    }
    let generic = Ident::new("__F", Span::mixed_site());
    let mut copy = item.clone();
    copy.attrs.retain(|a| a.path().is_ident("allow"));
    copy.vis = syn::Visibility::Inherited;
    let mut rewrite = Rewrite {
        float,
        generic: &generic,
        rt,
        locals: &locals,
        // The names bound to references to floats (`for v in x.iter()`, `let r = &x[0];`),
        // scope by scope: in the copy, arithmetic reads them through `*`, as `&__F` has none.
        refs: References::new(&sig.params),
        casts: Vec::new(),
        ok: true,
        literal_template: syn::parse_quote!((<#generic as #rt::NumCast>::from(0.0).unwrap())),
    };
    for input in &mut copy.sig.inputs {
        if let syn::FnArg::Typed(pt) = input {
            rewrite.visit_type_mut(&mut pt.ty);
        }
    }
    rewrite.visit_return_type_mut(&mut copy.sig.output);
    rewrite.visit_block_mut(&mut copy.block);
    if !rewrite.ok || rewrite.refs.unsure {
        return None;
    }
    let casts = rewrite.casts;
    // `<'a, __F: ..., const N: usize>`: the float type first after the lifetimes, so a caller
    // names it and then the constants (see [`const_arguments`]).
    let lifetimes = s.generics.lifetimes();
    let consts = s.generics.const_params();
    copy.sig.generics = syn::parse_quote!(<#(#lifetimes,)* #generic: #rt::Real + ::core::ops::RemAssign + ::core::fmt::LowerExp + ::core::fmt::UpperExp, #(#consts),*>);
    if !casts.is_empty() {
        copy.sig.generics.where_clause =
            Some(syn::parse_quote!(where #generic: #(#rt::CastTo<#casts>)+*));
    }
    Some((copy, Ident::new(float, Span::call_site())))
}

/// The const generics of `item` as arguments, in order (`N, M`): what follows the float type in
/// a call of the copy, `f_vjp::<Dual<f64>, N, M>`.
pub fn const_arguments(item: &ItemFn) -> Vec<Ident> {
    item.sig
        .generics
        .const_params()
        .map(|p| p.ident.clone())
        .collect()
}

/// Finds the type `float` named anywhere in a syntax tree (as an identifier or a literal's
/// suffix), walking the syntax: printing it to tokens first would cost a trip to the compiler
/// for every token, inside rustc. `Names::new("f64").in_block(b)`.
pub(crate) struct Names<'f> {
    float: &'f str,
    found: bool,
}

impl<'f> Names<'f> {
    pub(crate) fn new(float: &'f str) -> Self {
        Names {
            float,
            found: false,
        }
    }

    pub(crate) fn in_item(mut self, item: &ItemFn) -> bool {
        self.visit_item_fn(item);
        self.found
    }

    pub(crate) fn in_block(mut self, block: &syn::Block) -> bool {
        self.visit_block(block);
        self.found
    }

    pub(crate) fn in_type(mut self, ty: &Type) -> bool {
        self.visit_type(ty);
        self.found
    }
}

impl<'ast> Visit<'ast> for Names<'_> {
    fn visit_ident(&mut self, i: &'ast Ident) {
        self.found = self.found || i == self.float;
    }
    fn visit_lit_float(&mut self, l: &'ast syn::LitFloat) {
        self.found = self.found || l.suffix() == self.float;
    }
    fn visit_lit_int(&mut self, l: &'ast syn::LitInt) {
        self.found = self.found || l.suffix() == self.float;
    }
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.found = self.found || mentions(&m.tokens, self.float);
        syn::visit::visit_path(self, &m.path);
    }
}

/// Whether `tokens` name the type `float` anywhere.
pub(crate) fn mentions(tokens: &TokenStream, float: &str) -> bool {
    tokens.clone().into_iter().any(|t| match t {
        proc_macro2::TokenTree::Ident(i) => i == float,
        proc_macro2::TokenTree::Group(g) => mentions(&g.stream(), float),
        proc_macro2::TokenTree::Literal(l) => l.to_string().ends_with(float),
        proc_macro2::TokenTree::Punct(_) => false,
    })
}

/// A parameter type the copy can take: the float, integers and `bool`, and references, slices,
/// arrays and `Vec`s of them (no `&mut`: an `hvp` argument is read only).
fn plain_type(ty: &Type, float: &str) -> bool {
    match ty {
        Type::Path(tp) if tp.qself.is_none() => {
            let Some(last) = tp.path.segments.last() else {
                return false;
            };
            if tp.path.segments.len() == 1
                && (last.ident == float
                    || last.ident == "bool"
                    || last.ident == "char"
                    || INTEGERS.iter().any(|i| last.ident == i))
                && last.arguments.is_none()
            {
                return true;
            }
            last.ident == "Vec"
                && match &last.arguments {
                    syn::PathArguments::AngleBracketed(a) => {
                        a.args.len() == 1
                            && matches!(a.args.first(), Some(syn::GenericArgument::Type(t)) if plain_type(t, float))
                    }
                    _ => false,
                }
        }
        Type::Reference(r) => r.mutability.is_none() && plain_type(&r.elem, float),
        Type::Slice(sl) => plain_type(&sl.elem, float),
        Type::Array(a) => plain_type(&a.elem, float),
        Type::Paren(p) => plain_type(&p.elem, float),
        _ => false,
    }
}

/// Every name a pattern of the body binds.
struct Bindings<'a>(&'a mut HashSet<String>);

impl<'ast> Visit<'ast> for Bindings<'_> {
    fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
        self.0.insert(p.ident.to_string());
        syn::visit::visit_pat_ident(self, p);
    }
}

/// The names the body binds, scope by scope, and whether each is bound to a reference to a float:
/// the element of a loop over an array by reference (`for v in x.iter()`, `for v in &x`,
/// `for v in x` of a slice parameter, each side of a `zip`, the element of an `enumerate`),
/// `let r = &e;`, `let w = r;` of such a name, a branch giving one on every path. Where it cannot
/// tell whether a loop binds references (a loop over a local taken by value, a pattern it does
/// not know), `unsure`: no copy.
struct References<'a> {
    params: &'a [crate::parse::Param],
    /// The names each scope bound, the innermost last; the first holds the parameters.
    scopes: Vec<Vec<String>>,
    /// For each name, its bindings in the scopes open now, the innermost last: whether it is
    /// a reference, whether it is an array or `Vec` the body made (`[0.0; N]`, `vec![..]`:
    /// walked by value, its items are values), and the scope's depth. (A map, not a search of
    /// the scopes: a long body binds thousands of names.)
    bound: HashMap<String, Vec<(bool, bool, usize)>>,
    unsure: bool,
}

impl References<'_> {
    /// The parameters' names, bound to values.
    fn new(params: &[crate::parse::Param]) -> References<'_> {
        let mut refs = References {
            params,
            scopes: vec![Vec::new()],
            bound: HashMap::default(),
            unsure: false,
        };
        for p in params {
            refs.bind(p.ident.to_string(), false);
        }
        refs
    }

    /// Whether `name` is bound to a reference here, and whether it is a parameter.
    fn lookup(&self, name: &str) -> Option<(bool, bool)> {
        let &(reference, _, depth) = self.bound.get(name)?.last()?;
        Some((reference, depth == 0))
    }

    /// Whether `name` is bound here to an array or `Vec` the body made.
    fn is_made_collection(&self, name: &str) -> bool {
        self.bound
            .get(name)
            .and_then(|b| b.last())
            .is_some_and(|&(_, made, _)| made)
    }

    fn open_scope(&mut self) {
        self.scopes.push(Vec::new());
    }

    fn close_scope(&mut self) {
        for name in self.scopes.pop().unwrap_or_default() {
            if let Some(stack) = self.bound.get_mut(&name) {
                stack.pop();
            }
        }
    }

    fn is_reference(&self, e: &Expr) -> bool {
        matches!(crate::lower::strip_parens(e), Expr::Path(p)
            if p.qself.is_none()
                && p.path.get_ident().is_some_and(|i| matches!(self.lookup(&i.to_string()), Some((true, _)))))
    }

    fn bind(&mut self, name: String, reference: bool) {
        self.bind_as(name, reference, false);
    }

    fn bind_as(&mut self, name: String, reference: bool, made_collection: bool) {
        let depth = self.scopes.len().saturating_sub(1);
        if let Some(scope) = self.scopes.last_mut() {
            self.bound
                .entry(name.clone())
                .or_default()
                .push((reference, made_collection, depth));
            scope.push(name);
        }
    }

    /// Whether walking `e` yields references: `Some(true)` for `x.iter()`, `&x` and a slice
    /// parameter (or a reference bound by `let`), `Some(false)` for a range or an array parameter
    /// taken by value, `None` where it cannot tell.
    fn yields_references(&self, e: &Expr) -> Option<bool> {
        match crate::lower::strip_adaptors(e) {
            Expr::Range(_) => Some(false),
            // `for v in [a, b]` of values (not `[&a, &b]`): the items are the values.
            Expr::Array(a) => (!a.elems.iter().any(|x| self.gives_reference(x))).then_some(false),
            Expr::Repeat(r) => (!self.gives_reference(&r.expr)).then_some(false),
            Expr::Reference(r) => r.mutability.is_none().then_some(true),
            Expr::MethodCall(m) if m.args.is_empty() && m.method == "iter" => Some(true),
            // A window or chunk is a slice, read by index: never a float to dereference.
            Expr::MethodCall(m)
                if m.args.len() == 1 && (m.method == "windows" || m.method == "chunks") =>
            {
                Some(false)
            }
            Expr::MethodCall(m) if m.args.is_empty() && m.method == "into_iter" => {
                self.yields_references(&m.receiver)
            }
            Expr::Path(p) => {
                let name = p.path.get_ident()?.to_string();
                match self.lookup(&name)? {
                    (_, true) => {
                        let param = self.params.iter().find(|q| q.ident == name)?;
                        Some(matches!(param.ty, Type::Reference(_)))
                    }
                    (true, false) => Some(true),
                    (false, false) => self.is_made_collection(&name).then_some(false),
                }
            }
            _ => None,
        }
    }

    /// Binds the names an element pattern binds, walking items that are references or not.
    fn element(&mut self, pat: &syn::Pat, references: Option<bool>) {
        match pat {
            syn::Pat::Paren(p) => self.element(&p.pat, references),
            syn::Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => match references {
                Some(r) => self.bind(pi.ident.to_string(), r),
                None => self.unsure = true,
            },
            syn::Pat::Wild(_) => {}
            syn::Pat::Reference(r) => self.plain_names(&r.pat),
            _ => self.unsure = true,
        }
    }

    /// Whether `e` gives a reference: `&e`, a name bound to one, or an `if`/`match`/block
    /// giving one of those on every path.
    fn gives_reference(&self, e: &Expr) -> bool {
        crate::lower::gives_reference(e, &|_| true, &|p| self.is_reference(p))
    }

    fn plain_names(&mut self, pat: &syn::Pat) {
        let mut names = HashSet::default();
        Bindings(&mut names).visit_pat(pat);
        for name in names {
            self.bind(name, false);
        }
    }

    /// Binds what `let pat = init;` binds.
    fn local(&mut self, pat: &syn::Pat, init: Option<&Expr>) {
        let pat = match pat {
            syn::Pat::Type(pt) => &*pt.pat,
            other => other,
        };
        match (pat, init.map(crate::lower::strip_parens)) {
            (syn::Pat::Ident(pi), Some(e)) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                let reference = self.gives_reference(e);
                // `[0.0; N]`, `[a, b]`, `vec![..]` of values (not `[&a, &b]`): walked by value,
                // the items are values.
                let made = match e {
                    Expr::Repeat(r) => !self.gives_reference(&r.expr),
                    Expr::Array(a) => !a.elems.iter().any(|x| self.gives_reference(x)),
                    Expr::Macro(m) if m.mac.path.is_ident("vec") => {
                        !m.mac.tokens.clone().into_iter().next().is_some_and(
                            |t| matches!(t, proc_macro2::TokenTree::Punct(p) if p.as_char() == '&'),
                        )
                    }
                    _ => false,
                };
                self.bind_as(pi.ident.to_string(), reference, made);
            }
            // `let (a, b) = (&x[0], y);`: element by element.
            (syn::Pat::Tuple(pt), Some(Expr::Tuple(te))) if pt.elems.len() == te.elems.len() => {
                let references: Vec<bool> =
                    te.elems.iter().map(|e| self.gives_reference(e)).collect();
                for (p, reference) in pt.elems.iter().zip(references) {
                    match p {
                        syn::Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                            self.bind(pi.ident.to_string(), reference);
                        }
                        other => self.plain_names(other),
                    }
                }
            }
            (other, _) => self.plain_names(other),
        }
    }

    /// Binds what a `for` loop's pattern binds, walking `iterable`.
    fn for_loop(&mut self, pat: &syn::Pat, iterable: &Expr) {
        let pat = match pat {
            syn::Pat::Paren(p) => &*p.pat,
            other => other,
        };
        // The adaptor that makes pairs: the last call before any that keep the items as they
        // are (`rev`, `skip`, `take`, `step_by`).
        match (pat, crate::lower::strip_adaptors(iterable)) {
            (syn::Pat::Tuple(t), Expr::MethodCall(m)) if t.elems.len() == 2 => {
                let (first, second) = (&t.elems[0], &t.elems[1]);
                if m.method == "enumerate" && m.args.is_empty() {
                    let items = self.yields_references(&m.receiver);
                    self.element(first, Some(false));
                    self.element(second, items);
                } else if m.method == "zip" && m.args.len() == 1 {
                    let left = self.yields_references(&m.receiver);
                    let right = self.yields_references(&m.args[0]);
                    self.element(first, left);
                    self.element(second, right);
                } else {
                    self.unsure = true;
                }
            }
            (syn::Pat::Tuple(_), _) => self.unsure = true,
            (pat, _) => {
                let items = if integer_range(iterable) {
                    Some(false)
                } else {
                    self.yields_references(iterable)
                };
                self.element(pat, items);
            }
        }
    }
}

/// `e` read for arithmetic in the copy: a name bound to a reference becomes `(*e)`, a
/// reference `&e` becomes `(e)` (`&__F` has no arithmetic; for floats both are the value).
fn dereference_operand(e: &mut Expr, refs: &References<'_>) {
    let replacement = match crate::lower::strip_parens(e) {
        Expr::Path(p) if refs.is_reference(e) => Some(syn::parse_quote!((*#p))),
        Expr::Reference(r) if r.mutability.is_none() => {
            let inner = &r.expr;
            Some(syn::parse_quote!((#inner)))
        }
        _ => None,
    };
    if let Some(r) = replacement {
        *e = r;
    }
}

struct Rewrite<'a> {
    float: &'a str,
    generic: &'a Ident,
    rt: &'a TokenStream,
    locals: &'a HashSet<String>,
    /// The names bound, scope by scope, and which are references (see [`References`]).
    refs: References<'a>,
    /// The integer types `as` casts to, which `__F` must cast to.
    casts: Vec<Ident>,
    ok: bool,
    /// `(<__F as NumCast>::from(0.0).unwrap())`, parsed once: each literal is a copy of it.
    literal_template: Expr,
}

impl Rewrite<'_> {
    fn is_float(&self, ty: &Type) -> bool {
        matches!(ty, Type::Path(tp) if tp.qself.is_none() && tp.path.is_ident(self.float))
    }

    /// `<__F as NumCast>::from(lit).unwrap()`, the literal given the float's suffix.
    fn literal(&self, digits: &str, span: Span) -> Expr {
        // `1` and `1.` (a literal may end in its point) get a digit after it: `1.0_f64`.
        let point = if digits.ends_with('.') {
            "0"
        } else if digits.contains(['.', 'e', 'E']) {
            ""
        } else {
            ".0"
        };
        let typed = syn::LitFloat::new(&format!("{digits}{point}_{}", self.float), span);
        let mut expr = self.literal_template.clone();
        if let Expr::Paren(p) = &mut expr {
            if let Expr::MethodCall(m) = &mut *p.expr {
                if let Expr::Call(c) = &mut *m.receiver {
                    if let Some(Expr::Lit(l)) = c.args.first_mut() {
                        l.lit = syn::Lit::Float(typed);
                        return expr;
                    }
                }
            }
        }
        let (generic, rt) = (self.generic, self.rt);
        syn::parse_quote!((<#generic as #rt::NumCast>::from(#typed).unwrap()))
    }

    /// A path that names a float constant (`f64::EPSILON`, `std::f64::consts::PI`), as an
    /// expression of `__F`; `None` for any other path.
    fn constant(&self, path: &syn::Path) -> Option<Expr> {
        let names: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        let at = names.iter().position(|n| n == self.float)?;
        let (generic, rt, float) = (
            self.generic,
            self.rt,
            Ident::new(self.float, Span::call_site()),
        );
        match &names[at + 1..] {
            [consts, _] if consts == "consts" => {
                // The segment's own identifier: it may be raw (`r#in`), which `Ident::new`
                // does not take.
                let name = path.segments.last()?.ident.clone();
                Some(
                    syn::parse_quote!((<#generic as #rt::NumCast>::from(::core::#float::consts::#name).unwrap())),
                )
            }
            [name] => {
                let (_, method) = CONSTANTS.iter().find(|(c, _)| c == name)?;
                let method = Ident::new(method, path.span_of_last());
                Some(syn::parse_quote!(<#generic as #rt::Float>::#method()))
            }
            _ => None,
        }
    }

    /// A macro's arguments rewritten, or `None` when they are not expressions.
    fn macro_tokens(&mut self, mac: &syn::Macro) -> Option<TokenStream> {
        let name = mac.path.get_ident()?.to_string();
        if !MACROS.contains(&name.as_str()) {
            return None;
        }
        if name == "vec" {
            let tokens = &mac.tokens;
            let mut body: Expr = syn::parse2(quote!([#tokens])).ok()?;
            self.visit_expr_mut(&mut body);
            return match body {
                Expr::Array(a) => Some(a.elems.to_token_stream()),
                Expr::Repeat(r) => {
                    let (e, n) = (&r.expr, &r.len);
                    Some(quote!(#e; #n))
                }
                _ => None,
            };
        }
        let parser = syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated;
        let mut args = syn::parse::Parser::parse2(parser, mac.tokens.clone()).ok()?;
        for a in &mut args {
            self.visit_expr_mut(a);
        }
        Some(args.to_token_stream())
    }
}

trait SpanOfLast {
    fn span_of_last(&self) -> Span;
}

impl SpanOfLast for syn::Path {
    fn span_of_last(&self) -> Span {
        self.segments
            .last()
            .map_or_else(Span::call_site, |s| s.ident.span())
    }
}

/// The operator of a compound assignment: `+` for `+=`.
fn compound(op: &syn::BinOp) -> Option<&'static str> {
    Some(match op {
        syn::BinOp::AddAssign(_) => "+",
        syn::BinOp::SubAssign(_) => "-",
        syn::BinOp::MulAssign(_) => "*",
        syn::BinOp::DivAssign(_) => "/",
        syn::BinOp::RemAssign(_) => "%",
        _ => return None,
    })
}

/// Whether `op` is arithmetic (`+ - * / %`, also compound: `+=`).
fn arithmetic(op: &syn::BinOp) -> bool {
    use syn::BinOp as B;
    matches!(
        op,
        B::Add(_) | B::Sub(_) | B::Mul(_) | B::Div(_) | B::Rem(_)
    ) || compound(op).is_some()
}

/// Whether `e` iterates over integers: a range, maybe reversed, stepped, skipped or taken.
fn integer_range(e: &Expr) -> bool {
    match e {
        Expr::Range(_) => true,
        Expr::Paren(p) => integer_range(&p.expr),
        Expr::MethodCall(m) => crate::lower::keeps_positions(m) && integer_range(&m.receiver),
        _ => false,
    }
}

impl VisitMut for Rewrite<'_> {
    /// The float type becomes `__F`; integers, `bool` and `char` stay; slices, arrays (their
    /// lengths untouched: a constant context), `Vec`s, references and tuples of those are
    /// rewritten inside. Any other type (an alias of `f64`, `std::primitive::f64`, a struct)
    /// might hold the float type under another name: no copy.
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if self.is_float(ty) {
            let generic = self.generic;
            *ty = syn::parse_quote!(#generic);
            return;
        }
        match ty {
            Type::Path(tp) if tp.qself.is_none() => {
                let single = tp.path.segments.len() == 1;
                let Some(last) = tp.path.segments.last_mut() else {
                    self.ok = false;
                    return;
                };
                let name = last.ident.to_string();
                if single
                    && (INTEGERS.contains(&name.as_str()) || name == "bool" || name == "char")
                    && last.arguments.is_none()
                {
                    return;
                }
                if name == "Vec" {
                    if let syn::PathArguments::AngleBracketed(a) = &mut last.arguments {
                        if let [syn::GenericArgument::Type(t)] =
                            a.args.iter_mut().collect::<Vec<_>>().as_mut_slice()
                        {
                            self.visit_type_mut(t);
                            return;
                        }
                    }
                }
                self.ok = false;
            }
            Type::Array(a) => self.visit_type_mut(&mut a.elem),
            Type::Slice(sl) => self.visit_type_mut(&mut sl.elem),
            Type::Reference(r) => self.visit_type_mut(&mut r.elem),
            Type::Paren(p) => self.visit_type_mut(&mut p.elem),
            Type::Tuple(t) => {
                for e in &mut t.elems {
                    self.visit_type_mut(e);
                }
            }
            Type::Infer(_) => {}
            _ => self.ok = false,
        }
    }

    fn visit_block_mut(&mut self, b: &mut syn::Block) {
        self.refs.open_scope();
        syn::visit_mut::visit_block_mut(self, b);
        self.refs.close_scope();
    }

    fn visit_arm_mut(&mut self, arm: &mut syn::Arm) {
        self.refs.open_scope();
        self.refs.plain_names(&arm.pat);
        syn::visit_mut::visit_arm_mut(self, arm);
        self.refs.close_scope();
    }

    fn visit_stmt_mut(&mut self, stmt: &mut syn::Stmt) {
        match stmt {
            // The initialiser first, in the scope before the binding; then the names.
            syn::Stmt::Local(local) => {
                if let Some(init) = &mut local.init {
                    self.visit_expr_mut(&mut init.expr);
                    if let Some((_, diverge)) = &mut init.diverge {
                        self.visit_expr_mut(diverge);
                    }
                }
                self.visit_pat_mut(&mut local.pat);
                let init = local.init.as_ref().map(|i| &*i.expr);
                self.refs.local(&local.pat, init);
            }
            syn::Stmt::Item(_) => self.ok = false,
            syn::Stmt::Macro(m) => match self.macro_tokens(&m.mac) {
                Some(tokens) => m.mac.tokens = tokens,
                None => self.ok = false,
            },
            _ => syn::visit_mut::visit_stmt_mut(self, stmt),
        }
    }

    fn visit_pat_mut(&mut self, pat: &mut syn::Pat) {
        match pat {
            syn::Pat::Lit(_) | syn::Pat::Range(_) | syn::Pat::Macro(_) | syn::Pat::Path(_) => {
                // An integer literal pattern is fine; a float one cannot match a generic.
                if let syn::Pat::Lit(l) = pat {
                    if matches!(l.lit, syn::Lit::Int(_)) {
                        return;
                    }
                }
                if let syn::Pat::Range(r) = pat {
                    let int = |e: &Option<Box<Expr>>| {
                        e.as_deref().is_none_or(
                            |e| matches!(e, Expr::Lit(l) if matches!(l.lit, syn::Lit::Int(_))),
                        )
                    };
                    if int(&r.start) && int(&r.end) {
                        return;
                    }
                }
                self.ok = false;
            }
            syn::Pat::Struct(_) | syn::Pat::TupleStruct(_) => self.ok = false,
            _ => syn::visit_mut::visit_pat_mut(self, pat),
        }
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        if !self.ok {
            return;
        }
        match expr {
            Expr::Lit(l) => match &l.lit {
                syn::Lit::Float(f) => *expr = self.literal(f.base10_digits(), f.span()),
                syn::Lit::Int(i) if i.suffix() == self.float => {
                    *expr = self.literal(i.base10_digits(), i.span());
                }
                _ => {}
            },
            Expr::Path(p) => {
                if p.qself.is_some() {
                    self.ok = false;
                } else if let Some(id) = p.path.get_ident() {
                    let name = id.to_string();
                    if STD_CONSTS.contains(&name.as_str()) && !self.locals.contains(&name) {
                        // An imported `PI`: the same constant of the generic type.
                        let (generic, rt) = (self.generic, self.rt);
                        *expr = syn::parse_quote!((<#generic as #rt::NumCast>::from(#id).unwrap()));
                    } else {
                        self.ok &= self.locals.contains(&name);
                    }
                } else if let Some(c) = self.constant(&p.path) {
                    *expr = c;
                } else {
                    self.ok = false;
                }
            }
            Expr::Cast(c) => {
                self.visit_expr_mut(&mut c.expr);
                let mut inner = &c.expr;
                while let Expr::Paren(p) = &**inner {
                    inner = &p.expr;
                }
                let (generic, rt) = (self.generic, self.rt);
                if self.is_float(&c.ty) {
                    *expr = syn::parse_quote!(#rt::cast_float::<#generic, _>(#inner));
                } else if let Type::Path(tp) = &*c.ty {
                    match tp.path.get_ident() {
                        Some(int) if INTEGERS.iter().any(|i| int == i) => {
                            if !self.casts.contains(int) {
                                self.casts.push(int.clone());
                            }
                            *expr = syn::parse_quote!(#rt::cast_int::<#int, _>(#inner));
                        }
                        _ => self.ok = false,
                    }
                } else {
                    self.ok = false;
                }
            }
            Expr::Call(call) => {
                let Expr::Path(fp) = &mut *call.func else {
                    self.ok = false;
                    return;
                };
                let segments: Vec<String> = fp
                    .path
                    .segments
                    .iter()
                    .map(|s| s.ident.to_string())
                    .collect();
                let krate = self
                    .rt
                    .clone()
                    .into_iter()
                    .filter_map(|t| match t {
                        proc_macro2::TokenTree::Ident(i) => Some(i.to_string()),
                        _ => None,
                    })
                    .next();
                match segments.as_slice() {
                    [ty, method]
                        if ty == self.float && FLOAT_METHODS.contains(&method.as_str()) =>
                    {
                        let generic = self.generic;
                        let method = &fp.path.segments[1].ident;
                        fp.path = syn::parse_quote!(#generic::#method);
                    }
                    [k, helper]
                        if Some(k) == krate.as_ref()
                            && ["sigmoid", "relu", "softplus"].contains(&helper.as_str()) => {}
                    _ => {
                        self.ok = false;
                        return;
                    }
                }
                for a in &mut call.args {
                    self.visit_expr_mut(a);
                }
            }
            Expr::MethodCall(m) => {
                let name = m.method.to_string();
                if m.turbofish.is_some()
                    || !(FLOAT_METHODS.contains(&name.as_str())
                        || OTHER_METHODS.contains(&name.as_str()))
                {
                    self.ok = false;
                    return;
                }
                syn::visit_mut::visit_expr_method_call_mut(self, m);
            }
            Expr::Macro(m) => match self.macro_tokens(&m.mac) {
                Some(tokens) => m.mac.tokens = tokens,
                None => self.ok = false,
            },
            // The iterable in the scope around the loop; the pattern's names in the body's.
            Expr::ForLoop(f) => {
                self.visit_expr_mut(&mut f.expr);
                self.visit_pat_mut(&mut f.pat);
                self.refs.open_scope();
                self.refs.for_loop(&f.pat, &f.expr);
                self.visit_block_mut(&mut f.body);
                self.refs.close_scope();
            }
            // Arithmetic on a reference to a float (a loop element taken by reference, a `let`
            // of one, `x * &y`): through `*` (see [`References`]).
            Expr::Binary(b) if arithmetic(&b.op) => {
                if compound(&b.op).is_none() {
                    dereference_operand(&mut b.left, &self.refs);
                }
                dereference_operand(&mut b.right, &self.refs);
                if matches!(&*b.left, Expr::Index(_)) && compound(&b.op).is_some() {
                    // `y[i] += y[i - 1]` borrows `y` twice on a generic type (its `AddAssign`
                    // takes `&mut y[i]` first): `y[i] = y[i] + (y[i - 1])`, the same for floats.
                    syn::visit_mut::visit_expr_binary_mut(self, b);
                    let (place, right) = (&b.left, &b.right);
                    let op = compound(&b.op).unwrap_or_default();
                    let op: TokenStream = op.parse().unwrap_or_default();
                    *expr = syn::parse_quote!(#place = #place #op (#right));
                } else {
                    syn::visit_mut::visit_expr_binary_mut(self, b);
                }
            }
            Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => {
                dereference_operand(&mut u.expr, &self.refs);
                syn::visit_mut::visit_expr_unary_mut(self, u);
            }
            // The length is a constant context: left as written.
            Expr::Repeat(r) => self.visit_expr_mut(&mut r.expr),
            Expr::Closure(_)
            | Expr::Struct(_)
            | Expr::Async(_)
            | Expr::Await(_)
            | Expr::Unsafe(_)
            | Expr::Try(_)
            | Expr::TryBlock(_)
            | Expr::Yield(_)
            | Expr::Const(_)
            | Expr::Infer(_)
            | Expr::Verbatim(_)
            | Expr::Field(_)
            | Expr::Let(_) => self.ok = false,
            _ => syn::visit_mut::visit_expr_mut(self, expr),
        }
    }
}
