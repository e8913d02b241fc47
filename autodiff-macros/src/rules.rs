//! One adjoint rule per operation, in one place.
//!
//! The macro's side of each rule is only *which runtime function to call with which values*;
//! the math is in `autodiff-runtime/src/rules.rs`, written once beside its formula. A rule call
//! always takes references to the forward values it may need (operands, the result `y`) and to
//! the result's adjoint `d`, and returns the contribution to one operand's adjoint.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{quote, ToTokens};

use crate::ir::{Op, ValueId};

/// Float methods of one operand with a derivative, and what each rule reads: `"x"` the operand,
/// `"y"` the result, `""` only the adjoint. The runtime rule is `{name}_adjoint`.
#[rustfmt::skip]
pub const UNARY: &[(&str, &str)] = &[
    ("sin", "x"),
    ("cos", "x"),
    ("tan", "y"),
    ("asin", "x"),
    ("acos", "x"),
    ("atan", "x"),
    ("sinh", "x"),
    ("cosh", "x"),
    ("tanh", "y"),
    ("asinh", "x"),
    ("acosh", "x"),
    ("atanh", "x"),
    ("exp", "y"),
    ("exp2", "y"),
    ("exp_m1", "xy"),
    ("ln", "x"),
    ("ln_1p", "x"),
    ("log2", "x"),
    ("log10", "x"),
    ("sqrt", "y"),
    ("cbrt", "y"),
    ("recip", "y"),
    ("abs", "x"),
    ("to_degrees", ""),
    ("to_radians", ""),
    ("fract", ""),
];

/// The runtime's differentiable helpers of one value, called as `autodiff::name(x)`, and what
/// each rule reads (as in [`UNARY`]).
#[rustfmt::skip]
pub const HELPERS: &[(&str, &str)] = &[("sigmoid", "y"), ("relu", "x"), ("softplus", "x")];

/// Looks a helper up, returning the table's `'static` name.
pub fn helper(name: &str) -> Option<&'static str> {
    HELPERS.iter().map(|(m, _)| *m).find(|m| *m == name)
}

/// The operators and float methods of two operands, and what each side's rule reads (`l`, `r`
/// the operands, `y` the result, in the runtime signature's order). The runtime rules are
/// `{name}_adjoint_lhs` and `{name}_adjoint_rhs`.
#[rustfmt::skip]
pub const BINARY: &[(&str, &str, &str)] = &[
    ("add", "", ""),
    ("sub", "", ""),
    ("mul", "r", "l"),
    ("div", "r", "ry"),
    ("rem", "", "lr"),
    ("powf", "lr", "ly"),
    ("atan2", "lr", "lr"),
    ("hypot", "ly", "ry"),
    ("max", "lr", "lr"),
    ("min", "lr", "lr"),
    ("log", "lr", "ry"),
];

/// One argument's rule of a tensor operation: the argument's position, the runtime rule, and
/// what it reads.
pub type TensorRule = (usize, &'static str, &'static str);

/// ndarray operations and the runtime's tensor helpers: name, number of arguments, and for
/// each argument with a derivative its rule and what the rule reads: `a`, `b` the arguments by
/// reference, `B` the second argument by value (an `Axis`, the labels), `y` the result.
#[rustfmt::skip]
pub const TENSOR: &[(&str, usize, &[TensorRule])] = &[
    ("dot", 2, &[(0, "dot_adjoint_lhs", "ab"), (1, "dot_adjoint_rhs", "ab")]),
    ("t", 1, &[(0, "t_adjoint", "")]),
    ("sum", 1, &[(0, "sum_adjoint", "a")]),
    ("mean", 1, &[(0, "mean_adjoint", "a")]),
    ("sum_axis", 2, &[(0, "sum_axis_adjoint", "aB")]),
    ("mean_axis", 2, &[(0, "mean_axis_adjoint", "aB")]),
    ("softmax", 2, &[(0, "softmax_adjoint", "yB")]),
    ("log_softmax", 2, &[(0, "log_softmax_adjoint", "yB")]),
    ("log_sum_exp", 1, &[(0, "log_sum_exp_adjoint", "ay")]),
    ("cross_entropy", 2, &[(0, "cross_entropy_adjoint", "aB")]),
    ("mse", 2, &[(0, "mse_adjoint_lhs", "ab"), (1, "mse_adjoint_rhs", "ab")]),
];

/// The tensor helpers of the runtime, called by path (`autodiff::softmax(&z, Axis(1))`).
pub const TENSOR_HELPERS: &[&str] = &[
    "softmax",
    "log_softmax",
    "log_sum_exp",
    "cross_entropy",
    "mse",
];

/// Looks a tensor operation up: its `'static` name and number of arguments.
pub fn tensor(name: &str) -> Option<(&'static str, usize)> {
    TENSOR
        .iter()
        .find(|(m, _, _)| *m == name)
        .map(|(m, n, _)| (*m, *n))
}

/// The arguments of a tensor operation that have a derivative.
pub fn tensor_differentiable(name: &str) -> Vec<usize> {
    TENSOR
        .iter()
        .find(|(m, _, _)| *m == name)
        .map(|(_, _, r)| r.iter().map(|(i, _, _)| *i).collect())
        .unwrap_or_default()
}

/// Whether a tensor operation's result is a scalar (`sum`, `mean`, a loss).
pub fn tensor_is_reduction(name: &str) -> bool {
    matches!(
        name,
        "sum" | "mean" | "log_sum_exp" | "cross_entropy" | "mse"
    )
}

/// The binary operations that are float methods (the rest are operators).
const OPERATORS: &[&str] = &["add", "sub", "mul", "div", "rem"];

/// Float methods whose result has derivative zero (or is not a float): the macro evaluates them
/// as written and treats the result as a constant.
#[rustfmt::skip]
pub const ZERO_DERIVATIVE_METHODS: &[&str] = &[
    "floor",
    "ceil",
    "round",
    "round_ties_even",
    "trunc",
    "signum",
    "len",
    "is_empty",
    "nrows",
    "ncols",
    "ndim",
    "shape",
    "dim",
    "raw_dim",
    "len_of",
    "strides",
    "is_standard_layout",
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

/// Every method with a rule, for the diagnostic about a method without one.
pub fn supported_methods() -> String {
    let mut all: Vec<&str> = UNARY.iter().map(|(m, _)| *m).collect();
    all.extend(
        BINARY
            .iter()
            .map(|(m, _, _)| *m)
            .filter(|m| !OPERATORS.contains(m)),
    );
    all.extend(["powi", "mul_add", "clamp"]);
    all.iter()
        .map(|m| format!("`{m}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Looks a unary method up, returning the table's `'static` name.
pub fn unary(name: &str) -> Option<&'static str> {
    UNARY.iter().map(|(m, _)| *m).find(|m| *m == name)
}

/// Looks a binary method (not an operator) up, returning the table's `'static` name.
pub fn binary(name: &str) -> Option<&'static str> {
    BINARY
        .iter()
        .map(|(m, _, _)| *m)
        .find(|m| *m == name && !OPERATORS.contains(m))
}

/// A forward value a rule reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// A value, passed by reference.
    Value(ValueId),
    /// A value passed by value: the exponent of `powi`, an `Axis`, labels.
    Int(ValueId),
}

/// One operand's share of a node's reverse: `target`'s adjoint gets `function(reads..., &d)`.
pub struct Contribution {
    /// The operand whose adjoint receives the contribution.
    pub target: ValueId,
    /// The runtime rule.
    pub function: String,
    /// The forward values the rule reads, in its signature's order.
    pub reads: Vec<Read>,
    /// Whether the values and the adjoint are passed as views (`&rt::view(&x)`): an
    /// elementwise rule applied to tensors.
    pub view: bool,
}

/// Whether a node's operation, in its general (tensor) form, has a rule: binary float methods
/// other than `powf`, `mul_add` and `clamp` have rules for scalars only.
pub fn has_general_rule(op: &Op) -> bool {
    match op {
        Op::Binary(f, Some(_), _, _) => f.name == "powf",
        Op::MulAdd(..) | Op::Clamp(..) => false,
        _ => true,
    }
}

/// The contributions of a node `y = op(...)` to its operands' adjoints, in operand order, for
/// the operands `wants` accepts (the active ones). `general` selects the rules for operands
/// that may be tensors: broadcasting arithmetic (`mul_adjoint_lhs_t(&l, &r, &d)`, which reduces
/// the adjoint back to `l`'s shape) and elementwise rules on views.
pub fn contributions(
    op: &Op,
    y: ValueId,
    wants: &dyn Fn(ValueId) -> bool,
    general: bool,
) -> Vec<Contribution> {
    // Resolves a reads string ("lr", "y", ...) against the node's operands.
    let resolve = |spec: &str, names: &[(char, ValueId)]| -> Vec<Read> {
        spec.chars()
            .filter_map(|c| {
                if c == 'y' {
                    Some(y)
                } else {
                    names.iter().find(|(n, _)| *n == c).map(|(_, v)| *v)
                }
            })
            .map(Read::Value)
            .collect()
    };
    let mut out = Vec::new();
    let mut push = |target: ValueId, function: String, reads: Vec<Read>| {
        if wants(target) {
            out.push(Contribution {
                target,
                function,
                reads,
                view: general,
            });
        }
    };
    match op {
        // Calls have their own reverse (one `_vjp_all` call for all arguments).
        Op::Param(_)
        | Op::Verbatim(..)
        | Op::Region
        | Op::Index(..)
        | Op::Element(..)
        | Op::Field(..)
        | Op::Call(..) => {}
        Op::Tensor(f, args) => {
            let rules = TENSOR
                .iter()
                .find(|(m, _, _)| *m == f.name)
                .map_or(&[][..], |(_, _, r)| *r);
            for (i, function, spec) in rules {
                let Some(&target) = args.get(*i) else {
                    continue;
                };
                let reads = spec
                    .chars()
                    .filter_map(|c| match c {
                        'y' => Some(Read::Value(y)),
                        'a' => args.first().copied().map(Read::Value),
                        'b' => args.get(1).copied().map(Read::Value),
                        'B' => args.get(1).copied().map(Read::Int),
                        _ => None,
                    })
                    .collect();
                if wants(target) {
                    out.push(Contribution {
                        target,
                        function: (*function).to_owned(),
                        reads,
                        view: false,
                    });
                }
            }
        }
        // Broadcasting arithmetic: the rules read both operands for their shapes.
        Op::Binary(f, None, l, r) if general && f.name != "rem" && l != r => {
            let names = [('l', *l), ('r', *r)];
            let rhs = if f.name == "div" { "lry" } else { "lr" };
            for (target, side, spec) in [(*l, "lhs", "lr"), (*r, "rhs", rhs)] {
                if wants(target) {
                    out.push(Contribution {
                        target,
                        function: format!("{}_adjoint_{side}_t", f.name),
                        reads: resolve(spec, &names),
                        view: false,
                    });
                }
            }
        }
        Op::Binary(f, Some(_), l, r) if general && f.name == "powf" => {
            let names = [('l', *l), ('r', *r)];
            for (target, side, spec) in [(*l, "lhs", "lr"), (*r, "rhs", "lry")] {
                if wants(target) {
                    out.push(Contribution {
                        target,
                        function: format!("powf_adjoint_{side}_t"),
                        reads: resolve(spec, &names),
                        view: false,
                    });
                }
            }
        }
        // A fixed array's `to_vec()` changes the type: the adjoint goes back as an array.
        Op::Unary(f, _, x) if f.name == "to_vec" => {
            push(*x, "to_vec_adjoint".to_owned(), vec![Read::Value(*x)]);
        }
        Op::Unary(f, _, x) if matches!(f.name, "clone" | "to_owned" | "view") => {
            push(*x, "pass_adjoint".to_owned(), Vec::new());
        }
        Op::Unary(f, _, x) => {
            let spec = UNARY
                .iter()
                .chain(HELPERS)
                .find(|(m, _)| *m == f.name)
                .map_or("", |(_, s)| *s);
            let spec = if f.name == "neg" { "" } else { spec };
            push(
                *x,
                format!("{}_adjoint", f.name),
                resolve(spec, &[('x', *x)]),
            );
        }
        // `x * x`: one contribution, `x (d + d)`, as exact as two and one multiplication cheaper.
        Op::Binary(f, _, l, r) if f.name == "mul" && l == r => {
            push(*l, "square_adjoint".to_owned(), vec![Read::Value(*l)]);
        }
        Op::Binary(f, _, l, r) => {
            let (lhs, rhs) = BINARY
                .iter()
                .find(|(m, _, _)| *m == f.name)
                .map_or(("", ""), |(_, a, b)| (*a, *b));
            let names = [('l', *l), ('r', *r)];
            push(*l, format!("{}_adjoint_lhs", f.name), resolve(lhs, &names));
            push(*r, format!("{}_adjoint_rhs", f.name), resolve(rhs, &names));
        }
        Op::Powi(_, x, n) => push(
            *x,
            "powi_adjoint".to_owned(),
            vec![Read::Value(*x), Read::Int(*n)],
        ),
        Op::MulAdd(_, a, b, c) => {
            push(*a, "mul_add_adjoint_a".to_owned(), vec![Read::Value(*b)]);
            push(*b, "mul_add_adjoint_b".to_owned(), vec![Read::Value(*a)]);
            push(*c, "mul_add_adjoint_c".to_owned(), Vec::new());
        }
        Op::Clamp(_, x, lo, hi) => {
            push(
                *x,
                "clamp_adjoint_x".to_owned(),
                [*x, *lo, *hi].map(Read::Value).to_vec(),
            );
            push(
                *lo,
                "clamp_adjoint_lo".to_owned(),
                [*x, *lo].map(Read::Value).to_vec(),
            );
            push(
                *hi,
                "clamp_adjoint_hi".to_owned(),
                [*x, *hi].map(Read::Value).to_vec(),
            );
        }
        Op::Copy(x) => push(*x, "pass_adjoint".to_owned(), Vec::new()),
    }
    // A copy's adjoint passes through whole, whatever its type.
    if matches!(op, Op::Copy(_))
        || matches!(op, Op::Unary(f, _, _) if matches!(f.name, "clone" | "to_vec" | "to_owned" | "view"))
    {
        for c in &mut out {
            c.view = false;
        }
    }
    out
}

/// The one contribution of `y = m * x` where `m = c * x` with `c` constant and `m` used only
/// there: `d_x += m (d + d)`, the rule of `x * x` read at `m` (see the reverse sweep's
/// `scaled_squares`).
pub fn scaled_square(m: ValueId, x: ValueId) -> Contribution {
    Contribution {
        target: x,
        function: "square_adjoint".to_owned(),
        reads: vec![Read::Value(m)],
        view: false,
    }
}

/// A contribution on floats that is the adjoint itself (either side of `+`, the left of `-`) or
/// its negation (the right of `-`, unary `-`), written inline, `d` or `-d`, as a person would
/// write it: the runtime's rule computes the same on floats (on tensors it also sums over the
/// broadcast axes, so there the call stays), and each call the macro does not write is one
/// rustc does not resolve.
pub fn inline_on_floats(function: &str, reads: &[Ident], d: &Ident) -> Option<TokenStream> {
    // Each the runtime rule's formula (`autodiff-runtime/src/rules.rs`), operations in the same
    // order, so the result is the same to the bit; only rules made of arithmetic and the float
    // methods a `Float` bound provides.
    Some(match (function, reads) {
        ("add_adjoint_lhs" | "add_adjoint_rhs" | "sub_adjoint_lhs" | "fract_adjoint", []) => {
            quote!(#d)
        }
        ("sub_adjoint_rhs" | "neg_adjoint", []) => quote!(-#d),
        ("mul_adjoint_lhs" | "mul_adjoint_rhs" | "exp_adjoint", [r]) => quote!(#d * #r),
        ("div_adjoint_lhs" | "ln_adjoint", [r]) => quote!(#d / #r),
        ("div_adjoint_rhs", [r, y]) => quote!(-(#d * #y) / #r),
        ("square_adjoint", [x]) => quote!(#x * (#d + #d)),
        ("sqrt_adjoint", [y]) => quote!(#d / (#y + #y)),
        ("recip_adjoint", [y]) => quote!(-(#d * #y * #y)),
        ("sin_adjoint", [x]) => quote!(#d * #x.cos()),
        ("cos_adjoint", [x]) => quote!(-(#d * #x.sin())),
        _ => return None,
    })
}

/// The call expression of a contribution: `rt::function(&reads..., &d)`. `reference(v)` is a
/// reference to a forward value (`&x`, or `x` for a parameter that is a reference).
pub fn render(
    c: &Contribution,
    rt: &TokenStream,
    value: &dyn Fn(ValueId) -> Ident,
    reference: &dyn Fn(ValueId) -> TokenStream,
    d: &Ident,
) -> TokenStream {
    let f = Ident::new(&c.function, Span::call_site());
    let args = c.reads.iter().map(|r| match r {
        Read::Value(v) if c.view => {
            let v = reference(*v);
            quote!(&#rt::view(#v))
        }
        Read::Value(v) => reference(*v),
        Read::Int(v) => value(*v).to_token_stream(),
    });
    let d = if c.view {
        quote!(&#rt::view(&#d))
    } else {
        quote!(&#d)
    };
    quote!(#rt::#f(#(#args,)* #d))
}

/// The call of an elementwise contribution on tensors that takes the adjoint `d` by value and
/// writes the result over its buffer (`rt::tanh_adjoint_into(&rt::view(&y), d)`): for a node
/// whose adjoint nothing reads after its one contribution.
pub fn render_into(
    c: &Contribution,
    rt: &TokenStream,
    value: &dyn Fn(ValueId) -> Ident,
    reference: &dyn Fn(ValueId) -> TokenStream,
    d: &Ident,
) -> TokenStream {
    let f = Ident::new(&format!("{}_into", c.function), Span::call_site());
    let args = c.reads.iter().map(|r| match r {
        Read::Value(v) => {
            let v = reference(*v);
            quote!(&#rt::view(#v))
        }
        Read::Int(v) => value(*v).to_token_stream(),
    });
    quote!(#rt::#f(#(#args,)* #d))
}
