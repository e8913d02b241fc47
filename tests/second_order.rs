//! Second order: `NAME_hvp`, the Hessian-vector product by forward over reverse (the generated
//! reverse pass run on `autodiff::__private::Dual` numbers), against the analytic Hessian of
//! Rosenbrock and against central differences of the generated gradient elsewhere.

mod common;

use autodiff::differentiate;
use common::gradient_differences;
use num_traits::Float;

#[differentiate]
fn rosen<T: Float>(x: T, y: T) -> T {
    let a = T::one() - x;
    let b = y - x * x;
    a * a + T::from(100.0).unwrap() * b * b
}

/// Extended Rosenbrock over a slice: loops, element reads.
#[differentiate]
fn ext_rosen<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..x.len() - 1 {
        let a = T::one() - x[i];
        let b = x[i + 1] - x[i] * x[i];
        s = s + a * a + T::from(100.0).unwrap() * b * b;
    }
    s
}

/// A log-sum-exp with a branch and a scale that is held constant.
#[differentiate(wrt(x))]
fn soft<T: Float>(x: &[T], scale: T) -> T {
    let mut m = x[0];
    for &v in x.iter() {
        if v > m {
            m = v;
        }
    }
    let mut s = T::zero();
    for &v in x.iter() {
        s = s + ((v - m) * scale).exp();
    }
    m + s.ln() / scale
}

#[test]
fn rosenbrock_hvp_is_the_analytic_hessian_times_v() {
    for (x, y) in [(-1.2_f64, 1.0_f64), (1.0, 1.0), (0.3, -0.4)] {
        let h = [
            [1200.0 * x * x - 400.0 * y + 2.0, -400.0 * x],
            [-400.0 * x, 200.0],
        ];
        for (vx, vy) in [(1.0, 0.0), (0.0, 1.0), (0.6, -0.8)] {
            let (value, (gx, gy), (hx, hy)) = rosen_hvp(x, y, vx, vy);
            assert_eq!(value.to_bits(), rosen(x, y).to_bits());
            assert_eq!((gx, gy), rosen_grad(x, y).1);
            let want = [h[0][0] * vx + h[0][1] * vy, h[1][0] * vx + h[1][1] * vy];
            assert!(
                (hx - want[0]).abs() <= 1e-10 * (1.0 + want[0].abs()),
                "{hx} {}",
                want[0]
            );
            assert!(
                (hy - want[1]).abs() <= 1e-10 * (1.0 + want[1].abs()),
                "{hy} {}",
                want[1]
            );
        }
    }
}

#[test]
fn hvp_through_loops_and_branches_matches_differences_of_the_gradient() {
    let x = [0.3, -1.2, 0.8, 1.5, 0.9];
    let v = [0.5, 0.1, -0.7, 0.2, 0.4];
    let (_, g, hv) = ext_rosen_hvp(&x, &v);
    assert_eq!(g, ext_rosen_grad(&x).1);
    let want = gradient_differences(&|p| ext_rosen_grad(p).1, &x, &v);
    for (a, b) in hv.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{hv:?}\n{want:?}");
    }
    let (_, _, hv) = soft_hvp(&x, 2.0, &v);
    let want = gradient_differences(&|p| soft_grad(p, 2.0).1, &x, &v);
    for (a, b) in hv.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{hv:?}\n{want:?}");
    }
}

#[test]
fn dense_hessians_of_scalars_and_of_a_slice() {
    let (value, h) = rosen_hessian(-1.2_f64, 1.0);
    assert_eq!(value, rosen(-1.2, 1.0));
    let want = [[1200.0 * 1.44 - 400.0 + 2.0, 480.0], [480.0, 200.0]];
    for i in 0..2 {
        for j in 0..2 {
            assert!((h[i][j] - want[i][j]).abs() < 1e-9, "{h:?}");
        }
    }
    let x = [0.3, -1.2, 0.8, 1.5];
    let (_, h) = ext_rosen_hessian(&x);
    assert_eq!(h.len(), 4);
    for (k, row) in h.iter().enumerate() {
        let mut e = [0.0; 4];
        e[k] = 1.0;
        let want = gradient_differences(&|p| ext_rosen_grad(p).1, &x, &e);
        for (a, b) in row.iter().zip(&want) {
            assert!(
                (a - b).abs() <= 1e-6 * (1.0 + b.abs()),
                "row {k}: {row:?} vs {want:?}"
            );
        }
        for (j, &hkj) in row.iter().enumerate() {
            assert!((hkj - h[j][k]).abs() < 1e-12, "symmetric");
        }
    }
}

/// Generic functions dual numbers cannot stand in for get no `NAME_hvp`, and still compile: an
/// ndarray argument, and a bound dual numbers do not have.
#[differentiate]
fn generic_tensor<T: Float + autodiff::ndarray::ScalarOperand>(
    x: &autodiff::ndarray::Array1<T>,
    s: T,
) -> T {
    (x * s).sum()
}

trait Unit {}
impl Unit for f64 {}

#[differentiate]
fn extra_bound<T: Float + Unit>(x: T) -> T {
    x * x
}

#[test]
fn generic_functions_without_an_hvp_still_differentiate() {
    let x = autodiff::ndarray::Array1::from_vec(vec![1.0, 2.0]);
    let (_, (dx, ds)) = generic_tensor_grad(&x, 3.0);
    assert_eq!((dx.to_vec(), ds), (vec![3.0, 3.0], 3.0));
    assert_eq!(extra_bound_grad(3.0), (9.0, 6.0));
}

/// `T: Float + NumAssign` (or `+ AddAssign`), what generic code with `+=` needs: dual numbers
/// have those operations, so such a function gets `NAME_hvp` too (it got none).
#[differentiate]
fn with_compound_assignment<T: Float + num_traits::NumAssign>(x: &[T], b: T) -> T {
    let mut s = T::zero();
    for &v in x {
        s += v * v * b;
        s *= T::from(0.5).unwrap();
    }
    s
}

#[differentiate]
fn with_add_assign<T>(x: T, y: T) -> T
where
    T: Float + std::ops::AddAssign,
{
    let mut s = x * y;
    s += y * y * x;
    s
}

#[test]
fn compound_assignment_bounds_get_an_hvp() {
    let x = [0.5, -1.5, 2.0];
    let (v, (gx, gb), (hx, hb)) = with_compound_assignment_hvp(&x, 1.5, &[0.0, 1.0, 0.0], 0.0);
    assert_eq!(v, with_compound_assignment(&x, 1.5));
    assert_eq!((gx.clone(), gb), with_compound_assignment_grad(&x, 1.5).1);
    // s = Σ_i b x_i² 0.5^(n - i): along e_1, H e_1 = (0, 2 b 0.5², 0; 2 x_1 0.5²).
    assert_eq!(hx, vec![0.0, 2.0 * 1.5 * 0.25, 0.0]);
    assert_eq!(hb, 2.0 * -1.5 * 0.25);
    // x y + x y²: H = [[0, 1 + 2y], [1 + 2y, 2x]].
    let (_, _, (h1, h2)) = with_add_assign_hvp(2.0, 3.0, 1.0, 0.0);
    assert_eq!((h1, h2), (0.0, 7.0));
    let (_, _, (h1, h2)) = with_add_assign_hvp(2.0, 3.0, 0.0, 1.0);
    assert_eq!((h1, h2), (7.0, 4.0));
}
