//! The traits that lift a scalar adjoint formula to every operand type.
//!
//! A rule in [`crate::rules`] is written once, as the formula for one element. [`Elementwise`]
//! says how that formula is applied to a given operand type: for a scalar it is just called; for
//! an ndarray array it is mapped over the elements into a new array. [`View`] brings every array
//! storage (owned, view, shared) to one view type first, so the operands of one rule call have the
//! same type. Generated code never names these traits: it calls the rule functions, and the
//! compiler picks the impl from the operands.
//!
//! The impls for scalars are here; those for arrays are in [`crate::tensor`].

use crate::scalar::Real;

/// A value with an adjoint: what the gradient of something of this type looks like.
///
/// For `f32`/`f64` the tangent is the same type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an active argument of a `#[differentiate]` function",
    label = "no gradient type for this",
    note = "floats, arrays, slices and `Vec`s of them, ndarray arrays, and structs with `#[derive(autodiff::Tangent)]` can be active",
    note = "an ndarray array must come from the ndarray `autodiff` uses (0.17): if your crate depends on another version, use `autodiff::ndarray`"
)]
pub trait ZeroLike {
    /// The type of this value's gradient.
    type Tangent;
    /// A zero gradient of the right shape (an active argument that does not reach the result).
    fn zero_like(&self) -> Self::Tangent;
}

// Concrete impls, not `impl<T: Real>`: a type without one is then reported with only the message
// above. `Real` has `ZeroLike<Tangent = Self>` as a supertrait, so generic code is covered.
macro_rules! impl_zero_like {
    ($($t:ty),*) => {$(
        impl ZeroLike for $t {
            type Tangent = $t;
            #[inline(always)]
            fn zero_like(&self) -> $t {
                0.0
            }
        }
    )*};
}
impl_zero_like!(f32, f64);

/// `&[T]` and `Vec<T>` have `Vec` gradients; arrays keep their length.
impl<T: ZeroLike> ZeroLike for [T] {
    type Tangent = Vec<T::Tangent>;
    fn zero_like(&self) -> Vec<T::Tangent> {
        self.iter().map(ZeroLike::zero_like).collect()
    }
}

impl<T: ZeroLike> ZeroLike for Vec<T> {
    type Tangent = Vec<T::Tangent>;
    fn zero_like(&self) -> Vec<T::Tangent> {
        self.as_slice().zero_like()
    }
}

impl<T: ZeroLike, const N: usize> ZeroLike for [T; N] {
    type Tangent = [T::Tangent; N];
    fn zero_like(&self) -> [T::Tangent; N] {
        core::array::from_fn(|i| self[i].zero_like())
    }
}

/// The element a loop over an array yields, by value or by reference, as a value.
pub trait ElementValue {
    /// The element's type.
    type Value;
    /// The element.
    fn element_value(self) -> Self::Value;
}

impl ElementValue for f32 {
    type Value = f32;
    #[inline(always)]
    fn element_value(self) -> f32 {
        self
    }
}

impl ElementValue for f64 {
    type Value = f64;
    #[inline(always)]
    fn element_value(self) -> f64 {
        self
    }
}

impl<T: Real> ElementValue for &T {
    type Value = T;
    #[inline(always)]
    fn element_value(self) -> T {
        *self
    }
}

impl<T: Real> ElementValue for &mut T {
    type Value = T;
    #[inline(always)]
    fn element_value(self) -> T {
        *self
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

/// Arrays accumulate element by element (the adjoint of a copied array flows back whole).
impl<T: Accumulate> Accumulate for Vec<T> {
    fn accumulate(&mut self, contribution: Vec<T>) {
        for (a, c) in self.iter_mut().zip(contribution) {
            a.accumulate(c);
        }
    }
}

impl<T: Accumulate, const N: usize> Accumulate for [T; N] {
    fn accumulate(&mut self, contribution: [T; N]) {
        for (a, c) in self.iter_mut().zip(contribution) {
            a.accumulate(c);
        }
    }
}

/// Applying an elementwise formula to values of one type: the values a rule reads (operands or
/// the result) and the adjoint `d`, all of the same shape.
///
/// For a scalar the result is the scalar; for an array (usually an [`ndarray::ArrayView`], from
/// [`View`]) it is a new owned array, so [`Elementwise::Out`] may differ from `Self`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no elementwise adjoint rules",
    note = "scalars (`f32`, `f64`, `T: Real`) and ndarray arrays of them have; pass tensors through `view`"
)]
pub trait Elementwise: Sized {
    /// The element type the formula works on.
    type Elem: Real;
    /// What a rule returns: the same scalar, or an owned array of the operands' shape.
    type Out;
    /// `f(d)` for each element.
    fn map1(d: &Self, f: impl Fn(Self::Elem) -> Self::Elem) -> Self::Out;
    /// `f(a, d)` for each element.
    fn map2(a: &Self, d: &Self, f: impl Fn(Self::Elem, Self::Elem) -> Self::Elem) -> Self::Out;
    /// `f(a, b, d)` for each element.
    fn map3(
        a: &Self,
        b: &Self,
        d: &Self,
        f: impl Fn(Self::Elem, Self::Elem, Self::Elem) -> Self::Elem,
    ) -> Self::Out;
    /// `f(d)` for each element, written over `d`, whose buffer is reused.
    fn map1_into(d: Self::Out, f: impl Fn(Self::Elem) -> Self::Elem) -> Self::Out;
    /// `f(a, d)` for each element, written over `d`.
    fn map2_into(
        a: &Self,
        d: Self::Out,
        f: impl Fn(Self::Elem, Self::Elem) -> Self::Elem,
    ) -> Self::Out;
    /// `f(a, b, d)` for each element, written over `d`.
    fn map3_into(
        a: &Self,
        b: &Self,
        d: Self::Out,
        f: impl Fn(Self::Elem, Self::Elem, Self::Elem) -> Self::Elem,
    ) -> Self::Out;
}

impl<T: Real> Elementwise for T {
    type Elem = T;
    type Out = T;
    #[inline(always)]
    fn map1(d: &T, f: impl Fn(T) -> T) -> T {
        f(*d)
    }
    #[inline(always)]
    fn map2(a: &T, d: &T, f: impl Fn(T, T) -> T) -> T {
        f(*a, *d)
    }
    #[inline(always)]
    fn map3(a: &T, b: &T, d: &T, f: impl Fn(T, T, T) -> T) -> T {
        f(*a, *b, *d)
    }
    #[inline(always)]
    fn map1_into(d: T, f: impl Fn(T) -> T) -> T {
        f(d)
    }
    #[inline(always)]
    fn map2_into(a: &T, d: T, f: impl Fn(T, T) -> T) -> T {
        f(*a, d)
    }
    #[inline(always)]
    fn map3_into(a: &T, b: &T, d: T, f: impl Fn(T, T, T) -> T) -> T {
        f(*a, *b, d)
    }
}

/// A value as the rules read it: a scalar by copy, an array of any storage as an
/// [`ndarray::ArrayView`] of it.
///
/// The elementwise rules take all their operands as one type `X`; an owned array, a view and a
/// shared array are different types, so generated code passes `&view(&y)` and `&view(&d)` and
/// the rule sees two `ArrayView`s.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be viewed as a differentiable value",
    note = "scalars (`f32`, `f64`, `T: Real`) and ndarray arrays of them can"
)]
pub trait View {
    /// The viewed value: `Self` for a scalar, `ArrayView<'a, T, D>` for an array.
    type Viewed<'a>
    where
        Self: 'a;
    /// This value as the rules read it.
    fn view_value(&self) -> Self::Viewed<'_>;
}

impl<T: Real> View for T {
    type Viewed<'a> = T;
    #[inline(always)]
    fn view_value(&self) -> T {
        *self
    }
}
