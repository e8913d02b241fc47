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

use crate::tangent::Accumulate;

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

/// Adding a callee's gradient into the caller's adjoint of the argument: the same type, or a
/// slice parameter's `Vec` gradient for an argument that is a fixed-size array (and back).
pub trait AccumulateGradient<G> {
    /// `*self += gradient`.
    fn accumulate_gradient(&mut self, gradient: G);
}

impl<T: Accumulate> AccumulateGradient<T> for T {
    #[inline(always)]
    fn accumulate_gradient(&mut self, gradient: T) {
        self.accumulate(gradient);
    }
}

impl<T: Accumulate, const N: usize> AccumulateGradient<Vec<T>> for [T; N] {
    fn accumulate_gradient(&mut self, gradient: Vec<T>) {
        assert_eq!(
            gradient.len(),
            N,
            "autodiff: a gradient of length {} for an array of length {N}",
            gradient.len()
        );
        for (a, g) in self.iter_mut().zip(gradient) {
            a.accumulate(g);
        }
    }
}

impl<T: Accumulate, const N: usize> AccumulateGradient<[T; N]> for Vec<T> {
    fn accumulate_gradient(&mut self, gradient: [T; N]) {
        for (a, g) in self.iter_mut().zip(gradient) {
            a.accumulate(g);
        }
    }
}

/// `adjoint += gradient` (see [`AccumulateGradient`]).
#[inline(always)]
pub fn accumulate_gradient<A: AccumulateGradient<G>, G>(adjoint: &mut A, gradient: G) {
    adjoint.accumulate_gradient(gradient);
}

/// A callee's gradient for a unit seed, scaled by the call's adjoint `d`.
#[inline(always)]
pub fn callee_gradient_scaled<G: CalleeGradient>(g: G, d: G::Scalar) -> G::Gradient {
    g.scaled(d)
}

/// A tangent a caller's forward mode passes to a callee's `NAME_jvp_all`: `Some(tangent)` for
/// an argument that depends on the active parameters, into the slot of a parameter the callee
/// differentiates with respect to (an `Option` of the parameter's type).
#[diagnostic::on_unimplemented(
    message = "the called function is not differentiated with respect to this argument",
    label = "this argument depends on the active parameters, but the callee's `wrt(...)` leaves its parameter out",
    note = "add the parameter to the callee's `#[differentiate(wrt(...), forward)]`, or pass a value that does not depend on the active parameters"
)]
pub trait ForwardSlot<S> {
    /// The slot's value.
    fn into_slot(self) -> S;
}

#[diagnostic::do_not_recommend]
impl<T> ForwardSlot<Option<T>> for Option<T> {
    #[inline(always)]
    fn into_slot(self) -> Option<T> {
        self
    }
}

/// `&Vec<T>` given to a `&[T]` parameter: the coercion a call makes.
#[diagnostic::do_not_recommend]
impl<'a, T> ForwardSlot<Option<&'a [T]>> for Option<&'a Vec<T>> {
    #[inline(always)]
    fn into_slot(self) -> Option<&'a [T]> {
        self.map(Vec::as_slice)
    }
}

/// `&[T; N]` given to a `&[T]` parameter.
#[diagnostic::do_not_recommend]
impl<'a, T, const N: usize> ForwardSlot<Option<&'a [T]>> for Option<&'a [T; N]> {
    #[inline(always)]
    fn into_slot(self) -> Option<&'a [T]> {
        self.map(|a| a.as_slice())
    }
}

/// A tensor's tangent, given by reference, into a parameter that owns its value.
#[diagnostic::do_not_recommend]
impl<U: Clone> ForwardSlot<Option<U>> for Option<&U> {
    #[inline(always)]
    fn into_slot(self) -> Option<U> {
        self.cloned()
    }
}

/// An array's tangent, given by reference, into a view parameter.
#[diagnostic::do_not_recommend]
impl<'a, A, D: ndarray::Dimension> ForwardSlot<Option<ndarray::ArrayView<'a, A, D>>>
    for Option<&'a ndarray::Array<A, D>>
{
    #[inline(always)]
    fn into_slot(self) -> Option<ndarray::ArrayView<'a, A, D>> {
        self.map(|a| a.view())
    }
}

/// `tangent` into the callee's slot (see [`ForwardSlot`]).
#[inline(always)]
pub fn forward_slot<T, S>(tangent: T) -> S
where
    Option<T>: ForwardSlot<S>,
{
    Some(tangent).into_slot()
}

/// A placeholder type that keeps [`ForwardSlot`]'s target open, so rustc checks a slot against
/// the callee's parameter type (and reports [`ForwardSlot`]'s message) rather than guessing.
#[doc(hidden)]
pub enum NoSlot {}

#[diagnostic::do_not_recommend]
impl<T> ForwardSlot<NoSlot> for Option<T> {
    fn into_slot(self) -> NoSlot {
        unreachable!("no value has the type `NoSlot`")
    }
}

/// What a caller's forward mode passes last to a callee's `NAME_jvp_all`.
#[derive(Clone, Copy, Debug)]
pub struct ForwardCall;

/// Implemented by nothing: the last parameter of the `NAME_jvp_all` of a function without forward
/// mode, so that a forward-mode caller gets this message at the call.
#[diagnostic::on_unimplemented(
    message = "the called function has no forward mode",
    label = "called from a `#[differentiate(forward)]` function",
    note = "add `forward` to the called function's attribute, as in `#[differentiate(forward)]`"
)]
pub trait HasForwardMode {}
