//! Gradient checking: a gradient against central differences of the function itself.
//!
//! The reference is the five-point central difference
//! `(8 (f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))) / 12h`, whose truncation error is `O(h⁴)`; with
//! the default step `h = ε^(1/5) · max(1, |xᵢ|)` it agrees with the true derivative of a smooth
//! `f64` function to about `1e-10` relative. Near a kink (`abs`, `max`) a difference quotient
//! straddles it and means nothing: check such functions away from their kinks.

use core::fmt;

use crate::scalar::Real;

/// Settings for a gradient check. [`GradCheck::default`] suits smooth `f64` functions of moderate
/// scale; `f32` checks need the looser tolerances of [`GradCheck::f32`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradCheck {
    /// The step, relative to `max(1, |xᵢ|)`.
    pub step: f64,
    /// Largest accepted `|analytic - numeric| / max(|analytic|, |numeric|)`.
    pub rel_tol: f64,
    /// Differences below this are accepted whatever their relative size.
    pub abs_tol: f64,
}

impl Default for GradCheck {
    fn default() -> Self {
        Self {
            step: f64::EPSILON.powf(0.2),
            rel_tol: 1e-7,
            abs_tol: 1e-9,
        }
    }
}

impl GradCheck {
    /// Settings for `f32` functions: the differences are taken in `f32`, so only about three
    /// significant digits of the numeric gradient can be trusted.
    #[must_use]
    pub fn f32() -> Self {
        Self {
            step: f64::from(f32::EPSILON.powf(0.2)),
            rel_tol: 2e-2,
            abs_tol: 2e-3,
        }
    }

    /// Checks `grad` against central differences of `f` at `x`; on failure, reports the worst
    /// component.
    ///
    /// # Errors
    /// [`GradMismatch`] when a component is outside both tolerances, or when either value is NaN.
    pub fn check<T: Real>(
        &self,
        f: impl Fn(&[T]) -> T,
        x: &[T],
        grad: &[T],
    ) -> Result<(), GradMismatch> {
        if x.len() != grad.len() {
            return Err(GradMismatch {
                index: x.len().min(grad.len()),
                analytic: f64::NAN,
                numeric: f64::NAN,
                reason: format!(
                    "gradient has {} components but x has {}",
                    grad.len(),
                    x.len()
                ),
            });
        }
        let numeric = numeric_grad(&f, x, self.step);
        let mut worst: Option<(usize, f64)> = None;
        for (i, (&a, &n)) in grad.iter().zip(&numeric).enumerate() {
            let (a, n) = (a.as_f64(), n.as_f64());
            let err = (a - n).abs();
            let scale = a.abs().max(n.abs());
            let excess = if err.is_nan() {
                f64::INFINITY
            } else if err <= self.abs_tol {
                0.0
            } else {
                err / scale / self.rel_tol
            };
            if excess > 1.0 && worst.is_none_or(|(_, w)| excess > w) {
                worst = Some((i, excess));
            }
        }
        match worst {
            None => Ok(()),
            Some((index, _)) => Err(GradMismatch {
                index,
                analytic: grad[index].as_f64(),
                numeric: numeric[index].as_f64(),
                reason: format!(
                    "outside rel_tol = {:e} and abs_tol = {:e}",
                    self.rel_tol, self.abs_tol
                ),
            }),
        }
    }
}

/// Checks `grad` against central differences of `f` at `x` with [`GradCheck::default`].
///
/// ```
/// use autodiff_runtime::check_grad;
/// let f = |x: &[f64]| x[0] * x[0] * x[1];
/// let x = [3.0, 2.0];
/// check_grad(f, &x, &[2.0 * 3.0 * 2.0, 9.0]).unwrap();
/// assert!(check_grad(f, &x, &[12.0, 8.0]).is_err());
/// ```
///
/// # Errors
/// [`GradMismatch`] naming the worst component when the gradient is wrong.
pub fn check_grad<T: Real>(f: impl Fn(&[T]) -> T, x: &[T], grad: &[T]) -> Result<(), GradMismatch> {
    GradCheck::default().check(f, x, grad)
}

/// The five-point central-difference gradient of `f` at `x`, with step `step · max(1, |xᵢ|)`.
///
/// ```
/// let g = autodiff_runtime::numeric_grad(|x: &[f64]| x[0] * x[0] * x[1], &[3.0, 2.0], 1e-3);
/// assert!((g[0] - 12.0).abs() < 1e-9 && (g[1] - 9.0).abs() < 1e-9);
/// ```
pub fn numeric_grad<T: Real>(f: impl Fn(&[T]) -> T, x: &[T], step: f64) -> Vec<T> {
    let mut probe = x.to_vec();
    (0..x.len())
        .map(|i| {
            let xi = x[i].as_f64();
            let h = step * xi.abs().max(1.0);
            let mut at = |offset: f64| {
                probe[i] = T::of_f64(xi + offset);
                let v = f(&probe).as_f64();
                probe[i] = x[i];
                v
            };
            let (p1, m1, p2, m2) = (at(h), at(-h), at(2.0 * h), at(-2.0 * h));
            T::of_f64((8.0 * (p1 - m1) - (p2 - m2)) / (12.0 * h))
        })
        .collect()
}

/// A gradient component that disagrees with central differences.
#[derive(Clone, Debug, PartialEq)]
pub struct GradMismatch {
    /// Which component.
    pub index: usize,
    /// The gradient under test.
    pub analytic: f64,
    /// Central differences.
    pub numeric: f64,
    /// Why it was rejected.
    pub reason: String,
}

impl fmt::Display for GradMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gradient component {}: analytic {:e}, central differences {:e} ({})",
            self.index, self.analytic, self.numeric, self.reason
        )
    }
}

impl std::error::Error for GradMismatch {}
