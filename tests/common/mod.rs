//! Shared test support: an independent forward-mode reference, and tolerance checks.
//!
//! The reference is the forward-mode dual-number crate `num-dual`. Its `Dual64` does not
//! implement `num_traits::Float` (it has its own `DualNum` trait), so [`Fwd`] wraps it in a
//! newtype that does, delegating every float method to `num-dual`. A test function written once
//! as `fn f<T: Float>(..) -> T` is then differentiated twice: by `#[differentiate]` (its
//! `f_grad::<f64>`) and by running the untouched original `f::<Fwd>` on dual numbers, one
//! forward pass per argument ([`dual_grad`], through `num_dual::first_derivative`).
//!
//! [`Fwd`] is the differential fuzzer's oracle (`autodiff_fuzz::oracle::Fwd`): the few methods
//! `num-dual` lacks (`hypot`, `max`, `min`, `%`, the rounding family, `to_degrees`, a
//! `powf`/`log` whose exponent/base carries a derivative) are written there from `num-dual`
//! operations, never from the runtime's rules.
#![allow(
    dead_code,
    reason = "each test crate uses a different part of this module"
)]

pub mod hyperdual;

use autodiff::GradCheck;
use num_dual::Dual64;

// ----- the forward-mode reference ---------------------------------------------------------------

/// A `num-dual` first-order dual number that implements `num_traits::Float`: the differential
/// fuzzer's oracle (`autodiff_fuzz::oracle`), shared so there is one such wrapper.
pub use autodiff_fuzz::oracle::Fwd;

/// The value and gradient of `f` at `x` by forward mode: one `num_dual::first_derivative` pass
/// per component, the other components held constant.
pub fn dual_grad(f: impl Fn(&[Fwd]) -> Fwd, x: &[f64]) -> (f64, Vec<f64>) {
    let consts: Vec<Fwd> = x.iter().map(|&v| Fwd::cst(v)).collect();
    let value = f(&consts).re();
    let grad = (0..x.len())
        .map(|i| {
            let (v, d) = num_dual::first_derivative(
                |xi: Dual64| {
                    let mut args = consts.clone();
                    args[i] = Fwd(xi);
                    f(&args).0
                },
                x[i],
            );
            assert!(
                v.to_bits() == value.to_bits() || (v.is_nan() && value.is_nan()),
                "the reference is not deterministic"
            );
            d
        })
        .collect();
    (value, grad)
}

/// `v` cut at `a`, as owned vectors: a test's flat point split into a function's array
/// arguments, for the plain function and its dual-number reference alike.
pub fn split2<T: Copy>(v: &[T], a: usize) -> (Vec<T>, Vec<T>) {
    (v[..a].to_vec(), v[a..].to_vec())
}

/// `v` cut at `a` and `b`, as owned vectors (see [`split2`]).
pub fn split3<T: Copy>(v: &[T], a: usize, b: usize) -> (Vec<T>, Vec<T>, Vec<T>) {
    (v[..a].to_vec(), v[a..b].to_vec(), v[b..].to_vec())
}

/// `v` in any float type, for functions written once over `T: Float` (a plain call: the macro
/// keeps it as written).
pub fn c<T: num_traits::Float>(v: f64) -> T {
    T::from(v).unwrap()
}

/// Checks a `NAME_grad` output `(value, grad)` over a flat argument `x` against `num-dual` (the
/// generic function run on dual numbers, `dual`) and central differences of `plain`, and the
/// value against the original function and the reference, bit for bit.
#[track_caller]
pub fn check_with_dual(
    name: &str,
    x: &[f64],
    (value, grad): (f64, Vec<f64>),
    plain: impl Fn(&[f64]) -> f64,
    dual: impl Fn(&[Fwd]) -> Fwd,
) {
    assert_eq!(
        value.to_bits(),
        plain(x).to_bits(),
        "{name} at {x:?}: value differs from the original"
    );
    let (dual_value, dual_g) = dual_grad(dual, x);
    assert_eq!(
        value.to_bits(),
        dual_value.to_bits(),
        "{name} at {x:?}: value differs from the reference's"
    );
    assert_all_close(&format!("{name} at {x:?}"), &grad, &dual_g, 1e-11, 1e-13);
    autodiff::check_grad(&plain, x, &grad).unwrap_or_else(|e| panic!("{name} at {x:?}: {e}"));
}

/// Reproducible points in `[-1.2, 1.2)`, distinct values (no tie sits at a kink of `max`).
pub fn point(len: usize, seed: u64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1_u64 << 53) as f64 * 2.4 - 1.2
        })
        .collect()
}

/// A function of two arrays with its `_grad`, checked with [`check_with_dual`] at `full` cut
/// at `a` (see [`split2`]): the gradient is the two arrays' gradients in turn.
#[track_caller]
pub fn check_split2(
    name: &str,
    full: &[f64],
    a: usize,
    grad: impl Fn(&[f64], &[f64]) -> (f64, (Vec<f64>, Vec<f64>)),
    plain: impl Fn(&[f64], &[f64]) -> f64,
    dual: impl Fn(&[Fwd], &[Fwd]) -> Fwd,
) {
    let (x, w) = split2(full, a);
    let (value, (gx, gw)) = grad(&x, &w);
    let g: Vec<f64> = gx.into_iter().chain(gw).collect();
    check_with_dual(
        name,
        full,
        (value, g),
        |v| {
            let (x, w) = split2(v, a);
            plain(&x, &w)
        },
        |v| {
            let (x, w) = split2(v, a);
            dual(&x, &w)
        },
    );
}

/// A function of `x` and `w`, both of length `n`, with its `_grad`, checked with
/// [`check_split2`] at one point per seed (`point(2 n, seed + 10 n)`).
#[track_caller]
pub fn check_pair(
    name: &str,
    n: usize,
    seeds: &[u64],
    grad: impl Fn(&[f64], &[f64]) -> (f64, (Vec<f64>, Vec<f64>)),
    plain: impl Fn(&[f64], &[f64]) -> f64,
    dual: impl Fn(&[Fwd], &[Fwd]) -> Fwd,
) {
    for seed in seeds {
        let full = point(2 * n, seed + 10 * n as u64);
        check_split2(&format!("{name} (n = {n})"), &full, n, &grad, &plain, &dual);
    }
}

/// `(grad(x + h v) - grad(x - h v)) / 2h` with `h = 1e-5`: a Hessian-vector product from a
/// gradient (the generated one, checked on its own against `num-dual`), to compare `NAME_hvp`
/// with.
pub fn gradient_differences(grad: &dyn Fn(&[f64]) -> Vec<f64>, x: &[f64], v: &[f64]) -> Vec<f64> {
    let h = 1e-5;
    let plus: Vec<f64> = x.iter().zip(v).map(|(a, b)| a + h * b).collect();
    let minus: Vec<f64> = x.iter().zip(v).map(|(a, b)| a - h * b).collect();
    grad(&plus)
        .iter()
        .zip(grad(&minus))
        .map(|(p, m)| (p - m) / (2.0 * h))
        .collect()
}

// ----- gradients as vectors ---------------------------------------------------------------------

/// A `NAME_grad` gradient (bare scalar or tuple) as a `Vec`, in argument order.
pub trait GradVec<T> {
    /// The components in order.
    fn to_vec(self) -> Vec<T>;
}

macro_rules! grad_vec {
    ($($t:ty),*) => {$(
        impl GradVec<$t> for $t {
            fn to_vec(self) -> Vec<$t> {
                vec![self]
            }
        }
        impl GradVec<$t> for ($t, $t) {
            fn to_vec(self) -> Vec<$t> {
                vec![self.0, self.1]
            }
        }
        impl GradVec<$t> for ($t, $t, $t) {
            fn to_vec(self) -> Vec<$t> {
                vec![self.0, self.1, self.2]
            }
        }
        impl GradVec<$t> for ($t, $t, $t, $t) {
            fn to_vec(self) -> Vec<$t> {
                vec![self.0, self.1, self.2, self.3]
            }
        }
        impl GradVec<$t> for ($t, $t, $t, $t, $t) {
            fn to_vec(self) -> Vec<$t> {
                vec![self.0, self.1, self.2, self.3, self.4]
            }
        }
    )*};
}
grad_vec!(f32, f64);

// ----- tolerances -------------------------------------------------------------------------------

/// `f64` gradient against the forward-mode reference: relative.
pub const F64_REL: f64 = 1e-10;
/// `f64`: absolute floor for components that are (near) zero.
pub const F64_ABS: f64 = 1e-13;
/// `f32` gradient against the `f64` forward-mode reference at the same (rounded) point: relative.
pub const F32_REL: f64 = 1e-5;
/// `f32`: absolute floor for components that are (near) zero.
pub const F32_ABS: f64 = 1e-6;

/// Whether `got` is within `rel` (relative to the larger magnitude) or `abs` of `want`. Equal
/// infinities are close; NaN is close to nothing.
pub fn close(got: f64, want: f64, rel: f64, abs: f64) -> bool {
    if got == want {
        return true;
    }
    let err = (got - want).abs();
    err <= abs || err <= rel * got.abs().max(want.abs())
}

/// Asserts that `got` and `want` agree componentwise.
#[track_caller]
pub fn assert_all_close(what: &str, got: &[f64], want: &[f64], rel: f64, abs: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            close(g, w, rel, abs),
            "{what}: component {i}: got {g:e}, want {w:e} (rel {rel:e}, abs {abs:e}); all: got {got:?}, want {want:?}"
        );
    }
}

/// Asserts `|got - want| <= tol`.
#[track_caller]
pub fn assert_near(what: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:e}, want {want:e} (tolerance {tol:e})"
    );
}

// ----- whole checks of one `f64` / `f32` companion ----------------------------------------------

/// Checks an `f64` companion's output at `x`:
/// - the value is bit-identical to the original function's (`original`);
/// - value and gradient match the forward-mode `reference` within [`F64_REL`];
/// - the gradient passes `check_grad` (central differences of `f` itself).
#[track_caller]
pub fn check_f64(
    what: &str,
    x: &[f64],
    (value, grad): (f64, Vec<f64>),
    original: f64,
    reference: &(f64, Vec<f64>),
    f: impl Fn(&[f64]) -> f64,
) {
    assert_eq!(
        value.to_bits(),
        original.to_bits(),
        "{what} at {x:?}: the value of _grad ({value:e}) is not bit-identical to the function's ({original:e})"
    );
    assert_all_close(
        &format!("{what} at {x:?}: value vs num-dual"),
        &[value],
        &[reference.0],
        F64_REL,
        F64_ABS,
    );
    assert_all_close(
        &format!("{what} at {x:?}: gradient vs num-dual"),
        &grad,
        &reference.1,
        F64_REL,
        F64_ABS,
    );
    if let Err(e) = autodiff::check_grad(f, x, &grad) {
        panic!("{what} at {x:?}: check_grad: {e}");
    }
}

/// Checks an `f32` companion's output at `x` (an `f32` point): the value is bit-identical to the
/// original's; value and gradient match the `f64` forward-mode reference at the same point,
/// widened, within [`F32_REL`]; and `GradCheck::f32()` accepts the gradient.
#[track_caller]
pub fn check_f32(
    what: &str,
    x: &[f32],
    (value, grad): (f32, Vec<f32>),
    original: f32,
    reference: &(f64, Vec<f64>),
    f: impl Fn(&[f32]) -> f32,
) {
    assert_eq!(
        value.to_bits(),
        original.to_bits(),
        "{what} at {x:?}: the value of _grad ({value:e}) is not bit-identical to the function's ({original:e})"
    );
    assert_all_close(
        &format!("{what} at {x:?}: f32 value vs f64 num-dual"),
        &[f64::from(value)],
        &[reference.0],
        F32_REL,
        F32_ABS,
    );
    let wide: Vec<f64> = grad.iter().map(|&g| f64::from(g)).collect();
    assert_all_close(
        &format!("{what} at {x:?}: f32 gradient vs f64 num-dual"),
        &wide,
        &reference.1,
        F32_REL,
        F32_ABS,
    );
    if let Err(e) = GradCheck::f32().check(f, x, &grad) {
        panic!("{what} at {x:?}: GradCheck::f32: {e}");
    }
}

/// `x` rounded to `f32`, and that `f32` point widened back: the point where the `f64`
/// reference for an `f32` function is taken.
pub fn to_f32_point(x: &[f64]) -> (Vec<f32>, Vec<f64>) {
    #[allow(
        clippy::cast_possible_truncation,
        reason = "rounding to f32 is the point"
    )]
    let narrow: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let wide = narrow.iter().map(|&v| f64::from(v)).collect();
    (narrow, wide)
}

// ----- the test template for functions defined in `f64s`, `f32s` and `generic` ----------------

/// `grad_test!(name: f1, f2...; [0, 1]; [x0, y0], [x1, y1], ...)`: a test that checks cases
/// `f1, f2...` (one function in different spellings; `f1` is the reference) with arguments
/// `x[0], x[1]` at each point given.
///
/// The calling crate defines each case three times, as `f64s::f1::f`, `f32s::f1::f` and
/// `generic::f1::f<T: Float>` (with companions `f_grad`). At each point the forward-mode
/// reference is `generic::f1::f::<Fwd>`; every spelling is checked in `f64`, `f32` and generic at
/// both (see [`check_f64`] and [`check_f32`]).
#[allow(unused_macros, reason = "not every test crate has grad tests")]
macro_rules! grad_test {
    ($test:ident: $first:ident $(, $f:ident)*; $idx:tt; $($p:expr),+ $(,)?) => {
        #[test]
        fn $test() {
            let points: &[&[f64]] = &[$(&$p),+];
            assert!(points.len() >= 3, "check every operation at three points at least");
            for &x in points {
                let reference = $crate::common::dual_grad(|a: &[$crate::common::Fwd]| call!(generic::$first::f::<$crate::common::Fwd>, a, $idx), x);
                let (x32, x32_wide) = $crate::common::to_f32_point(x);
                let reference32 =
                    $crate::common::dual_grad(|a: &[$crate::common::Fwd]| call!(generic::$first::f::<$crate::common::Fwd>, a, $idx), &x32_wide);
                check_one!($first, $idx, x, &x32, &reference, &reference32);
                $( check_one!($f, $idx, x, &x32, &reference, &reference32); )*
            }
        }
    };
}

/// `$func(a[i], ...)` for the indices given.
#[allow(unused_macros, reason = "not every test crate has grad tests")]
macro_rules! call {
    ($func:path, $a:expr, [$($i:tt),+]) => {
        $func($($a[$i]),+)
    };
}

/// All checks of one spelling at one point: `f64`, `f32`, and the generic function at both.
#[allow(unused_macros, reason = "not every test crate has grad tests")]
macro_rules! check_one {
    ($f:ident, $idx:tt, $x:expr, $x32:expr, $reference:expr, $reference32:expr) => {{
        let x: &[f64] = $x;
        let x32: &[f32] = $x32;
        let name = stringify!($f);
        let (v, g) = call!(f64s::$f::f_grad, x, $idx);
        $crate::common::check_f64(
            &format!("f64 {name}"),
            x,
            (v, $crate::common::GradVec::to_vec(g)),
            call!(f64s::$f::f, x, $idx),
            $reference,
            |a: &[f64]| call!(f64s::$f::f, a, $idx),
        );
        let (v, g) = call!(generic::$f::f_grad::<f64>, x, $idx);
        $crate::common::check_f64(
            &format!("generic::<f64> {name}"),
            x,
            (v, $crate::common::GradVec::to_vec(g)),
            call!(generic::$f::f::<f64>, x, $idx),
            $reference,
            |a: &[f64]| call!(generic::$f::f::<f64>, a, $idx),
        );
        let (v, g) = call!(f32s::$f::f_grad, x32, $idx);
        $crate::common::check_f32(
            &format!("f32 {name}"),
            x32,
            (v, $crate::common::GradVec::to_vec(g)),
            call!(f32s::$f::f, x32, $idx),
            $reference32,
            |a: &[f32]| call!(f32s::$f::f, a, $idx),
        );
        let (v, g) = call!(generic::$f::f_grad::<f32>, x32, $idx);
        $crate::common::check_f32(
            &format!("generic::<f32> {name}"),
            x32,
            (v, $crate::common::GradVec::to_vec(g)),
            call!(generic::$f::f::<f32>, x32, $idx),
            $reference32,
            |a: &[f32]| call!(generic::$f::f::<f32>, a, $idx),
        );
    }};
}
