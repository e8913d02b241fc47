//! Forward mode, `#[differentiate(forward)]`: `NAME_jvp(args..., tangents...)` against forward
//! mode on dual numbers (`num-dual`, running the untouched generic originals) and against the
//! reverse-mode gradient (`<grad, t>`), on straight-line code, loops, branches, a while loop
//! whose trip count depends on the input, arrays and a vector-valued function.

mod common;

use autodiff::differentiate;
use common::{assert_all_close, dual_grad, Fwd};
use num_traits::Float;

#[differentiate(forward)]
fn rosen<T: Float>(x: T, y: T) -> T {
    let a = T::one() - x;
    let b = y - x * x;
    a * a + T::from(100.0).unwrap() * b * b
}

/// A stable log-sum-exp written with loops.
#[differentiate(forward)]
fn lse<T: Float>(x: &[T]) -> T {
    let mut m = x[0];
    for &v in x.iter() {
        m = m.max(v);
    }
    let mut s = T::zero();
    for &v in x.iter() {
        s = s + (v - m).exp();
    }
    m + s.ln()
}

/// Branches inside a loop, a buffer written and read back.
#[differentiate(forward)]
#[allow(
    clippy::needless_range_loop,
    reason = "writing the buffer by index is the case tested"
)]
fn piecewise<T: Float>(x: T, n: usize) -> T {
    let mut y = x;
    let mut buf = vec![T::zero(); n];
    for i in 0..n {
        if y > T::one() {
            y = y.sqrt();
        } else {
            y = y * T::from(1.5).unwrap() + T::from(0.1).unwrap();
        }
        buf[i] = y.sin();
    }
    let mut t = T::zero();
    for &v in buf.iter() {
        t = t + v * v;
    }
    t + y.powi(3)
}

/// Newton's method for the cube root: the trip count depends on `a`.
#[differentiate(forward)]
fn cube_root<T: Float>(a: T) -> T {
    let mut x = a;
    while (x * x * x - a).abs() > T::from(1e-13).unwrap() * a.abs() {
        x = x - (x * x * x - a) / (T::from(3.0).unwrap() * x * x);
    }
    x
}

/// Vector-valued.
#[differentiate(forward)]
fn moments(x: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; 2];
    for &v in x.iter() {
        out[0] += v;
        out[1] += v.exp() * v;
    }
    out
}

fn directions(n: usize) -> Vec<Vec<f64>> {
    let mut all: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    all.push((0..n).map(|j| 0.3 - 0.17 * j as f64).collect());
    all
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn rosenbrock_matches_dual_numbers() {
    for (x, y) in [(-1.2, 1.0), (0.5, 0.3), (2.0, -1.0)] {
        let (value, grad) = dual_grad(|v: &[Fwd]| rosen(v[0], v[1]), &[x, y]);
        for t in directions(2) {
            let (v, d) = rosen_jvp(x, y, t[0], t[1]);
            assert_eq!(v.to_bits(), value.to_bits());
            assert_all_close("rosen jvp", &[d], &[dot(&grad, &t)], 1e-14, 1e-14);
        }
    }
}

#[test]
fn loops_and_arrays_match_dual_numbers() {
    let x = [0.3, -1.2, 2.5, 0.0, 1.1];
    let (_, grad) = dual_grad(|v: &[Fwd]| lse(v), &x);
    for t in directions(x.len()) {
        let (_, d) = lse_jvp(&x, &t);
        assert_all_close("lse jvp", &[d], &[dot(&grad, &t)], 1e-13, 1e-15);
    }
}

#[test]
fn branches_in_loops_and_data_dependent_trip_counts() {
    for x in [0.4, 0.95, 2.5] {
        let (_, grad) = dual_grad(|v: &[Fwd]| piecewise(v[0], 6), &[x]);
        let (_, d) = piecewise_jvp(x, 6, 1.0);
        assert_all_close("piecewise", &[d], &grad, 1e-13, 1e-15);
        let (r, d) = cube_root_jvp(x, 1.0);
        assert!((d - 1.0 / (3.0 * r * r)).abs() < 1e-10, "{d}");
        // Forward and reverse agree.
        let (_, forward) = piecewise_jvp(x, 6, 1.0);
        let (_, reverse) = piecewise_grad(x, 6);
        assert_all_close(
            "piecewise jvp vs grad",
            &[forward],
            &[reverse],
            1e-13,
            1e-15,
        );
    }
}

#[test]
fn a_vector_valued_function() {
    let x = [0.3, -1.2, 0.8];
    for t in directions(3) {
        let (value, d) = moments_jvp(&x, &t);
        assert_eq!(value, moments(&x));
        let want0: f64 = t.iter().sum();
        let want1: f64 = x
            .iter()
            .zip(&t)
            .map(|(a, b)| (a.exp() * a + a.exp()) * b)
            .sum();
        assert_all_close("moments", &d, &[want0, want1], 1e-14, 1e-15);
    }
}

// ----- tensors ---------------------------------------------------------------------------------

use autodiff::ndarray::{Array1, Array2, Axis};

#[differentiate(forward)]
fn mlp(x: &Array2<f64>, w: &Array2<f64>, b: &Array1<f64>, labels: &[usize]) -> f64 {
    let h = (x.dot(w) + b).mapv(f64::tanh);
    let p = autodiff::softmax(&h, Axis(1));
    let lp = autodiff::log_softmax(&h, Axis(0));
    autodiff::cross_entropy(&h, labels) + (&p * &p).sum_axis(Axis(0)).sum() / 3.0
        - h.mean().unwrap() * 2.0
        + (&lp * &p).sum() * 0.3
}

#[differentiate(forward)]
fn shapes(a: &Array2<f64>, v: &Array1<f64>, s: f64) -> f64 {
    let m = a.t().dot(v) / s - v.sum();
    let q = (&m * &m).mean_axis(Axis(0)).unwrap().sum();
    q + autodiff::log_sum_exp(&m) + autodiff::mse(&m, &(v * 0.5))
}

/// `powf` of an array with a constant exponent (a variable one is a compile error in forward
/// mode, which would need the elementwise term the reverse rule sums).
#[differentiate(forward, wrt(a))]
fn powers(a: &Array2<f64>, p: f64) -> f64 {
    (a * a + 1.5).powf(p).sum() + a.powf(2.0).mean().unwrap()
}

fn inner2(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    (a * b).sum()
}

#[test]
fn forward_mode_on_tensors_matches_the_reverse_gradient() {
    let x = Array2::from_shape_fn((4, 3), |(i, j)| ((i * 3 + j) as f64 * 0.37).sin());
    let w = Array2::from_shape_fn((3, 3), |(i, j)| ((i * 3 + j) as f64 * 0.71).cos() * 0.5);
    let b = Array1::from_vec(vec![0.1, -0.2, 0.05]);
    let labels = [0_usize, 2, 1, 1];
    let (value, (dx, dw, db)) = mlp_grad(&x, &w, &b, &labels);
    let tx = x.mapv(|v| (v * 3.1).sin());
    let tw = w.mapv(|v| (v * 1.7).cos());
    let tb = b.mapv(|v| v - 0.3);
    let (v2, along) = mlp_jvp(&x, &w, &b, &labels, &tx, &tw, &tb);
    assert_eq!(value.to_bits(), v2.to_bits());
    let want = inner2(&dx, &tx) + inner2(&dw, &tw) + (&db * &tb).sum();
    assert_all_close("mlp jvp", &[along], &[want], 1e-12, 1e-14);

    let a = Array2::from_shape_fn((3, 3), |(i, j)| ((i * 3 + j) as f64 * 0.53).cos());
    let v = Array1::from_vec(vec![0.4, -0.3, 0.9]);
    let (_, (da, dv, ds)) = shapes_grad(&a, &v, 1.7);
    let ta = a.mapv(|t| t * t - 0.2);
    let tv = v.mapv(|t| 1.0 - t);
    let (_, along) = shapes_jvp(&a, &v, 1.7, &ta, &tv, 0.6);
    let want = inner2(&da, &ta) + (&dv * &tv).sum() + ds * 0.6;
    assert_all_close("shapes jvp", &[along], &[want], 1e-12, 1e-14);

    let a = a.mapv(f64::abs);
    let (_, da) = powers_grad(&a, 2.5);
    let (_, along) = powers_jvp(&a, 2.5, &ta);
    assert_all_close("powers jvp", &[along], &[inner2(&da, &ta)], 1e-12, 1e-14);
}

// ----- parameter structs -----------------------------------------------------------------------

#[derive(Clone, Debug, autodiff::Tangent)]
struct Layer {
    w: Array2<f64>,
    b: Array1<f64>,
    scale: f64,
}

#[differentiate(wrt(p), forward)]
fn layer_loss(p: &Layer, x: &Array1<f64>) -> f64 {
    let h = (p.w.dot(x) + &p.b).mapv(f64::tanh);
    (&h * &h).sum() * p.scale
}

#[test]
fn forward_mode_through_a_parameter_struct() {
    use autodiff::Tangent;
    let p = Layer {
        w: Array2::from_shape_fn((2, 3), |(i, j)| ((i * 3 + j) as f64 * 0.4).sin()),
        b: Array1::from_vec(vec![0.1, -0.3]),
        scale: 1.7,
    };
    let x = Array1::from_vec(vec![0.5, -1.0, 2.0]);
    let (value, g) = layer_loss_grad(&p, &x);
    let t = Layer {
        w: p.w.mapv(|v| v.cos()),
        b: Array1::from_vec(vec![0.7, 0.2]),
        scale: -0.4,
    };
    let (v2, along) = layer_loss_jvp(&p, &x, &t);
    assert_eq!(value.to_bits(), v2.to_bits());
    assert_all_close("layer jvp", &[along], &[g.inner(&t)], 1e-12, 1e-14);
}

// ----- calls between differentiated functions -------------------------------------------------

#[differentiate(forward)]
fn square_scaled<T: Float>(x: T, k: T) -> T {
    x * x * k
}

/// Differentiated with respect to `a` only: `b` is held constant.
#[differentiate(wrt(a), forward)]
fn only_a<T: Float>(a: T, b: T) -> T {
    a.sin() * b
}

#[differentiate(forward)]
fn sum_squares<T: Float>(v: &[T]) -> T {
    let mut s = T::zero();
    for &e in v.iter() {
        s = s + e * e;
    }
    s
}

/// A `Vec` result, passed on by reference.
#[differentiate(forward)]
fn scaled_copy<T: Float>(v: &[T], c: T) -> Vec<T> {
    let mut out = vec![T::zero(); v.len()];
    for i in 0..v.len() {
        out[i] = v[i] * c;
    }
    out
}

/// Calls with float, slice and `Vec` arguments and results, a callee's `wrt` subset fed an
/// inactive value, and arguments that are and are not active.
#[differentiate(forward)]
fn composed<T: Float>(x: T, y: T, v: &[T]) -> T {
    let a = square_scaled(x, T::from(2.0).unwrap()) + square_scaled(y, x);
    let w = scaled_copy(v, x);
    let b = sum_squares(&w) + sum_squares(v);
    let c = only_a(y * x, T::from(3.0).unwrap());
    a * b + c
}

/// Recursion: `x^(n+1)`.
#[differentiate(forward)]
fn power<T: Float>(x: T, n: usize) -> T {
    if n == 0 {
        x
    } else {
        power(x, n - 1) * x
    }
}

#[test]
fn forward_mode_goes_through_calls() {
    for (x, y) in [(1.5, 0.7), (-0.4, 2.2)] {
        let v = [0.5, -1.0, 2.0];
        let mut at = vec![x, y];
        at.extend_from_slice(&v);
        let (value, grad) = dual_grad(|p: &[Fwd]| composed(p[0], p[1], &p[2..]), &at);
        for t in directions(at.len()) {
            let (val, d) = composed_jvp(x, y, &v, t[0], t[1], &t[2..]);
            assert_eq!(val.to_bits(), value.to_bits());
            assert_all_close("composed jvp", &[d], &[dot(&grad, &t)], 1e-13, 1e-14);
        }
        let (_, g) = composed_grad(x, y, &v);
        let mut reverse = vec![g.0, g.1];
        reverse.extend_from_slice(&g.2);
        assert_all_close("composed grad", &reverse, &grad, 1e-13, 1e-14);
    }
    for x in [1.3, -0.8] {
        let (_, grad) = dual_grad(|p: &[Fwd]| power(p[0], 4), &[x]);
        let (_, d) = power_jvp(x, 4, 1.0);
        assert_all_close("power jvp", &[d], &grad, 1e-14, 1e-14);
    }
}

// ----- tensors passed to differentiated callees -----------------------------------------------

#[differentiate(forward)]
fn layer(x: &Array2<f64>, w: &Array2<f64>) -> Array2<f64> {
    x.dot(w).mapv(f64::tanh)
}

#[differentiate(forward)]
fn sum_of_squares_view(v: autodiff::ndarray::ArrayView1<f64>) -> f64 {
    (&v * &v).sum()
}

#[differentiate(forward)]
fn owned_sum(v: Array1<f64>) -> f64 {
    v.mapv(f64::sin).sum()
}

/// A reference parameter passed on, a copy passed by reference, a view, an owned copy.
#[differentiate(forward)]
fn through_layers(x: &Array2<f64>, w: &Array2<f64>, h: &Array1<f64>, c: f64) -> f64 {
    let z = h * c;
    layer(x, w).sum()
        + layer(&x.to_owned(), w).mean().unwrap()
        + sum_of_squares_view(z.view())
        + sum_of_squares_view(h.view())
        + owned_sum(h.clone())
        + owned_sum(z.to_owned())
}

#[test]
fn forward_mode_passes_tensors_to_callees() {
    let x = Array2::from_shape_fn((3, 2), |(i, j)| ((i * 2 + j) as f64 * 0.41).sin());
    let w = Array2::from_shape_fn((2, 2), |(i, j)| ((i * 2 + j) as f64 * 0.67).cos() * 0.5);
    let h = Array1::from_vec(vec![0.5, -1.0, 0.25]);
    let c = 1.3;
    let (value, (dx, dw, dh, dc)) = through_layers_grad(&x, &w, &h, c);
    let tx = x.mapv(|v| (v * 2.3).cos());
    let tw = w.mapv(|v| v * v - 0.1);
    let th = h.mapv(|v| 0.2 - v);
    let (v2, along) = through_layers_jvp(&x, &w, &h, c, &tx, &tw, &th, -0.4);
    assert_eq!(value.to_bits(), v2.to_bits());
    let want = inner2(&dx, &tx) + inner2(&dw, &tw) + (&dh * &th).sum() - 0.4 * dc;
    assert_all_close("through_layers jvp", &[along], &[want], 1e-12, 1e-14);
    // The reverse gradient itself, along the same direction, against central differences.
    let at = |t: f64| {
        through_layers(
            &(&x + &(&tx * t)),
            &(&w + &(&tw * t)),
            &(&h + &(&th * t)),
            c - 0.4 * t,
        )
    };
    let step = 1e-5;
    let numeric = (at(step) - at(-step)) / (2.0 * step);
    assert_all_close(
        "through_layers differences",
        &[want],
        &[numeric],
        1e-7,
        1e-9,
    );
}

// ----- inactive data walked by reference ---------------------------------------------------

/// Active weights and inactive data walked by reference (`for v in c.iter()`, `for v in c`, a
/// `zip` with an inactive side): the data's items are references the generated code reads as
/// they are (f64: `a * v` on a `&f64`).
#[differentiate(wrt(w, y), forward)]
fn weighted_data(w: &[f64], y: f64, c: &[f64]) -> f64 {
    let mut s = y;
    for (a, v) in w.iter().zip(c.iter()) {
        s += a * v;
    }
    for v in c.iter().rev() {
        s = s * v + y * v;
        if v > &0.5 {
            s -= v * w[0];
        }
    }
    for v in c {
        s += v * s * 0.1;
    }
    s
}

/// [`weighted_data`] for the dual numbers.
fn weighted_data_reference<T: Float>(w: &[T], y: T, c: &[f64]) -> T {
    let k = |v: f64| T::from(v).unwrap();
    let mut s = y;
    for (&a, &v) in w.iter().zip(c) {
        s = s + a * k(v);
    }
    for &v in c.iter().rev() {
        s = s * k(v) + y * k(v);
        if v > 0.5 {
            s = s - k(v) * w[0];
        }
    }
    for &v in c {
        s = s + k(v) * s * k(0.1);
    }
    s
}

#[test]
fn inactive_data_walked_by_reference() {
    let c = [0.3, 0.9, -0.4];
    for (w, y) in [([0.5, -1.0, 0.25], 1.5), ([2.0, 0.1, -0.7], -0.4)] {
        let mut at = w.to_vec();
        at.push(y);
        let (value, grad) = dual_grad(|v: &[Fwd]| weighted_data_reference(&v[..3], v[3], &c), &at);
        let (v, (gw, gy)) = weighted_data_grad(&w, y, &c);
        assert_eq!(v.to_bits(), value.to_bits());
        let got: Vec<f64> = gw.iter().copied().chain([gy]).collect();
        assert_all_close("weighted_data grad", &got, &grad, 1e-13, 1e-14);
        for t in directions(4) {
            let (v, d) = weighted_data_jvp(&w, y, &c, &t[..3], t[3]);
            assert_eq!(v.to_bits(), value.to_bits());
            assert_all_close("weighted_data jvp", &[d], &[dot(&grad, &t)], 1e-13, 1e-14);
        }
    }
}
