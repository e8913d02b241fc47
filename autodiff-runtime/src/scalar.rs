//! The scalar types we differentiate: `f32` and `f64`, named by one trait.
//!
//! [`Real`] is implemented for exactly `f32` and `f64`. It is a local trait with no blanket impl,
//! so the rule traits can have one impl for every `T: Real` and separate impls for ndarray's
//! arrays without overlapping (no array type is `Real`). Generic user code bounded by `num_traits::Float` gets a `T: Real`
//! bound added on the generated companions.

use core::fmt::{Debug, Display};
use core::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

use num_traits::{Float, FloatConst};

/// A float type `#[differentiate]` can differentiate: `f32` or `f64` (and the runtime's dual
/// numbers, which `NAME_hvp` runs the reverse pass on).
///
/// ```
/// use autodiff_runtime::Real;
///
/// fn half<T: Real>(x: T) -> T {
///     x * T::of_f64(0.5)
/// }
/// assert_eq!(half(3.0_f32), 1.5);
/// assert_eq!(Real::as_f64(half(3.0_f64)), 1.5);
/// ```
///
/// It is also an ndarray element and scalar operand (`&a * s`, `a.dot(&b)` work for `T: Real`).
/// Write `T: Float` (from `num_traits`) on generic functions as usual; the companions that
/// `#[differentiate]` generates add `T: Real`, which both float types satisfy.
pub trait Real:
    Float
    + FloatConst
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Debug
    + Display
    + Default
    + Send
    + Sync
    + 'static
    + crate::tangent::ElementValue<Value = Self>
    + crate::calls::CalleeGradient<Gradient = Self, Scalar = Self>
    + crate::tangent::ZeroLike<Tangent = Self>
    + ndarray::ScalarOperand
    + ndarray::LinalgScalar
{
    /// `n` as this float type (exact for `|n| <= 2^24` in `f32`, always in `f64`).
    fn of_i32(n: i32) -> Self;
    /// `x` rounded to this float type.
    fn of_f64(x: f64) -> Self;
    /// This value widened (or kept) as `f64`.
    fn as_f64(self) -> f64;
}

macro_rules! impl_real {
    ($($t:ty),*) => {$(
        impl Real for $t {
            #[inline(always)]
            #[allow(clippy::cast_precision_loss, reason = "i32 to f32 rounds like `as` always does")]
            fn of_i32(n: i32) -> Self {
                n as $t
            }
            #[inline(always)]
            #[allow(clippy::cast_possible_truncation, reason = "rounding to f32 is the point")]
            fn of_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn as_f64(self) -> f64 {
                f64::from(self)
            }
        }
    )*};
}
impl_real!(f32, f64);
