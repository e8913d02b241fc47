//! Dual numbers `a + b ε` (`ε² = 0`): a float type that carries a directional derivative.
//!
//! [`Dual`] implements [`Real`], so the reverse-mode code `#[differentiate]` generates for a
//! function generic over `T: Float` runs on it unchanged. Seeding the inputs with a direction `v`
//! and the output with `1` makes the generated gradient's `ε` parts the Hessian-vector product
//! `H v` (forward over reverse): that is `NAME_hvp`, with no tape and no second macro pass.
//!
//! The derivative parts follow the usual rules (`(a + bε) (c + dε) = ac + (ad + bc) ε`, and
//! `f(a + bε) = f(a) + f'(a) b ε`); comparisons, rounding and classification look at the real
//! part only, so branches go the way they go for plain floats.

use core::cmp::Ordering;
use core::fmt;
use core::num::FpCategory;
use core::ops::{
    Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, RemAssign, Sub, SubAssign,
};

use num_traits::{Float, FloatConst, Num, NumCast, One, ToPrimitive, Zero};

use crate::scalar::Real;

/// `re + eps ε`: a value and its derivative along one direction.
#[derive(Clone, Copy, Debug, Default)]
pub struct Dual<T> {
    /// The value.
    pub re: T,
    /// The derivative part.
    pub eps: T,
}

impl<T: Real> Dual<T> {
    /// `re + eps ε`.
    #[inline(always)]
    pub fn new(re: T, eps: T) -> Self {
        Dual { re, eps }
    }

    /// A constant: derivative part zero.
    #[inline(always)]
    pub fn constant(re: T) -> Self {
        Dual { re, eps: T::zero() }
    }

    /// `f(self)` given `f(re)` and `f'(re)`.
    #[inline(always)]
    fn chain(self, value: T, derivative: T) -> Self {
        Dual {
            re: value,
            eps: derivative * self.eps,
        }
    }
}

impl<T: Real> fmt::Display for Dual<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} + {}ε", self.re, self.eps)
    }
}

impl<T: Real + fmt::LowerExp> fmt::LowerExp for Dual<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerExp::fmt(&self.re, f)?;
        f.write_str(" + ")?;
        fmt::LowerExp::fmt(&self.eps, f)?;
        f.write_str("ε")
    }
}

impl<T: Real + fmt::UpperExp> fmt::UpperExp for Dual<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::UpperExp::fmt(&self.re, f)?;
        f.write_str(" + ")?;
        fmt::UpperExp::fmt(&self.eps, f)?;
        f.write_str("ε")
    }
}

impl<T: Real> PartialEq for Dual<T> {
    fn eq(&self, other: &Self) -> bool {
        self.re == other.re
    }
}

impl<T: Real> PartialOrd for Dual<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.re.partial_cmp(&other.re)
    }
}

impl<T: Real> Neg for Dual<T> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Dual::new(-self.re, -self.eps)
    }
}

impl<T: Real> Add for Dual<T> {
    type Output = Self;
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Dual::new(self.re + o.re, self.eps + o.eps)
    }
}

impl<T: Real> Sub for Dual<T> {
    type Output = Self;
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        Dual::new(self.re - o.re, self.eps - o.eps)
    }
}

impl<T: Real> Mul for Dual<T> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        Dual::new(self.re * o.re, self.re * o.eps + self.eps * o.re)
    }
}

impl<T: Real> Div for Dual<T> {
    type Output = Self;
    #[inline(always)]
    fn div(self, o: Self) -> Self {
        let re = self.re / o.re;
        Dual::new(re, (self.eps - re * o.eps) / o.re)
    }
}

/// `a % b = a - b trunc(a / b)`: derivative `da - trunc(a / b) db`.
impl<T: Real> Rem for Dual<T> {
    type Output = Self;
    fn rem(self, o: Self) -> Self {
        let q = (self.re / o.re).trunc();
        Dual::new(self.re % o.re, self.eps - q * o.eps)
    }
}

macro_rules! assign_ops {
    ($($tr:ident $f:ident $op:tt),*) => {$(
        impl<T: Real> $tr for Dual<T> {
            #[inline(always)]
            fn $f(&mut self, o: Self) {
                *self = *self $op o;
            }
        }
    )*};
}
assign_ops!(AddAssign add_assign +, SubAssign sub_assign -, MulAssign mul_assign *, DivAssign div_assign /, RemAssign rem_assign %);

impl<T: Real> Zero for Dual<T> {
    fn zero() -> Self {
        Dual::constant(T::zero())
    }
    fn is_zero(&self) -> bool {
        self.re.is_zero() && self.eps.is_zero()
    }
}

impl<T: Real> One for Dual<T> {
    fn one() -> Self {
        Dual::constant(T::one())
    }
}

impl<T: Real> Num for Dual<T> {
    type FromStrRadixErr = T::FromStrRadixErr;
    fn from_str_radix(s: &str, radix: u32) -> Result<Self, Self::FromStrRadixErr> {
        T::from_str_radix(s, radix).map(Dual::constant)
    }
}

impl<T: Real> ToPrimitive for Dual<T> {
    fn to_i64(&self) -> Option<i64> {
        self.re.to_i64()
    }
    fn to_u64(&self) -> Option<u64> {
        self.re.to_u64()
    }
    fn to_f64(&self) -> Option<f64> {
        ToPrimitive::to_f64(&self.re)
    }
}

impl<T: Real> NumCast for Dual<T> {
    fn from<N: ToPrimitive>(n: N) -> Option<Self> {
        <T as NumCast>::from(n).map(Dual::constant)
    }
}

macro_rules! constants {
    ($($f:ident),*) => {$(
        #[inline(always)]
        fn $f() -> Self {
            Dual::constant(T::$f())
        }
    )*};
}

macro_rules! real_part {
    ($($f:ident -> $t:ty),*) => {$(
        #[inline(always)]
        fn $f(self) -> $t {
            self.re.$f()
        }
    )*};
}

/// Rounding: a step function, derivative zero.
macro_rules! flat {
    ($($f:ident),*) => {$(
        #[inline(always)]
        fn $f(self) -> Self {
            Dual::constant(self.re.$f())
        }
    )*};
}

impl<T: Real> Float for Dual<T> {
    constants!(
        nan,
        infinity,
        neg_infinity,
        neg_zero,
        min_value,
        min_positive_value,
        max_value,
        epsilon
    );
    real_part!(is_nan -> bool, is_infinite -> bool, is_finite -> bool, is_normal -> bool,
        classify -> FpCategory, is_sign_positive -> bool, is_sign_negative -> bool,
        integer_decode -> (u64, i16, i8));
    flat!(floor, ceil, round, trunc, signum);

    fn fract(self) -> Self {
        Dual::new(self.re.fract(), self.eps)
    }
    fn abs(self) -> Self {
        if self.re < T::zero() {
            -self
        } else if self.re > T::zero() {
            self
        } else {
            Dual::constant(self.re.abs())
        }
    }
    fn mul_add(self, a: Self, b: Self) -> Self {
        Dual::new(
            self.re.mul_add(a.re, b.re),
            self.re * a.eps + self.eps * a.re + b.eps,
        )
    }
    fn recip(self) -> Self {
        let r = self.re.recip();
        self.chain(r, -r * r)
    }
    fn powi(self, n: i32) -> Self {
        if n == 0 {
            return Dual::one();
        }
        self.chain(
            self.re.powi(n),
            T::of_i32(n) * self.re.powi(n.wrapping_sub(1)),
        )
    }
    fn powf(self, n: Self) -> Self {
        let y = self.re.powf(n.re);
        let dx = if n.re == T::zero() {
            T::zero()
        } else {
            n.re * self.re.powf(n.re - T::one())
        };
        // As `powf_adjoint_rhs`: zero at a zero base with a finite power.
        let dn = if n.eps == T::zero() || (self.re == T::zero() && y.is_finite()) {
            T::zero()
        } else {
            y * self.re.ln()
        };
        Dual::new(y, dx * self.eps + dn * n.eps)
    }
    fn sqrt(self) -> Self {
        let r = self.re.sqrt();
        self.chain(r, (r + r).recip())
    }
    fn exp(self) -> Self {
        let e = self.re.exp();
        self.chain(e, e)
    }
    fn exp2(self) -> Self {
        let e = self.re.exp2();
        self.chain(e, e * T::LN_2())
    }
    fn exp_m1(self) -> Self {
        self.chain(self.re.exp_m1(), self.re.exp())
    }
    fn ln(self) -> Self {
        self.chain(self.re.ln(), self.re.recip())
    }
    fn ln_1p(self) -> Self {
        self.chain(self.re.ln_1p(), (self.re + T::one()).recip())
    }
    fn log(self, base: Self) -> Self {
        self.ln() / base.ln()
    }
    fn log2(self) -> Self {
        self.chain(self.re.log2(), (self.re * T::LN_2()).recip())
    }
    fn log10(self) -> Self {
        self.chain(self.re.log10(), (self.re * T::LN_10()).recip())
    }
    fn cbrt(self) -> Self {
        let r = self.re.cbrt();
        self.chain(r, (T::of_i32(3) * r * r).recip())
    }
    fn max(self, other: Self) -> Self {
        if self.re >= other.re || other.re.is_nan() {
            self
        } else {
            other
        }
    }
    fn min(self, other: Self) -> Self {
        if self.re <= other.re || other.re.is_nan() {
            self
        } else {
            other
        }
    }
    fn abs_sub(self, other: Self) -> Self {
        if self.re > other.re {
            self - other
        } else {
            Dual::zero()
        }
    }
    fn hypot(self, other: Self) -> Self {
        let h = self.re.hypot(other.re);
        if h == T::zero() {
            return Dual::constant(h);
        }
        Dual::new(h, (self.re * self.eps + other.re * other.eps) / h)
    }
    fn sin(self) -> Self {
        self.chain(self.re.sin(), self.re.cos())
    }
    fn cos(self) -> Self {
        self.chain(self.re.cos(), -self.re.sin())
    }
    fn tan(self) -> Self {
        let t = self.re.tan();
        self.chain(t, T::one() + t * t)
    }
    fn asin(self) -> Self {
        self.chain(
            self.re.asin(),
            (T::one() - self.re * self.re).sqrt().recip(),
        )
    }
    fn acos(self) -> Self {
        self.chain(
            self.re.acos(),
            -(T::one() - self.re * self.re).sqrt().recip(),
        )
    }
    fn atan(self) -> Self {
        self.chain(self.re.atan(), (T::one() + self.re * self.re).recip())
    }
    fn atan2(self, other: Self) -> Self {
        // Scaled through `hypot` where the squares under- or overflow, as the adjoint rule is.
        let r2 = self.re * self.re + other.re * other.re;
        let eps = if r2.is_normal() {
            (other.re * self.eps - self.re * other.eps) / r2
        } else {
            let h = self.re.hypot(other.re);
            ((other.re / h) * self.eps - (self.re / h) * other.eps) / h
        };
        Dual::new(self.re.atan2(other.re), eps)
    }
    fn sin_cos(self) -> (Self, Self) {
        (self.sin(), self.cos())
    }
    fn sinh(self) -> Self {
        self.chain(self.re.sinh(), self.re.cosh())
    }
    fn cosh(self) -> Self {
        self.chain(self.re.cosh(), self.re.sinh())
    }
    fn tanh(self) -> Self {
        let t = self.re.tanh();
        self.chain(t, T::one() - t * t)
    }
    fn asinh(self) -> Self {
        self.chain(
            self.re.asinh(),
            (self.re * self.re + T::one()).sqrt().recip(),
        )
    }
    fn acosh(self) -> Self {
        self.chain(
            self.re.acosh(),
            (self.re * self.re - T::one()).sqrt().recip(),
        )
    }
    fn atanh(self) -> Self {
        self.chain(self.re.atanh(), (T::one() - self.re * self.re).recip())
    }
    fn to_degrees(self) -> Self {
        Dual::new(self.re.to_degrees(), self.eps.to_degrees())
    }
    fn to_radians(self) -> Self {
        Dual::new(self.re.to_radians(), self.eps.to_radians())
    }
}

impl<T: Real> FloatConst for Dual<T> {
    constants!(
        E,
        FRAC_1_PI,
        FRAC_1_SQRT_2,
        FRAC_2_PI,
        FRAC_2_SQRT_PI,
        FRAC_PI_2,
        FRAC_PI_3,
        FRAC_PI_4,
        FRAC_PI_6,
        FRAC_PI_8,
        LN_10,
        LN_2,
        LOG10_E,
        LOG2_E,
        PI,
        SQRT_2
    );
}

impl<T: Real> ndarray::ScalarOperand for Dual<T> {}

impl<T: Real> crate::tangent::ElementValue for Dual<T> {
    type Value = Dual<T>;
    #[inline(always)]
    fn element_value(self) -> Self {
        self
    }
}

impl<T: Real> crate::tangent::ZeroLike for Dual<T> {
    type Tangent = Dual<T>;
    #[inline(always)]
    fn zero_like(&self) -> Self {
        Dual::zero()
    }
}

impl<T: Real> crate::calls::CalleeGradient for Dual<T> {
    type Gradient = Dual<T>;
    type Scalar = Dual<T>;
    #[inline(always)]
    fn into_gradient(self) -> Self {
        self
    }
    #[inline(always)]
    fn scaled(self, d: Self) -> Self {
        self * d
    }
}

impl<T: Real> Real for Dual<T> {
    fn of_i32(n: i32) -> Self {
        Dual::constant(T::of_i32(n))
    }
    fn of_f64(x: f64) -> Self {
        Dual::constant(T::of_f64(x))
    }
    fn as_f64(self) -> f64 {
        Real::as_f64(self.re)
    }
}

/// The parts of a gradient computed on dual numbers: its values (the gradient) and its
/// derivative parts (the Hessian-vector product), in the gradient's shape.
pub trait DualParts {
    /// The gradient's type on plain floats.
    type Plain;
    /// The real parts.
    fn real_part(&self) -> Self::Plain;
    /// The derivative parts.
    fn dual_part(&self) -> Self::Plain;
}

impl<T: Real> DualParts for Dual<T> {
    type Plain = T;
    fn real_part(&self) -> T {
        self.re
    }
    fn dual_part(&self) -> T {
        self.eps
    }
}

impl<D: DualParts> DualParts for Vec<D> {
    type Plain = Vec<D::Plain>;
    fn real_part(&self) -> Vec<D::Plain> {
        self.iter().map(DualParts::real_part).collect()
    }
    fn dual_part(&self) -> Vec<D::Plain> {
        self.iter().map(DualParts::dual_part).collect()
    }
}

impl<D: DualParts, const N: usize> DualParts for [D; N] {
    type Plain = [D::Plain; N];
    fn real_part(&self) -> [D::Plain; N] {
        core::array::from_fn(|i| self[i].real_part())
    }
    fn dual_part(&self) -> [D::Plain; N] {
        core::array::from_fn(|i| self[i].dual_part())
    }
}

/// Dual numbers `x + v ε` for a value and a direction of the same shape: what `NAME_hvp`
/// passes to `NAME_vjp`.
pub trait Seed<V: ?Sized> {
    /// The value on dual numbers.
    type Seeded;
    /// `self + v ε`, element by element.
    fn seed(&self, v: &V) -> Self::Seeded;
}

impl<T: Real> Seed<T> for T {
    type Seeded = Dual<T>;
    fn seed(&self, v: &T) -> Dual<T> {
        Dual::new(*self, *v)
    }
}

impl<T: Real> Seed<[T]> for [T] {
    type Seeded = Vec<Dual<T>>;
    fn seed(&self, v: &[T]) -> Vec<Dual<T>> {
        assert_eq!(
            self.len(),
            v.len(),
            "autodiff: the direction's length differs from the argument's"
        );
        self.iter().zip(v).map(|(&x, &d)| Dual::new(x, d)).collect()
    }
}

impl<T: Real> Seed<Vec<T>> for Vec<T> {
    type Seeded = Vec<Dual<T>>;
    fn seed(&self, v: &Vec<T>) -> Vec<Dual<T>> {
        self.as_slice().seed(v.as_slice())
    }
}

impl<T: Real, const N: usize> Seed<[T; N]> for [T; N] {
    type Seeded = [Dual<T>; N];
    fn seed(&self, v: &[T; N]) -> [Dual<T>; N] {
        core::array::from_fn(|i| Dual::new(self[i], v[i]))
    }
}

/// `x + v ε` (see [`Seed`]).
pub fn seed<X: Seed<V> + ?Sized, V: ?Sized>(x: &X, v: &V) -> X::Seeded {
    x.seed(v)
}

/// `value as U` for the numbers a function written on `f64` or `f32` casts: what its copy
/// generic over the float type (made for `NAME_hvp`) writes for `as`, which a generic type
/// cannot take. Dual numbers cast their real part.
pub trait CastTo<U> {
    /// `self as U`.
    fn cast_to(self) -> U;
}

macro_rules! cast_to {
    ($($from:ty),*) => {$(
        cast_to!(@each $from: u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64);
    )*};
    (@each $from:ty: $($to:ty),*) => {$(
        impl CastTo<$to> for $from {
            #[inline(always)]
            #[allow(clippy::cast_lossless, trivial_numeric_casts, reason = "`as` as the user wrote it")]
            fn cast_to(self) -> $to {
                self as $to
            }
        }
    )*};
}

cast_to!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64);
cast_to!(@each bool: u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);
cast_to!(@each char: u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

impl<T: Real + CastTo<U>, U> CastTo<U> for Dual<T> {
    #[inline(always)]
    fn cast_to(self) -> U {
        self.re.cast_to()
    }
}

/// `value as U` to an integer type (see [`CastTo`]).
#[inline(always)]
pub fn cast_int<U, S: CastTo<U>>(value: S) -> U {
    value.cast_to()
}

/// `value as F` to the float type `F` (see [`CastTo`]): a constant, derivative part zero.
#[inline(always)]
pub fn cast_float<F: Real, S: ToPrimitive>(value: S) -> F {
    match <F as NumCast>::from(value) {
        Some(v) => v,
        None => F::nan(),
    }
}
