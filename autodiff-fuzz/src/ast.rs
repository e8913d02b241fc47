//! The generated language: a small syntax tree of the Rust that `#[differentiate]` accepts, its
//! printer, a scope and type checker (used on every shrunk candidate), and the one-step
//! simplifications the minimiser tries.
//!
//! Every function is generic, `fn fN<T: num_traits::Float>(…) -> T`, with one of a few fixed
//! signatures ([`Shape`]). Floats are `T`; integers are `usize` (parameter `n`, loop indices,
//! counters); arrays are the slice parameter `x` and local `vec![T::zero(); x.len()]`s, all of the
//! length `x.len() >= 1`, so an index is in bounds by construction (see [`IntExpr::in_bounds`]).

use std::fmt::Write as _;

/// The signature of a generated function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `(x: &[T], a: T, b: T, n: usize)`
    Full,
    /// `(a: T, b: T)`
    Scalars,
    /// `(x: &[T], n: usize)`
    Vector,
    /// `(a: T)`
    One,
}

impl Shape {
    /// Whether the slice parameter `x` exists.
    pub fn has_x(self) -> bool {
        matches!(self, Shape::Full | Shape::Vector)
    }
    /// Whether the scalar parameter `a` exists.
    pub fn has_a(self) -> bool {
        matches!(self, Shape::Full | Shape::Scalars | Shape::One)
    }
    /// Whether the scalar parameter `b` exists.
    pub fn has_b(self) -> bool {
        matches!(self, Shape::Full | Shape::Scalars)
    }
    /// Whether the integer parameter `n` exists.
    pub fn has_n(self) -> bool {
        matches!(self, Shape::Full | Shape::Vector)
    }
    /// The float parameters, in order (`x` first when present).
    pub fn float_params(self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.has_x() {
            v.push("x");
        }
        if self.has_a() {
            v.push("a");
        }
        if self.has_b() {
            v.push("b");
        }
        v
    }
    /// The parameter list as written.
    pub fn params(self) -> &'static str {
        match self {
            Shape::Full => "x: &[T], a: T, b: T, n: usize",
            Shape::Scalars => "a: T, b: T",
            Shape::Vector => "x: &[T], n: usize",
            Shape::One => "a: T",
        }
    }
    /// The name used in the case table (`autodiff_fuzz::oracle::Shape`).
    pub fn variant(self) -> &'static str {
        match self {
            Shape::Full => "Full",
            Shape::Scalars => "Scalars",
            Shape::Vector => "Vector",
            Shape::One => "One",
        }
    }
}

/// Arithmetic operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinOp {
    fn prec(self) -> u8 {
        match self {
            BinOp::Add | BinOp::Sub => 1,
            BinOp::Mul | BinOp::Div | BinOp::Rem => 2,
        }
    }
    fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }
}

/// Comparison operators (`==` and `!=` only between integers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Gt,
    Le,
    Ge,
    Eq,
    Ne,
}

impl CmpOp {
    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Gt => ">",
            CmpOp::Le => "<=",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }
}

/// `=` and the compound assignments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignOp {
    Set,
    Add,
    Sub,
    Mul,
    Div,
}

impl AssignOp {
    fn symbol(self) -> &'static str {
        match self {
            AssignOp::Set => "=",
            AssignOp::Add => "+=",
            AssignOp::Sub => "-=",
            AssignOp::Mul => "*=",
            AssignOp::Div => "/=",
        }
    }
}

/// Float methods, called as `receiver.name(args…)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Method {
    Sin,
    Cos,
    Tan,
    Tanh,
    Sinh,
    Cosh,
    Atan,
    Asin,
    Acos,
    Asinh,
    Acosh,
    Atanh,
    Exp,
    Exp2,
    ExpM1,
    Ln,
    Ln1p,
    Log2,
    Log10,
    Sqrt,
    Cbrt,
    Recip,
    Abs,
    Floor,
    Ceil,
    Round,
    Trunc,
    Fract,
    Signum,
    ToDegrees,
    ToRadians,
    Max,
    Min,
    Atan2,
    Hypot,
    Powf,
    Log,
    MulAdd,
    Clamp,
}

impl Method {
    /// The method's name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Sin => "sin",
            Method::Cos => "cos",
            Method::Tan => "tan",
            Method::Tanh => "tanh",
            Method::Sinh => "sinh",
            Method::Cosh => "cosh",
            Method::Atan => "atan",
            Method::Asin => "asin",
            Method::Acos => "acos",
            Method::Asinh => "asinh",
            Method::Acosh => "acosh",
            Method::Atanh => "atanh",
            Method::Exp => "exp",
            Method::Exp2 => "exp2",
            Method::ExpM1 => "exp_m1",
            Method::Ln => "ln",
            Method::Ln1p => "ln_1p",
            Method::Log2 => "log2",
            Method::Log10 => "log10",
            Method::Sqrt => "sqrt",
            Method::Cbrt => "cbrt",
            Method::Recip => "recip",
            Method::Abs => "abs",
            Method::Floor => "floor",
            Method::Ceil => "ceil",
            Method::Round => "round",
            Method::Trunc => "trunc",
            Method::Fract => "fract",
            Method::ToDegrees => "to_degrees",
            Method::ToRadians => "to_radians",
            Method::Signum => "signum",
            Method::Max => "max",
            Method::Min => "min",
            Method::Atan2 => "atan2",
            Method::Hypot => "hypot",
            Method::Powf => "powf",
            Method::Log => "log",
            Method::MulAdd => "mul_add",
            Method::Clamp => "clamp",
        }
    }
    /// The number of arguments besides the receiver.
    pub fn arity(self) -> usize {
        match self {
            Method::Max
            | Method::Min
            | Method::Atan2
            | Method::Hypot
            | Method::Powf
            | Method::Log => 1,
            Method::MulAdd | Method::Clamp => 2,
            _ => 0,
        }
    }
}

/// A `usize` expression.
#[derive(Clone, Debug, PartialEq)]
pub enum IntExpr {
    /// An integer variable: `n`, a loop index or a counter.
    Var(String),
    /// A literal.
    Lit(usize),
    /// `arr.len()` (every array has the length of `x`).
    Len(String),
    /// `a + b`
    Add(Box<IntExpr>, Box<IntExpr>),
    /// `a - b` (only `arr.len() - 1`).
    Sub(Box<IntExpr>, Box<IntExpr>),
    /// `a % b`
    Rem(Box<IntExpr>, Box<IntExpr>),
}

impl IntExpr {
    fn prec(&self) -> u8 {
        match self {
            IntExpr::Add(..) | IntExpr::Sub(..) => 1,
            IntExpr::Rem(..) => 2,
            _ => 3,
        }
    }

    fn write(&self, out: &mut String) {
        match self {
            IntExpr::Var(v) => out.push_str(v),
            IntExpr::Lit(k) => {
                let _ = write!(out, "{k}");
            }
            IntExpr::Len(a) => {
                let _ = write!(out, "{a}.len()");
            }
            IntExpr::Add(l, r) | IntExpr::Sub(l, r) | IntExpr::Rem(l, r) => {
                let (p, sym) = match self {
                    IntExpr::Add(..) => (1, "+"),
                    IntExpr::Sub(..) => (1, "-"),
                    _ => (2, "%"),
                };
                paren_int(l, p, out);
                let _ = write!(out, " {sym} ");
                paren_int(r, p + 1, out);
            }
        }
    }

    /// The expression as Rust source.
    pub fn to_source(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }
}

fn paren_int(e: &IntExpr, min: u8, out: &mut String) {
    if e.prec() < min {
        out.push('(');
        e.write(out);
        out.push(')');
    } else {
        e.write(out);
    }
}

/// How a literal is spelled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lit {
    /// `T::from(v).unwrap()`
    From(f64),
    /// `T::zero()`
    Zero,
    /// `T::one()`
    One,
    /// `T::from(std::f64::consts::PI).unwrap()` / `std::f64::consts::PI`
    Pi,
    /// `T::epsilon()` / `f64::EPSILON`
    Epsilon,
}

/// How a function is spelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `fn f<T: Float>(…) -> T`, literals `T::from(0.3).unwrap()`, integers `T::from(i).unwrap()`.
    Generic,
    /// `fn f(…) -> f64`, literals `0.3` (`0.3_f64` as a method receiver), integers `i as f64`.
    F64,
    /// `F64` inside an expression of literals only, whose type nothing else fixes: every literal
    /// suffixed, `0.3_f64`.
    F64Typed,
}

impl Dialect {
    fn is_f64(self) -> bool {
        self != Dialect::Generic
    }
}

/// The exponent of `powi`.
#[derive(Clone, Debug, PartialEq)]
pub enum PowiExp {
    /// `powi(k)`
    Const(i32),
    /// `powi(i as i32)` of an integer variable.
    Int(String),
}

/// The patterns of a `match int % 3`: the third arm is always `_`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pats {
    /// `0 => …, 1 => …, _ => …`
    Plain,
    /// `0 => …, 1 | 2 => …, _ => …`
    Or,
    /// `0 => …, r if r > 1 => …, _ => …`, the binding `r` numbered (`r3`) when not `0`.
    Guard(usize),
}

impl Pats {
    fn arms(self) -> [String; 3] {
        match self {
            Pats::Plain => ["0".into(), "1".into(), "_".into()],
            Pats::Or => ["0".into(), "1 | 2".into(), "_".into()],
            Pats::Guard(k) => {
                let r = if k == 0 {
                    "r".to_string()
                } else {
                    format!("r{k}")
                };
                ["0".into(), format!("{r} if {r} > 1"), "_".into()]
            }
        }
    }
}

/// A float (`T`) expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A float variable or parameter.
    Var(String),
    /// `*v` of a `for v in x.iter()` variable.
    Deref(String),
    /// A literal.
    Lit(Lit),
    /// `T::from(int).unwrap()`
    FromInt(IntExpr),
    /// `arr[index]`
    Read(String, IntExpr),
    /// `-e`
    Neg(Box<Expr>),
    /// `l op r`
    Bin(BinOp, Box<Expr>, Box<Expr>),
    /// `receiver.method(args…)`
    Call(Method, Box<Expr>, Vec<Expr>),
    /// `receiver.powi(exp)`
    Powi(Box<Expr>, PowiExp),
    /// `if cond { a } else { b }`
    If(Box<Cond>, Box<Expr>, Box<Expr>),
    /// `match int % 3 { 0 => a, 1 => b, _ => c }` (or other [`Pats`])
    Match(IntExpr, Box<[Expr; 3]>, Pats),
    /// `T::method(args…)` / `f64::method(args…)`: the receiver is the first argument.
    PathCall(Method, Vec<Expr>),
    /// `[a, b, c][int % 3]`: an array literal indexed where it is written.
    Pick(Box<[Expr; 3]>, IntExpr),
}

impl Expr {
    /// `l op r`
    pub fn bin(op: BinOp, l: Expr, r: Expr) -> Expr {
        Expr::Bin(op, Box::new(l), Box::new(r))
    }
    /// `receiver.method(args…)`
    pub fn call(m: Method, recv: Expr, args: Vec<Expr>) -> Expr {
        debug_assert_eq!(m.arity(), args.len());
        Expr::Call(m, Box::new(recv), args)
    }
    /// `T::from(v).unwrap()`
    pub fn lit(v: f64) -> Expr {
        Expr::Lit(Lit::From(v))
    }

    fn prec(&self, d: Dialect) -> u8 {
        match self {
            Expr::If(..) | Expr::Match(..) => 0,
            Expr::Bin(op, ..) => op.prec(),
            // `*v.abs()` is `*(v.abs())`: a dereference needs parentheses as a receiver.
            Expr::Neg(_) | Expr::Deref(_) => 3,
            // `-0.7` and `i as f64`: unary-like.
            Expr::Lit(Lit::From(v)) if d.is_f64() && v.is_sign_negative() => 3,
            Expr::FromInt(_) if d.is_f64() => 3,
            _ => 4,
        }
    }

    /// Whether this is `-0.7` or `i as f64` in the `f64` dialect (parenthesised after a `-`
    /// and as the operand of a comparison).
    fn unary_like(&self, d: Dialect) -> bool {
        d.is_f64()
            && (matches!(self, Expr::Lit(Lit::From(v)) if v.is_sign_negative())
                || matches!(self, Expr::FromInt(_)))
    }

    /// Whether the expression's type is fixed by a part of it (a variable, an element, a cast),
    /// not only by literals, which the `f64` dialect must then suffix where a method is called
    /// on them.
    pub fn typed(&self) -> bool {
        match self {
            Expr::Var(_) | Expr::Deref(_) | Expr::Read(..) | Expr::FromInt(_) => true,
            Expr::Lit(Lit::Pi | Lit::Epsilon) => true,
            Expr::Lit(_) => false,
            Expr::If(_, a, b) => a.typed() || b.typed(),
            Expr::Match(_, arms, _) | Expr::Pick(arms, _) => arms.iter().any(Expr::typed),
            Expr::PathCall(..) => true,
            Expr::Call(_, r, _) | Expr::Powi(r, _) => r.typed(),
            Expr::Neg(e) => e.typed(),
            Expr::Bin(_, l, r) => l.typed() || r.typed(),
        }
    }

    /// A method receiver.
    fn write_receiver(&self, out: &mut String, d: Dialect) {
        if d == Dialect::F64 && !self.typed() {
            paren(self, 4, out, Dialect::F64Typed);
            return;
        }
        if d.is_f64() {
            // A literal receiver needs its type: `0.3_f64.sin()`, `(-0.7_f64).sin()`.
            let v = match self {
                Expr::Lit(Lit::From(v)) => Some(*v),
                Expr::Lit(Lit::Zero) => Some(0.0),
                Expr::Lit(Lit::One) => Some(1.0),
                _ => None,
            };
            if let Some(v) = v {
                if v.is_sign_negative() {
                    let _ = write!(out, "({v:?}_f64)");
                } else {
                    let _ = write!(out, "{v:?}_f64");
                }
                return;
            }
        }
        paren(self, 4, out, d);
    }

    fn write(&self, out: &mut String, d: Dialect) {
        match self {
            Expr::Var(v) => out.push_str(v),
            Expr::Deref(v) => {
                let _ = write!(out, "*{v}");
            }
            Expr::Lit(Lit::Zero) if d == Dialect::F64 => out.push_str("0.0"),
            Expr::Lit(Lit::One) if d == Dialect::F64 => out.push_str("1.0"),
            Expr::Lit(Lit::From(v)) if d == Dialect::F64 => {
                let _ = write!(out, "{v:?}");
            }
            Expr::Lit(Lit::Zero) if d == Dialect::F64Typed => out.push_str("0.0_f64"),
            Expr::Lit(Lit::One) if d == Dialect::F64Typed => out.push_str("1.0_f64"),
            Expr::Lit(Lit::From(v)) if d == Dialect::F64Typed => {
                let _ = write!(out, "{v:?}_f64");
            }
            Expr::FromInt(i) if d.is_f64() => {
                paren_int(i, 3, out);
                out.push_str(" as f64");
            }
            Expr::Lit(Lit::Pi) if d.is_f64() => out.push_str("std::f64::consts::PI"),
            Expr::Lit(Lit::Epsilon) if d.is_f64() => out.push_str("f64::EPSILON"),
            Expr::Lit(Lit::Pi) => out.push_str("T::from(std::f64::consts::PI).unwrap()"),
            Expr::Lit(Lit::Epsilon) => out.push_str("T::epsilon()"),
            Expr::Lit(Lit::Zero) => out.push_str("T::zero()"),
            Expr::Lit(Lit::One) => out.push_str("T::one()"),
            Expr::Lit(Lit::From(v)) => {
                let _ = write!(out, "T::from({v:?}).unwrap()");
            }
            Expr::FromInt(i) => {
                out.push_str("T::from(");
                i.write(out);
                out.push_str(").unwrap()");
            }
            Expr::Read(a, i) => {
                let _ = write!(out, "{a}[");
                i.write(out);
                out.push(']');
            }
            Expr::Neg(e) => {
                out.push('-');
                // `-(-x)`: a double negation is a lint; `-(i as f64)`: `-i` is not a float.
                let min = if matches!(**e, Expr::Neg(_)) || e.unary_like(d) {
                    4
                } else {
                    3
                };
                paren(e, min, out, d);
            }
            Expr::Bin(op, l, r) => {
                // `a + i as f64 < b` reads `f64<…>` as generic arguments: casts in operands are
                // parenthesised.
                let cast = |e: &Expr, min: u8| {
                    if d.is_f64() && matches!(e, Expr::FromInt(_)) {
                        4
                    } else {
                        min
                    }
                };
                paren(l, cast(l, op.prec()), out, d);
                let _ = write!(out, " {} ", op.symbol());
                paren(r, cast(r, op.prec() + 1), out, d);
            }
            Expr::Call(m, recv, args) => {
                recv.write_receiver(out, d);
                let _ = write!(out, ".{}(", m.name());
                for (k, a) in args.iter().enumerate() {
                    if k > 0 {
                        out.push_str(", ");
                    }
                    a.write(out, d);
                }
                out.push(')');
            }
            Expr::Powi(recv, p) => {
                recv.write_receiver(out, d);
                match p {
                    PowiExp::Const(k) => {
                        let _ = write!(out, ".powi({k})");
                    }
                    PowiExp::Int(v) => {
                        let _ = write!(out, ".powi({v} as i32)");
                    }
                }
            }
            Expr::If(c, a, b) => {
                out.push_str("if ");
                c.write(out, d);
                out.push_str(" { ");
                a.write(out, d);
                out.push_str(" } else { ");
                b.write(out, d);
                out.push_str(" }");
            }
            Expr::Match(i, arms, pats) => {
                out.push_str("match ");
                paren_int(i, 3, out);
                out.push_str(" % 3 { ");
                for (k, pat) in pats.arms().iter().enumerate() {
                    if k > 0 {
                        out.push_str(", ");
                    }
                    let _ = write!(out, "{pat} => ");
                    arms[k].write(out, d);
                }
                out.push_str(" }");
            }
            Expr::Pick(elems, i) => {
                out.push('[');
                for (k, e) in elems.iter().enumerate() {
                    if k > 0 {
                        out.push_str(", ");
                    }
                    e.write(out, d);
                }
                out.push_str("][");
                paren_int(i, 3, out);
                out.push_str(" % 3]");
            }
            Expr::PathCall(m, args) => {
                let ty = if d.is_f64() { "f64" } else { "T" };
                let _ = write!(out, "{ty}::{}(", m.name());
                for (k, a) in args.iter().enumerate() {
                    if k > 0 {
                        out.push_str(", ");
                    }
                    a.write(out, d);
                }
                out.push(')');
            }
        }
    }

    /// The expression as Rust source.
    pub fn to_source(&self) -> String {
        let mut s = String::new();
        self.write(&mut s, Dialect::Generic);
        s
    }

    /// Whether the expression names `name` (a variable, an array, an integer).
    pub fn mentions(&self, name: &str) -> bool {
        fn int(i: &IntExpr, name: &str) -> bool {
            match i {
                IntExpr::Var(v) | IntExpr::Len(v) => v == name,
                IntExpr::Lit(_) => false,
                IntExpr::Add(l, r) | IntExpr::Sub(l, r) | IntExpr::Rem(l, r) => {
                    int(l, name) || int(r, name)
                }
            }
        }
        match self {
            Expr::Var(v) | Expr::Deref(v) => v == name,
            Expr::Read(a, i) => a == name || int(i, name),
            Expr::FromInt(i) | Expr::Match(i, ..) | Expr::Pick(_, i) if int(i, name) => true,
            Expr::Powi(_, PowiExp::Int(v)) if v == name => true,
            _ => self.children().iter().any(|c| c.mentions(name)),
        }
    }

    /// Whether the expression reads an element of `array`.
    pub fn reads_array(&self, array: &str) -> bool {
        match self {
            Expr::Read(a, _) => a == array,
            _ => self.children().iter().any(|c| c.reads_array(array)),
        }
    }

    /// Number of nodes (a size measure for the minimiser).
    pub fn size(&self) -> usize {
        1 + match self {
            Expr::Neg(e) | Expr::Powi(e, _) => e.size(),
            Expr::Bin(_, l, r) => l.size() + r.size(),
            Expr::Call(_, r, args) => r.size() + args.iter().map(Expr::size).sum::<usize>(),
            Expr::If(c, a, b) => c.size() + a.size() + b.size(),
            Expr::Match(_, arms, _) | Expr::Pick(arms, _) => arms.iter().map(Expr::size).sum(),
            Expr::PathCall(_, args) => args.iter().map(Expr::size).sum(),
            _ => 0,
        }
    }

    /// The direct float sub-expressions.
    fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Neg(e) | Expr::Powi(e, _) => vec![e],
            Expr::Bin(_, l, r) => vec![l, r],
            Expr::Call(_, r, args) => {
                let mut v: Vec<&Expr> = vec![r];
                v.extend(args.iter());
                v
            }
            Expr::If(c, a, b) => {
                let mut v: Vec<&Expr> = vec![a, b];
                v.extend(c.exprs());
                v
            }
            Expr::Match(_, arms, _) | Expr::Pick(arms, _) => arms.iter().collect(),
            Expr::PathCall(_, args) => args.iter().collect(),
            _ => vec![],
        }
    }

    /// Mutable references to the direct float sub-expressions, in the order of `children`.
    fn children_mut(&mut self) -> Vec<&mut Expr> {
        match self {
            Expr::Neg(e) | Expr::Powi(e, _) => vec![&mut **e],
            Expr::Bin(_, l, r) => vec![&mut **l, &mut **r],
            Expr::Call(_, r, args) => {
                let mut v: Vec<&mut Expr> = vec![&mut **r];
                v.extend(args.iter_mut());
                v
            }
            Expr::If(c, a, b) => {
                let mut v: Vec<&mut Expr> = vec![&mut **a, &mut **b];
                v.extend(c.exprs_mut());
                v
            }
            Expr::Match(_, arms, _) | Expr::Pick(arms, _) => arms.iter_mut().collect(),
            Expr::PathCall(_, args) => args.iter_mut().collect(),
            _ => vec![],
        }
    }

    /// Every one-step simplification: the expression replaced by one of its sub-expressions or
    /// by a literal, or a sub-expression simplified in place.
    fn variants(&self) -> Vec<Expr> {
        let mut out: Vec<Expr> = Vec::new();
        if !matches!(self, Expr::Lit(_)) {
            out.push(Expr::lit(0.5));
        }
        for c in self.children() {
            out.push(c.clone());
        }
        let n = self.children().len();
        for k in 0..n {
            let child = self.children()[k].clone();
            for v in child.variants() {
                let mut e = self.clone();
                *e.children_mut().swap_remove(k) = v;
                out.push(e);
            }
        }
        out
    }
}

fn paren(e: &Expr, min: u8, out: &mut String, d: Dialect) {
    if e.prec(d) < min {
        out.push('(');
        e.write(out, d);
        out.push(')');
    } else {
        e.write(out, d);
    }
}

/// A condition of an `if` or `while`.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    /// A comparison of floats.
    Float(CmpOp, Expr, Expr),
    /// A comparison of integers.
    Int(CmpOp, IntExpr, IntExpr),
    /// `a && b`
    And(Box<Cond>, Box<Cond>),
    /// `a || b`
    Or(Box<Cond>, Box<Cond>),
}

impl Cond {
    fn write(&self, out: &mut String, d: Dialect) {
        match self {
            Cond::Float(op, l, r) => {
                // Comparison operands: anything but `if`/`match`, and `i as f64` (whose `<`
                // would start generic arguments), parenthesised.
                let min = |e: &Expr| {
                    if d.is_f64() && matches!(e, Expr::FromInt(_)) {
                        4
                    } else {
                        1
                    }
                };
                paren(l, min(l), out, d);
                let _ = write!(out, " {} ", op.symbol());
                paren(r, min(r), out, d);
            }
            Cond::Int(op, l, r) => {
                l.write(out);
                let _ = write!(out, " {} ", op.symbol());
                r.write(out);
            }
            Cond::And(l, r) => {
                l.write_in(out, d, true);
                out.push_str(" && ");
                r.write_in(out, d, true);
            }
            Cond::Or(l, r) => {
                l.write_in(out, d, false);
                out.push_str(" || ");
                r.write_in(out, d, false);
            }
        }
    }

    /// Writes a `&&`/`||` operand: mixed chains are parenthesised.
    fn write_in(&self, out: &mut String, d: Dialect, in_and: bool) {
        let needs =
            matches!(self, Cond::Or(..)) && in_and || matches!(self, Cond::And(..)) && !in_and;
        if needs {
            out.push('(');
            self.write(out, d);
            out.push(')');
        } else {
            self.write(out, d);
        }
    }

    fn size(&self) -> usize {
        match self {
            Cond::Float(_, l, r) => 1 + l.size() + r.size(),
            Cond::Int(..) => 1,
            Cond::And(l, r) | Cond::Or(l, r) => 1 + l.size() + r.size(),
        }
    }

    fn exprs(&self) -> Vec<&Expr> {
        match self {
            Cond::Float(_, l, r) => vec![l, r],
            Cond::Int(..) => vec![],
            Cond::And(l, r) | Cond::Or(l, r) => {
                let mut v = l.exprs();
                v.extend(r.exprs());
                v
            }
        }
    }

    fn exprs_mut(&mut self) -> Vec<&mut Expr> {
        match self {
            Cond::Float(_, l, r) => vec![l, r],
            Cond::Int(..) => vec![],
            Cond::And(l, r) | Cond::Or(l, r) => {
                let mut v = l.exprs_mut();
                v.extend(r.exprs_mut());
                v
            }
        }
    }

    fn variants(&self) -> Vec<Cond> {
        match self {
            Cond::And(l, r) | Cond::Or(l, r) => vec![(**l).clone(), (**r).clone()],
            _ => vec![],
        }
    }
}

/// The head of a `for` loop.
#[derive(Clone, Debug, PartialEq)]
pub enum ForHead {
    /// `for var in lo..hi` or `for var in (lo..hi).rev()`
    Range {
        var: String,
        lo: IntExpr,
        hi: IntExpr,
        rev: bool,
    },
    /// `for &var in array.iter()` (`by_ref`: `for var in array.iter()`, read as `*var`; `skip`:
    /// `.skip(1)` after `iter()`; `rev`: `.rev()` last)
    Iter {
        var: String,
        array: String,
        by_ref: bool,
        skip: bool,
        rev: bool,
    },
    /// `for (index, &var) in array.iter().enumerate()` (`skip`: `.skip(1)` after `enumerate()`;
    /// `rev`: `.rev()` last)
    Enumerate {
        index: String,
        var: String,
        array: String,
        skip: bool,
        rev: bool,
    },
    /// `for (&var, &other_var) in array.iter().zip(other.iter())` (`skip`: `other.iter().skip(1)`)
    Zip {
        var: String,
        other_var: String,
        array: String,
        other: String,
        skip: bool,
    },
    /// `for window in array.windows(size)` (or `.chunks(size)`), the body starting with
    /// `let first = window[0]; let last = window[window.len() - 1];`
    Windows {
        window: String,
        array: String,
        size: usize,
        chunks: bool,
        first: String,
        last: String,
    },
}

/// A statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `let [mut] name = value;`
    Let {
        name: String,
        mutable: bool,
        value: Expr,
    },
    /// `let ([mut] p, [mut] q) = (e1, e2);`
    LetPair {
        names: [String; 2],
        mutable: [bool; 2],
        values: Box<[Expr; 2]>,
    },
    /// `let [mut] name = vec![T::zero(); x.len()];`
    LetVec { name: String, mutable: bool },
    /// `name op value;`
    Assign {
        name: String,
        op: AssignOp,
        value: Expr,
    },
    /// `array[index] op value;`
    Store {
        array: String,
        index: IntExpr,
        op: AssignOp,
        value: Expr,
    },
    /// `if cond { then } [else { els }]` (an `else` holding only an `if` prints as `else if`)
    If {
        cond: Cond,
        then: Vec<Stmt>,
        els: Option<Vec<Stmt>>,
    },
    /// `match int % 3 { 0 => { … } 1 => { … } _ => { … } }` (or other [`Pats`])
    Match {
        scrut: IntExpr,
        arms: Box<[Vec<Stmt>; 3]>,
        pats: Pats,
    },
    /// `for head { body }`
    For { head: ForHead, body: Vec<Stmt> },
    /// `let mut counter = 0; while counter < bound [&& extra] { counter += 1; body }`
    While {
        counter: String,
        bound: IntExpr,
        extra: Option<Cond>,
        body: Vec<Stmt>,
    },
    /// `let mut counter = 0; loop { [if counter >= bound { break; }] counter += 1; body
    /// [if counter >= bound { break; }] }` (the check first when `break_first`).
    Loop {
        counter: String,
        bound: IntExpr,
        break_first: bool,
        body: Vec<Stmt>,
    },
    /// `let mut counter = 0;` (`start`) or `counter += 1;`: a counter of packed entries that a
    /// loop nested in another advances (`for i … { for j in i + 1..x.len() { l += 1; … } }`).
    Count { counter: String, start: bool },
    /// `{ … }`
    Block(Vec<Stmt>),
    /// `continue;`
    Continue,
    /// `break;`
    Break,
    /// `break 'l;` of the loop this many loops out from the innermost (1: the one around it).
    BreakOut(usize),
    /// `continue 'l;` of the loop this many loops out from the innermost.
    ContinueOut(usize),
    /// `return value;`
    Return(Expr),
}

impl Stmt {
    /// Whether control never goes on past it: `return`, `break`, `continue` (labelled or not).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Stmt::Return(_)
                | Stmt::Break
                | Stmt::Continue
                | Stmt::BreakOut(_)
                | Stmt::ContinueOut(_)
        )
    }
}

/// A generated function: `fn NAME<T: Float>(shape…) -> T { body; tail }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    /// The signature.
    pub shape: Shape,
    /// `Some(params)`: `#[differentiate(wrt(params…))]`; `None`: every float parameter is active.
    pub wrt: Option<Vec<String>>,
    /// The statements.
    pub body: Vec<Stmt>,
    /// The value returned at the end.
    pub tail: Expr,
}

impl Function {
    /// Whether the body uses a compound assignment on floats (`+=` …), which generic code can
    /// only write with the bound `T: num_traits::NumAssign`.
    pub fn needs_num_assign(&self) -> bool {
        fn block(b: &[Stmt]) -> bool {
            b.iter().any(|s| match s {
                Stmt::Assign { op, .. } | Stmt::Store { op, .. } => *op != AssignOp::Set,
                Stmt::If { then, els, .. } => block(then) || els.as_deref().is_some_and(block),
                Stmt::Match { arms, .. } => arms.iter().any(|a| block(a)),
                Stmt::For { body, .. }
                | Stmt::While { body, .. }
                | Stmt::Loop { body, .. }
                | Stmt::Block(body) => block(body),
                _ => false,
            })
        }
        block(&self.body)
    }

    /// The active float parameters, in argument order.
    pub fn active(&self) -> Vec<&'static str> {
        self.shape
            .float_params()
            .into_iter()
            .filter(|p| self.wrt.as_ref().is_none_or(|w| w.iter().any(|q| q == p)))
            .collect()
    }

    /// The attribute, e.g. `#[autodiff::differentiate(wrt(x, b))]`.
    pub fn attribute(&self) -> String {
        match &self.wrt {
            None => "#[autodiff::differentiate]".to_string(),
            Some(w) => format!("#[autodiff::differentiate(wrt({}))]", w.join(", ")),
        }
    }

    /// The function as Rust source. With `attributed`, the attribute starts the first line;
    /// without, the same number of spaces does, so both versions have the same lines and columns.
    pub fn render(&self, name: &str, attributed: bool) -> String {
        self.render_in(name, attributed, Dialect::Generic)
    }

    /// The function as Rust source in the given dialect (see [`Function::render`]).
    pub fn render_in(&self, name: &str, attributed: bool, d: Dialect) -> String {
        let attr = self.attribute();
        let mut out = String::new();
        if attributed {
            out.push_str(&attr);
        } else {
            out.push_str(&" ".repeat(attr.len()));
        }
        match d {
            Dialect::Generic => {
                let bound = if self.needs_num_assign() {
                    "num_traits::Float + num_traits::NumAssign"
                } else {
                    "num_traits::Float"
                };
                let _ = writeln!(
                    out,
                    " pub fn {name}<T: {bound}>({}) -> T {{",
                    self.shape.params()
                );
            }
            Dialect::F64 | Dialect::F64Typed => {
                let _ = writeln!(
                    out,
                    " pub fn {name}({}) -> f64 {{",
                    self.shape.params().replace('T', "f64")
                );
            }
        }
        write_block(&self.body, &mut out, 1, d);
        push_indent(&mut out, 1);
        self.tail.write(&mut out, d);
        out.push_str("\n}\n");
        out
    }

    /// Size measure for the minimiser: statements and expression nodes.
    pub fn size(&self) -> usize {
        block_size(&self.body) + self.tail.size()
    }

    /// Every one-step simplification of the function that still type-checks, smallest first,
    /// without duplicates.
    pub fn shrink_candidates(&self) -> Vec<Function> {
        let mut out: Vec<Function> = Vec::new();
        for body in block_variants(&self.body) {
            out.push(Function {
                body,
                ..self.clone()
            });
        }
        for tail in self.tail.variants() {
            out.push(Function {
                tail,
                ..self.clone()
            });
        }
        if self.wrt.is_some() {
            out.push(Function {
                wrt: None,
                ..self.clone()
            });
        }
        let mut seen = std::collections::HashSet::new();
        let mut keep: Vec<(usize, Function)> = out
            .into_iter()
            .filter(|f| check(f).is_ok())
            .filter(|f| seen.insert(f.render("f", true)))
            .map(|f| (f.size(), f))
            .collect();
        keep.sort_by_key(|(s, _)| *s);
        keep.into_iter().map(|(_, f)| f).collect()
    }
}

fn block_size(b: &[Stmt]) -> usize {
    b.iter().map(stmt_size).sum()
}

fn stmt_size(s: &Stmt) -> usize {
    1 + match s {
        Stmt::Let { value, .. } | Stmt::Assign { value, .. } | Stmt::Store { value, .. } => {
            value.size()
        }
        Stmt::Return(value) => value.size(),
        Stmt::LetPair { values, .. } => values[0].size() + values[1].size(),
        Stmt::If { cond, then, els } => {
            cond.size() + block_size(then) + els.as_deref().map_or(0, block_size)
        }
        Stmt::Match { arms, .. } => arms.iter().map(|a| block_size(a)).sum(),
        Stmt::For { body, .. } | Stmt::Loop { body, .. } | Stmt::Block(body) => block_size(body),
        Stmt::While { extra, body, .. } => extra.as_ref().map_or(0, Cond::size) + block_size(body),
        _ => 0,
    }
}

fn push_indent(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push_str("    ");
    }
}

thread_local! {
    /// The labels of the loops being written, innermost last (`None`: an unlabelled loop).
    static LOOP_LABELS: std::cell::RefCell<Vec<Option<String>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The label a loop written at `indent` gets: loops at even depths are labelled (`'l4:`) when a
/// `break` or `continue` of their own names it, so that labels, and `break 'l4;` beside plain
/// `break;`, are generated too (with no label left unused).
fn loop_label(indent: usize, body: &[Stmt]) -> Option<String> {
    (indent % 2 == 0 && leaves_here(body) || named_from_inside(body)).then(|| format!("'l{indent}"))
}

/// Whether a loop body has a `break` or `continue` of its own (not one of a loop inside it),
/// or one from a loop inside naming it (`levels` loops down, a `break 'l` of `levels` out).
fn leaves_here(body: &[Stmt]) -> bool {
    names_loop(body, 0, true)
}

/// Whether a loop body has a `break 'l`/`continue 'l` naming it from a loop inside: it must
/// then have a label, whatever its depth.
fn named_from_inside(body: &[Stmt]) -> bool {
    names_loop(body, 0, false)
}

/// Whether `body`, `levels` loops inside the loop in question, leaves that loop: by a
/// `break 'l`/`continue 'l` of `levels` out, or (`plain`) by a plain one at its own level.
fn names_loop(body: &[Stmt], levels: usize, plain: bool) -> bool {
    body.iter().any(|s| match s {
        Stmt::Break | Stmt::Continue => plain && levels == 0,
        Stmt::BreakOut(up) | Stmt::ContinueOut(up) => *up == levels && levels > 0,
        Stmt::If { then, els, .. } => {
            names_loop(then, levels, plain)
                || els.as_deref().is_some_and(|e| names_loop(e, levels, plain))
        }
        Stmt::Match { arms, .. } => arms.iter().any(|a| names_loop(a, levels, plain)),
        Stmt::Block(b) => names_loop(b, levels, plain),
        Stmt::For { body, .. } | Stmt::While { body, .. } | Stmt::Loop { body, .. } => {
            names_loop(body, levels + 1, plain)
        }
        _ => false,
    })
}

/// Writes a loop's body with `label` as the innermost loop's.
fn with_loop_label(label: Option<String>, write: impl FnOnce()) {
    LOOP_LABELS.with(|l| l.borrow_mut().push(label));
    write();
    LOOP_LABELS.with(|l| l.borrow_mut().pop());
}

/// ` 'l4` when the loop `up` loops out from the innermost (0: the innermost) is labelled, else
/// nothing: what follows `break`/`continue`.
fn loop_label_out(up: usize) -> String {
    LOOP_LABELS.with(|l| {
        let labels = l.borrow();
        match labels
            .len()
            .checked_sub(up + 1)
            .and_then(|k| labels[k].as_ref())
        {
            Some(label) => format!(" {label}"),
            None => String::new(),
        }
    })
}

fn write_block(b: &[Stmt], out: &mut String, indent: usize, d: Dialect) {
    for s in b {
        write_stmt(s, out, indent, d);
    }
}

fn write_stmt(s: &Stmt, out: &mut String, indent: usize, d: Dialect) {
    push_indent(out, indent);
    match s {
        Stmt::Let {
            name,
            mutable,
            value,
        } => {
            let m = if *mutable { "mut " } else { "" };
            // `let t = 0.5;` leaves `t`'s type open (`t.sin()` does not compile): annotate.
            let ty = if d.is_f64() && !value.typed() {
                ": f64"
            } else {
                ""
            };
            let _ = write!(out, "let {m}{name}{ty} = ");
            value.write(out, d);
            out.push_str(";\n");
        }
        Stmt::LetPair {
            names,
            mutable,
            values,
        } => {
            let m = |k: usize| if mutable[k] { "mut " } else { "" };
            let ty = if d.is_f64() && !(values[0].typed() && values[1].typed()) {
                ": (f64, f64)"
            } else {
                ""
            };
            let _ = write!(
                out,
                "let ({}{}, {}{}){ty} = (",
                m(0),
                names[0],
                m(1),
                names[1]
            );
            values[0].write(out, d);
            out.push_str(", ");
            values[1].write(out, d);
            out.push_str(");\n");
        }
        Stmt::LetVec { name, mutable } => {
            let m = if *mutable { "mut " } else { "" };
            let zero = if d.is_f64() { "0.0_f64" } else { "T::zero()" };
            let _ = writeln!(out, "let {m}{name} = vec![{zero}; x.len()];");
        }
        Stmt::Assign { name, op, value } => {
            let _ = write!(out, "{name} {} ", op.symbol());
            value.write(out, d);
            out.push_str(";\n");
        }
        Stmt::Store {
            array,
            index,
            op,
            value,
        } => {
            let _ = write!(out, "{array}[");
            index.write(out);
            let _ = write!(out, "] {} ", op.symbol());
            value.write(out, d);
            out.push_str(";\n");
        }
        Stmt::If { cond, then, els } => {
            write_if(cond, then, els.as_deref(), out, indent, d);
            out.push('\n');
        }
        Stmt::Match { scrut, arms, pats } => {
            out.push_str("match ");
            paren_int(scrut, 3, out);
            out.push_str(" % 3 {\n");
            for (k, arm) in arms.iter().enumerate() {
                push_indent(out, indent + 1);
                let pat = &pats.arms()[k];
                let _ = writeln!(out, "{pat} => {{");
                write_block(arm, out, indent + 2, d);
                push_indent(out, indent + 1);
                out.push_str("}\n");
            }
            push_indent(out, indent);
            out.push_str("}\n");
        }
        Stmt::For { head, body } => {
            let label = loop_label(indent, body);
            if let Some(l) = &label {
                let _ = write!(out, "{l}: ");
            }
            out.push_str("for ");
            match head {
                ForHead::Range { var, lo, hi, rev } => {
                    let _ = write!(out, "{var} in ");
                    if *rev {
                        out.push('(');
                    }
                    lo.write(out);
                    out.push_str("..");
                    hi.write(out);
                    if *rev {
                        out.push_str(").rev()");
                    }
                }
                ForHead::Iter {
                    var,
                    array,
                    by_ref,
                    skip,
                    rev,
                } => {
                    let amp = if *by_ref { "" } else { "&" };
                    let skip = if *skip { ".skip(1)" } else { "" };
                    let rev = if *rev { ".rev()" } else { "" };
                    let _ = write!(out, "{amp}{var} in {array}.iter(){skip}{rev}");
                }
                ForHead::Enumerate {
                    index,
                    var,
                    array,
                    skip,
                    rev,
                } => {
                    let skip = if *skip { ".skip(1)" } else { "" };
                    let rev = if *rev { ".rev()" } else { "" };
                    let _ = write!(
                        out,
                        "({index}, &{var}) in {array}.iter().enumerate(){skip}{rev}"
                    );
                }
                ForHead::Zip {
                    var,
                    other_var,
                    array,
                    other,
                    skip,
                } => {
                    let skip = if *skip { ".skip(1)" } else { "" };
                    let _ = write!(
                        out,
                        "(&{var}, &{other_var}) in {array}.iter().zip({other}.iter(){skip})"
                    );
                }
                ForHead::Windows {
                    window,
                    array,
                    size,
                    chunks,
                    ..
                } => {
                    let method = if *chunks { "chunks" } else { "windows" };
                    let _ = write!(out, "{window} in {array}.{method}({size})");
                }
            }
            out.push_str(" {\n");
            if let ForHead::Windows {
                window,
                first,
                last,
                ..
            } = head
            {
                push_indent(out, indent + 1);
                let _ = writeln!(out, "let {first} = {window}[0];");
                push_indent(out, indent + 1);
                let _ = writeln!(out, "let {last} = {window}[{window}.len() - 1];");
            }
            with_loop_label(label, || write_block(body, out, indent + 1, d));
            push_indent(out, indent);
            out.push_str("}\n");
        }
        Stmt::While {
            counter,
            bound,
            extra,
            body,
        } => {
            write_counter(counter, bound, out);
            push_indent(out, indent);
            let label = loop_label(indent, body);
            if let Some(l) = &label {
                let _ = write!(out, "{l}: ");
            }
            let _ = write!(out, "while {counter} < ");
            bound.write(out);
            if let Some(c) = extra {
                out.push_str(" && ");
                c.write_in(out, d, true);
            }
            out.push_str(" {\n");
            push_indent(out, indent + 1);
            let _ = writeln!(out, "{counter} += 1;");
            with_loop_label(label, || write_block(body, out, indent + 1, d));
            push_indent(out, indent);
            out.push_str("}\n");
        }
        Stmt::Loop {
            counter,
            bound,
            break_first,
            body,
        } => {
            write_counter(counter, bound, out);
            push_indent(out, indent);
            // Its own check always `break`s it.
            let label = (indent % 2 == 0 || named_from_inside(body)).then(|| format!("'l{indent}"));
            if let Some(l) = &label {
                let _ = write!(out, "{l}: ");
            }
            out.push_str("loop {\n");
            let named = label.as_ref().map(|l| format!(" {l}")).unwrap_or_default();
            let check = |out: &mut String| {
                push_indent(out, indent + 1);
                let _ = write!(out, "if {counter} >= ");
                bound.write(out);
                out.push_str(" {\n");
                push_indent(out, indent + 2);
                let _ = writeln!(out, "break{named};");
                push_indent(out, indent + 1);
                out.push_str("}\n");
            };
            if *break_first {
                check(out);
            }
            push_indent(out, indent + 1);
            let _ = writeln!(out, "{counter} += 1;");
            with_loop_label(label, || write_block(body, out, indent + 1, d));
            if !*break_first {
                check(out);
            }
            push_indent(out, indent);
            out.push_str("}\n");
        }
        Stmt::Block(body) => {
            out.push_str("{\n");
            write_block(body, out, indent + 1, d);
            push_indent(out, indent);
            out.push_str("}\n");
        }
        Stmt::Count { counter, start } => {
            if *start {
                let _ = writeln!(out, "let mut {counter} = 0;");
            } else {
                let _ = writeln!(out, "{counter} += 1;");
            }
        }
        Stmt::Continue => {
            let _ = writeln!(out, "continue{};", loop_label_out(0));
        }
        Stmt::Break => {
            let _ = writeln!(out, "break{};", loop_label_out(0));
        }
        Stmt::ContinueOut(up) => {
            let _ = writeln!(out, "continue{};", loop_label_out(*up));
        }
        Stmt::BreakOut(up) => {
            let _ = writeln!(out, "break{};", loop_label_out(*up));
        }
        Stmt::Return(e) => {
            out.push_str("return ");
            e.write(out, d);
            out.push_str(";\n");
        }
    }
}

/// `let mut k = 0;` (typed when the bound does not fix the type: `while k < 3`).
fn write_counter(counter: &str, bound: &IntExpr, out: &mut String) {
    let typed = if matches!(bound, IntExpr::Lit(_)) {
        ": usize"
    } else {
        ""
    };
    let _ = writeln!(out, "let mut {counter}{typed} = 0;");
}

fn write_if(
    cond: &Cond,
    then: &[Stmt],
    els: Option<&[Stmt]>,
    out: &mut String,
    indent: usize,
    d: Dialect,
) {
    out.push_str("if ");
    cond.write(out, d);
    out.push_str(" {\n");
    write_block(then, out, indent + 1, d);
    push_indent(out, indent);
    out.push('}');
    match els {
        None => {}
        Some(
            [Stmt::If {
                cond,
                then,
                els: inner,
            }],
        ) => {
            out.push_str(" else ");
            write_if(cond, then, inner.as_deref(), out, indent, d);
        }
        Some(b) => {
            out.push_str(" else {\n");
            write_block(b, out, indent + 1, d);
            push_indent(out, indent);
            out.push('}');
        }
    }
}

// ----- shrinking -------------------------------------------------------------------------------

fn splice(b: &[Stmt], i: usize, with: Vec<Stmt>) -> Vec<Stmt> {
    let mut v = b[..i].to_vec();
    v.extend(with);
    v.extend_from_slice(&b[i + 1..]);
    v
}

/// Every one-step simplification of a block (type-checking is left to the caller).
fn block_variants(b: &[Stmt]) -> Vec<Vec<Stmt>> {
    let mut out = Vec::new();
    for i in 0..b.len() {
        out.push(splice(b, i, vec![]));
        for inner in inline_options(&b[i]) {
            out.push(splice(b, i, inner));
        }
        for s in stmt_variants(&b[i]) {
            out.push(splice(b, i, vec![s]));
        }
    }
    out
}

/// A compound statement replaced by one of its bodies.
fn inline_options(s: &Stmt) -> Vec<Vec<Stmt>> {
    match s {
        Stmt::If { then, els, .. } => {
            let mut v = vec![then.clone()];
            if let Some(e) = els {
                v.push(e.clone());
            }
            v
        }
        Stmt::Match { arms, .. } => arms.to_vec(),
        Stmt::For { body, .. } | Stmt::Block(body) => vec![body.clone()],
        // Valid only when nothing reads the counter (the checker decides).
        Stmt::While { body, .. } | Stmt::Loop { body, .. } => vec![body.clone()],
        _ => vec![],
    }
}

fn stmt_variants(s: &Stmt) -> Vec<Stmt> {
    let mut out = Vec::new();
    match s {
        Stmt::Let {
            name,
            mutable,
            value,
        } => {
            for v in value.variants() {
                out.push(Stmt::Let {
                    name: name.clone(),
                    mutable: *mutable,
                    value: v,
                });
            }
        }
        Stmt::LetPair {
            names,
            mutable,
            values,
        } => {
            for k in 0..2 {
                for v in values[k].variants() {
                    let mut vs = values.clone();
                    vs[k] = v;
                    out.push(Stmt::LetPair {
                        names: names.clone(),
                        mutable: *mutable,
                        values: vs,
                    });
                }
            }
        }
        Stmt::Assign { name, op, value } => {
            if *op != AssignOp::Set {
                out.push(Stmt::Assign {
                    name: name.clone(),
                    op: AssignOp::Set,
                    value: value.clone(),
                });
            }
            for v in value.variants() {
                out.push(Stmt::Assign {
                    name: name.clone(),
                    op: *op,
                    value: v,
                });
            }
        }
        Stmt::Store {
            array,
            index,
            op,
            value,
        } => {
            if *op != AssignOp::Set {
                out.push(Stmt::Store {
                    array: array.clone(),
                    index: index.clone(),
                    op: AssignOp::Set,
                    value: value.clone(),
                });
            }
            for v in value.variants() {
                out.push(Stmt::Store {
                    array: array.clone(),
                    index: index.clone(),
                    op: *op,
                    value: v,
                });
            }
        }
        Stmt::Return(e) => {
            for v in e.variants() {
                out.push(Stmt::Return(v));
            }
        }
        Stmt::If { cond, then, els } => {
            if els.is_some() {
                out.push(Stmt::If {
                    cond: cond.clone(),
                    then: then.clone(),
                    els: None,
                });
            }
            for c in cond.variants() {
                out.push(Stmt::If {
                    cond: c,
                    then: then.clone(),
                    els: els.clone(),
                });
            }
            for k in 0..cond.exprs().len() {
                for v in cond.exprs()[k].variants() {
                    let mut c = cond.clone();
                    *c.exprs_mut().swap_remove(k) = v;
                    out.push(Stmt::If {
                        cond: c,
                        then: then.clone(),
                        els: els.clone(),
                    });
                }
            }
            for t in block_variants(then) {
                out.push(Stmt::If {
                    cond: cond.clone(),
                    then: t,
                    els: els.clone(),
                });
            }
            if let Some(e) = els {
                for e2 in block_variants(e) {
                    out.push(Stmt::If {
                        cond: cond.clone(),
                        then: then.clone(),
                        els: Some(e2),
                    });
                }
            }
        }
        Stmt::Match { scrut, arms, pats } => {
            for k in 0..3 {
                for a in block_variants(&arms[k]) {
                    let mut arms2 = arms.clone();
                    arms2[k] = a;
                    out.push(Stmt::Match {
                        scrut: scrut.clone(),
                        arms: arms2,
                        pats: *pats,
                    });
                }
            }
        }
        Stmt::For { head, body } => {
            for b in block_variants(body) {
                out.push(Stmt::For {
                    head: head.clone(),
                    body: b,
                });
            }
        }
        Stmt::While {
            counter,
            bound,
            extra,
            body,
        } => {
            if extra.is_some() {
                out.push(Stmt::While {
                    counter: counter.clone(),
                    bound: bound.clone(),
                    extra: None,
                    body: body.clone(),
                });
            }
            for b in block_variants(body) {
                out.push(Stmt::While {
                    counter: counter.clone(),
                    bound: bound.clone(),
                    extra: extra.clone(),
                    body: b,
                });
            }
        }
        Stmt::Loop {
            counter,
            bound,
            break_first,
            body,
        } => {
            for b in block_variants(body) {
                out.push(Stmt::Loop {
                    counter: counter.clone(),
                    bound: bound.clone(),
                    break_first: *break_first,
                    body: b,
                });
            }
        }
        Stmt::Block(body) => {
            for b in block_variants(body) {
                out.push(Stmt::Block(b));
            }
        }
        _ => {}
    }
    out
}

// ----- checking ----------------------------------------------------------------------------------

/// What a name is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A `T` value.
    Float,
    /// A `&T` loop variable (`for v in x.iter()`), read as `*v`.
    FloatRef,
    /// A `usize`; `in_bounds` when it is an index into the arrays (`for i in 0..x.len()`).
    Int { in_bounds: bool },
    /// A slice or vector of length `x.len()`; `writable` for local vectors.
    Array { writable: bool },
}

/// A binding in scope.
#[derive(Clone, Debug)]
pub struct Binding {
    /// Its name.
    pub name: String,
    /// What it holds.
    pub kind: Kind,
    /// Declared `mut` (floats) or assignable.
    pub mutable: bool,
}

/// Nested scopes, innermost last, with the loops and borrows around the current point.
#[derive(Clone, Debug, Default)]
pub struct Env {
    scopes: Vec<Vec<Binding>>,
    /// Arrays iterated by an enclosing `for … in y.iter()` (not writable inside).
    borrowed: Vec<String>,
    /// For each enclosing loop: whether `continue` may be used directly in it.
    loops: Vec<bool>,
    /// Loop variables over `lo..arr.len() - 1`: `i + 1` indexes in bounds too.
    nexts: Vec<String>,
}

impl Env {
    /// The scope of a function's parameters.
    pub fn for_shape(shape: Shape) -> Env {
        let mut env = Env::default();
        env.push();
        if shape.has_x() {
            env.bind("x", Kind::Array { writable: false }, false);
        }
        if shape.has_a() {
            env.bind("a", Kind::Float, false);
        }
        if shape.has_b() {
            env.bind("b", Kind::Float, false);
        }
        if shape.has_n() {
            env.bind("n", Kind::Int { in_bounds: false }, false);
        }
        env
    }
    /// Opens a scope.
    /// Records that `i + 1` indexes in bounds for the loop variable `i` (see `nexts`).
    pub fn add_next(&mut self, var: &str) {
        self.nexts.push(var.to_string());
    }

    /// Whether `i + 1` indexes in bounds for `var`.
    pub fn has_next(&self, var: &str) -> bool {
        self.nexts.iter().any(|v| v == var)
    }

    pub fn push(&mut self) {
        self.scopes.push(Vec::new());
    }
    /// Closes the innermost scope, returning its bindings.
    pub fn pop(&mut self) -> Vec<Binding> {
        self.scopes.pop().unwrap_or_default()
    }
    /// Binds `name` in the innermost scope.
    pub fn bind(&mut self, name: &str, kind: Kind, mutable: bool) {
        self.scopes.last_mut().expect("a scope").push(Binding {
            name: name.to_string(),
            kind,
            mutable,
        });
    }
    /// Forgets the innermost binding of `name`: later code does not use it.
    pub fn unbind(&mut self, name: &str) {
        for scope in self.scopes.iter_mut().rev() {
            if let Some(k) = scope.iter().rposition(|b| b.name == name) {
                scope.remove(k);
                return;
            }
        }
    }
    /// The innermost binding of `name`.
    pub fn lookup(&self, name: &str) -> Option<&Binding> {
        self.scopes
            .iter()
            .rev()
            .flat_map(|s| s.iter().rev())
            .find(|b| b.name == name)
    }
    /// Every visible binding (shadowed ones excluded), outermost first.
    pub fn visible(&self) -> Vec<&Binding> {
        let mut out: Vec<&Binding> = Vec::new();
        for s in &self.scopes {
            for b in s {
                out.retain(|o| o.name != b.name);
                out.push(b);
            }
        }
        out
    }
    /// Whether `array` is being iterated by an enclosing loop.
    pub fn is_borrowed(&self, array: &str) -> bool {
        self.borrowed.iter().any(|b| b == array)
    }
    /// Enters a loop.
    pub fn enter_loop(&mut self, continue_ok: bool, borrows: &[&str]) {
        self.loops.push(continue_ok);
        self.borrowed
            .extend(borrows.iter().map(ToString::to_string));
    }
    /// Leaves a loop.
    pub fn leave_loop(&mut self, borrows: &[&str]) {
        self.loops.pop();
        let kept = self.borrowed.len().saturating_sub(borrows.len());
        self.borrowed.truncate(kept);
    }
    /// Whether a `break` is allowed here.
    pub fn in_loop(&self) -> bool {
        !self.loops.is_empty()
    }
    /// Whether a `continue` is allowed here.
    pub fn continue_ok(&self) -> bool {
        self.loops.last().copied().unwrap_or(false)
    }
    /// How many loops are around here.
    pub fn loop_depth(&self) -> usize {
        self.loops.len()
    }
    /// Whether a `continue` of the loop `up` loops out from the innermost is allowed.
    pub fn continue_out_ok(&self, up: usize) -> bool {
        self.loops
            .len()
            .checked_sub(up + 1)
            .is_some_and(|k| self.loops[k])
    }
}

/// Checks scoping and types of a function: every name bound with the right kind, assignments to
/// `mut` floats and writable arrays not under iteration, in-bounds indices, `break`/`continue`
/// only in loops (and `continue` only where the loop's counter is already incremented), and
/// `return`/`break`/`continue` only last in a block that is not the function's.
pub fn check(f: &Function) -> Result<(), String> {
    let mut env = Env::for_shape(f.shape);
    check_block(&f.body, &mut env, true)?;
    check_expr(&f.tail, &env)?;
    if let Some(w) = &f.wrt {
        let params = f.shape.float_params();
        if w.is_empty() || w.iter().any(|p| !params.contains(&p.as_str())) {
            return Err(format!("bad wrt {w:?}"));
        }
    }
    Ok(())
}

fn check_block(b: &[Stmt], env: &mut Env, top: bool) -> Result<(), String> {
    // The function's own block shares the scope of the tail expression.
    if !top {
        env.push();
    }
    for (k, s) in b.iter().enumerate() {
        let terminal = s.is_terminal();
        if terminal && (top || k + 1 != b.len()) {
            return Err("`return`/`break`/`continue` not last in a nested block".into());
        }
        check_stmt(s, env)?;
    }
    if !top {
        env.pop();
    }
    Ok(())
}

fn float_target(env: &Env, name: &str) -> Result<(), String> {
    match env.lookup(name) {
        Some(Binding {
            kind: Kind::Float,
            mutable: true,
            ..
        }) => Ok(()),
        _ => Err(format!("`{name}` is not a mutable float")),
    }
}

fn check_stmt(s: &Stmt, env: &mut Env) -> Result<(), String> {
    match s {
        Stmt::Let {
            name,
            mutable,
            value,
        } => {
            check_expr(value, env)?;
            env.bind(name, Kind::Float, *mutable);
        }
        Stmt::LetPair {
            names,
            mutable,
            values,
        } => {
            check_expr(&values[0], env)?;
            check_expr(&values[1], env)?;
            if names[0] == names[1] {
                return Err("a pattern binds a name twice".into());
            }
            env.bind(&names[0], Kind::Float, mutable[0]);
            env.bind(&names[1], Kind::Float, mutable[1]);
        }
        Stmt::LetVec { name, mutable } => {
            if env.lookup("x").is_none() {
                return Err("a vector needs `x`".into());
            }
            env.bind(name, Kind::Array { writable: true }, *mutable);
        }
        Stmt::Assign { name, value, .. } => {
            check_expr(value, env)?;
            float_target(env, name)?;
        }
        Stmt::Store {
            array,
            index,
            op,
            value,
        } => {
            check_expr(value, env)?;
            if *op != AssignOp::Set && value.reads_array(array) {
                return Err(format!("`{array}[…] op= …` reads `{array}` on the right"));
            }
            match env.lookup(array) {
                Some(Binding {
                    kind: Kind::Array { writable: true },
                    mutable: true,
                    ..
                }) if !env.is_borrowed(array) => {}
                _ => return Err(format!("`{array}` is not a writable vector here")),
            }
            check_index(index, env)?;
        }
        Stmt::If { cond, then, els } => {
            check_cond(cond, env)?;
            check_block(then, env, false)?;
            if let Some(e) = els {
                check_block(e, env, false)?;
            }
        }
        Stmt::Match { scrut, arms, .. } => {
            check_int(scrut, env)?;
            for a in arms.iter() {
                check_block(a, env, false)?;
            }
        }
        Stmt::For { head, body } => {
            env.push();
            let borrows = match head {
                ForHead::Range { var, lo, hi, .. } => {
                    check_int(lo, env)?;
                    check_int(hi, env)?;
                    let below_last = matches!(hi, IntExpr::Sub(l, r) if matches!(**l, IntExpr::Len(_)) && **r == IntExpr::Lit(1));
                    let in_bounds = matches!(hi, IntExpr::Len(_)) || below_last;
                    env.bind(var, Kind::Int { in_bounds }, false);
                    if below_last {
                        env.add_next(var);
                    }
                    Vec::new()
                }
                ForHead::Iter {
                    var, array, by_ref, ..
                } => {
                    check_array(array, env)?;
                    let kind = if *by_ref { Kind::FloatRef } else { Kind::Float };
                    env.bind(var, kind, false);
                    vec![array.as_str()]
                }
                ForHead::Enumerate {
                    index, var, array, ..
                } => {
                    check_array(array, env)?;
                    if index == var {
                        return Err("a pattern binds a name twice".into());
                    }
                    env.bind(index, Kind::Int { in_bounds: true }, false);
                    env.bind(var, Kind::Float, false);
                    vec![array.as_str()]
                }
                ForHead::Zip {
                    var,
                    other_var,
                    array,
                    other,
                    ..
                } => {
                    check_array(array, env)?;
                    check_array(other, env)?;
                    if var == other_var {
                        return Err("a pattern binds a name twice".into());
                    }
                    env.bind(var, Kind::Float, false);
                    env.bind(other_var, Kind::Float, false);
                    vec![array.as_str(), other.as_str()]
                }
                ForHead::Windows {
                    window,
                    array,
                    size,
                    first,
                    last,
                    ..
                } => {
                    check_array(array, env)?;
                    if *size == 0 {
                        return Err("windows of size 0".into());
                    }
                    if first == last || window == first || window == last {
                        return Err("a window's bindings share a name".into());
                    }
                    env.bind(first, Kind::Float, false);
                    env.bind(last, Kind::Float, false);
                    vec![array.as_str()]
                }
            };
            env.enter_loop(true, &borrows);
            check_block(body, env, false)?;
            env.leave_loop(&borrows);
            env.pop();
        }
        Stmt::While {
            counter,
            bound,
            extra,
            body,
        } => {
            check_int(bound, env)?;
            env.bind(counter, Kind::Int { in_bounds: false }, true);
            if let Some(c) = extra {
                check_cond(c, env)?;
            }
            env.enter_loop(true, &[]);
            check_block(body, env, false)?;
            env.leave_loop(&[]);
        }
        Stmt::Loop {
            counter,
            bound,
            break_first,
            body,
        } => {
            check_int(bound, env)?;
            env.bind(counter, Kind::Int { in_bounds: false }, true);
            env.enter_loop(*break_first, &[]);
            check_block(body, env, false)?;
            env.leave_loop(&[]);
        }
        Stmt::Block(body) => check_block(body, env, false)?,
        Stmt::Count { counter, start } => {
            if *start {
                env.bind(counter, Kind::Int { in_bounds: false }, true);
            } else {
                check_int(&IntExpr::Var(counter.clone()), env)?;
            }
        }
        Stmt::Continue => {
            if !env.continue_ok() {
                return Err("`continue` outside a loop that allows it".into());
            }
        }
        Stmt::Break => {
            if !env.in_loop() {
                return Err("`break` outside a loop".into());
            }
        }
        Stmt::BreakOut(up) => {
            if env.loops.len() <= *up || *up == 0 {
                return Err(format!(
                    "`break` of the loop {up} out, in {} loops",
                    env.loops.len()
                ));
            }
        }
        Stmt::ContinueOut(up) => {
            let ok = env
                .loops
                .len()
                .checked_sub(up + 1)
                .is_some_and(|k| env.loops[k])
                && *up > 0;
            if !ok {
                return Err(format!(
                    "`continue` of the loop {up} out, which does not allow it"
                ));
            }
        }
        Stmt::Return(e) => check_expr(e, env)?,
    }
    Ok(())
}

fn check_array(name: &str, env: &Env) -> Result<(), String> {
    match env.lookup(name) {
        Some(Binding {
            kind: Kind::Array { .. },
            ..
        }) => Ok(()),
        _ => Err(format!("`{name}` is not an array")),
    }
}

fn check_int(e: &IntExpr, env: &Env) -> Result<(), String> {
    match e {
        IntExpr::Var(v) => match env.lookup(v) {
            Some(Binding {
                kind: Kind::Int { .. },
                ..
            }) => Ok(()),
            _ => Err(format!("`{v}` is not an integer")),
        },
        IntExpr::Lit(_) => Ok(()),
        IntExpr::Len(a) => check_array(a, env),
        IntExpr::Add(l, r) | IntExpr::Sub(l, r) | IntExpr::Rem(l, r) => {
            check_int(l, env)?;
            check_int(r, env)?;
            if matches!(e, IntExpr::Rem(..)) && !matches!(**r, IntExpr::Len(_) | IntExpr::Lit(1..))
            {
                return Err("`%` by a possibly zero integer".into());
            }
            if matches!(e, IntExpr::Sub(..))
                && !(matches!(**l, IntExpr::Len(_)) && **r == IntExpr::Lit(1))
                && !e.mirrored(env)
            {
                return Err("a subtraction that may underflow".into());
            }
            Ok(())
        }
    }
}

impl IntExpr {
    /// Whether the value is a valid index into every array (all have length `x.len() >= 1`).
    pub fn in_bounds(&self, env: &Env) -> bool {
        match self {
            IntExpr::Var(v) => matches!(
                env.lookup(v),
                Some(Binding {
                    kind: Kind::Int { in_bounds: true },
                    ..
                })
            ),
            IntExpr::Lit(0) => true,
            // `i + 1`, `i` a loop variable over `lo..arr.len() - 1`.
            IntExpr::Add(l, r) => {
                matches!((&**l, &**r), (IntExpr::Var(v), IntExpr::Lit(1)) if env.has_next(v))
                    && l.in_bounds(env)
            }
            IntExpr::Rem(_, r) => matches!(**r, IntExpr::Len(_)),
            IntExpr::Sub(l, r) => {
                (matches!(**l, IntExpr::Len(_)) && **r == IntExpr::Lit(1)) || self.mirrored(env)
            }
            _ => false,
        }
    }

    /// `arr.len() - 1 - i` with `i` an index into every array: in bounds, never below zero.
    fn mirrored(&self, env: &Env) -> bool {
        let IntExpr::Sub(l, r) = self else {
            return false;
        };
        matches!(&**l, IntExpr::Sub(ll, lr) if matches!(**ll, IntExpr::Len(_)) && **lr == IntExpr::Lit(1))
            && matches!(&**r, IntExpr::Var(_))
            && r.in_bounds(env)
    }
}

fn check_index(i: &IntExpr, env: &Env) -> Result<(), String> {
    check_int(i, env)?;
    if i.in_bounds(env) {
        Ok(())
    } else {
        Err(format!("index `{}` may be out of bounds", i.to_source()))
    }
}

fn check_cond(c: &Cond, env: &Env) -> Result<(), String> {
    match c {
        Cond::Float(op, l, r) => {
            if matches!(op, CmpOp::Eq | CmpOp::Ne) {
                return Err("float equality".into());
            }
            check_expr(l, env)?;
            check_expr(r, env)
        }
        Cond::Int(_, l, r) => {
            check_int(l, env)?;
            check_int(r, env)
        }
        Cond::And(l, r) | Cond::Or(l, r) => {
            check_cond(l, env)?;
            check_cond(r, env)
        }
    }
}

fn check_expr(e: &Expr, env: &Env) -> Result<(), String> {
    match e {
        Expr::Var(v) => match env.lookup(v) {
            Some(Binding {
                kind: Kind::Float, ..
            }) => Ok(()),
            _ => Err(format!("`{v}` is not a float")),
        },
        Expr::Deref(v) => match env.lookup(v) {
            Some(Binding {
                kind: Kind::FloatRef,
                ..
            }) => Ok(()),
            _ => Err(format!("`{v}` is not a float reference")),
        },
        Expr::Lit(_) => Ok(()),
        Expr::FromInt(i) => check_int(i, env),
        Expr::Read(a, i) => {
            check_array(a, env)?;
            check_index(i, env)
        }
        Expr::Powi(r, p) => {
            check_expr(r, env)?;
            match p {
                PowiExp::Const(_) => Ok(()),
                PowiExp::Int(v) => check_int(&IntExpr::Var(v.clone()), env),
            }
        }
        Expr::If(c, a, b) => {
            check_cond(c, env)?;
            check_expr(a, env)?;
            check_expr(b, env)
        }
        Expr::Match(i, arms, _) | Expr::Pick(arms, i) => {
            check_int(i, env)?;
            arms.iter().try_for_each(|a| check_expr(a, env))
        }
        Expr::PathCall(m, args) => {
            if m.arity() + 1 != args.len() {
                return Err(format!("`{}` with {} arguments", m.name(), args.len()));
            }
            args.iter().try_for_each(|a| check_expr(a, env))
        }
        Expr::Neg(_) | Expr::Bin(..) | Expr::Call(..) => {
            if let Expr::Call(m, _, args) = e {
                if m.arity() != args.len() {
                    return Err(format!("`{}` with {} arguments", m.name(), args.len()));
                }
            }
            e.children()
                .into_iter()
                .try_for_each(|c| check_expr(c, env))
        }
    }
}
