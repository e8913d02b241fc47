//! The adjoint of every operation `#[differentiate]` accepts, one line each.
//!
//! Each rule is the formula for one element: `x` the operand, `y` the result the forward pass
//! already computed (reused, never recomputed: `exp` returns `d * y`), `d` the adjoint of `y`.
//! The traits in [`crate::tangent`] apply the formula to the operand types, so the generated call
//! `sin_adjoint(&x, &d)` is the same for every float type, and with tensors viewed first
//! (`sin_adjoint(&view(&x), &view(&d))`) maps the formula over the elements into a new array.
//! Broadcasting arithmetic and matrix products of tensors have rules of their own in
//! [`crate::tensor`].
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
use crate::tangent::{Accumulate, Elementwise, View, ZeroLike};

/// Declares rules, one line each: `name(a, b; d) => formula;` becomes
/// `pub fn name(a, b, d)`, where `a`, `b` are the forward values the formula reads (operands or
/// the result, named in each rule's doc) and `d` is the adjoint of the result. A rule takes only
/// what its formula reads, so that a loop saves nothing more for its reverse pass.
macro_rules! rules {
    ($($(#[doc = $doc:literal])* $name:ident $(/ $into:ident)?($($v:ident),*; $d:ident) => $formula:expr;)*) => {$(
        rules!(@one $(#[doc = $doc])* $name($($v),*; $d) => $formula);
        rules!(@into [$($into)?] $name($($v),*; $d) => $formula);
    )*};
    (@one $(#[doc = $doc:literal])* $name:ident(; $d:ident) => $formula:expr) => {
        $(#[doc = $doc])*
        #[inline(always)]
        pub fn $name<X: Elementwise>($d: &X) -> X::Out {
            X::map1($d, |$d: X::Elem| $formula)
        }
    };
    (@one $(#[doc = $doc:literal])* $name:ident($a:ident; $d:ident) => $formula:expr) => {
        $(#[doc = $doc])*
        #[inline(always)]
        pub fn $name<X: Elementwise>($a: &X, $d: &X) -> X::Out {
            X::map2($a, $d, |$a: X::Elem, $d: X::Elem| $formula)
        }
    };
    (@one $(#[doc = $doc:literal])* $name:ident($a:ident, $b:ident; $d:ident) => $formula:expr) => {
        $(#[doc = $doc])*
        #[inline(always)]
        pub fn $name<X: Elementwise>($a: &X, $b: &X, $d: &X) -> X::Out {
            X::map3($a, $b, $d, |$a: X::Elem, $b: X::Elem, $d: X::Elem| $formula)
        }
    };
    // The same rule written over the adjoint `d`, taken by value when nothing reads it after:
    // an array adjoint's buffer is reused instead of allocating the result.
    (@into [] $name:ident($($v:ident),*; $d:ident) => $formula:expr) => {};
    (@into [$into:ident] $name:ident(; $d:ident) => $formula:expr) => {
        #[doc = concat!("[`", stringify!($name), "`] written over `d`, whose buffer is reused.")]
        #[inline(always)]
        pub fn $into<X: Elementwise>($d: X::Out) -> X::Out {
            X::map1_into($d, |$d: X::Elem| $formula)
        }
    };
    (@into [$into:ident] $name:ident($a:ident; $d:ident) => $formula:expr) => {
        #[doc = concat!("[`", stringify!($name), "`] written over `d`, whose buffer is reused.")]
        #[inline(always)]
        pub fn $into<X: Elementwise>($a: &X, $d: X::Out) -> X::Out {
            X::map2_into($a, $d, |$a: X::Elem, $d: X::Elem| $formula)
        }
    };
    (@into [$into:ident] $name:ident($a:ident, $b:ident; $d:ident) => $formula:expr) => {
        #[doc = concat!("[`", stringify!($name), "`] written over `d`, whose buffer is reused.")]
        #[inline(always)]
        pub fn $into<X: Elementwise>($a: &X, $b: &X, $d: X::Out) -> X::Out {
            X::map3_into($a, $b, $d, |$a: X::Elem, $b: X::Elem, $d: X::Elem| $formula)
        }
    };
}

/// `2` in any float type, for the formulas below.
#[inline(always)]
fn two<T: Real>() -> T {
    T::one() + T::one()
}

// Unary operations: `x` is the operand, `y` the result, `d` the result's adjoint; each returns
// the contribution to `x`'s adjoint.
rules! {
    /// `y = -x`: `dx = -d`.
    neg_adjoint / neg_adjoint_into(; d) => -d;
    /// `y = x.sin()`: `dx = d cos x`.
    sin_adjoint / sin_adjoint_into(x; d) => d * x.cos();
    /// `y = x.cos()`: `dx = -d sin x`.
    cos_adjoint / cos_adjoint_into(x; d) => -(d * x.sin());
    /// `y = x.tan()`: `dx = d (1 + y²)`.
    tan_adjoint / tan_adjoint_into(y; d) => d * (y * y + X::Elem::one());
    /// `y = x.asin()`: `dx = d / √(1 - x²)`.
    asin_adjoint / asin_adjoint_into(x; d) => d / (X::Elem::one() - x * x).sqrt();
    /// `y = x.acos()`: `dx = -d / √(1 - x²)`.
    acos_adjoint / acos_adjoint_into(x; d) => -(d / (X::Elem::one() - x * x).sqrt());
    /// `y = x.atan()`: `dx = d / (1 + x²)`.
    atan_adjoint / atan_adjoint_into(x; d) => d / (x * x + X::Elem::one());
    /// `y = x.sinh()`: `dx = d cosh x`.
    sinh_adjoint / sinh_adjoint_into(x; d) => d * x.cosh();
    /// `y = x.cosh()`: `dx = d sinh x`.
    cosh_adjoint / cosh_adjoint_into(x; d) => d * x.sinh();
    /// `y = x.tanh()`: `dx = d (1 - y²)`, from the output as PyTorch and JAX compute it: where
    /// `|y|` is within 1e-8 of 1 the small derivative keeps only its absolute accuracy.
    tanh_adjoint / tanh_adjoint_into(y; d) => d * (X::Elem::one() - y * y);
    /// `y = x.asinh()`: `dx = d / √(x² + 1)`.
    asinh_adjoint / asinh_adjoint_into(x; d) => d / (x * x + X::Elem::one()).sqrt();
    /// `y = x.acosh()`: `dx = d / √(x² - 1)`.
    acosh_adjoint / acosh_adjoint_into(x; d) => d / (x * x - X::Elem::one()).sqrt();
    /// `y = x.atanh()`: `dx = d / (1 - x²)`.
    atanh_adjoint / atanh_adjoint_into(x; d) => d / (X::Elem::one() - x * x);
    /// `y = x.exp()`: `dx = d y`.
    exp_adjoint / exp_adjoint_into(y; d) => d * y;
    /// `y = x.exp2()`: `dx = d y ln 2`.
    exp2_adjoint / exp2_adjoint_into(y; d) => d * y * X::Elem::LN_2();
    /// `y = x.exp_m1()`: `dx = d (y + 1)`, or `d e^x` where `y` is near -1 (the sum cancels).
    exp_m1_adjoint / exp_m1_adjoint_into(x, y; d) => {
        if y > -X::Elem::of_f64(0.5) {
            d * (y + X::Elem::one())
        } else {
            d * x.exp()
        }
    };
    /// `y = x.ln()`: `dx = d / x`; `+inf` at `x = 0`.
    ln_adjoint / ln_adjoint_into(x; d) => d / x;
    /// `y = x.ln_1p()`: `dx = d / (1 + x)`.
    ln_1p_adjoint / ln_1p_adjoint_into(x; d) => d / (x + X::Elem::one());
    /// `y = x.log2()`: `dx = d / (x ln 2)`.
    log2_adjoint / log2_adjoint_into(x; d) => d / (x * X::Elem::LN_2());
    /// `y = x.log10()`: `dx = d / (x ln 10)`.
    log10_adjoint / log10_adjoint_into(x; d) => d / (x * X::Elem::LN_10());
    /// `y = x.sqrt()`: `dx = d / (2y)`; `+inf` at `x = 0`.
    sqrt_adjoint / sqrt_adjoint_into(y; d) => d / (y + y);
    /// `y = x.cbrt()`: `dx = d / (3y²)`.
    cbrt_adjoint / cbrt_adjoint_into(y; d) => d / (y * y * (two::<X::Elem>() + X::Elem::one()));
    /// `y = x.recip()`: `dx = -d y²`.
    recip_adjoint / recip_adjoint_into(y; d) => -(d * y * y);
    /// `y = x.abs()`: `dx = d signum(x)`, and `0` at `x = 0`.
    abs_adjoint / abs_adjoint_into(x; d) => {
        if x > X::Elem::zero() {
            d
        } else if x < X::Elem::zero() {
            -d
        } else {
            X::Elem::zero()
        }
    };
    /// `y = x.to_degrees()`: `dx = d · 180/π`.
    to_degrees_adjoint / to_degrees_adjoint_into(; d) => d.to_degrees();
    /// `y = x.to_radians()`: `dx = d · π/180`.
    to_radians_adjoint / to_radians_adjoint_into(; d) => d.to_radians();
    /// `y = x.fract()` (`x - x.trunc()`): `dx = d` (the jumps at integers are ignored).
    fract_adjoint / fract_adjoint_into(; d) => d;
    /// `y = sigmoid(x)`: `dx = d y (1 - y)`, from the output as PyTorch and JAX compute it.
    sigmoid_adjoint / sigmoid_adjoint_into(y; d) => d * y * (X::Elem::one() - y);
    /// `y = relu(x)`: `dx = d` where `x > 0`, else zero (also at `0`).
    relu_adjoint / relu_adjoint_into(x; d) => if x > X::Elem::zero() { d } else { X::Elem::zero() };
    /// `y = softplus(x)`: `dx = d sigmoid(x)`.
    softplus_adjoint / softplus_adjoint_into(x; d) => d * crate::helpers::sigmoid(x);
}

// Binary operations `y = l op r`: `_lhs` returns the contribution to `l`, `_rhs` to `r`.
rules! {
    /// `y = l + r`: `dl = d`.
    add_adjoint_lhs(; d) => d;
    /// `y = l + r`: `dr = d`.
    add_adjoint_rhs(; d) => d;
    /// `y = l - r`: `dl = d`.
    sub_adjoint_lhs(; d) => d;
    /// `y = l - r`: `dr = -d`.
    sub_adjoint_rhs(; d) => -d;
    /// `y = x * x`: `dx = x (d + d)`, the rounded `2 d x` as `d (x + x)` gives it (doubling is
    /// exact), with the doubling on `d`: a loop's `d` is often the same in every iteration,
    /// and `d + d` then leaves the loop.
    square_adjoint / square_adjoint_into(x; d) => x * (d + d);
    /// `y = l * r`: `dl = d r`.
    mul_adjoint_lhs(r; d) => d * r;
    /// `y = l * r`: `dr = d l`.
    mul_adjoint_rhs(l; d) => d * l;
    /// `y = l / r`: `dl = d / r`.
    div_adjoint_lhs(r; d) => d / r;
    /// `y = l / r`: `dr = -d y / r`.
    div_adjoint_rhs(r, y; d) => -(d * y) / r;
    /// `y = l % r` (`l - r (l / r).trunc()`): `dl = d`.
    rem_adjoint_lhs(; d) => d;
    /// `y = l % r`: `dr = -d (l / r).trunc()`.
    rem_adjoint_rhs(l, r; d) => -(d * (l / r).trunc());
    /// `y = l.powf(r)`: `dl = d r l^(r-1)`.
    powf_adjoint_lhs(l, r; d) => d * r * l.powf(r - X::Elem::one());
    /// `y = l.powf(r)`: `dr = d y ln l`; zero at `l = 0` for `r >= 0` (`y` finite), where
    /// `0^r` does not change with `r > 0` (`y ln l` would be `0 · -inf`, NaN), as PyTorch has it.
    powf_adjoint_rhs(l, y; d) => if l == X::Elem::zero() && y.is_finite() {
        X::Elem::zero()
    } else {
        d * y * l.ln()
    };
    /// `y = l.atan2(r)` (the angle of the point `(r, l)`): `dl = d r / (l² + r²)`; where
    /// `l² + r²` underflows or overflows (`|l|`, `|r|` near `1e-154` or `1e154`), `d (r / h) / h`
    /// with `h = l.hypot(r)`, which does not. At the origin both are NaN (0/0).
    atan2_adjoint_lhs(l, r; d) => {
        let s = l * l + r * r;
        if s.is_normal() {
            d * r / s
        } else {
            let h = l.hypot(r);
            d * (r / h) / h
        }
    };
    /// `y = l.atan2(r)`: `dr = -d l / (l² + r²)`, scaled as `dl` is.
    atan2_adjoint_rhs(l, r; d) => {
        let s = l * l + r * r;
        if s.is_normal() {
            -(d * l) / s
        } else {
            let h = l.hypot(r);
            -(d * (l / h)) / h
        }
    };
    /// `y = l.hypot(r)`: `dl = d l / y`, zero at the origin.
    hypot_adjoint_lhs(l, y; d) => if y == X::Elem::zero() { X::Elem::zero() } else { d * l / y };
    /// `y = l.hypot(r)`: `dr = d r / y`, zero at the origin.
    hypot_adjoint_rhs(r, y; d) => if y == X::Elem::zero() { X::Elem::zero() } else { d * r / y };
    /// `y = l.max(r)`: all of `d` to the argument `max` returned, to `l` on a tie.
    max_adjoint_lhs(l, r; d) => if l >= r || r.is_nan() { d } else { X::Elem::zero() };
    /// `y = l.max(r)`: all of `d` to `r` when `max` returned it (never on a tie).
    max_adjoint_rhs(l, r; d) => if l >= r || r.is_nan() { X::Elem::zero() } else { d };
    /// `y = l.min(r)`: all of `d` to the argument `min` returned, to `l` on a tie.
    min_adjoint_lhs(l, r; d) => if l <= r || r.is_nan() { d } else { X::Elem::zero() };
    /// `y = l.min(r)`: all of `d` to `r` when `min` returned it (never on a tie).
    min_adjoint_rhs(l, r; d) => if l <= r || r.is_nan() { X::Elem::zero() } else { d };
    /// `y = l.log(r)` (logarithm of `l` in base `r`): `dl = d / (l ln r)`.
    log_adjoint_lhs(l, r; d) => d / (l * r.ln());
    /// `y = l.log(r)`: `dr = -d y / (r ln r)`.
    log_adjoint_rhs(r, y; d) => -(d * y) / (r * r.ln());
}

/// Whether `l.max(r)` counts as returning `l`, as [`max_adjoint_lhs`] decides it (also on a tie,
/// or when `r` is NaN). A loop's running maximum (`m = m.max(e)`) records with it the last
/// iteration whose `e` became the maximum, and its reverse sends the adjoint to that `e` alone
/// instead of saving `m` at every iteration.
#[inline(always)]
pub fn max_keeps_lhs<T: Real>(l: &T, r: &T) -> bool {
    *l >= *r || r.is_nan()
}

/// Whether `l.min(r)` counts as returning `l`, as [`min_adjoint_lhs`] decides it; see
/// [`max_keeps_lhs`].
#[inline(always)]
pub fn min_keeps_lhs<T: Real>(l: &T, r: &T) -> bool {
    *l <= *r || r.is_nan()
}

/// `y = x.powi(n)`: `dx = d n x^(n-1)`; zero for `n = 0`.
#[inline(always)]
pub fn powi_adjoint<X: Elementwise>(x: &X, n: i32, d: &X) -> X::Out {
    X::map2(x, d, |x: X::Elem, d: X::Elem| {
        if n == 0 {
            X::Elem::zero()
        } else {
            d * <X::Elem as Real>::of_i32(n) * x.powi(n.wrapping_sub(1))
        }
    })
}

/// [`powi_adjoint`] written over `d`, whose buffer is reused.
#[inline(always)]
pub fn powi_adjoint_into<X: Elementwise>(x: &X, n: i32, d: X::Out) -> X::Out {
    X::map2_into(x, d, |x: X::Elem, d: X::Elem| {
        if n == 0 {
            X::Elem::zero()
        } else {
            d * <X::Elem as Real>::of_i32(n) * x.powi(n.wrapping_sub(1))
        }
    })
}

rules! {
    /// `y = a.mul_add(b, c)` (`a b + c`, one rounding): `da = d b`.
    mul_add_adjoint_a(b; d) => d * b;
    /// `y = a.mul_add(b, c)`: `db = d a`.
    mul_add_adjoint_b(a; d) => d * a;
    /// `y = a.mul_add(b, c)`: `dc = d`.
    mul_add_adjoint_c(; d) => d;
}

/// `y = x.clamp(lo, hi)`: `dx = d` when `lo <= x <= hi` (ends included), else zero.
#[inline(always)]
pub fn clamp_adjoint_x<T: Real>(x: &T, lo: &T, hi: &T, d: &T) -> T {
    if *x < *lo || *x > *hi {
        T::zero()
    } else {
        *d
    }
}

rules! {
    /// `y = x.clamp(lo, hi)`: `dlo = d` when `x < lo`, else zero.
    clamp_adjoint_lo(x, lo; d) => if x < lo { d } else { X::Elem::zero() };
    /// `y = x.clamp(lo, hi)`: `dhi = d` when `x > hi`, else zero.
    clamp_adjoint_hi(x, hi; d) => if x > hi { d } else { X::Elem::zero() };
}

/// An operation that passes its operand through (`x.clone()`, a parenthesised expression): the
/// adjoint passes through unchanged.
#[inline(always)]
pub fn pass_adjoint<T: Clone>(d: &T) -> T {
    d.clone()
}

/// `y = x.to_vec()`: the adjoint passes through, as `x`'s gradient type (a `Vec` for a slice or
/// a `Vec`, an array for a fixed array).
#[inline]
pub fn to_vec_adjoint<X, T>(x: &X, d: &[T]) -> X::Tangent
where
    X: ZeroLike + ?Sized,
    X::Tangent: crate::calls::AccumulateGradient<Vec<T>>,
    T: Clone,
{
    let mut adjoint = x.zero_like();
    crate::calls::AccumulateGradient::accumulate_gradient(&mut adjoint, d.to_vec());
    adjoint
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

/// A value as the elementwise rules read it: a scalar by copy, an array of any storage as an
/// `ArrayView`, so that `exp_adjoint(&view(&y), &view(&d))` takes an owned `y` and a viewed `d`
/// alike.
#[inline(always)]
pub fn view<V: View + ?Sized>(v: &V) -> V::Viewed<'_> {
    v.view_value()
}

/// Reads an element's adjoint and leaves zero in its place: the reverse of `a[i] = v`, whose
/// old value no longer reaches the result.
#[inline(always)]
pub fn take<T: ZeroLike<Tangent = T>>(adjoint: &mut T) -> T {
    let zero = adjoint.zero_like();
    core::mem::replace(adjoint, zero)
}

/// Zeroes every element of an array's adjoint: the reverse of an iteration that fills a scratch
/// array whole starts so, and the fill's reverse then reads each element's adjoint instead of
/// taking it (see `take`).
#[inline(always)]
pub fn clear<T: ZeroLike<Tangent = T>>(adjoint: &mut [T]) {
    for a in adjoint {
        *a = a.zero_like();
    }
}

/// The value of a loop's item over an array: the element, whether the loop visits it by
/// reference (`x.iter()`) or by value.
#[inline(always)]
pub fn element_value<E: crate::tangent::ElementValue>(item: E) -> E::Value {
    item.element_value()
}

/// Zero of a float type (the result an early `return` starts from).
#[inline(always)]
pub fn zero<T: Real>() -> T {
    T::zero()
}

/// A value of a function's result type for an early `return` to start from: the function's
/// result is this until a `return` (or the end of the body) sets it, so the value itself is
/// never returned. Zero for floats, zeros for fixed arrays, empty for a `Vec` or an ndarray
/// array.
pub trait ReturnStart {
    /// The starting value.
    fn return_start() -> Self;
}

impl<T: Real> ReturnStart for T {
    #[inline(always)]
    fn return_start() -> Self {
        T::zero()
    }
}

impl<T: Real, const N: usize> ReturnStart for [T; N] {
    #[inline(always)]
    fn return_start() -> Self {
        [T::zero(); N]
    }
}

impl<T> ReturnStart for Vec<T> {
    #[inline(always)]
    fn return_start() -> Self {
        Vec::new()
    }
}

impl<A: Clone + num_traits::Zero, D: ndarray::Dimension> ReturnStart for ndarray::Array<A, D> {
    #[inline(always)]
    fn return_start() -> Self {
        ndarray::Array::zeros(D::zeros(D::NDIM.unwrap_or(1)))
    }
}

/// [`ReturnStart::return_start`] of the result type `T`.
#[inline(always)]
pub fn return_start<T: ReturnStart>() -> T {
    T::return_start()
}

/// The position in the array of element `j` of a window (or chunk) starting at `start` of
/// length `len`: what `w[j]` reads in `for w in x.windows(k)`. Panics, as `w[j]` does, when `j`
/// is past the window.
#[inline(always)]
#[track_caller]
pub fn window_index(start: usize, j: usize, len: usize) -> usize {
    assert!(
        j < len,
        "index out of bounds: the len is {len} but the index is {j}"
    );
    start + j
}

/// The seed `1` that `NAME_grad` passes to `NAME_vjp`.
#[inline(always)]
pub fn one<T: Real>() -> T {
    T::one()
}
