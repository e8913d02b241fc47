//! Differentiable helpers: functions `#[differentiate]` knows the derivative of, called by their
//! path (`autodiff::sigmoid(x)`), on `f32`, `f64` or a generic `T: Float`.

use num_traits::Float;

/// The logistic function `1 / (1 + e^-x)`, computed without overflow for large `|x|`.
///
/// ```
/// assert_eq!(autodiff_runtime::helpers::sigmoid(0.0_f64), 0.5);
/// assert!(autodiff_runtime::helpers::sigmoid(-800.0_f64) >= 0.0);
/// ```
#[inline]
pub fn sigmoid<T: Float>(x: T) -> T {
    if x >= T::zero() {
        T::one() / (T::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::one() + e)
    }
}

/// `max(x, 0)`; its derivative at `0` is `0`.
///
/// ```
/// assert_eq!(autodiff_runtime::relu(-2.0_f64), 0.0);
/// assert_eq!(autodiff_runtime::relu(1.5_f32), 1.5);
/// ```
#[inline]
pub fn relu<T: Float>(x: T) -> T {
    if x > T::zero() {
        x
    } else {
        T::zero()
    }
}

/// `ln(1 + e^x)`, computed without overflow for large `x`.
///
/// ```
/// assert_eq!(autodiff_runtime::softplus(0.0_f64), 2.0_f64.ln());
/// assert_eq!(autodiff_runtime::softplus(1000.0_f64), 1000.0);
/// ```
#[inline]
pub fn softplus<T: Float>(x: T) -> T {
    if x > T::zero() {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}
