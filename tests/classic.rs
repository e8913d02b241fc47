//! Classic optimisation test functions: Rosenbrock, Himmelblau, Beale, Booth and Ackley (2-D).
//!
//! Each is written twice: once as a user writes it with float literals, instantiated for `f64`
//! (module `f64s`) and `f32` (module `f32s`); and once generically over `T: Float` with
//! `T::from(..)` constants (module `generic`), which is both differentiated by the macro and,
//! untouched, run on `num-dual` dual numbers as the forward-mode reference. Every function is
//! checked at several points against that reference and against central differences, and the
//! `f64` ones against their gradients worked out by hand.

#[macro_use]
mod common;

use common::{assert_all_close, F64_ABS, F64_REL};

/// The functions as a user writes them, for one concrete float type.
macro_rules! classic {
    ($F:ident) => {
        use autodiff::differentiate;

        pub mod rosenbrock {
            use super::*;
            /// `(1 - x)² + 100 (y - x²)²`.
            #[differentiate]
            pub fn f(x: $F, y: $F) -> $F {
                let a = 1.0 - x;
                let b = y - x * x;
                a * a + 100.0 * b * b
            }
        }

        pub mod himmelblau {
            use super::*;
            /// `(x² + y - 11)² + (x + y² - 7)²`.
            #[differentiate]
            pub fn f(x: $F, y: $F) -> $F {
                let a = x * x + y - 11.0;
                let b = x + y * y - 7.0;
                a * a + b * b
            }
        }

        pub mod beale {
            use super::*;
            /// `(1.5 - x + x y)² + (2.25 - x + x y²)² + (2.625 - x + x y³)²`.
            #[differentiate]
            pub fn f(x: $F, y: $F) -> $F {
                let a = 1.5 - x + x * y;
                let b = 2.25 - x + x * y.powi(2);
                let c = 2.625 - x + x * y.powi(3);
                a * a + b * b + c * c
            }
        }

        pub mod booth {
            use super::*;
            /// `(x + 2y - 7)² + (2x + y - 5)²`.
            #[differentiate]
            pub fn f(x: $F, y: $F) -> $F {
                (x + 2.0 * y - 7.0).powi(2) + $F::powi(2.0 * x + y - 5.0, 2)
            }
        }

        pub mod ackley {
            use super::*;
            /// `-20 exp(-0.2 √(½(x² + y²))) - exp(½(cos 2πx + cos 2πy)) + e + 20`.
            #[differentiate]
            pub fn f(x: $F, y: $F) -> $F {
                use std::$F::consts::{E, PI};
                let r = (0.5 * (x * x + y * y)).sqrt();
                let c = 0.5 * ((2.0 * PI * x).cos() + $F::cos(2.0 * PI * y));
                -20.0 * (-0.2 * r).exp() - c.exp() + E + 20.0
            }
        }
    };
}

pub mod f64s {
    classic!(f64);
}

pub mod f32s {
    classic!(f32);
}

/// The same functions over `T: Float`, with `T::from` constants.
pub mod generic {
    pub mod rosenbrock {
        use num_traits::Float;
        #[autodiff::differentiate]
        pub fn f<T: Float>(x: T, y: T) -> T {
            let hundred = T::from(100.0).unwrap();
            (T::one() - x).powi(2) + hundred * (y - x.powi(2)).powi(2)
        }
    }

    pub mod himmelblau {
        use num_traits::Float;
        #[autodiff::differentiate]
        pub fn f<T: Float>(x: T, y: T) -> T {
            let c11 = T::from(11.0).unwrap();
            let c7 = T::from(7.0).unwrap();
            (x * x + y - c11).powi(2) + (x + y * y - c7).powi(2)
        }
    }

    pub mod beale {
        use num_traits::Float;
        #[autodiff::differentiate]
        pub fn f<T: Float>(x: T, y: T) -> T {
            let c = |v: f64| T::from(v).unwrap();
            let a = c(1.5) - x + x * y;
            let b = c(2.25) - x + x * y * y;
            let d = c(2.625) - x + x * y * y * y;
            a * a + b * b + d * d
        }
    }

    pub mod booth {
        use num_traits::Float;
        #[autodiff::differentiate]
        pub fn f<T: Float>(x: T, y: T) -> T {
            let two = T::from(2).unwrap();
            let a = x + two * y - T::from(7).unwrap();
            let b = two * x + y - T::from(5).unwrap();
            a * a + b * b
        }
    }

    pub mod ackley {
        use num_traits::Float;
        #[autodiff::differentiate]
        pub fn f<T: Float>(x: T, y: T) -> T {
            let c = |v: f64| T::from(v).unwrap();
            let two_pi = c(2.0 * std::f64::consts::PI);
            let r = T::sqrt(c(0.5) * (x * x + y * y));
            let s = c(0.5) * (T::cos(two_pi * x) + T::cos(two_pi * y));
            c(-20.0) * T::exp(c(-0.2) * r) - s.exp() + c(std::f64::consts::E) + c(20.0)
        }
    }
}

// The points: Rosenbrock's classic start, points in each quadrant, and away from the minima
// (where the gradient vanishes and only absolute errors mean anything). Ackley is not
// differentiable at its minimum, the origin.
grad_test!(rosenbrock: rosenbrock; [0, 1];
    [-1.2, 1.0], [0.5, -0.3], [2.0, 2.5], [-0.7, -1.4], [1.1, 1.3]);
grad_test!(himmelblau: himmelblau; [0, 1];
    [0.0, 0.0], [1.0, -1.5], [-2.5, 2.0], [4.0, 3.2], [-3.0, -3.5]);
grad_test!(beale: beale; [0, 1];
    [1.0, 1.0], [2.0, 0.3], [-1.5, 0.8], [0.5, -1.2]);
grad_test!(booth: booth; [0, 1];
    [0.0, 0.0], [-2.0, 4.5], [3.5, -1.0], [1.25, 2.75]);
grad_test!(ackley: ackley; [0, 1];
    [0.3, -0.2], [-0.45, 0.7], [0.9, 0.15], [-0.6, -0.8]);

/// Rosenbrock's gradient by hand: `(-2(1 - x) - 400 x (y - x²), 200 (y - x²))`; at the classic
/// start `(-1.2, 1)` it is `(-215.6, -88)` and the value `24.2`.
#[test]
fn rosenbrock_by_hand() {
    let (v, (dx, dy)) = f64s::rosenbrock::f_grad(-1.2, 1.0);
    assert_all_close("value", &[v], &[24.2], F64_REL, F64_ABS);
    assert_all_close("gradient", &[dx, dy], &[-215.6, -88.0], F64_REL, F64_ABS);
    for &(x, y) in &[(0.5, -0.3), (2.0, 2.5), (-0.7, -1.4)] {
        let (_, (dx, dy)) = f64s::rosenbrock::f_grad(x, y);
        let b = y - x * x;
        let want = [-2.0 * (1.0 - x) - 400.0 * x * b, 200.0 * b];
        assert_all_close("gradient", &[dx, dy], &want, F64_REL, F64_ABS);
    }
}

/// Himmelblau's four minima have gradient zero; elsewhere
/// `(4x(x² + y - 11) + 2(x + y² - 7), 2(x² + y - 11) + 4y(x + y² - 7))`.
#[test]
fn himmelblau_by_hand() {
    let (v, (dx, dy)) = f64s::himmelblau::f_grad(3.0, 2.0);
    assert_eq!((v, dx, dy), (0.0, 0.0, 0.0), "(3, 2) is an exact minimum");
    for &(x, y) in &[(1.0, -1.5), (-2.5, 2.0), (4.0, 3.2)] {
        let (_, (dx, dy)) = f64s::himmelblau::f_grad(x, y);
        let (a, b) = (x * x + y - 11.0, x + y * y - 7.0);
        let want = [4.0 * x * a + 2.0 * b, 2.0 * a + 4.0 * y * b];
        assert_all_close("gradient", &[dx, dy], &want, F64_REL, F64_ABS);
    }
}

/// Booth's minimum `(1, 3)` has gradient zero; elsewhere
/// `(2(x + 2y - 7) + 4(2x + y - 5), 4(x + 2y - 7) + 2(2x + y - 5))`.
#[test]
fn booth_by_hand() {
    let (v, (dx, dy)) = f64s::booth::f_grad(1.0, 3.0);
    assert_eq!((v, dx, dy), (0.0, 0.0, 0.0));
    for &(x, y) in &[(-2.0, 4.5), (3.5, -1.0), (0.0, 0.0)] {
        let (_, (dx, dy)) = f64s::booth::f_grad(x, y);
        let (a, b) = (x + 2.0 * y - 7.0, 2.0 * x + y - 5.0);
        let want = [2.0 * a + 4.0 * b, 4.0 * a + 2.0 * b];
        assert_all_close("gradient", &[dx, dy], &want, F64_REL, F64_ABS);
    }
}

/// Beale's minimum `(3, 0.5)` has gradient zero (all three residuals vanish exactly there).
#[test]
fn beale_minimum() {
    let (v, (dx, dy)) = f64s::beale::f_grad(3.0, 0.5);
    assert_eq!((v, dx, dy), (0.0, 0.0, 0.0));
}

/// Ackley is symmetric: `∂f/∂x (a, b) = ∂f/∂y (b, a)`, and odd in each coordinate's gradient:
/// `∂f/∂x (-a, b) = -∂f/∂x (a, b)`.
#[test]
fn ackley_symmetries() {
    for &(a, b) in &[(0.3, -0.2), (1.7, 0.4), (-2.2, 0.05)] {
        let (_, (dx, _)) = f64s::ackley::f_grad(a, b);
        let (_, (_, dy_swapped)) = f64s::ackley::f_grad(b, a);
        let (_, (dx_neg, _)) = f64s::ackley::f_grad(-a, b);
        assert_all_close("symmetry", &[dy_swapped], &[dx], F64_REL, F64_ABS);
        assert_all_close("oddness", &[-dx_neg], &[dx], F64_REL, F64_ABS);
    }
}
