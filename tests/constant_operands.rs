//! Operations with one active and one or two constant operands (`x.powf(2.5)`,
//! `f64::powf(2.0, x)`, `7.0 % x`, `x.clamp(-1.0, 1.0)`, ...): the rule for each operand is
//! used alone, and literals sit on either side.
//!
//! The `f64`/`f32` functions are written with plain literals as a user writes them (one macro
//! template, instantiated twice); the generic reference versions are written separately with
//! `T::from` constants. The generic original run on `num-dual` dual numbers is the forward-mode
//! reference, and central differences the second one (see `common::grad_test!`).

#[macro_use]
mod common;

/// `def!(F; name(args) { body })`: `pub mod name { pub fn f(args: F) -> F { body } }`.
macro_rules! def {
    ($F:ident; $name:ident($($arg:ident),+) $body:block) => {
        pub mod $name {
            #[autodiff::differentiate]
            pub fn f($($arg: $F),+) -> $F $body
        }
    };
}

macro_rules! concrete {
    ($F:ident) => {
        def!($F; add_c(x) { x + 1.5 });
        def!($F; c_sub(x) { 3.0 - x });
        def!($F; mul_c(x) { x * 2.5 });
        def!($F; c_div(x) { 1.0 / x });
        def!($F; div_c(x) { x / 4.0 });
        def!($F; neg_lit(x) { -2.0 * x - -x });
        def!($F; rem_c(x) { x % 1.5 });
        def!($F; c_rem(x) { 7.0 % x });
        def!($F; powf_c(x) { x.powf(2.5) });
        def!($F; c_powf(x) { $F::powf(2.0, x) });
        def!($F; log_c(x) { x.log(3.0) });
        def!($F; c_log(x) { $F::log(10.0, x) });
        def!($F; atan2_c(x) { x.atan2(2.0) });
        def!($F; c_atan2(x) { $F::atan2(1.5, x) });
        def!($F; hypot_c(x) { x.hypot(3.0) });
        def!($F; c_hypot(x) { $F::hypot(4.0, x) });
        def!($F; max_c(x) { x.max(0.5) });
        def!($F; c_min(x) { $F::min(0.5, x) });
        def!($F; mul_add_cc(x) { x.mul_add(2.0, 1.0) });
        def!($F; c_mul_add(x) { $F::mul_add(3.0, x, 0.5) });
        def!($F; mul_add_x_c_y(x, y) { x.mul_add(0.5, y) });
        def!($F; clamp_cc(x) { x.clamp(-1.0, 1.0) });
        def!($F; c_clamp(lo, hi) { $F::clamp(0.5, lo, hi) });
    };
}

pub mod f64s {
    concrete!(f64);
}

pub mod f32s {
    concrete!(f32);
}

/// The same functions over `T: Float`.
pub mod generic {
    use num_traits::Float;

    fn c<T: Float>(v: f64) -> T {
        T::from(v).unwrap()
    }

    /// `gdef!(name(args) { body })`: `pub mod name { pub fn f<T: Float>(args: T) -> T { body } }`.
    macro_rules! gdef {
        ($name:ident($($arg:ident),+) $body:block) => {
            pub mod $name {
                #[allow(unused_imports, reason = "not every body names `c`")]
                use super::{c, Float};
                #[autodiff::differentiate]
                pub fn f<T: Float>($($arg: T),+) -> T $body
            }
        };
    }

    gdef!(add_c(x) { x + c(1.5) });
    gdef!(c_sub(x) { c::<T>(3.0) - x });
    gdef!(mul_c(x) { x * c(2.5) });
    gdef!(c_div(x) { T::one() / x });
    gdef!(div_c(x) { x / c(4.0) });
    gdef!(neg_lit(x) { c::<T>(-2.0) * x + x });
    gdef!(rem_c(x) { x % c(1.5) });
    gdef!(c_rem(x) { c::<T>(7.0) % x });
    gdef!(powf_c(x) { x.powf(c(2.5)) });
    gdef!(c_powf(x) { c::<T>(2.0).powf(x) });
    gdef!(log_c(x) { x.log(c(3.0)) });
    gdef!(c_log(x) { c::<T>(10.0).log(x) });
    gdef!(atan2_c(x) { x.atan2(c(2.0)) });
    gdef!(c_atan2(x) { c::<T>(1.5).atan2(x) });
    gdef!(hypot_c(x) { x.hypot(c(3.0)) });
    gdef!(c_hypot(x) { c::<T>(4.0).hypot(x) });
    gdef!(max_c(x) { x.max(c(0.5)) });
    gdef!(c_min(x) { c::<T>(0.5).min(x) });
    gdef!(mul_add_cc(x) { x * c(2.0) + T::one() });
    gdef!(c_mul_add(x) { c::<T>(3.0) * x + c(0.5) });
    gdef!(mul_add_x_c_y(x, y) { x * c(0.5) + y });
    gdef!(clamp_cc(x) { x.max(-T::one()).min(T::one()) });
    gdef!(c_clamp(lo, hi) { c::<T>(0.5).max(lo).min(hi) });
}

grad_test!(add_c: add_c; [0]; [-1.3], [0.4], [2.1]);
grad_test!(c_sub: c_sub; [0]; [-1.3], [0.4], [2.1]);
grad_test!(mul_c: mul_c; [0]; [-1.3], [0.4], [2.1]);
grad_test!(c_div: c_div; [0]; [-1.3], [0.4], [2.1]);
grad_test!(div_c: div_c; [0]; [-1.3], [0.4], [2.1]);
grad_test!(neg_lit: neg_lit; [0]; [-1.3], [0.4], [2.1]);
// Away from the jumps, where the quotient is an integer.
grad_test!(rem_c: rem_c; [0]; [2.0], [-4.0], [0.7]);
grad_test!(c_rem: c_rem; [0]; [2.0], [-3.0], [4.5]);
grad_test!(powf_c: powf_c; [0]; [0.3], [1.7], [4.0]);
grad_test!(c_powf: c_powf; [0]; [-1.5], [0.3], [2.2]);
grad_test!(log_c: log_c; [0]; [0.2], [1.7], [9.5]);
grad_test!(c_log: c_log; [0]; [0.3], [2.5], [7.0]);
grad_test!(atan2_c: atan2_c; [0]; [-3.0], [0.2], [1.7]);
grad_test!(c_atan2: c_atan2; [0]; [-2.0], [0.5], [3.0]);
grad_test!(hypot_c: hypot_c; [0]; [-1.5], [0.5], [2.0]);
grad_test!(c_hypot: c_hypot; [0]; [-1.5], [0.5], [2.0]);
grad_test!(max_c: max_c; [0]; [0.2], [1.7], [-3.0]);
grad_test!(c_min: c_min; [0]; [0.2], [1.7], [-3.0]);
grad_test!(mul_add_cc: mul_add_cc; [0]; [-1.3], [0.4], [2.1]);
grad_test!(c_mul_add: c_mul_add; [0]; [-1.3], [0.4], [2.1]);
grad_test!(mul_add_x_c_y: mul_add_x_c_y; [0, 1]; [-1.3, 0.5], [0.4, 2.0], [2.1, -0.7]);
grad_test!(clamp_cc: clamp_cc; [0]; [-2.0], [0.3], [2.5]);
// Inside [lo, hi] (no gradient), below lo (to lo), above hi (to hi).
grad_test!(c_clamp: c_clamp; [0, 1]; [-1.0, 1.0], [0.8, 1.0], [-1.0, 0.2]);
