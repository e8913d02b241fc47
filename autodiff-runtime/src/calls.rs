//! What a call between differentiated functions needs at run time.
//!
//! A call `f(a, b)` inside a `#[differentiate]` function is differentiated by calling
//! `f_vjp_all(a, b, d)`, which returns one gradient slot per parameter of `f`: the gradient for a
//! parameter `f` differentiates with respect to, [`NotDifferentiated`] for a float parameter that
//! `f`'s `wrt(...)` leaves out, and `()` for the others. The caller passes each slot it needs
//! through [`callee_gradient`], so an argument the callee holds constant is a compile error at
//! the call, never a silently missing term.

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
    /// Unwraps it.
    fn into_gradient(self) -> Self::Gradient;
}

macro_rules! impl_callee_gradient {
    ($($t:ty),*) => {$(
        impl CalleeGradient for $t {
            type Gradient = $t;
            #[inline(always)]
            fn into_gradient(self) -> $t {
                self
            }
        }
    )*};
}
// Concrete, not `impl<T: Real>`: a missing impl then reports only the message above. `Real`
// has `CalleeGradient` as a supertrait, so generic code is covered.
impl_callee_gradient!(f32, f64);

impl<T> CalleeGradient for Vec<T> {
    type Gradient = Vec<T>;
    #[inline(always)]
    fn into_gradient(self) -> Vec<T> {
        self
    }
}

impl<T, const N: usize> CalleeGradient for [T; N] {
    type Gradient = [T; N];
    #[inline(always)]
    fn into_gradient(self) -> [T; N] {
        self
    }
}

impl<T, D> CalleeGradient for ndarray::Array<T, D>
where
    D: ndarray::Dimension,
{
    type Gradient = ndarray::Array<T, D>;
    #[inline(always)]
    fn into_gradient(self) -> ndarray::Array<T, D> {
        self
    }
}

/// A callee's gradient for one argument, checked to be one (see [`CalleeGradient`]).
#[inline(always)]
pub fn callee_gradient<G: CalleeGradient>(g: G) -> G::Gradient {
    g.into_gradient()
}
