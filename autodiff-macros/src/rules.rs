//! One adjoint rule per operation, in one place.
//!
//! The macro's side of each rule is only *which runtime function to call with which values*;
//! the math is in `autodiff-runtime/src/rules.rs`, written once beside its formula. A rule call
//! always takes references to the forward values it may need (operands, the result `y`) and to
//! the result's adjoint `d`, and returns the contribution to one operand's adjoint.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use crate::ir::{Op, ValueId};

/// Float methods of one operand with a derivative; the runtime rule is `{name}_adjoint`.
pub const UNARY_METHODS: &[&str] = &[
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "tanh",
    "asinh",
    "acosh",
    "atanh",
    "exp",
    "exp2",
    "exp_m1",
    "ln",
    "ln_1p",
    "log2",
    "log10",
    "sqrt",
    "cbrt",
    "recip",
    "abs",
    "to_degrees",
    "to_radians",
    "fract",
];

/// Float methods of two operands with a derivative; the rules are `{name}_adjoint_lhs`/`_rhs`.
pub const BINARY_METHODS: &[&str] = &["powf", "atan2", "hypot", "max", "min", "log"];

/// Float methods whose result has derivative zero (or is not a float): the macro evaluates them
/// as written and treats the result as a constant.
pub const ZERO_DERIVATIVE_METHODS: &[&str] = &[
    "floor",
    "ceil",
    "round",
    "round_ties_even",
    "trunc",
    "signum",
    "is_nan",
    "is_infinite",
    "is_finite",
    "is_normal",
    "is_subnormal",
    "is_sign_positive",
    "is_sign_negative",
    "classify",
    "to_bits",
    "total_cmp",
    "partial_cmp",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
];

/// Every method with a rule, for "did you mean" style listings in diagnostics.
pub fn supported_methods() -> String {
    let mut all: Vec<&str> = UNARY_METHODS
        .iter()
        .chain(BINARY_METHODS)
        .copied()
        .collect();
    all.extend(["powi", "mul_add", "clamp", "clone"]);
    all.iter()
        .map(|m| format!("`{m}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Looks a unary method up, returning the table's `'static` name.
pub fn unary(name: &str) -> Option<&'static str> {
    UNARY_METHODS.iter().copied().find(|m| *m == name)
}

/// Looks a binary method up, returning the table's `'static` name.
pub fn binary(name: &str) -> Option<&'static str> {
    BINARY_METHODS.iter().copied().find(|m| *m == name)
}

/// The contributions of one node to its operands' adjoints: `(operand, expression)` pairs in
/// operand order, for the operands `wants` accepts (the active ones).
///
/// `rt` is the path to the runtime (`::autodiff::__private`), `value` names a value's binding,
/// `y` and `d` are the node's own value and adjoint.
pub fn contributions(
    op: &Op,
    rt: &TokenStream,
    value: &dyn Fn(ValueId) -> Ident,
    y: &Ident,
    d: &Ident,
    wants: &dyn Fn(ValueId) -> bool,
) -> Vec<(ValueId, TokenStream)> {
    let call = |name: String, args: &[ValueId]| {
        let f = Ident::new(&name, Span::call_site());
        let args = args.iter().map(|a| value(*a));
        quote!(#rt::#f(#(&#args,)* &#y, &#d))
    };
    let mut out = Vec::new();
    match op {
        Op::Param(_) | Op::Verbatim(_) => {}
        Op::Unary(f, _, x) => {
            if wants(*x) {
                out.push((*x, call(format!("{}_adjoint", f.name), &[*x])));
            }
        }
        Op::Binary(f, _, l, r) => {
            if wants(*l) {
                out.push((*l, call(format!("{}_adjoint_lhs", f.name), &[*l, *r])));
            }
            if wants(*r) {
                out.push((*r, call(format!("{}_adjoint_rhs", f.name), &[*l, *r])));
            }
        }
        Op::Powi(_, x, n) => {
            if wants(*x) {
                let (xv, nv) = (value(*x), value(*n));
                out.push((*x, quote!(#rt::powi_adjoint(&#xv, #nv, &#y, &#d))));
            }
        }
        Op::MulAdd(_, a, b, c) => {
            for (operand, suffix) in [(*a, "a"), (*b, "b"), (*c, "c")] {
                if wants(operand) {
                    out.push((
                        operand,
                        call(format!("mul_add_adjoint_{suffix}"), &[*a, *b, *c]),
                    ));
                }
            }
        }
        Op::Clamp(_, x, lo, hi) => {
            for (operand, suffix) in [(*x, "x"), (*lo, "lo"), (*hi, "hi")] {
                if wants(operand) {
                    out.push((
                        operand,
                        call(format!("clamp_adjoint_{suffix}"), &[*x, *lo, *hi]),
                    ));
                }
            }
        }
        Op::Copy(x) => {
            if wants(*x) {
                out.push((*x, quote!(#rt::pass_adjoint(&#d))));
            }
        }
    }
    out
}
