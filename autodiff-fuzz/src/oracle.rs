//! The oracle: forward mode with `num-dual`, central differences, and the checks a generated crate
//! runs on each of its functions ([`run_cases`]).
//!
//! [`Fwd`] is a first-order `num_dual::Dual64` that implements `num_traits::Float` (and
//! `NumAssign`, for generic code with `+=`), so a generated `fn f<T: Float>` runs unchanged on dual
//! numbers, one pass per input. Two choices make it a sharp reference:
//!
//! - The real part of every operation is computed by the `f64` operation itself (the derivative
//!   part comes from `num-dual`), so `f::<Fwd>` takes exactly the branches `f::<f64>` takes and
//!   its value is bit-identical to `f::<f64>`'s (checked). The gradient from `num-dual` is then
//!   the gradient of the branch actually taken, also at a tie, which is what `#[differentiate]`
//!   promises.
//! - At the kinks the project documents a convention for, `Fwd` follows it: `abs'(0) = 0`,
//!   `max`/`min` send a tie to the first argument, `hypot` at the origin has gradient zero.
//!
//! While it runs, `Fwd` records how far (in units of the input being differentiated) the nearest
//! kink is: every comparison, `abs`, `max`, `min`, `signum`, the rounding functions, `atan2`'s
//! branch cut and the origin of `hypot`/`atan2`. Central differences, which straddle a kink when it
//! is closer than their step, are only compared where it is far.

use core::cell::Cell;
use core::cmp::Ordering;
use core::num::FpCategory;
use core::ops::{
    Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, RemAssign, Sub, SubAssign,
};
use std::io::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};

use num_dual::{Dual64, DualNum};
use num_traits::{Float, Num, One, ToPrimitive, Zero};

use crate::ast::Shape;
use crate::rng::{mix, Rng};

thread_local! {
    /// The distance to the nearest kink seen in the current pass (input units, first order).
    static KINK: Cell<f64> = const { Cell::new(f64::INFINITY) };
    /// The largest magnitude of a value or derivative computed since the last reset.
    static MAGNITUDE: Cell<f64> = const { Cell::new(0.0) };
    /// Whether a periodic function saw an argument so large that its value is noise at the
    /// scale of a central difference's step.
    static ALIASED: Cell<bool> = const { Cell::new(false) };
}

/// Above this magnitude of any intermediate value or derivative, a point is skipped: the reverse
/// pass may overflow where the forward one does not.
pub const MAX_MAGNITUDE: f64 = 1e100;

/// Above this argument of `sin`, `cos`, `tan`, central differences are not used.
const MAX_PERIODIC_ARG: f64 = 1e4;

fn note_magnitude(d: Dual64) {
    // NaN counts as infinite.
    let big = |v: f64| if v.is_nan() { f64::INFINITY } else { v.abs() };
    let m = big(d.re).max(big(d.eps));
    MAGNITUDE.with(|c| {
        if m > c.get() {
            c.set(m);
        }
    });
}

/// Records a kink at distance `|re| / |eps|` along the current direction: `re` is the signed
/// distance of some value to its kink, `eps` that value's derivative.
fn kink(re: f64, eps: f64) {
    let d = if eps == 0.0 {
        if re == 0.0 {
            0.0
        } else {
            f64::INFINITY
        }
    } else {
        (re / eps).abs()
    };
    KINK.with(|k| k.set(k.get().min(d)));
}

fn reset_kink() {
    KINK.with(|k| k.set(f64::INFINITY));
}

fn take_kink() -> f64 {
    KINK.with(|k| k.replace(f64::INFINITY))
}

/// A `num-dual` first-order dual number that implements `num_traits::Float`.
#[derive(Clone, Copy, Debug)]
pub struct Fwd(pub Dual64);

/// The real part `re` (computed in `f64`) and the derivative part of `d` (from `num-dual`).
fn mk(re: f64, d: Dual64) -> Fwd {
    let r = Dual64::new(re, d.eps);
    if !bound_mode() {
        note_magnitude(r);
    }
    Fwd(r)
}

fn periodic(re: f64) {
    // NaN counts as too large.
    if re.abs().is_nan() || re.abs() > MAX_PERIODIC_ARG {
        ALIASED.with(|a| a.set(true));
    }
}

thread_local! {
    /// Bound mode: derivative parts propagate `|∂op/∂arg|·|d arg|`, summed over the arguments.
    static BOUND: Cell<bool> = const { Cell::new(false) };
    /// With bound mode, rounding mode: every operation also adds `ε·|result|` (running error
    /// analysis: the derivative part bounds, to first order, the rounding error of the value).
    static ROUNDING: Cell<bool> = const { Cell::new(false) };
}

fn bound_mode() -> bool {
    BOUND.with(Cell::get)
}

/// The rounding error an operation with result `re` adds, in rounding mode.
fn fresh_error(re: f64) -> f64 {
    if ROUNDING.with(Cell::get) {
        f64::EPSILON * re.abs()
    } else {
        0.0
    }
}

/// `|partial| · |eps|`, zero when `eps` is (whatever the partial: a constant argument).
fn term(partial: f64, eps: f64) -> f64 {
    if eps == 0.0 {
        0.0
    } else {
        partial.abs() * eps.abs()
    }
}

impl Fwd {
    /// A constant: derivative part zero.
    pub fn cst(re: f64) -> Self {
        Fwd(Dual64::from_re(re))
    }
    /// A value with derivative `eps`.
    pub fn var(re: f64, eps: f64) -> Self {
        Fwd(Dual64::new(re, eps))
    }
    /// The real part.
    pub fn re(self) -> f64 {
        self.0.re
    }
    /// The derivative part.
    pub fn eps(self) -> f64 {
        self.0.eps
    }

    /// A function of one argument: value `re`, derivative by `num-dual`'s `f`.
    fn un(self, re: f64, f: impl Fn(&Dual64) -> Dual64) -> Fwd {
        if bound_mode() {
            let d = f(&Dual64::new(self.re(), 1.0)).eps;
            mk(re, Dual64::new(re, term(d, self.eps()) + fresh_error(re)))
        } else {
            mk(re, f(&self.0))
        }
    }

    /// A function of two arguments.
    fn bin(self, o: Fwd, re: f64, f: impl Fn(Dual64, Dual64) -> Dual64) -> Fwd {
        if bound_mode() {
            let mut eps = 0.0;
            if self.eps() != 0.0 {
                let da = f(Dual64::new(self.re(), 1.0), Dual64::from_re(o.re())).eps;
                eps += term(da, self.eps());
            }
            if o.eps() != 0.0 {
                let db = f(Dual64::from_re(self.re()), Dual64::new(o.re(), 1.0)).eps;
                eps += term(db, o.eps());
            }
            mk(re, Dual64::new(re, eps + fresh_error(re)))
        } else {
            mk(re, f(self.0, o.0))
        }
    }
}

/// A comparison's kink: where the two sides meet. Two sides that move together (equal
/// derivatives) and differ only by rounding (`(3 + x) % 1.5` against `x`) are a kink right here:
/// which way the comparison goes is decided by the rounding of each perturbed evaluation.
fn comparison_kink(a: &Fwd, b: &Fwd) {
    let (re, eps) = (a.re() - b.re(), a.eps() - b.eps());
    let scale = a.re().abs().max(b.re().abs()).max(1.0);
    if eps == 0.0 && re.abs() <= 1e-12 * scale {
        kink(0.0, 0.0);
    } else {
        kink(re, eps);
    }
}

impl PartialEq for Fwd {
    fn eq(&self, other: &Self) -> bool {
        comparison_kink(self, other);
        self.0.re == other.0.re
    }
}

impl PartialOrd for Fwd {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        comparison_kink(self, other);
        self.0.re.partial_cmp(&other.0.re)
    }
}

impl Add for Fwd {
    type Output = Fwd;
    fn add(self, o: Fwd) -> Fwd {
        self.bin(o, self.re() + o.re(), |a, b| a + b)
    }
}
impl Sub for Fwd {
    type Output = Fwd;
    fn sub(self, o: Fwd) -> Fwd {
        self.bin(o, self.re() - o.re(), |a, b| a - b)
    }
}
impl Mul for Fwd {
    type Output = Fwd;
    fn mul(self, o: Fwd) -> Fwd {
        self.bin(o, self.re() * o.re(), |a, b| a * b)
    }
}
impl Div for Fwd {
    type Output = Fwd;
    fn div(self, o: Fwd) -> Fwd {
        self.bin(o, self.re() / o.re(), |a, b| a / b)
    }
}
/// `num-dual` has no `%`: `a % b = a - b·trunc(a/b)`, the quotient locally constant.
impl Rem for Fwd {
    type Output = Fwd;
    fn rem(self, o: Fwd) -> Fwd {
        let q = (self.re() / o.re()).trunc();
        let r = self.re() % o.re();
        // It jumps where `r` reaches `0` or `±o`.
        kink(
            r.abs().min(o.re().abs() - r.abs()),
            self.eps() - o.eps() * q,
        );
        self.bin(o, r, move |a, b| Dual64::new(r, a.eps - b.eps * q))
    }
}
impl Neg for Fwd {
    type Output = Fwd;
    fn neg(self) -> Fwd {
        self.un(-self.re(), |a| -*a)
    }
}
impl AddAssign for Fwd {
    fn add_assign(&mut self, o: Fwd) {
        *self = *self + o;
    }
}
impl SubAssign for Fwd {
    fn sub_assign(&mut self, o: Fwd) {
        *self = *self - o;
    }
}
impl MulAssign for Fwd {
    fn mul_assign(&mut self, o: Fwd) {
        *self = *self * o;
    }
}
impl DivAssign for Fwd {
    fn div_assign(&mut self, o: Fwd) {
        *self = *self / o;
    }
}
impl RemAssign for Fwd {
    fn rem_assign(&mut self, o: Fwd) {
        *self = *self % o;
    }
}

impl Zero for Fwd {
    fn zero() -> Self {
        Fwd::cst(0.0)
    }
    fn is_zero(&self) -> bool {
        self.0.re == 0.0
    }
}
impl One for Fwd {
    fn one() -> Self {
        Fwd::cst(1.0)
    }
}
impl Num for Fwd {
    type FromStrRadixErr = <f64 as Num>::FromStrRadixErr;
    fn from_str_radix(s: &str, radix: u32) -> Result<Self, Self::FromStrRadixErr> {
        f64::from_str_radix(s, radix).map(Fwd::cst)
    }
}
impl ToPrimitive for Fwd {
    fn to_i64(&self) -> Option<i64> {
        self.0.re.to_i64()
    }
    fn to_u64(&self) -> Option<u64> {
        self.0.re.to_u64()
    }
    fn to_f64(&self) -> Option<f64> {
        Some(self.0.re)
    }
}
impl num_traits::NumCast for Fwd {
    fn from<N: ToPrimitive>(n: N) -> Option<Self> {
        n.to_f64().map(Fwd::cst)
    }
}

/// Methods of one operand: the `f64` value, the `num-dual` derivative.
macro_rules! delegate {
    ($($name:ident),*) => {$(
        fn $name(self) -> Self {
            self.un(self.re().$name(), |d| DualNum::$name(d))
        }
    )*};
}

impl Float for Fwd {
    fn nan() -> Self {
        Fwd::cst(f64::NAN)
    }
    fn infinity() -> Self {
        Fwd::cst(f64::INFINITY)
    }
    fn neg_infinity() -> Self {
        Fwd::cst(f64::NEG_INFINITY)
    }
    fn neg_zero() -> Self {
        Fwd::cst(-0.0)
    }
    fn min_value() -> Self {
        Fwd::cst(f64::MIN)
    }
    fn min_positive_value() -> Self {
        Fwd::cst(f64::MIN_POSITIVE)
    }
    fn epsilon() -> Self {
        Fwd::cst(f64::EPSILON)
    }
    fn max_value() -> Self {
        Fwd::cst(f64::MAX)
    }
    fn is_nan(self) -> bool {
        self.0.re.is_nan()
    }
    fn is_infinite(self) -> bool {
        self.0.re.is_infinite()
    }
    fn is_finite(self) -> bool {
        self.0.re.is_finite()
    }
    fn is_normal(self) -> bool {
        self.0.re.is_normal()
    }
    fn classify(self) -> FpCategory {
        self.0.re.classify()
    }
    // Piecewise constant: derivative zero; the jumps are kinks.
    fn floor(self) -> Self {
        let r = self.re();
        kink((r - r.floor()).min(r.ceil() - r), self.eps());
        Fwd::cst(r.floor())
    }
    fn ceil(self) -> Self {
        let r = self.re();
        kink((r - r.floor()).min(r.ceil() - r), self.eps());
        Fwd::cst(r.ceil())
    }
    fn round(self) -> Self {
        let r = self.re();
        kink((r - r.floor() - 0.5).abs(), self.eps());
        Fwd::cst(r.round())
    }
    fn trunc(self) -> Self {
        let r = self.re();
        kink((r - r.floor()).min(r.ceil() - r), self.eps());
        Fwd::cst(r.trunc())
    }
    fn signum(self) -> Self {
        kink(self.re(), self.eps());
        Fwd::cst(self.re().signum())
    }
    fn fract(self) -> Self {
        let r = self.re();
        kink((r - r.floor()).min(r.ceil() - r), self.eps());
        Fwd(Dual64::new(r.fract(), self.eps()))
    }
    /// `abs'(0) = 0`, as documented.
    fn abs(self) -> Self {
        kink(self.re(), self.eps());
        let r = self.re();
        let sign = if r > 0.0 {
            1.0
        } else if r < 0.0 {
            -1.0
        } else {
            0.0
        };
        self.un(r.abs(), move |d| *d * sign)
    }
    fn is_sign_positive(self) -> bool {
        self.0.re.is_sign_positive()
    }
    fn is_sign_negative(self) -> bool {
        self.0.re.is_sign_negative()
    }
    fn mul_add(self, a: Self, b: Self) -> Self {
        let re = self.re().mul_add(a.re(), b.re());
        if bound_mode() {
            let eps = term(a.re(), self.eps())
                + term(self.re(), a.eps())
                + term(1.0, b.eps())
                + fresh_error(re);
            mk(re, Dual64::new(re, eps))
        } else {
            mk(re, DualNum::mul_add(&self.0, a.0, b.0))
        }
    }
    /// A negative exponent as the reciprocal of the positive power: `num-dual`'s `powi` takes
    /// `x^(n-3)` on the way, which underflows for large `x` where `x^n` does not (seed 27's
    /// program 1634: `y.powi(-1)` with `y` near `1e78` had derivative 0 instead of `-1/y²`).
    fn powi(self, n: i32) -> Self {
        if n < 0 {
            let re = self.re().powi(n);
            return self.un(re, |d| DualNum::powi(d, -n).recip());
        }
        self.un(self.re().powi(n), |d| DualNum::powi(d, n))
    }
    /// With a constant exponent `num-dual`'s `powf`; with an active one its `powd`.
    fn powf(self, n: Self) -> Self {
        let re = self.re().powf(n.re());
        if n.eps() == 0.0 {
            let k = n.re();
            self.un(re, |d| DualNum::powf(d, k))
        } else {
            self.bin(n, re, |a, b| DualNum::powd(&a, b))
        }
    }
    fn log(self, base: Self) -> Self {
        let re = self.re().log(base.re());
        if base.eps() == 0.0 {
            let k = base.re();
            self.un(re, |d| DualNum::log(d, k))
        } else {
            self.bin(base, re, |a, b| DualNum::ln(&a) / DualNum::ln(&b))
        }
    }
    fn to_degrees(self) -> Self {
        self.un(self.re().to_degrees(), |d| {
            *d * (180.0 / std::f64::consts::PI)
        })
    }
    fn to_radians(self) -> Self {
        self.un(self.re().to_radians(), |d| {
            *d * (std::f64::consts::PI / 180.0)
        })
    }
    /// A tie goes to the first argument, as documented; NaN is ignored as by `f64::max`.
    fn max(self, other: Self) -> Self {
        kink(self.re() - other.re(), self.eps() - other.eps());
        if self.re().is_nan() {
            return other;
        }
        if other.re() > self.re() {
            other
        } else {
            self
        }
    }
    /// A tie goes to the first argument, as documented; NaN is ignored as by `f64::min`.
    fn min(self, other: Self) -> Self {
        kink(self.re() - other.re(), self.eps() - other.eps());
        if self.re().is_nan() {
            return other;
        }
        if other.re() < self.re() {
            other
        } else {
            self
        }
    }
    fn abs_sub(self, other: Self) -> Self {
        (self - other).max(Fwd::cst(0.0))
    }
    /// Gradient zero at the origin, as documented.
    fn hypot(self, other: Self) -> Self {
        let re = self.re().hypot(other.re());
        kink(re, self.eps().hypot(other.eps()));
        if re == 0.0 {
            return Fwd::cst(0.0);
        }
        self.bin(other, re, |a, b| DualNum::sqrt(&(a * a + b * b)))
    }
    /// Jumps across the negative `x` axis. At the origin the derivative is `0/0 = NaN` (the
    /// project documents no convention there), and such points are skipped.
    fn atan2(self, other: Self) -> Self {
        let re = self.re().atan2(other.re());
        if other.re() < 0.0 {
            kink(self.re(), self.eps());
        }
        kink(self.re().hypot(other.re()), self.eps().hypot(other.eps()));
        self.bin(other, re, |a, b| DualNum::atan2(&a, b))
    }
    fn sin_cos(self) -> (Self, Self) {
        (self.sin(), self.cos())
    }
    fn integer_decode(self) -> (u64, i16, i8) {
        self.0.re.integer_decode()
    }
    fn sin(self) -> Self {
        periodic(self.re());
        self.un(self.re().sin(), DualNum::sin)
    }
    fn cos(self) -> Self {
        periodic(self.re());
        self.un(self.re().cos(), DualNum::cos)
    }
    fn tan(self) -> Self {
        periodic(self.re());
        self.un(self.re().tan(), DualNum::tan)
    }
    // `asin` and `acos` are not smooth at the ends of their domain (`acos(sin t)` folds there):
    // a kink at `1 - |x|`.
    fn asin(self) -> Self {
        kink(1.0 - self.re().abs(), self.eps());
        self.un(self.re().asin(), DualNum::asin)
    }
    fn acos(self) -> Self {
        kink(1.0 - self.re().abs(), self.eps());
        self.un(self.re().acos(), DualNum::acos)
    }
    delegate!(
        recip, sqrt, cbrt, exp, exp2, exp_m1, ln, ln_1p, log2, log10, atan, sinh, cosh, tanh,
        asinh, acosh, atanh
    );
}

// ----- the cases a generated crate checks --------------------------------------------------------

/// A generated function at `f64`, called with every parameter of the widest signature
/// (`x, a, b, n`); the shapes that lack some ignore them.
pub type ValueFn<T> = fn(&[T], T, T, usize) -> T;
/// A generated `_grad` at `f64`: the value and the gradient flattened in argument order
/// (`x`'s components, then `a`, then `b`, for the active ones).
pub type GradFn = fn(&[f64], f64, f64, usize) -> (f64, Vec<f64>);
/// A generated `_hvp` at `f64`: given the direction flattened like the gradient, the value, the
/// gradient and the Hessian-vector product, flattened.
pub type HvpFn = fn(&[f64], f64, f64, usize, &[f64]) -> (f64, Vec<f64>, Vec<f64>);

/// One generated function and its companions, as the generated crate lists them.
pub struct Case {
    /// Its number in the batch (the function is `f{id}`).
    pub id: usize,
    /// Where its points come from.
    pub point_seed: u64,
    /// Its signature.
    pub shape: Shape,
    /// Which of `x`, `a`, `b` are active.
    pub active: [bool; 3],
    /// Whether `value` and `grad` are the function's `f64` twin (the same body written for
    /// `f64`, with plain literals); `dual` is always the generic function.
    pub twin: bool,
    /// `f::<f64>`
    pub value: ValueFn<f64>,
    /// `f::<Fwd>`
    pub dual: ValueFn<Fwd>,
    /// `f_grad::<f64>`, flattened.
    pub grad: GradFn,
    /// `f_hvp::<f64>` or the twin's `f_f64_hvp`, flattened.
    pub hvp: Option<HvpFn>,
}

/// A point: `x`, `a`, `b`, `n`.
#[derive(Clone, Debug)]
pub struct Point {
    /// The slice argument.
    pub x: Vec<f64>,
    /// The first scalar.
    pub a: f64,
    /// The second scalar.
    pub b: f64,
    /// The integer.
    pub n: usize,
}

impl Point {
    /// Point number `k` of a case.
    pub fn sample(point_seed: u64, k: u64) -> Point {
        let mut rng = Rng::new(mix(point_seed, k));
        let len = rng.range(1, 5);
        let x = (0..len).map(|_| round4(rng.uniform(-2.0, 2.0))).collect();
        Point {
            x,
            a: round4(rng.uniform(-2.0, 2.0)),
            b: round4(rng.uniform(-2.0, 2.0)),
            n: rng.range(0, 5),
        }
    }

    /// The point as Rust arguments for the given signature.
    pub fn args(&self, shape: Shape) -> String {
        let x = format!("&{:?}", self.x);
        match shape {
            Shape::Full => format!("{x}, {:?}, {:?}, {}", self.a, self.b, self.n),
            Shape::Scalars => format!("{:?}, {:?}", self.a, self.b),
            Shape::Vector => format!("{x}, {}", self.n),
            Shape::One => format!("{:?}", self.a),
        }
    }
}

/// Four decimals: points that print short in a reproducer.
fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

/// What kind of failure a check found.
pub mod kind {
    /// `f::<f64>` panicked: the generator wrote a bad program.
    pub const PANIC_ORIGINAL: &str = "panic-original";
    /// `f_grad` panicked where `f` did not.
    pub const PANIC_GRAD: &str = "panic-grad";
    /// The value of `f_grad` is not bit-identical to `f`'s.
    pub const VALUE_BITS: &str = "value-bits";
    /// `f::<Fwd>`'s value differs from `f::<f64>`'s: an oracle bug.
    pub const VALUE_ORACLE: &str = "value-oracle";
    /// The gradient has the wrong number of components.
    pub const GRAD_LEN: &str = "grad-len";
    /// The gradient differs from `num-dual`'s.
    pub const GRAD_DUAL: &str = "grad-dual";
    /// The gradient agrees with `num-dual` but not with central differences.
    pub const GRAD_CD: &str = "grad-cd";
    /// `f_hvp` panicked where `f_grad` did not.
    pub const PANIC_HVP: &str = "panic-hvp";
    /// The value or the gradient `f_hvp` returns is not bit-identical to `f_grad`'s.
    pub const HVP_BITS: &str = "hvp-bits";
    /// The Hessian-vector product differs from central differences of `num-dual`'s gradient.
    pub const HVP_CD: &str = "hvp-cd";
}

/// Relative tolerance of the gradient against `num-dual` (both exact up to rounding).
pub const DUAL_REL: f64 = 1e-9;
/// Absolute tolerance against `num-dual`, relative to the component's rounding bound (the sum of
/// the absolute values of all the terms the chain rule adds up for it): room for about a hundred
/// roundings of every term.
pub const DUAL_BOUND: f64 = 1e-14;
/// The absolute tolerance's floor against `num-dual`: the smallest normal `f64`. Below it
/// products underflow into subnormals, which keep fewer significant bits the smaller they get,
/// so two correct orders of the chain rule's terms can differ there by far more than the
/// relative rounding (gradients of `1e-316` differing in the fifth digit, seed 61), and the
/// rounding bound itself underflows to zero.
pub const DUAL_FLOOR: f64 = f64::MIN_POSITIVE;
/// Relative tolerance against central differences (a second, loose check).
pub const CD_REL: f64 = 1e-4;
/// Absolute tolerance against central differences, relative to `max(1, |value|)`.
pub const CD_ABS: f64 = 1e-6;

/// Whether `got` is within `rel` (of the larger magnitude) or `abs` of `want`.
pub fn close(got: f64, want: f64, rel: f64, abs: f64) -> bool {
    if got == want {
        return true;
    }
    let err = (got - want).abs();
    err <= abs || err <= rel * got.abs().max(want.abs())
}

/// Tallies of one case.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    /// Points compared with `num-dual`.
    pub checked: usize,
    /// Points skipped: non-finite value or reference.
    pub skipped: usize,
    /// Gradient components also compared with central differences.
    pub cd: usize,
    /// Components of Hessian-vector products compared with central differences of `num-dual`'s
    /// gradient.
    pub hvp: usize,
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic".to_string()
    }
}

/// What forward mode says at a point.
struct Reference {
    value: f64,
    /// The gradient, for every one of `x…`, `a`, `b` the shape has.
    grad: Vec<f64>,
    /// Per component: the distance to the nearest kink.
    kink: Vec<f64>,
    /// Per component: the sum over all paths of the absolute values of the partial derivatives
    /// along them (forward mode with `|∂op/∂arg|`), which bounds the rounding error of any
    /// evaluation of the gradient in the same operations, relative to `f64::EPSILON`.
    bound: Vec<f64>,
    /// A first-order bound on the rounding error of the value (running error analysis): what
    /// central differences cannot resolve, divided by their step.
    rounding: f64,
}

fn reference(case: &Case, p: &Point) -> Reference {
    let xs: Vec<Fwd> = p.x.iter().map(|&v| Fwd::cst(v)).collect();
    let (a, b) = (Fwd::cst(p.a), Fwd::cst(p.b));
    reset_kink();
    MAGNITUDE.with(|m| m.set(0.0));
    ALIASED.with(|a| a.set(false));
    let value = (case.dual)(&xs, a, b, p.n).re();
    let mut r = Reference {
        value,
        grad: Vec::new(),
        kink: Vec::new(),
        bound: Vec::new(),
        rounding: 0.0,
    };
    let mut pass = |xs: &[Fwd], a: Fwd, b: Fwd| {
        reset_kink();
        let g = (case.dual)(xs, a, b, p.n);
        r.grad.push(g.eps());
        r.kink.push(take_kink());
        BOUND.with(|m| m.set(true));
        let bound = catch_unwind(AssertUnwindSafe(|| (case.dual)(xs, a, b, p.n)));
        BOUND.with(|m| m.set(false));
        let bound = bound.map_or(f64::INFINITY, Fwd::eps);
        r.bound
            .push(if bound.is_nan() { f64::INFINITY } else { bound });
    };
    if case.shape.has_x() {
        for i in 0..xs.len() {
            let mut v = xs.clone();
            v[i] = Fwd::var(p.x[i], 1.0);
            pass(&v, a, b);
        }
    }
    if case.shape.has_a() {
        pass(&xs, Fwd::var(p.a, 1.0), b);
    }
    if case.shape.has_b() {
        pass(&xs, a, Fwd::var(p.b, 1.0));
    }
    BOUND.with(|m| m.set(true));
    ROUNDING.with(|m| m.set(true));
    let e = catch_unwind(AssertUnwindSafe(|| (case.dual)(&xs, a, b, p.n)));
    BOUND.with(|m| m.set(false));
    ROUNDING.with(|m| m.set(false));
    let e = e.map_or(f64::INFINITY, Fwd::eps);
    r.rounding = if e.is_nan() { f64::INFINITY } else { e };
    r
}

/// Which flattened components (`x…`, `a`, `b`) are active.
fn active_mask(case: &Case, p: &Point) -> Vec<bool> {
    let mut m = Vec::new();
    if case.shape.has_x() {
        m.extend(std::iter::repeat_n(case.active[0], p.x.len()));
    }
    if case.shape.has_a() {
        m.push(case.active[1]);
    }
    if case.shape.has_b() {
        m.push(case.active[2]);
    }
    m
}

/// The components of `v` (one per flattened input) of the active inputs.
fn active_parts(v: &[f64], mask: &[bool]) -> Vec<f64> {
    v.iter()
        .zip(mask)
        .filter(|(_, &m)| m)
        .map(|(g, _)| *g)
        .collect()
}

/// `p` moved by `s` along flattened component `j`.
fn shifted(case: &Case, p: &Point, j: usize, s: f64) -> Point {
    let mut q = p.clone();
    let nx = if case.shape.has_x() { q.x.len() } else { 0 };
    if j < nx {
        q.x[j] += s;
    } else if j == nx && case.shape.has_a() {
        q.a += s;
    } else {
        q.b += s;
    }
    q
}

/// `(value at +h, value at -h)` along flattened component `j`.
fn perturbed(case: &Case, p: &Point, j: usize, h: f64) -> Option<(f64, f64)> {
    let eval = |s: f64| {
        let q = shifted(case, p, j, s);
        catch_unwind(|| (case.value)(&q.x, q.a, q.b, q.n)).ok()
    };
    Some((eval(h)?, eval(-h)?))
}

fn coordinate(case: &Case, p: &Point, j: usize) -> f64 {
    let nx = if case.shape.has_x() { p.x.len() } else { 0 };
    if j < nx {
        p.x[j]
    } else if j == nx && case.shape.has_a() {
        p.a
    } else {
        p.b
    }
}

/// Checks one case at one point. `Err((kind, message))` on a failure.
pub fn check_point(
    case: &Case,
    p: &Point,
    tally: &mut Tally,
) -> Result<(), (&'static str, String)> {
    let value = catch_unwind(|| (case.value)(&p.x, p.a, p.b, p.n))
        .map_err(|e| (kind::PANIC_ORIGINAL, panic_message(&*e)))?;
    let (gvalue, grad) = catch_unwind(|| (case.grad)(&p.x, p.a, p.b, p.n))
        .map_err(|e| (kind::PANIC_GRAD, panic_message(&*e)))?;
    // Bit for bit, except that any NaN equals any NaN (the payload and sign of a NaN depend on
    // the order of the operands of a commutative operation, which IEEE leaves open).
    if gvalue.to_bits() != value.to_bits() && !(gvalue.is_nan() && value.is_nan()) {
        return Err((
            kind::VALUE_BITS,
            format!("_grad returns {gvalue:e}, the function {value:e}"),
        ));
    }
    let reference = catch_unwind(AssertUnwindSafe(|| reference(case, p))).map_err(|e| {
        (
            kind::PANIC_ORIGINAL,
            format!("on dual numbers: {}", panic_message(&*e)),
        )
    })?;
    let dvalue = reference.value;
    if dvalue.to_bits() != value.to_bits() && !(dvalue.is_nan() && value.is_nan()) {
        return Err((
            kind::VALUE_ORACLE,
            format!("f::<Fwd> gives {dvalue:e}, f::<f64> {value:e}"),
        ));
    }
    let mask = active_mask(case, p);
    let pick = |v: &[f64]| active_parts(v, &mask);
    let want = pick(&reference.grad);
    let bound = pick(&reference.bound);
    let dist = &reference.kink;
    if grad.len() != want.len() {
        return Err((
            kind::GRAD_LEN,
            format!("{} gradient components, want {}", grad.len(), want.len()),
        ));
    }
    let magnitude = MAGNITUDE.with(Cell::get);
    if !value.is_finite() || want.iter().any(|g| !g.is_finite()) || magnitude > MAX_MAGNITUDE {
        tally.skipped += 1;
        return Ok(());
    }
    tally.checked += 1;
    for (k, (&g, &w)) in grad.iter().zip(&want).enumerate() {
        if !close(g, w, DUAL_REL, (DUAL_BOUND * bound[k]).max(DUAL_FLOOR)) {
            return Err((
                kind::GRAD_DUAL,
                format!(
                    "component {k}: _grad {g:e}, num-dual {w:e} (rounding bound {:e}); all: _grad {grad:?}, num-dual {want:?}",
                    (DUAL_BOUND * bound[k]).max(DUAL_FLOOR)
                ),
            ));
        }
    }
    // Central differences where no kink is near and where they converge: with steps `h` and
    // `2h` agreeing to 1% (a smaller `h` is tried when they do not; a function steep enough to
    // defeat all three is not compared). The truncation error of the difference with step `h`
    // is about a third of its distance to the one with `2h`, which is the slack allowed.
    if ALIASED.with(Cell::get) {
        return Ok(());
    }
    let idx: Vec<usize> = (0..mask.len()).filter(|&j| mask[j]).collect();
    for (k, &j) in idx.iter().enumerate() {
        let unit = coordinate(case, p, j).abs().max(1.0);
        let noise = reference.rounding;
        for step in [1e-6, 1e-7, 1e-8] {
            let h = step * unit;
            if dist[j] < 1e3 * h {
                continue;
            }
            // A function that moves by more than a hundredth of its size within one step (a
            // chaotic iteration, gradients of 1e8) is beyond what a difference resolves.
            if want[k].abs() * h > 1e-2 * value.abs().max(1.0) {
                continue;
            }
            // The value's rounding error, amplified by the division by the step.
            let roundoff = CD_ABS * value.abs().max(1.0) + 10.0 * noise / h;
            let (Some((fp, fm)), Some((fp2, fm2))) =
                (perturbed(case, p, j, h), perturbed(case, p, j, 2.0 * h))
            else {
                break;
            };
            let cd = (fp - fm) / (2.0 * h);
            let cd2 = (fp2 - fm2) / (4.0 * h);
            if !cd.is_finite() || !cd2.is_finite() {
                break;
            }
            if !close(cd, cd2, 1e-2, roundoff) {
                continue;
            }
            tally.cd += 1;
            let slack = (cd - cd2).abs();
            // `_grad` may be as far from the exact derivative as from `num-dual` (the same
            // rounding bound): terms of opposite signs the chain rule adds in another order.
            if !close(
                grad[k],
                cd,
                CD_REL,
                roundoff + slack + DUAL_BOUND * bound[k],
            ) {
                return Err((
                    kind::GRAD_CD,
                    format!(
                        "component {k}: _grad {:e} and num-dual {:e}, central difference {cd:e} (with twice the step {cd2:e}; h = {h:e}, nearest kink {:e} away)",
                        grad[k], want[k], dist[j]
                    ),
                ));
            }
            break;
        }
    }
    check_hvp(case, p, value, &grad, &reference, &mask, tally)
}

/// Bit for bit, except that any NaN equals any NaN.
fn same_bits(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Checks `f_hvp` at `p` along one active coordinate `e_j` (chosen by the point): its value
/// and gradient are `f_grad`'s bit for bit (the reverse pass on dual numbers does the same real
/// arithmetic), and its `H e_j` matches central differences of `num-dual`'s gradient along
/// `e_j` where no kink is near and the differences converge: steps `h` and `2h` agreeing to
/// `1e-4`, not the gradient check's 1%. A gradient is a noisier function of the point than the
/// value: the rounding errors of the values feed its derivatives (`s³` iterated), which no
/// first-order bound sees, and a difference of gradients divides that noise by the step (seed
/// 19's program 1242: steps `h` and `2h` 0.06% apart, both 0.08% from the exact product). The
/// largest step is tried first.
fn check_hvp(
    case: &Case,
    p: &Point,
    value: f64,
    grad: &[f64],
    at_p: &Reference,
    mask: &[bool],
    tally: &mut Tally,
) -> Result<(), (&'static str, String)> {
    let Some(hvp) = case.hvp else {
        return Ok(());
    };
    let idx: Vec<usize> = (0..mask.len()).filter(|&j| mask[j]).collect();
    if idx.is_empty() {
        return Ok(());
    }
    let k = (p.n + p.x.len()) % idx.len();
    let j = idx[k];
    let mut dir = vec![0.0; idx.len()];
    dir[k] = 1.0;
    let (hvalue, hgrad, hv) = catch_unwind(|| hvp(&p.x, p.a, p.b, p.n, &dir))
        .map_err(|e| (kind::PANIC_HVP, panic_message(&*e)))?;
    if !same_bits(hvalue, value)
        || hgrad.len() != grad.len()
        || hgrad.iter().zip(grad).any(|(a, b)| !same_bits(*a, *b))
    {
        return Err((
            kind::HVP_BITS,
            format!("_hvp returns {hvalue:e} and {hgrad:?}, _grad {value:e} and {grad:?}"),
        ));
    }
    if hv.len() != grad.len() {
        return Err((
            kind::HVP_BITS,
            format!("{} Hv components, want {}", hv.len(), grad.len()),
        ));
    }
    let pick = |v: &[f64]| active_parts(v, mask);
    let bound = pick(&at_p.bound);
    let unit = coordinate(case, p, j).abs().max(1.0);
    let gradient_at = |s: f64| -> Option<Vec<f64>> {
        let q = shifted(case, p, j, s);
        let r = catch_unwind(AssertUnwindSafe(|| reference(case, &q))).ok()?;
        let aliased = ALIASED.with(Cell::get);
        let g = pick(&r.grad);
        (!aliased && MAGNITUDE.with(Cell::get) <= MAX_MAGNITUDE && g.iter().all(|v| v.is_finite()))
            .then_some(g)
    };
    for step in [1e-4, 1e-5, 1e-6] {
        let h = step * unit;
        if at_p.kink[j] < 1e3 * h {
            continue;
        }
        let (Some(gp), Some(gm), Some(gp2), Some(gm2)) = (
            gradient_at(h),
            gradient_at(-h),
            gradient_at(2.0 * h),
            gradient_at(-2.0 * h),
        ) else {
            return Ok(());
        };
        let cds: Vec<(f64, f64, f64)> = (0..grad.len())
            .map(|c| {
                let cd = (gp[c] - gm[c]) / (2.0 * h);
                let cd2 = (gp2[c] - gm2[c]) / (4.0 * h);
                // The gradient's rounding error, amplified by the division by the step.
                let roundoff = CD_ABS * cd.abs().max(1.0) + 10.0 * DUAL_BOUND * bound[c] / h;
                (cd, cd2, roundoff)
            })
            .collect();
        if cds
            .iter()
            .any(|&(cd, cd2, roundoff)| !close(cd, cd2, CD_REL, roundoff))
        {
            continue;
        }
        for (c, &(cd, cd2, roundoff)) in cds.iter().enumerate() {
            tally.hvp += 1;
            if !close(hv[c], cd, CD_REL, roundoff + (cd - cd2).abs()) {
                return Err((
                    kind::HVP_CD,
                    format!(
                        "along component {k}: Hv[{c}] = {:e}, central differences of num-dual's gradient {cd:e} (with twice the step {cd2:e}; h = {h:e}); all Hv: {hv:?}",
                        hv[c]
                    ),
                ));
            }
        }
        break;
    }
    Ok(())
}

/// Checks every case at `points` points, writing one line per event to stdout:
/// `RUN id` before a case, `FAIL id kind point-index message` for its first failure, and
/// `DONE id checked skipped cd` after it. Cases whose ids are in `skip` are not run.
pub fn run_cases(cases: &[Case], points: u64, skip: &[usize]) {
    std::panic::set_hook(Box::new(|_| {}));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for case in cases {
        if skip.contains(&case.id) {
            continue;
        }
        let _ = writeln!(out, "RUN {}", case.id);
        let _ = out.flush();
        let mut tally = Tally::default();
        for k in 0..points {
            let p = Point::sample(case.point_seed, k);
            if let Err((kind, msg)) = check_point(case, &p, &mut tally) {
                let msg = msg.replace('\n', " ");
                let twin = if case.twin { "f64-" } else { "" };
                let _ = writeln!(out, "FAIL {} {twin}{kind} {k} {msg}", case.id);
                break;
            }
        }
        let _ = writeln!(
            out,
            "DONE {} {} {} {} {}",
            case.id, tally.checked, tally.skipped, tally.cd, tally.hvp
        );
    }
    let _ = out.flush();
}

/// The entry point of a generated crate's `main`: `args` are `points` and then ids to skip.
pub fn main_with_args(cases: &[Case]) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let points = args.first().and_then(|s| s.parse().ok()).unwrap_or(4);
    let skip: Vec<usize> = args.iter().skip(1).filter_map(|s| s.parse().ok()).collect();
    run_cases(cases, points, &skip);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f<T: Float>(x: &[T], a: T, b: T, _n: usize) -> T {
        let mut s = a.max(b).abs();
        for &v in x {
            s = s + v.sin() * a.hypot(b) + v.mul_add(a, b).powi(3);
        }
        s
    }

    #[test]
    fn fwd_values_are_bit_identical_and_derivatives_right() {
        let case = Case {
            id: 0,
            point_seed: 1,
            shape: Shape::Full,
            active: [true, true, true],
            twin: false,
            value: f::<f64>,
            dual: f::<Fwd>,
            grad: |x, a, b, n| {
                // Central differences as the gradient: close, not exact.
                let mut g = Vec::new();
                let h = 1e-6;
                for i in 0..x.len() {
                    let mut xp = x.to_vec();
                    let mut xm = x.to_vec();
                    xp[i] += h;
                    xm[i] -= h;
                    g.push((f(&xp, a, b, n) - f(&xm, a, b, n)) / (2.0 * h));
                }
                g.push((f(x, a + h, b, n) - f(x, a - h, b, n)) / (2.0 * h));
                g.push((f(x, a, b + h, n) - f(x, a, b - h, n)) / (2.0 * h));
                (f(x, a, b, n), g)
            },
            hvp: None,
        };
        for k in 0..20 {
            let p = Point::sample(9, k);
            let r = reference(&case, &p);
            let (v, g) = (r.value, r.grad);
            assert_eq!(v.to_bits(), f(&p.x, p.a, p.b, p.n).to_bits());
            let (_, cd) = (case.grad)(&p.x, p.a, p.b, p.n);
            for (x, y) in g.iter().zip(&cd) {
                assert!(close(*x, *y, 1e-5, 1e-6), "{g:?} vs {cd:?}");
            }
        }
    }

    #[test]
    fn kinks_are_recorded() {
        reset_kink();
        let _ = Fwd::var(0.5, 1.0).abs();
        assert_eq!(take_kink(), 0.5);
        let _ = Fwd::var(1.0, 2.0) < Fwd::var(3.0, 0.0);
        assert_eq!(take_kink(), 1.0);
        assert_eq!(Fwd::var(0.0, 1.0).abs().eps(), 0.0);
        assert_eq!(Fwd::var(1.0, 1.0).max(Fwd::var(1.0, 5.0)).eps(), 1.0);
    }
}
