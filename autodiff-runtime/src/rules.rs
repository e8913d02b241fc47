//! The adjoint of every operation `#[differentiate]` accepts, one line each.
//!
//! Each rule is the formula for one element: `x` the operand, `y` the result the forward pass
//! already computed (reused, never recomputed: `exp` returns `d * y`), `d` the adjoint of `y`.
//! The traits in [`crate::tangent`] apply the formula to the operand types, so the generated call
//! `sin_adjoint(&x, &y, &d)` is the same for every float type.
//!
//! Conventions at points where the derivative does not exist, chosen as PyTorch and JAX choose
//! them and tested:
//! - `abs'(0) = 0`;
//! - `max`/`min` on a tie send the whole adjoint to the first argument (`x` of `x.max(y)`);
//! - `clamp` sends the adjoint to `x` when `lo <= x <= hi`, both ends included;
//! - `hypot` at the origin has gradient zero;
//! - `sqrt'(0) = +inf` and `ln'(0) = +inf`, as IEEE arithmetic gives them;
//! - `floor ceil round trunc signum` and comparisons have derivative zero everywhere: the macro
//!   treats their results as constants and calls no rule for them.

use num_traits::{Float, FloatConst, One, Zero};

use crate::scalar::Real;
use crate::tangent::{Accumulate, Broadcast, Elementwise, ZeroLike};

/// Declares unary rules: `name(x, y, d) => formula;` becomes `pub fn name(x, y, d)`, the
/// contribution of `y = x.op()` to `x`'s adjoint.
macro_rules! unary_rules {
    ($($(#[doc = $doc:literal])* $name:ident($x:ident, $y:ident, $d:ident) => $formula:expr;)*) => {$(
        $(#[doc = $doc])*
        #[inline(always)]
        #[allow(unused_variables, reason = "not every formula uses the input and the output")]
        pub fn $name<X: Elementwise>(x: &X, y: &X::Out, d: &X::Out) -> X::Out {
            X::map_adjoint(x, y, d, |$x: X::Elem, $y: X::Elem, $d: X::Elem| {
                $formula
            })
        }
    )*};
}

/// Declares binary rules: `name(l, r, y, d) => lhs_formula, rhs_formula;` becomes
/// `name_lhs` and `name_rhs`, the contributions of `y = l op r` to each operand.
macro_rules! binary_rules {
    ($($(#[doc = $doc:literal])* $lhs:ident, $rhs:ident ($l:ident, $r:ident, $y:ident, $d:ident) => $fl:expr, $fr:expr;)*) => {$(
        $(#[doc = $doc])*
        #[inline(always)]
        #[allow(unused_variables, reason = "not every formula uses every operand")]
        pub fn $lhs<L: Broadcast<R>, R>(l: &L, r: &R, y: &L::Out, d: &L::Out) -> L::LhsTangent {
            L::lhs_adjoint(l, r, y, d, |$l: L::Elem, $r: L::Elem, $y: L::Elem, $d: L::Elem| $fl)
        }
        $(#[doc = $doc])*
        #[inline(always)]
        #[allow(unused_variables, reason = "not every formula uses every operand")]
        pub fn $rhs<L: Broadcast<R>, R>(l: &L, r: &R, y: &L::Out, d: &L::Out) -> L::RhsTangent {
            L::rhs_adjoint(l, r, y, d, |$l: L::Elem, $r: L::Elem, $y: L::Elem, $d: L::Elem| $fr)
        }
    )*};
}

/// `2` in any float type, for the formulas below.
#[inline(always)]
fn two<T: Real>() -> T {
    T::one() + T::one()
}

unary_rules! {
    /// `-x`: `dx = -d`.
    neg_adjoint(x, y, d) => -d;
    /// `x.sin()`: `dx = d cos x`.
    sin_adjoint(x, y, d) => d * x.cos();
    /// `x.cos()`: `dx = -d sin x`.
    cos_adjoint(x, y, d) => -(d * x.sin());
    /// `x.tan()`: `dx = d (1 + y²)`.
    tan_adjoint(x, y, d) => d * (y * y + X::Elem::one());
    /// `x.asin()`: `dx = d / √(1 - x²)`.
    asin_adjoint(x, y, d) => d / (X::Elem::one() - x * x).sqrt();
    /// `x.acos()`: `dx = -d / √(1 - x²)`.
    acos_adjoint(x, y, d) => -(d / (X::Elem::one() - x * x).sqrt());
    /// `x.atan()`: `dx = d / (1 + x²)`.
    atan_adjoint(x, y, d) => d / (x * x + X::Elem::one());
    /// `x.sinh()`: `dx = d cosh x`.
    sinh_adjoint(x, y, d) => d * x.cosh();
    /// `x.cosh()`: `dx = d sinh x`.
    cosh_adjoint(x, y, d) => d * x.sinh();
    /// `x.tanh()`: `dx = d (1 - y²)`.
    tanh_adjoint(x, y, d) => d * (X::Elem::one() - y * y);
    /// `x.asinh()`: `dx = d / √(x² + 1)`.
    asinh_adjoint(x, y, d) => d / (x * x + X::Elem::one()).sqrt();
    /// `x.acosh()`: `dx = d / √(x² - 1)`.
    acosh_adjoint(x, y, d) => d / (x * x - X::Elem::one()).sqrt();
    /// `x.atanh()`: `dx = d / (1 - x²)`.
    atanh_adjoint(x, y, d) => d / (X::Elem::one() - x * x);
    /// `x.exp()`: `dx = d y`.
    exp_adjoint(x, y, d) => d * y;
    /// `x.exp2()`: `dx = d y ln 2`.
    exp2_adjoint(x, y, d) => d * y * X::Elem::LN_2();
    /// `x.exp_m1()`: `dx = d (y + 1)`.
    exp_m1_adjoint(x, y, d) => d * (y + X::Elem::one());
    /// `x.ln()`: `dx = d / x`.
    ln_adjoint(x, y, d) => d / x;
    /// `x.ln_1p()`: `dx = d / (1 + x)`.
    ln_1p_adjoint(x, y, d) => d / (x + X::Elem::one());
    /// `x.log2()`: `dx = d / (x ln 2)`.
    log2_adjoint(x, y, d) => d / (x * X::Elem::LN_2());
    /// `x.log10()`: `dx = d / (x ln 10)`.
    log10_adjoint(x, y, d) => d / (x * X::Elem::LN_10());
    /// `x.sqrt()`: `dx = d / (2y)`; `+inf` at `x = 0`.
    sqrt_adjoint(x, y, d) => d / (y + y);
    /// `x.cbrt()`: `dx = d / (3y²)`.
    cbrt_adjoint(x, y, d) => d / (y * y * (two::<X::Elem>() + X::Elem::one()));
    /// `x.recip()`: `dx = -d y²`.
    recip_adjoint(x, y, d) => -(d * y * y);
    /// `x.abs()`: `dx = d signum(x)`, and `0` at `x = 0`.
    abs_adjoint(x, y, d) => {
        if x > X::Elem::zero() {
            d
        } else if x < X::Elem::zero() {
            -d
        } else {
            X::Elem::zero()
        }
    };
    /// `x.to_degrees()`: `dx = d · 180/π`.
    to_degrees_adjoint(x, y, d) => d.to_degrees();
    /// `x.to_radians()`: `dx = d · π/180`.
    to_radians_adjoint(x, y, d) => d.to_radians();
    /// `x.fract()` (`x - x.trunc()`): `dx = d` (the jumps at integers are ignored).
    fract_adjoint(x, y, d) => d;
}

binary_rules! {
    /// `l + r`: `dl = d`, `dr = d`.
    add_adjoint_lhs, add_adjoint_rhs(l, r, y, d) => d, d;
    /// `l - r`: `dl = d`, `dr = -d`.
    sub_adjoint_lhs, sub_adjoint_rhs(l, r, y, d) => d, -d;
    /// `l * r`: `dl = d r`, `dr = d l`.
    mul_adjoint_lhs, mul_adjoint_rhs(l, r, y, d) => d * r, d * l;
    /// `l / r`: `dl = d / r`, `dr = -d y / r`.
    div_adjoint_lhs, div_adjoint_rhs(l, r, y, d) => d / r, -(d * y) / r;
    /// `l % r` (`l - r (l / r).trunc()`): `dl = d`, `dr = -d (l / r).trunc()`.
    rem_adjoint_lhs, rem_adjoint_rhs(l, r, y, d) => d, -(d * (l / r).trunc());
    /// `l.powf(r)`: `dl = d r l^(r-1)`, `dr = d y ln l`.
    powf_adjoint_lhs, powf_adjoint_rhs(l, r, y, d) =>
        d * r * l.powf(r - L::Elem::one()),
        d * y * l.ln();
    /// `l.atan2(r)` (the angle of the point `(r, l)`): `dl = d r / (l² + r²)`, `dr = -d l / (l² + r²)`.
    atan2_adjoint_lhs, atan2_adjoint_rhs(l, r, y, d) =>
        d * r / (l * l + r * r),
        -(d * l) / (l * l + r * r);
    /// `l.hypot(r)`: `dl = d l / y`, `dr = d r / y`; zero at the origin.
    hypot_adjoint_lhs, hypot_adjoint_rhs(l, r, y, d) =>
        if y == L::Elem::zero() { L::Elem::zero() } else { d * l / y },
        if y == L::Elem::zero() { L::Elem::zero() } else { d * r / y };
    /// `l.max(r)`: all of `d` to the argument `max` returned, to `l` on a tie.
    max_adjoint_lhs, max_adjoint_rhs(l, r, y, d) =>
        if l >= r || r.is_nan() { d } else { L::Elem::zero() },
        if l >= r || r.is_nan() { L::Elem::zero() } else { d };
    /// `l.min(r)`: all of `d` to the argument `min` returned, to `l` on a tie.
    min_adjoint_lhs, min_adjoint_rhs(l, r, y, d) =>
        if l <= r || r.is_nan() { d } else { L::Elem::zero() },
        if l <= r || r.is_nan() { L::Elem::zero() } else { d };
    /// `l.log(r)` (logarithm of `l` in base `r`): `dl = d / (l ln r)`, `dr = -d y / (r ln r)`.
    log_adjoint_lhs, log_adjoint_rhs(l, r, y, d) =>
        d / (l * r.ln()),
        -(d * y) / (r * r.ln());
}

/// `x.powi(n)`: `dx = d n x^(n-1)`; zero for `n = 0`.
#[inline(always)]
pub fn powi_adjoint<X: Elementwise>(x: &X, n: i32, y: &X::Out, d: &X::Out) -> X::Out {
    X::map_adjoint(x, y, d, |x: X::Elem, _y, d: X::Elem| {
        if n == 0 {
            X::Elem::zero()
        } else {
            d * <X::Elem as Real>::from_i32(n) * x.powi(n.wrapping_sub(1))
        }
    })
}

/// `a.mul_add(b, c)` (`a b + c`, one rounding): `da = d b`.
#[inline(always)]
pub fn mul_add_adjoint_a<T: Real>(a: &T, b: &T, c: &T, y: &T, d: &T) -> T {
    let _ = (a, c, y);
    *d * *b
}

/// `a.mul_add(b, c)`: `db = d a`.
#[inline(always)]
pub fn mul_add_adjoint_b<T: Real>(a: &T, b: &T, c: &T, y: &T, d: &T) -> T {
    let _ = (b, c, y);
    *d * *a
}

/// `a.mul_add(b, c)`: `dc = d`.
#[inline(always)]
pub fn mul_add_adjoint_c<T: Real>(a: &T, b: &T, c: &T, y: &T, d: &T) -> T {
    let _ = (a, b, c, y);
    *d
}

/// `x.clamp(lo, hi)`: `dx = d` when `lo <= x <= hi` (ends included), else zero.
#[inline(always)]
pub fn clamp_adjoint_x<T: Real>(x: &T, lo: &T, hi: &T, y: &T, d: &T) -> T {
    let _ = y;
    if *x < *lo || *x > *hi {
        T::zero()
    } else {
        *d
    }
}

/// `x.clamp(lo, hi)`: `dlo = d` when `x < lo`, else zero.
#[inline(always)]
pub fn clamp_adjoint_lo<T: Real>(x: &T, lo: &T, hi: &T, y: &T, d: &T) -> T {
    let _ = (hi, y);
    if *x < *lo {
        *d
    } else {
        T::zero()
    }
}

/// `x.clamp(lo, hi)`: `dhi = d` when `x > hi`, else zero.
#[inline(always)]
pub fn clamp_adjoint_hi<T: Real>(x: &T, lo: &T, hi: &T, y: &T, d: &T) -> T {
    let _ = (lo, y);
    if *x > *hi {
        *d
    } else {
        T::zero()
    }
}

/// An operation that passes its operand through (`x.clone()`, a parenthesised expression): the
/// adjoint passes through unchanged.
#[inline(always)]
pub fn pass_adjoint<T: Clone>(d: &T) -> T {
    d.clone()
}

/// Adds a further contribution into an adjoint.
#[inline(always)]
pub fn accumulate<T: Accumulate>(adjoint: &mut T, contribution: T) {
    adjoint.accumulate(contribution);
}

/// The zero gradient of an active argument that does not reach the result.
#[inline(always)]
pub fn zero_like<X: ZeroLike + ?Sized>(x: &X) -> X::Tangent {
    x.zero_like()
}

/// The seed `1` that `NAME_grad` passes to `NAME_vjp`.
#[inline(always)]
pub fn one<T: Real>() -> T {
    T::one()
}
