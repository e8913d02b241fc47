//! What a call between differentiated functions needs at run time.
//!
//! A call `f(a, b)` inside a `#[differentiate]` function is differentiated through
//! `f_vjp_all(a, b, d)`, which returns one gradient slot per parameter of `f`: the gradient for a
//! parameter `f` differentiates with respect to, [`NotDifferentiated`] for a float parameter that
//! `f`'s `wrt(...)` leaves out, and `()` for the others. The caller passes each slot it needs
//! through [`callee_gradient`] (or [`callee_gradient_scaled`]), so an argument the callee holds
//! constant is a compile error at the call, never a silently missing term.
//!
//! When the call's result is a float, the caller runs `f_vjp_all(a, b, 1)` in its forward pass,
//! keeps the gradients and scales them by the call's adjoint in its reverse pass: the callee's
//! reverse pass is linear in its seed, and so runs once.

use ndarray::{Array, Dimension};

use crate::scalar::Real;

/// The gradient slot of a float parameter that the called function's `wrt(...)` leaves out: it
/// was not differentiated with respect to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotDifferentiated;

/// A gradient a callee returned for an argument the caller differentiates.
#[diagnostic::on_unimplemented(
    message = "the called function is not differentiated with respect to this argument",
    label = "this argument depends on the active parameters, but the callee's `wrt(...)` leaves its parameter out",
    note = "add the parameter to the callee's `#[differentiate(wrt(...))]`, or pass a value that does not depend on the active parameters"
)]
pub trait CalleeGradient {
    /// The gradient itself.
    type Gradient;
    /// The float type of its entries.
    type Scalar: Real;
    /// Unwraps it.
    fn into_gradient(self) -> Self::Gradient;
    /// Unwraps it, every entry multiplied by `d`.
    fn scaled(self, d: Self::Scalar) -> Self::Gradient;
}

macro_rules! impl_callee_gradient {
    ($($t:ty),*) => {$(
        impl CalleeGradient for $t {
            type Gradient = $t;
            type Scalar = $t;
            #[inline(always)]
            fn into_gradient(self) -> $t {
                self
            }
            #[inline(always)]
            fn scaled(self, d: $t) -> $t {
                self * d
            }
        }
    )*};
}
// Concrete, not `impl<T: Real>`: a missing impl then reports only the message above. `Real`
// has `CalleeGradient` as a supertrait, so generic code is covered.
impl_callee_gradient!(f32, f64);

impl<T: CalleeGradient<Gradient = T>> CalleeGradient for Vec<T> {
    type Gradient = Vec<T>;
    type Scalar = T::Scalar;
    #[inline(always)]
    fn into_gradient(self) -> Vec<T> {
        self
    }
    fn scaled(self, d: T::Scalar) -> Vec<T> {
        self.into_iter().map(|g| g.scaled(d)).collect()
    }
}

impl<T: CalleeGradient<Gradient = T>, const N: usize> CalleeGradient for [T; N] {
    type Gradient = [T; N];
    type Scalar = T::Scalar;
    #[inline(always)]
    fn into_gradient(self) -> [T; N] {
        self
    }
    fn scaled(self, d: T::Scalar) -> [T; N] {
        self.map(|g| g.scaled(d))
    }
}

impl<T: Real, D: Dimension> CalleeGradient for Array<T, D> {
    type Gradient = Array<T, D>;
    type Scalar = T;
    #[inline(always)]
    fn into_gradient(self) -> Array<T, D> {
        self
    }
    fn scaled(mut self, d: T) -> Array<T, D> {
        self.mapv_inplace(|g| g * d);
        self
    }
}

/// A callee's gradient for one argument, checked to be one (see [`CalleeGradient`]).
#[inline(always)]
pub fn callee_gradient<G: CalleeGradient>(g: G) -> G::Gradient {
    g.into_gradient()
}

/// A callee's gradient for a unit seed, scaled by the call's adjoint `d`.
#[inline(always)]
pub fn callee_gradient_scaled<G: CalleeGradient>(g: G, d: G::Scalar) -> G::Gradient {
    g.scaled(d)
}
