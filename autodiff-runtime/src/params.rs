//! Parameter structs: what a training loop does with a gradient.
//!
//! [`Tangent`] is implemented for floats, `Vec`s and arrays of them, ndarray arrays, and every
//! struct with `#[derive(autodiff::Tangent)]` (fieldwise). Such a struct can be an active
//! argument of a `#[differentiate]` function named in its `wrt(...)`; its gradient is the same
//! struct, so a gradient step reads `params.scaled_add(-lr, &grad)`.

use ndarray::{Array, Dimension};
use num_traits::{Float, Zero};

use crate::scalar::Real;
use crate::tangent::ZeroLike;

/// A value that is its own gradient type, with the vector-space operations a training loop
/// needs. Derive it on a struct of floats, arrays and ndarray tensors (and nested structs that
/// derive it too) with `#[derive(autodiff::Tangent)]`.
///
/// ```
/// use autodiff_runtime::Tangent;
///
/// let mut w = vec![1.0, 2.0];
/// let g = vec![0.5, -1.0];
/// w.scaled_add(-0.1, &g); // a gradient step
/// assert_eq!(w, vec![0.95, 2.1]);
/// assert_eq!(g.inner(&g), 1.25);
/// assert_eq!(vec![3.0, 4.0].norm(), 5.0);
/// assert_eq!(g.zeros_like(), vec![0.0, 0.0]);
/// ```
pub trait Tangent: ZeroLike<Tangent = Self> + Sized {
    /// The float type of the entries.
    type Scalar: Real;
    /// `self += alpha * other`, entry by entry (a gradient step is `scaled_add(-lr, &grad)`).
    fn scaled_add(&mut self, alpha: Self::Scalar, other: &Self);
    /// The sum of the products of corresponding entries.
    fn inner(&self, other: &Self) -> Self::Scalar;
    /// The Euclidean norm of all entries.
    fn norm(&self) -> Self::Scalar {
        Float::sqrt(self.inner(self))
    }
    /// A value of the same shape with every entry zero.
    fn zeros_like(&self) -> Self {
        self.zero_like()
    }
}

macro_rules! impl_tangent_scalar {
    ($($t:ty),*) => {$(
        impl Tangent for $t {
            type Scalar = $t;
            #[inline]
            fn scaled_add(&mut self, alpha: $t, other: &$t) {
                *self += alpha * *other;
            }
            #[inline]
            fn inner(&self, other: &$t) -> $t {
                *self * *other
            }
        }
    )*};
}
impl_tangent_scalar!(f32, f64);

impl<T: Tangent> Tangent for Vec<T>
where
    Vec<T>: ZeroLike<Tangent = Vec<T>>,
{
    type Scalar = T::Scalar;
    fn scaled_add(&mut self, alpha: T::Scalar, other: &Self) {
        for (a, b) in self.iter_mut().zip(other) {
            a.scaled_add(alpha, b);
        }
    }
    fn inner(&self, other: &Self) -> T::Scalar {
        self.iter()
            .zip(other)
            .fold(T::Scalar::zero(), |s, (a, b)| s + a.inner(b))
    }
}

impl<T: Tangent, const N: usize> Tangent for [T; N]
where
    [T; N]: ZeroLike<Tangent = [T; N]>,
{
    type Scalar = T::Scalar;
    fn scaled_add(&mut self, alpha: T::Scalar, other: &Self) {
        for (a, b) in self.iter_mut().zip(other) {
            a.scaled_add(alpha, b);
        }
    }
    fn inner(&self, other: &Self) -> T::Scalar {
        self.iter()
            .zip(other)
            .fold(T::Scalar::zero(), |s, (a, b)| s + a.inner(b))
    }
}

impl<T: Real, D: Dimension> Tangent for Array<T, D> {
    type Scalar = T;
    fn scaled_add(&mut self, alpha: T, other: &Self) {
        self.zip_mut_with(other, |a, &b| *a += alpha * b);
    }
    fn inner(&self, other: &Self) -> T {
        ndarray::Zip::from(self)
            .and(other)
            .fold(T::zero(), |s, &a, &b| s + a * b)
    }
}
