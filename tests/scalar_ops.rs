//! Every scalar operation `#[differentiate]` accepts, one at a time, in `f64`, `f32` and a generic
//! `T: Float`, in method form (`x.sin()`) and path form (`f64::sin(x)`, `T::sin(x)`).
//!
//! Each operation is written once as a macro template and instantiated three times: in module
//! `f64s` with `F = f64`, in `f32s` with `F = f32`, and in `generic` with `<T: Float>`. Each
//! function lives in a module of its own named after the case (`f64s::sin_m::f`), so its
//! companions are `f_grad`/`f_vjp` there.
//!
//! Every case is checked at three or more points against two references that do not involve the
//! macro: the untouched generic original run on `num-dual` dual numbers (forward mode, see
//! `common`), and central differences (`check_grad`, `GradCheck::f32`). The value of every
//! `_grad` must be bit-identical to the original function's.

#[macro_use]
mod common;

/// One differentiated function in a module of its own: `def!(GENERICS F; name(args) { body })`
/// becomes `pub mod name { pub fn f GENERICS (args: F) -> F { body } }` plus its companions.
macro_rules! def {
    ([$($g:tt)*] $F:ident; $name:ident($($arg:ident),+) $body:block) => {
        pub mod $name {
            #[allow(unused_imports, reason = "`Float` is needed by the generic instance only")]
            use super::*;
            #[autodiff::differentiate]
            pub fn f $($g)* ($($arg: $F),+) -> $F $body
        }
    };
}

/// Every case, for one float type `F` (a concrete type, or the generic parameter).
macro_rules! define_ops {
    ($gen:tt $F:ident) => {
        // Operators.
        def!($gen $F; add(x, y) { x + y });
        def!($gen $F; sub(x, y) { x - y });
        def!($gen $F; mul(x, y) { x * y });
        def!($gen $F; div(x, y) { x / y });
        def!($gen $F; rem(x, y) { x % y });
        def!($gen $F; neg(x) { -x });
        def!($gen $F; square(x) { x * x });
        def!($gen $F; cube_div(x, y) { x * x * x / (y - x) });
        def!($gen $F; neg_mix(x, y) { -(x * y) - -x });
        // Unary float methods.
        def!($gen $F; sin_m(x) { x.sin() });
        def!($gen $F; sin_p(x) { $F::sin(x) });
        def!($gen $F; cos_m(x) { x.cos() });
        def!($gen $F; cos_p(x) { $F::cos(x) });
        def!($gen $F; tan_m(x) { x.tan() });
        def!($gen $F; tan_p(x) { $F::tan(x) });
        def!($gen $F; asin_m(x) { x.asin() });
        def!($gen $F; asin_p(x) { $F::asin(x) });
        def!($gen $F; acos_m(x) { x.acos() });
        def!($gen $F; acos_p(x) { $F::acos(x) });
        def!($gen $F; atan_m(x) { x.atan() });
        def!($gen $F; atan_p(x) { $F::atan(x) });
        def!($gen $F; sinh_m(x) { x.sinh() });
        def!($gen $F; sinh_p(x) { $F::sinh(x) });
        def!($gen $F; cosh_m(x) { x.cosh() });
        def!($gen $F; cosh_p(x) { $F::cosh(x) });
        def!($gen $F; tanh_m(x) { x.tanh() });
        def!($gen $F; tanh_p(x) { $F::tanh(x) });
        def!($gen $F; asinh_m(x) { x.asinh() });
        def!($gen $F; asinh_p(x) { $F::asinh(x) });
        def!($gen $F; acosh_m(x) { x.acosh() });
        def!($gen $F; acosh_p(x) { $F::acosh(x) });
        def!($gen $F; atanh_m(x) { x.atanh() });
        def!($gen $F; atanh_p(x) { $F::atanh(x) });
        def!($gen $F; exp_m(x) { x.exp() });
        def!($gen $F; exp_p(x) { $F::exp(x) });
        def!($gen $F; exp2_m(x) { x.exp2() });
        def!($gen $F; exp2_p(x) { $F::exp2(x) });
        def!($gen $F; exp_m1_m(x) { x.exp_m1() });
        def!($gen $F; exp_m1_p(x) { $F::exp_m1(x) });
        def!($gen $F; ln_m(x) { x.ln() });
        def!($gen $F; ln_p(x) { $F::ln(x) });
        def!($gen $F; ln_1p_m(x) { x.ln_1p() });
        def!($gen $F; ln_1p_p(x) { $F::ln_1p(x) });
        def!($gen $F; log2_m(x) { x.log2() });
        def!($gen $F; log2_p(x) { $F::log2(x) });
        def!($gen $F; log10_m(x) { x.log10() });
        def!($gen $F; log10_p(x) { $F::log10(x) });
        def!($gen $F; sqrt_m(x) { x.sqrt() });
        def!($gen $F; sqrt_p(x) { $F::sqrt(x) });
        def!($gen $F; cbrt_m(x) { x.cbrt() });
        def!($gen $F; cbrt_p(x) { $F::cbrt(x) });
        def!($gen $F; recip_m(x) { x.recip() });
        def!($gen $F; recip_p(x) { $F::recip(x) });
        def!($gen $F; abs_m(x) { x.abs() });
        def!($gen $F; abs_p(x) { $F::abs(x) });
        def!($gen $F; fract_m(x) { x.fract() });
        def!($gen $F; fract_p(x) { $F::fract(x) });
        def!($gen $F; to_degrees_m(x) { x.to_degrees() });
        def!($gen $F; to_degrees_p(x) { $F::to_degrees(x) });
        def!($gen $F; to_radians_m(x) { x.to_radians() });
        def!($gen $F; to_radians_p(x) { $F::to_radians(x) });
        // Integer powers.
        def!($gen $F; powi3_m(x) { x.powi(3) });
        def!($gen $F; powi3_p(x) { $F::powi(x, 3) });
        def!($gen $F; powi_neg2_m(x) { x.powi(-2) });
        def!($gen $F; powi_neg2_p(x) { $F::powi(x, -2) });
        def!($gen $F; powi1_m(x) { x.powi(1) });
        def!($gen $F; powi1_p(x) { $F::powi(x, 1) });
        def!($gen $F; powi0_m(x, y) { x.powi(0) * y });
        def!($gen $F; powi0_p(x, y) { $F::powi(x, 0) * y });
        // Binary float methods.
        def!($gen $F; atan2_m(y, x) { y.atan2(x) });
        def!($gen $F; atan2_p(y, x) { $F::atan2(y, x) });
        def!($gen $F; powf_m(x, y) { x.powf(y) });
        def!($gen $F; powf_p(x, y) { $F::powf(x, y) });
        def!($gen $F; log_m(x, b) { x.log(b) });
        def!($gen $F; log_p(x, b) { $F::log(x, b) });
        def!($gen $F; hypot_m(x, y) { x.hypot(y) });
        def!($gen $F; hypot_p(x, y) { $F::hypot(x, y) });
        def!($gen $F; max_m(x, y) { x.max(y) });
        def!($gen $F; max_p(x, y) { $F::max(x, y) });
        def!($gen $F; min_m(x, y) { x.min(y) });
        def!($gen $F; min_p(x, y) { $F::min(x, y) });
        // Three operands.
        def!($gen $F; mul_add_m(a, b, c) { a.mul_add(b, c) });
        def!($gen $F; mul_add_p(a, b, c) { $F::mul_add(a, b, c) });
        def!($gen $F; clamp_m(x, lo, hi) { x.clamp(lo, hi) });
        def!($gen $F; clamp_p(x, lo, hi) { $F::clamp(x, lo, hi) });
        // Derivative zero: the rounding family and `signum`, times an active factor so that
        // the result still depends on both arguments.
        def!($gen $F; floor_m(x, y) { x.floor() * y + x });
        def!($gen $F; floor_p(x, y) { $F::floor(x) * y + x });
        def!($gen $F; ceil_m(x, y) { x.ceil() * y + x });
        def!($gen $F; ceil_p(x, y) { $F::ceil(x) * y + x });
        def!($gen $F; round_m(x, y) { x.round() * y + x });
        def!($gen $F; round_p(x, y) { $F::round(x) * y + x });
        def!($gen $F; trunc_m(x, y) { x.trunc() * y + x });
        def!($gen $F; trunc_p(x, y) { $F::trunc(x) * y + x });
        def!($gen $F; signum_m(x, y) { x.signum() * y + x });
        def!($gen $F; signum_p(x, y) { $F::signum(x) * y + x });
        // The same operations composed, so that adjoints flow through several nodes.
        def!($gen $F; chain(x, y) { (x.sin() * y.exp()).tanh().powi(2) + (x * y).atan() });
        def!($gen $F; chain_p(x, y) {
            $F::powi($F::tanh($F::sin(x) * $F::exp(y)), 2) + $F::atan(x * y)
        });
    };
}

pub mod f64s {
    define_ops!([] f64);
}

pub mod f32s {
    define_ops!([] f32);
}

pub mod generic {
    pub use num_traits::Float;
    define_ops!([<T: Float>] T);
}

// ----- operators --------------------------------------------------------------------------------

grad_test!(add: add; [0, 1]; [1.3, -0.7], [-2.5, 0.4], [0.25, 3.0]);
grad_test!(sub: sub; [0, 1]; [1.3, -0.7], [-2.5, 0.4], [0.25, 3.0]);
grad_test!(mul: mul; [0, 1]; [1.3, -0.7], [-2.5, 0.4], [0.25, 3.0], [0.0, 2.0]);
grad_test!(div: div; [0, 1]; [1.3, -0.7], [-2.5, 0.4], [0.25, 3.0], [0.0, 2.0]);
// Away from the jumps at integer quotients.
grad_test!(rem: rem; [0, 1]; [5.3, 2.0], [-7.25, 3.0], [2.5, -0.75], [0.4, 1.5]);
grad_test!(neg: neg; [0]; [1.3], [-2.5], [0.0]);
grad_test!(square: square; [0]; [1.3], [-2.5], [0.0]);
grad_test!(cube_div: cube_div; [0, 1]; [1.3, -0.7], [-2.5, 0.4], [0.25, 3.0]);
grad_test!(neg_mix: neg_mix; [0, 1]; [1.3, -0.7], [-2.5, 0.4], [0.25, 3.0]);

// ----- unary float methods ----------------------------------------------------------------------

grad_test!(sin: sin_m, sin_p; [0]; [0.3], [1.2], [-2.0], [0.0]);
grad_test!(cos: cos_m, cos_p; [0]; [0.3], [1.2], [-2.0], [0.0]);
grad_test!(tan: tan_m, tan_p; [0]; [0.3], [1.2], [-2.0]);
grad_test!(asin: asin_m, asin_p; [0]; [-0.6], [0.1], [0.75]);
grad_test!(acos: acos_m, acos_p; [0]; [-0.6], [0.1], [0.75]);
grad_test!(atan: atan_m, atan_p; [0]; [-3.0], [0.2], [1.7]);
grad_test!(sinh: sinh_m, sinh_p; [0]; [-1.3], [0.4], [2.1]);
grad_test!(cosh: cosh_m, cosh_p; [0]; [-1.3], [0.4], [2.1]);
grad_test!(tanh: tanh_m, tanh_p; [0]; [-1.3], [0.4], [2.1]);
grad_test!(asinh: asinh_m, asinh_p; [0]; [-2.0], [0.3], [5.0]);
grad_test!(acosh: acosh_m, acosh_p; [0]; [1.2], [2.5], [10.0]);
grad_test!(atanh: atanh_m, atanh_p; [0]; [-0.6], [0.1], [0.75]);
grad_test!(exp: exp_m, exp_p; [0]; [-1.5], [0.3], [2.2]);
grad_test!(exp2: exp2_m, exp2_p; [0]; [-1.5], [0.3], [2.2]);
grad_test!(exp_m1: exp_m1_m, exp_m1_p; [0]; [-1.5], [0.3], [2.2], [1e-3]);
grad_test!(ln: ln_m, ln_p; [0]; [0.2], [1.7], [9.5]);
grad_test!(ln_1p: ln_1p_m, ln_1p_p; [0]; [-0.5], [0.3], [4.0], [1e-3]);
grad_test!(log2: log2_m, log2_p; [0]; [0.2], [1.7], [9.5]);
grad_test!(log10: log10_m, log10_p; [0]; [0.2], [1.7], [9.5]);
grad_test!(sqrt: sqrt_m, sqrt_p; [0]; [0.2], [1.7], [9.5]);
grad_test!(cbrt: cbrt_m, cbrt_p; [0]; [0.2], [1.7], [9.5], [-3.4]);
grad_test!(recip: recip_m, recip_p; [0]; [-2.0], [0.5], [3.0]);
// Away from the kink at 0 (the kink is in tests/semantics.rs).
grad_test!(abs: abs_m, abs_p; [0]; [-1.5], [0.7], [3.0]);
// Away from the jumps at integers: derivative 1.
grad_test!(fract: fract_m, fract_p; [0]; [-1.3], [0.4], [2.7]);
grad_test!(to_degrees: to_degrees_m, to_degrees_p; [0]; [-1.3], [0.4], [2.7]);
grad_test!(to_radians: to_radians_m, to_radians_p; [0]; [-130.0], [40.0], [270.5]);

// ----- integer powers ---------------------------------------------------------------------------

grad_test!(powi3: powi3_m, powi3_p; [0]; [-1.7], [0.6], [2.3], [0.0]);
grad_test!(powi_neg2: powi_neg2_m, powi_neg2_p; [0]; [-1.7], [0.6], [2.3]);
grad_test!(powi1: powi1_m, powi1_p; [0]; [-1.7], [0.6], [2.3]);
grad_test!(powi0: powi0_m, powi0_p; [0, 1]; [-1.7, 0.5], [0.6, -2.0], [2.3, 3.0]);

// ----- binary float methods ---------------------------------------------------------------------

// Away from the branch cut (negative x axis) and the origin.
grad_test!(atan2: atan2_m, atan2_p; [0, 1]; [1.0, 2.0], [-0.5, -1.5], [2.0, -0.3], [-1.0, 0.5]);
grad_test!(powf: powf_m, powf_p; [0, 1]; [2.0, 1.5], [0.7, -2.3], [3.1, 0.5], [1.5, 3.0]);
grad_test!(log: log_m, log_p; [0, 1]; [2.5, 3.0], [0.4, 10.0], [7.0, 0.5]);
grad_test!(hypot: hypot_m, hypot_p; [0, 1]; [3.0, 4.0], [-1.5, 0.5], [0.2, -2.0]);
// Away from ties (the tie rule is in tests/semantics.rs).
grad_test!(max: max_m, max_p; [0, 1]; [1.5, -0.3], [-2.0, 0.7], [0.25, 0.5]);
grad_test!(min: min_m, min_p; [0, 1]; [1.5, -0.3], [-2.0, 0.7], [0.25, 0.5]);

// ----- three operands ---------------------------------------------------------------------------

grad_test!(mul_add: mul_add_m, mul_add_p; [0, 1, 2]; [1.5, -2.0, 0.3], [-0.7, 0.4, 2.0], [3.0, 2.5, -1.0]);
// Below, inside and above the interval (the ends are in tests/semantics.rs).
grad_test!(clamp: clamp_m, clamp_p; [0, 1, 2]; [-2.0, -1.0, 1.0], [0.3, -1.0, 1.0], [2.5, -1.0, 1.0], [0.3, 0.1, 0.7]);

// ----- derivative zero --------------------------------------------------------------------------
// Points whose central-difference stencil (x ± 2h, h = 0.041 max(1, |x|) in f32) stays clear of
// the jumps.

grad_test!(floor: floor_m, floor_p; [0, 1]; [-1.3, 0.5], [0.4, -2.0], [2.75, 3.0]);
grad_test!(ceil: ceil_m, ceil_p; [0, 1]; [-1.3, 0.5], [0.4, -2.0], [2.75, 3.0]);
grad_test!(round: round_m, round_p; [0, 1]; [-1.3, 0.5], [0.4, -2.0], [2.75, 3.0]);
grad_test!(trunc: trunc_m, trunc_p; [0, 1]; [-1.3, 0.5], [0.4, -2.0], [2.75, 3.0]);
grad_test!(signum: signum_m, signum_p; [0, 1]; [-1.3, 0.5], [0.4, -2.0], [2.75, 3.0]);

// ----- compositions -----------------------------------------------------------------------------

grad_test!(chain: chain, chain_p; [0, 1]; [0.3, -0.2], [-1.1, 0.4], [2.0, 0.1]);

// ----- products with a repeated factor ----------------------------------------------------------
// `(c * x) * x` with `c` constant gets one reverse contribution, `m (d + d)` for `m = c * x`
// (the reverse sweep's scaled squares): every order of the factors, a constant that is an
// expression, a product nested in another, an inner product used twice (left as two
// contributions), and an inner product made before the loop that multiplies it.

#[autodiff::differentiate(wrt(x, y))]
fn scaled_squares<T: num_traits::Float>(x: T, y: T, c: T) -> T {
    let k = c * c - c;
    let a = c * x * x;
    let b = x * c * x;
    let e = y * (k * y);
    let f = x * (y * c) * y;
    let m = y * c;
    let g = m * y + m;
    let h = (x * k) * y * y;
    a + b - e + f * g + h
}

#[autodiff::differentiate(wrt(x))]
fn scaled_in_loop<T: num_traits::Float>(x: &[T], c: T) -> T {
    let x0 = x[0];
    let m = c * x0;
    let mut s = T::zero();
    for &v in x {
        let b = v - x0;
        s = s + m * x0 + c * b * b + v * c * v;
    }
    s
}

#[autodiff::differentiate]
fn scaled_literals(x: f64, y: f64) -> f64 {
    let b = y - x * x;
    (1.0 - x) * (1.0 - x) + 100.0 * b * b + x * 0.5 * x
}

#[autodiff::differentiate]
fn scaled_literals_f32(x: f32, y: f32) -> f32 {
    let b = y - x * x;
    (1.0 - x) * (1.0 - x) + 100.0 * b * b + x * 0.5 * x
}

#[test]
fn products_with_a_repeated_factor() {
    use common::{dual_grad, Fwd};
    for (x, y, c) in [(1.3, -0.7, 2.5), (-2.5, 0.4, -0.3), (0.25, 3.0, 1.7)] {
        let (v, (gx, gy)) = scaled_squares_grad(x, y, c);
        let (want_v, want) =
            dual_grad(|p: &[Fwd]| scaled_squares(p[0], p[1], Fwd::cst(c)), &[x, y]);
        assert_eq!(v.to_bits(), want_v.to_bits(), "scaled_squares value");
        common::assert_all_close("scaled_squares", &[gx, gy], &want, 1e-14, 1e-14);

        let xs = [x, y, c, x * y];
        let (_, g) = scaled_in_loop_grad(&xs, c);
        let want = dual_grad(|p: &[Fwd]| scaled_in_loop(p, Fwd::cst(c)), &xs).1;
        common::assert_all_close("scaled_in_loop", &g, &want, 1e-14, 1e-14);

        let generic = |p: &[Fwd]| {
            let b = p[1] - p[0] * p[0];
            let one = Fwd::cst(1.0);
            (one - p[0]) * (one - p[0]) + Fwd::cst(100.0) * b * b + p[0] * Fwd::cst(0.5) * p[0]
        };
        let reference = dual_grad(generic, &[x, y]);
        let (v, (gx, gy)) = scaled_literals_grad(x, y);
        common::check_f64(
            "scaled_literals",
            &[x, y],
            (v, vec![gx, gy]),
            scaled_literals(x, y),
            &reference,
            |a: &[f64]| scaled_literals(a[0], a[1]),
        );
        let (x32, wide) = common::to_f32_point(&[x, y]);
        let reference = dual_grad(generic, &wide);
        let (v, (gx, gy)) = scaled_literals_f32_grad(x32[0], x32[1]);
        common::check_f32(
            "scaled_literals_f32",
            &x32,
            (v, vec![gx, gy]),
            scaled_literals_f32(x32[0], x32[1]),
            &reference,
            |a: &[f32]| scaled_literals_f32(a[0], a[1]),
        );
    }
}

/// `atan2` of a point so near the origin or so far from it that `x² + y²` underflows to zero or
/// overflows: the gradient `(y, -x) / (x² + y²)` is still finite (it was NaN, or zero, from the
/// squares), in reverse mode, forward mode and the HVP's gradient. `t.atan2(t)` is constant: its
/// derivative is exactly zero at any scale.
#[autodiff::differentiate(forward)]
fn angle<T: num_traits::Float>(x: T, y: T) -> T {
    x.atan2(y) + y.atan2(y)
}

#[test]
fn atan2_far_from_and_near_the_origin() {
    for scale in [1e-200_f64, 1e-160, 1.0, 1e160, 1e200] {
        let (x, y) = (3.0 * scale, -4.0 * scale);
        // (y, -x) / (x² + y²), with the squares taken on the unscaled point: exact here.
        let want = [-4.0 / (25.0 * scale), -3.0 / (25.0 * scale)];
        let (value, (gx, gy)) = angle_grad(x, y);
        assert_eq!(value.to_bits(), angle(x, y).to_bits());
        common::assert_all_close(
            &format!("angle at scale {scale:e}"),
            &[gx, gy],
            &want,
            1e-15,
            0.0,
        );
        let (_, along_x) = angle_jvp(x, y, 1.0, 0.0);
        let (_, along_y) = angle_jvp(x, y, 0.0, 1.0);
        common::assert_all_close("angle_jvp", &[along_x, along_y], &want, 1e-15, 0.0);
        let (_, g, _) = angle_hvp(x, y, 1.0, 0.0);
        assert_eq!((g.0.to_bits(), g.1.to_bits()), (gx.to_bits(), gy.to_bits()));
    }
}
