//! Jacobians of vector-valued functions through `NAME_vjp` (one call per output row) against
//! central differences of the original functions.

use autodiff::differentiate;
use autodiff::ndarray::{array, Array1, Array2};

/// Three outputs of three inputs, built with tensor operations.
#[differentiate]
fn field(x: &Array1<f64>, w: &Array2<f64>) -> Array1<f64> {
    w.dot(x).mapv(f64::tanh) * x.sum() + x.mapv(f64::exp)
}

/// Three outputs written element by element into a local array.
#[differentiate]
fn spherical(p: &Array1<f64>) -> Array1<f64> {
    let r = p[0];
    let theta = p[1];
    let phi = p[2];
    let mut out = Array1::zeros(3);
    out[0] = r * theta.sin() * phi.cos();
    out[1] = r * theta.sin() * phi.sin();
    out[2] = r * theta.cos();
    out
}

fn differences(f: &dyn Fn(&Array1<f64>) -> Array1<f64>, x: &Array1<f64>) -> Array2<f64> {
    let m = f(x).len();
    let mut j = Array2::zeros((m, x.len()));
    for k in 0..x.len() {
        let h = 1e-6;
        let mut plus = x.clone();
        plus[k] += h;
        let mut minus = x.clone();
        minus[k] -= h;
        let column = (f(&plus) - f(&minus)) / (2.0 * h);
        j.column_mut(k).assign(&column);
    }
    j
}

#[track_caller]
fn assert_close(got: &Array2<f64>, want: &Array2<f64>) {
    assert_eq!(got.dim(), want.dim());
    for ((i, j), w) in want.indexed_iter() {
        let g = got[[i, j]];
        assert!(
            (g - w).abs() <= 1e-7 * (1.0 + w.abs()),
            "[{i}, {j}]: {g} vs {w}\n{got}\n{want}"
        );
    }
}

#[test]
fn jacobian_of_a_three_output_tensor_function() {
    let w = array![[0.5, -0.3, 0.2], [0.1, 0.4, -0.6], [-0.2, 0.3, 0.7]];
    for x in [array![0.3, -0.5, 0.8], array![1.2, 0.1, -0.4]] {
        let j = autodiff::jacobian(3, |d| field_vjp(&x, &w, d).1 .0);
        assert_close(&j, &differences(&|x| field(x, &w), &x));
        // The rows of the full vjp also carry the gradient with respect to `w`.
        let rows = autodiff::jacobian_rows(3, |d| field_vjp(&x, &w, d).1);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].1.dim(), (3, 3));
    }
}

#[test]
fn jacobian_of_an_array_written_element_by_element() {
    for p in [array![2.0, 0.7, 1.1], array![0.5, 2.0, -0.4]] {
        let (value, _) = spherical_vjp(&p, Array1::zeros(3));
        assert_eq!(value, spherical(&p));
        let j = autodiff::jacobian(3, |d| spherical_vjp(&p, d).1);
        assert_close(&j, &differences(&spherical, &p));
    }
}

/// A `Vec`-valued function written element by element.
#[differentiate]
fn moments(x: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; 3];
    for &v in x.iter() {
        out[0] += v;
        out[1] += v * v;
        out[2] += v.sin() * v;
    }
    out
}

/// An array-valued function of two scalars.
#[differentiate]
fn rotate(x: f64, t: f64) -> [f64; 2] {
    let mut out = [0.0; 2];
    out[0] = x * t.cos();
    out[1] = x * t.sin();
    out
}

#[test]
fn vec_and_array_results_through_vjp() {
    let x = [0.3, -1.2, 0.8, 2.0];
    let (value, _) = moments_vjp(&x, vec![0.0; 3]);
    assert_eq!(value, moments(&x));
    let rows = autodiff::jacobian_rows(3, |d: Array1<f64>| moments_vjp(&x, d.to_vec()).1);
    for (i, row) in rows.iter().enumerate() {
        let want = autodiff::numeric_grad(|v: &[f64]| moments(v)[i], &x, 1e-6);
        for (g, w) in row.iter().zip(&want) {
            assert!((g - w).abs() < 1e-8, "row {i}: {g} vs {w}");
        }
    }
    let (out, (dx, dt)) = rotate_vjp(2.0, 0.5, [1.0, 0.0]);
    assert_eq!(out, rotate(2.0, 0.5));
    assert!((dx - 0.5_f64.cos()).abs() < 1e-15 && (dt + 2.0 * 0.5_f64.sin()).abs() < 1e-15);
    let (_, (dx, dt)) = rotate_vjp(2.0, 0.5, [0.0, 1.0]);
    assert!((dx - 0.5_f64.sin()).abs() < 1e-15 && (dt - 2.0 * 0.5_f64.cos()).abs() < 1e-15);
}
