//! The traits that lift a scalar adjoint formula to every operand type.
//!
//! A rule in [`crate::rules`] is written once, as the formula for one element. The traits here
//! say how that formula is applied for a given operand type: for a scalar it is just called; for
//! tensor types (a later version) it is mapped over elements and, for operands of different
//! shapes, reduced back to each operand's shape. Generated code never names these traits; it calls
//! the rule functions, and the compiler picks the impl from the operand types.

use crate::scalar::Real;

/// A value with an adjoint: what the gradient of something of this type looks like.
///
/// For `f32`/`f64` the tangent is the same type.
pub trait ZeroLike {
    /// The type of this value's gradient.
    type Tangent;
    /// A zero gradient of the right shape (an active argument that does not reach the result).
    fn zero_like(&self) -> Self::Tangent;
}

impl<T: Real> ZeroLike for T {
    type Tangent = T;
    #[inline(always)]
    fn zero_like(&self) -> T {
        T::zero()
    }
}

/// Adding one more contribution into an adjoint that already holds one.
///
/// Generated code initialises an adjoint with its first contribution and calls this for every
/// further one, so nothing is zero-filled only to be added to.
pub trait Accumulate {
    /// `*self += contribution`.
    fn accumulate(&mut self, contribution: Self);
}

impl<T: Real> Accumulate for T {
    #[inline(always)]
    fn accumulate(&mut self, contribution: T) {
        *self += contribution;
    }
}

/// Applying an elementwise formula `f(x, y, d)` (input, output, output adjoint) to a unary
/// operation's operand type.
pub trait Elementwise {
    /// The element type the formula works on.
    type Elem: Real;
    /// The type of the operation's result and of its adjoint.
    type Out;
    /// The adjoint contribution to `x`, given the result `y` and its adjoint `d`.
    fn map_adjoint(
        x: &Self,
        y: &Self::Out,
        d: &Self::Out,
        f: impl Fn(Self::Elem, Self::Elem, Self::Elem) -> Self::Elem,
    ) -> Self::Out;
}

impl<T: Real> Elementwise for T {
    type Elem = T;
    type Out = T;
    #[inline(always)]
    fn map_adjoint(x: &T, y: &T, d: &T, f: impl Fn(T, T, T) -> T) -> T {
        f(*x, *y, *d)
    }
}

/// Applying an elementwise formula `f(l, r, y, d)` of a binary operation to an operand type pair,
/// reducing each contribution back to its operand's shape.
pub trait Broadcast<R> {
    /// The element type the formula works on.
    type Elem: Real;
    /// The type of `l op r` and of its adjoint.
    type Out;
    /// The type of the left operand's gradient.
    type LhsTangent;
    /// The type of the right operand's gradient.
    type RhsTangent;
    /// The contribution to the left operand.
    fn lhs_adjoint(
        l: &Self,
        r: &R,
        y: &Self::Out,
        d: &Self::Out,
        f: impl Fn(Self::Elem, Self::Elem, Self::Elem, Self::Elem) -> Self::Elem,
    ) -> Self::LhsTangent;
    /// The contribution to the right operand.
    fn rhs_adjoint(
        l: &Self,
        r: &R,
        y: &Self::Out,
        d: &Self::Out,
        f: impl Fn(Self::Elem, Self::Elem, Self::Elem, Self::Elem) -> Self::Elem,
    ) -> Self::RhsTangent;
}

impl<T: Real> Broadcast<T> for T {
    type Elem = T;
    type Out = T;
    type LhsTangent = T;
    type RhsTangent = T;
    #[inline(always)]
    fn lhs_adjoint(l: &T, r: &T, y: &T, d: &T, f: impl Fn(T, T, T, T) -> T) -> T {
        f(*l, *r, *y, *d)
    }
    #[inline(always)]
    fn rhs_adjoint(l: &T, r: &T, y: &T, d: &T, f: impl Fn(T, T, T, T) -> T) -> T {
        f(*l, *r, *y, *d)
    }
}
