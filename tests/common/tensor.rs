//! Test support for tensor gradients: deterministic pseudo-random arrays, central differences
//! over every element of an array, and element-by-element comparison.
//!
//! The reference is independent of the crate under test: it only evaluates the original function
//! (which ndarray and the helpers' forward values compute) at perturbed points. It never calls a
//! runtime rule or a generated companion.
#![allow(dead_code, reason = "not every test uses every helper")]

use ndarray::{Array, Dimension, ShapeBuilder};

// ----- deterministic inputs ---------------------------------------------------------------------

/// A 64-bit linear congruential generator (Knuth's MMIX constants): the same numbers on every
/// platform and run.
pub struct Lcg(u64);

impl Lcg {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut g = Lcg(seed ^ 0x9e37_79b9_7f4a_7c15);
        g.next_u64();
        g
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        #[allow(clippy::cast_precision_loss, reason = "53 bits fit an f64 exactly")]
        let unit = (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64;
        lo + (hi - lo) * unit
    }

    /// An array of `shape` with elements uniform in `[lo, hi)`, in row-major order.
    pub fn array<Sh: ShapeBuilder>(&mut self, shape: Sh, lo: f64, hi: f64) -> Array<f64, Sh::Dim>
    where
        Sh::Dim: Dimension,
    {
        Array::from_shape_simple_fn(shape, || self.uniform(lo, hi))
    }

    /// Like [`Lcg::array`], with every element at least `gap` away from zero (for `abs`, `relu`
    /// and other kinks at zero).
    pub fn array_off_zero<Sh: ShapeBuilder>(
        &mut self,
        shape: Sh,
        lo: f64,
        hi: f64,
        gap: f64,
    ) -> Array<f64, Sh::Dim>
    where
        Sh::Dim: Dimension,
    {
        Array::from_shape_simple_fn(shape, || loop {
            let v = self.uniform(lo, hi);
            if v.abs() >= gap {
                break v;
            }
        })
    }

    /// `n` labels in `0..classes`.
    pub fn labels(&mut self, n: usize, classes: usize) -> Vec<usize> {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "a small non-negative index"
        )]
        (0..n)
            .map(|_| (self.uniform(0.0, classes as f64) as usize).min(classes - 1))
            .collect()
    }
}

/// An `f64` array rounded to `f32`.
pub fn narrow<D: Dimension>(a: &Array<f64, D>) -> Array<f32, D> {
    #[allow(
        clippy::cast_possible_truncation,
        reason = "rounding to f32 is the point"
    )]
    a.mapv(|v| v as f32)
}

/// An `f32` array widened to `f64`.
pub fn widen<D: Dimension>(a: &Array<f32, D>) -> Array<f64, D> {
    a.mapv(f64::from)
}

// ----- central differences ----------------------------------------------------------------------

/// The relative step of the central differences; the step at `x` is `STEP * max(1, |x|)`.
pub const STEP: f64 = 1e-6;

/// The step at `x`: `STEP * max(1, |x|)`, rounded to one that `x + h` represents exactly.
fn step(x: f64) -> f64 {
    let h = STEP * x.abs().max(1.0);
    (x + h) - x
}

/// `(f(x + h) - f(x - h)) / 2h` with `h = STEP * max(1, |x|)`.
pub fn central(x: f64, f: impl Fn(f64) -> f64) -> f64 {
    let h = step(x);
    (f(x + h) - f(x - h)) / (2.0 * h)
}

/// The central-difference derivative of `f` with respect to every element of `x`, each element
/// perturbed on its own with the others held at their values.
pub fn fd<D: Dimension>(x: &Array<f64, D>, f: impl Fn(&Array<f64, D>) -> f64) -> Array<f64, D> {
    let mut probe = x.as_standard_layout().into_owned();
    let n = probe.len();
    let mut grad = Vec::with_capacity(n);
    for i in 0..n {
        let x0 = probe.as_slice().expect("standard layout")[i];
        let h = step(x0);
        probe.as_slice_mut().expect("standard layout")[i] = x0 + h;
        let up = f(&probe);
        probe.as_slice_mut().expect("standard layout")[i] = x0 - h;
        let down = f(&probe);
        probe.as_slice_mut().expect("standard layout")[i] = x0;
        grad.push((up - down) / (2.0 * h));
    }
    Array::from_shape_vec(x.raw_dim(), grad).expect("one derivative per element")
}

/// The central-difference derivative of `f` at the scalar `x`.
pub fn fd_scalar(x: f64, f: impl Fn(f64) -> f64) -> f64 {
    central(x, f)
}

// ----- comparison -------------------------------------------------------------------------------

/// How close a gradient must be to its finite-difference reference: within `rel` of the larger
/// magnitude, or within `abs * (1 + |value|)` (the rounding error of a difference quotient grows
/// with the function's value, not with the derivative's).
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    /// Relative tolerance.
    pub rel: f64,
    /// Absolute floor, per unit of the function's value.
    pub abs: f64,
}

/// `f64` gradients against central differences with step `1e-6`: the difference quotient is good
/// to about `1e-9` relative, so `1e-6` fails on any real error and never on rounding.
pub const F64: Tol = Tol {
    rel: 1e-6,
    abs: 1e-8,
};

/// `f32` gradients against central differences of the `f64` twin at the same (rounded) point:
/// the `f32` rounding of the forward and reverse passes (about `1e-6` relative on these small
/// shapes) with a margin of a hundred.
pub const F32: Tol = Tol {
    rel: 1e-4,
    abs: 1e-5,
};

/// One function evaluated at one point: the context of the assertions about its gradient.
pub struct At {
    what: String,
    value: f64,
    tol: Tol,
}

impl At {
    /// Checks of `what` whose value at the point is `value`, with tolerance `tol`.
    pub fn new(what: impl Into<String>, value: f64, tol: Tol) -> Self {
        At {
            what: what.into(),
            value,
            tol,
        }
    }

    /// Whether `got` is within the tolerance of `want` (never when either is not finite).
    pub fn close(&self, got: f64, want: f64) -> bool {
        if !got.is_finite() || !want.is_finite() {
            return false;
        }
        let err = (got - want).abs();
        err <= self.tol.rel * got.abs().max(want.abs())
            || err <= self.tol.abs * (1.0 + self.value.abs())
    }

    /// Asserts that every element of `got` is close to the same element of `want`, and that
    /// the shapes agree.
    #[track_caller]
    pub fn array<D: Dimension>(&self, name: &str, got: &Array<f64, D>, want: &Array<f64, D>) {
        assert_eq!(
            got.shape(),
            want.shape(),
            "{}: {name}: the gradient's shape differs from the argument's",
            self.what
        );
        for ((idx, &g), &w) in got.indexed_iter().zip(want.iter()) {
            assert!(
                self.close(g, w),
                "{}: {name}{idx:?}: got {g:e}, want {w:e} (central differences; {:?}, value {:e})\n got  {got:?}\n want {want:?}",
                self.what,
                self.tol,
                self.value,
            );
        }
    }

    /// [`At::array`] for an `f32` gradient, widened.
    #[track_caller]
    pub fn array32<D: Dimension>(&self, name: &str, got: &Array<f32, D>, want: &Array<f64, D>) {
        self.array(name, &widen(got), want);
    }

    /// Asserts that the scalar `got` is close to `want`.
    #[track_caller]
    pub fn scalar(&self, name: &str, got: f64, want: f64) {
        assert!(
            self.close(got, want),
            "{}: {name}: got {got:e}, want {want:e} (central differences; {:?}, value {:e})",
            self.what,
            self.tol,
            self.value,
        );
    }
}

/// Asserts that the value a companion returned is bit for bit the original function's.
#[track_caller]
pub fn assert_same_bits(what: &str, companion: f64, original: f64) {
    assert_eq!(
        companion.to_bits(),
        original.to_bits(),
        "{what}: the companion's value {companion:e} is not bit-identical to the function's {original:e}"
    );
}

/// [`assert_same_bits`] for `f32`.
#[track_caller]
pub fn assert_same_bits32(what: &str, companion: f32, original: f32) {
    assert_eq!(
        companion.to_bits(),
        original.to_bits(),
        "{what}: the companion's value {companion:e} is not bit-identical to the function's {original:e}"
    );
}

/// Asserts that two arrays are bit for bit equal (a tensor-valued companion's value).
#[track_caller]
pub fn assert_same_array<D: Dimension>(
    what: &str,
    companion: &Array<f64, D>,
    original: &Array<f64, D>,
) {
    assert_eq!(companion.shape(), original.shape(), "{what}: shapes differ");
    for ((idx, &c), &o) in companion.indexed_iter().zip(original.iter()) {
        assert_eq!(
            c.to_bits(),
            o.to_bits(),
            "{what}{idx:?}: the companion's value {c:e} is not bit-identical to the function's {o:e}"
        );
    }
}
