//! Arrays as whole values: literals of active values (`[a, b, c]`, `[x; 3]`, `vec![a, b]`) as
//! locals, inside loops, nested, and as the returned value; whole arrays chosen by a branch or
//! returned early; the ends `*x.first().unwrap()`, `x.last().copied().unwrap()`; and loops over
//! `x.windows(k)` and `x.chunks(k)`. Each function is written once, generic over
//! `T: Float`, and checked against forward-mode dual numbers (`num-dual`, through
//! `common::Fwd`) and central differences; the value bit for bit against the original.

#![allow(
    clippy::needless_range_loop,
    clippy::useless_vec,
    clippy::redundant_closure,
    reason = "index loops and `vec!` literals are what these tests differentiate; each closure is instantiated at two types"
)]

mod common;

use autodiff::differentiate;
use common::{
    assert_all_close, c, check_with_dual as check, dual_grad, gradient_differences, Fwd, GradVec,
    F64_ABS, F64_REL,
};
use num_traits::Float;

/// `|a × b|`: the cross product as an array literal, then iterated by value.
#[differentiate(forward)]
fn cross_norm<T: Float>(a: [T; 3], b: [T; 3]) -> T {
    let cross = [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ];
    let mut s = T::zero();
    for v in cross {
        s = s + v * v;
    }
    s.sqrt()
}

/// Literals mixing active and constant elements, `vec!` literals, and a repeat `[x; 4]`
/// written in place afterwards.
#[differentiate(forward)]
fn mixed<T: Float>(x: T, y: T) -> T {
    let p = [x, y, c(1.0), x * y];
    let w = vec![y.sin(), c(2.0), x];
    let mut r = [x; 4];
    r[1] = r[1] * c(2.0);
    r[3] = r[3] + p[3];
    let q = vec![y * x; 2];
    let mut s = p[3] * q[1];
    for i in 0..3 {
        s = s + p[i] * w[i];
    }
    for v in &r {
        s = s + *v * *v;
    }
    s
}

/// A 2×2 matrix as nested literals: its determinant.
#[differentiate]
fn det2<T: Float>(x: T, y: T) -> T {
    let m = [[x, y], [y * y, c(1.5)]];
    m[0][0] * m[1][1] - m[0][1] * m[1][0]
}

/// A literal made in every iteration of a loop that sums into the result (the loop whose
/// reverse runs iteration by iteration, inside the forward loop).
#[differentiate]
fn pairs<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..x.len() - 1 {
        let pair = [x[i], x[i + 1] * x[i]];
        s = s + pair[0] * pair[1];
    }
    s
}

/// The same literal in a loop whose reverse runs backwards over a tape.
#[differentiate]
fn pairs_carried<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..x.len() - 1 {
        let pair = vec![x[i].sin(), x[i + 1]];
        s = s * c(0.5) + pair[0] * pair[1];
    }
    s
}

/// An array literal as the result: `NAME_vjp` takes a cotangent of the same type.
#[differentiate]
fn products<T: Float>(x: [T; 3]) -> [T; 3] {
    [x[0] * x[1], x[1] * x[2].exp(), c::<T>(2.0) * x[0]]
}

/// A `vec!` literal as the result.
#[differentiate]
fn powers<T: Float>(x: T) -> Vec<T> {
    vec![x, x * x, c(3.0), x.powi(3)]
}

/// Loops straight over literals (by value, `.iter()`, `&[..]`), a literal destructured by
/// `let [a, b] = [..]`, and a literal indexed where it is written.
#[differentiate]
fn walked<T: Float>(x: T, y: T, z: T, k: usize) -> T {
    let mut s = T::zero();
    for v in [x, y, z] {
        s = s + v.exp();
    }
    for v in [x * y, z].iter() {
        s = s + *v * c(2.0);
    }
    for &v in &[y, z] {
        s = s - v * v;
    }
    let [a, _, b] = [x * z, y.sin(), y];
    s + a * b + [x, y, x * y][k % 3] * [z; 2][1]
}

/// The same on `f64`, which gets `NAME_hvp` through a generic copy of the body.
#[differentiate]
fn walked_f64(x: f64, y: f64, z: f64) -> f64 {
    let mut s = 0.0;
    for v in [x, y * z, z] {
        s += v * v.sin();
    }
    for &v in &[x * y, z] {
        s += v.exp();
    }
    let [a, b] = [x * z, y];
    s + a * b
}

/// A callee over a slice.
#[differentiate]
fn norm<T: Float>(v: &[T]) -> T {
    let mut s = T::zero();
    for &x in v {
        s = s + x * x;
    }
    s.sqrt()
}

/// Literals passed to a differentiated callee.
#[differentiate]
fn norms<T: Float>(x: T, y: T) -> T {
    norm(&[x, y * c(2.0)]) + norm(&vec![x.sin(), c(1.0), y])
}

/// An array parameter chosen by a branch (the adjoint of the chosen array was never declared:
/// the expansion did not compile).
#[differentiate]
fn choose<T: Float>(x: [T; 2], y: [T; 2]) -> T {
    let v = if x[0] > y[0] { x } else { y };
    v[0] * v[1].sin()
}

/// Literals chosen by a branch, then written (the merged array is a `mut` binding), a whole
/// array assigned in a branch, and a branch's array in a loop.
#[differentiate(forward)]
fn chosen_literals<T: Float>(x: T, y: T) -> T {
    let mut v = if x > y { [x, y * c(2.0)] } else { [y, x * x] };
    v[1] = v[1] * v[0];
    let mut w = [x, y];
    if x > c(0.0) {
        w = [y * y, x];
    }
    let mut s = v[0] + v[1].sin() + w[0] * w[1];
    for i in 0..3 {
        let p = if i % 2 == 0 { [x, c(1.0)] } else { [y * y, x] };
        s = s * c(0.5) + p[0] * p[1];
    }
    s
}

/// An early `return` of a fixed array (its result started from `return_start`, which was a
/// float's zero: the expansion did not compile).
#[differentiate]
fn early_array<T: Float>(x: T) -> [T; 2] {
    if x < T::zero() {
        return [x, -x * x];
    }
    [x.sin(), x]
}

/// The same with a `Vec` and with an ndarray array.
#[differentiate]
fn early_vec(x: f64) -> Vec<f64> {
    if x < 0.0 {
        return vec![x; 3];
    }
    vec![x * x, 1.0, x.exp()]
}

#[differentiate]
fn early_tensor(x: &ndarray::Array1<f64>, c: f64) -> ndarray::Array1<f64> {
    if c > 0.0 {
        return x.mapv(f64::exp) * c;
    }
    x * 2.0
}

/// The ends of a slice through `Option` (`first`, `last`, with `*`, `copied`, `cloned`,
/// `expect`): the element reads they are.
#[differentiate]
fn ends<T: Float>(x: &[T]) -> T {
    let a = *x.last().unwrap();
    let b = x.first().copied().unwrap();
    let c = x.last().cloned().expect("not empty");
    a * b + c.sin() * *x.first().unwrap()
}

/// Total variation and a weighted moving sum over `windows`, products over `chunks` (the
/// last one shorter): loops over positions, `w[j]` read as `x[i + j]`.
#[differentiate]
fn windowed<T: Float>(x: &[T], k: usize) -> T {
    let mut s = T::zero();
    for w in x.windows(2) {
        s = s + (w[1] - w[0]).powi(2);
    }
    for w in x.windows(k) {
        let mut m = T::zero();
        for j in 0..w.len() {
            m = m + w[j] * c(j as f64 + 1.0);
        }
        s = s * c(0.5) + m.sin();
    }
    for ch in x.chunks(k) {
        s = s + ch[0] * ch[ch.len() - 1];
    }
    s
}

fn with_vec(out: (f64, (f64, f64))) -> (f64, Vec<f64>) {
    (out.0, out.1.to_vec())
}

fn arr3<T: Copy>(x: &[T]) -> [T; 3] {
    [x[0], x[1], x[2]]
}

#[test]
fn literals_as_locals() {
    for x in [
        [1.0, 0.5, -0.3, 0.2, -1.0, 0.7],
        [-2.0, 0.1, 0.4, 1.3, 0.9, -0.6],
    ] {
        let (v, (ga, gb)) = cross_norm_grad(arr3(&x), arr3(&x[3..]));
        let g: Vec<f64> = ga.into_iter().chain(gb).collect();
        check(
            "cross_norm",
            &x,
            (v, g.clone()),
            |x| cross_norm(arr3(x), arr3(&x[3..])),
            |x| cross_norm(arr3(x), arr3(&x[3..])),
        );
        // Forward mode along a direction: the gradient's dot product with it.
        let t = [0.3, -0.7, 1.1, 0.5, 0.2, -0.4];
        let (_, along) = cross_norm_jvp(arr3(&x), arr3(&x[3..]), arr3(&t), arr3(&t[3..]));
        let want: f64 = g.iter().zip(&t).map(|(g, t)| g * t).sum();
        assert_all_close("cross_norm_jvp", &[along], &[want], F64_REL, F64_ABS);
    }
    for x in [[0.3, 0.9], [-1.2, 0.4], [2.0, -0.5]] {
        check(
            "mixed",
            &x,
            with_vec(mixed_grad(x[0], x[1])),
            |x| mixed(x[0], x[1]),
            |x| mixed(x[0], x[1]),
        );
        let (_, along) = mixed_jvp(x[0], x[1], 1.0, -2.0);
        let (_, (gx, gy)) = mixed_grad(x[0], x[1]);
        assert_all_close("mixed_jvp", &[along], &[gx - 2.0 * gy], F64_REL, F64_ABS);
        // Second order: the HVP against central differences of the (checked) gradient.
        let (value, g, (hx, hy)) = mixed_hvp(x[0], x[1], 0.6, -0.8);
        assert_eq!(value.to_bits(), mixed(x[0], x[1]).to_bits());
        assert_eq!(g, mixed_grad(x[0], x[1]).1);
        let want = gradient_differences(&|p| with_vec(mixed_grad(p[0], p[1])).1, &x, &[0.6, -0.8]);
        assert_all_close("mixed_hvp", &[hx, hy], &want, 1e-7, 1e-7);
        check(
            "det2",
            &x,
            with_vec(det2_grad(x[0], x[1])),
            |x| det2(x[0], x[1]),
            |x| det2(x[0], x[1]),
        );
    }
}

#[test]
fn literals_in_loops() {
    for x in [
        vec![0.3, -0.2, 1.5, 0.8],
        vec![1.1, 0.7, -0.4, 2.0, 0.5, -1.3],
    ] {
        check("pairs", &x, pairs_grad(&x), |x| pairs(x), |x| pairs(x));
        check(
            "pairs_carried",
            &x,
            pairs_carried_grad(&x),
            |x| pairs_carried(x),
            |x| pairs_carried(x),
        );
    }
}

#[test]
fn literals_as_results() {
    let x = [0.7, -0.4, 1.2];
    let w = [1.0, -0.5, 2.0];
    let (value, g) = products_vjp(x, w);
    assert_eq!(value, products(x));
    // The vjp with cotangent `w` is the gradient of `w · products(x)`.
    let weighted = |x: &[Fwd]| {
        let y = products(arr3(x));
        y[0] * Fwd::cst(w[0]) + y[1] * Fwd::cst(w[1]) + y[2] * Fwd::cst(w[2])
    };
    let (_, want) = dual_grad(weighted, &x);
    assert_all_close("products_vjp", &g, &want, F64_REL, F64_ABS);

    for x in [0.6, -1.4] {
        let w = vec![0.5, -1.0, 3.0, 0.25];
        let (value, g) = powers_vjp(x, w.clone());
        assert_eq!(value, powers(x));
        let want = 0.5 - 2.0 * x + 0.75 * x * x;
        assert_all_close("powers_vjp", &[g], &[want], F64_REL, F64_ABS);
    }
}

#[test]
fn literals_walked_destructured_and_passed() {
    for x in [[0.3, 0.8, -0.5], [-1.2, 0.4, 0.9]] {
        for k in 0..3 {
            check(
                &format!("walked, k = {k}"),
                &x,
                {
                    let (v, (a, b, cz)) = walked_grad(x[0], x[1], x[2], k);
                    (v, vec![a, b, cz])
                },
                |x| walked(x[0], x[1], x[2], k),
                |x| walked(x[0], x[1], x[2], k),
            );
        }
        let (v, (a, b, cz)) = walked_f64_grad(x[0], x[1], x[2]);
        check(
            "walked_f64",
            &x,
            (v, vec![a, b, cz]),
            |x| walked_f64(x[0], x[1], x[2]),
            |x| {
                // The same function on dual numbers, written again (the original is on `f64`).
                let (px, py, pz) = (x[0], x[1], x[2]);
                let mut s = Fwd::cst(0.0);
                for v in [px, py * pz, pz] {
                    s += v * v.sin();
                }
                for v in [px * py, pz] {
                    s += v.exp();
                }
                s + px * pz * py
            },
        );
        // Second order through the generic copy: the HVP against differences of the gradient.
        let dir = [0.5, -1.0, 0.25];
        let (value, g, (hx, hy, hz)) = walked_f64_hvp(x[0], x[1], x[2], dir[0], dir[1], dir[2]);
        assert_eq!(value.to_bits(), walked_f64(x[0], x[1], x[2]).to_bits());
        assert_eq!(g, (a, b, cz));
        let grad = |p: &[f64]| {
            let (_, (a, b, c)) = walked_f64_grad(p[0], p[1], p[2]);
            vec![a, b, c]
        };
        let want = gradient_differences(&grad, &x, &dir);
        assert_all_close("walked_f64_hvp", &[hx, hy, hz], &want, 1e-7, 1e-7);

        check(
            "norms",
            &x[..2],
            with_vec(norms_grad(x[0], x[1])),
            |x| norms(x[0], x[1]),
            |x| norms(x[0], x[1]),
        );
    }
}

#[test]
fn arrays_chosen_by_branches() {
    for x in [
        [0.5, 0.3, 0.2, 0.9],
        [-0.4, 1.2, 0.1, -0.6],
        [1.5, -0.2, 1.7, 0.4],
    ] {
        let (v, (gx, gy)) = choose_grad([x[0], x[1]], [x[2], x[3]]);
        let g: Vec<f64> = gx.into_iter().chain(gy).collect();
        check(
            "choose",
            &x,
            (v, g),
            |x| choose([x[0], x[1]], [x[2], x[3]]),
            |x| choose([x[0], x[1]], [x[2], x[3]]),
        );
        let p = [x[0], x[1]];
        check(
            "chosen_literals",
            &p,
            with_vec(chosen_literals_grad(p[0], p[1])),
            |x| chosen_literals(x[0], x[1]),
            |x| chosen_literals(x[0], x[1]),
        );
        let (_, (gx, gy)) = chosen_literals_grad(p[0], p[1]);
        let (_, along) = chosen_literals_jvp(p[0], p[1], 0.5, -1.5);
        assert_all_close(
            "chosen_literals_jvp",
            &[along],
            &[0.5 * gx - 1.5 * gy],
            F64_REL,
            F64_ABS,
        );
        let (_, _, (hx, hy)) = chosen_literals_hvp(p[0], p[1], 1.0, 0.0);
        let want = gradient_differences(
            &|q| with_vec(chosen_literals_grad(q[0], q[1])).1,
            &p,
            &[1.0, 0.0],
        );
        assert_all_close("chosen_literals_hvp", &[hx, hy], &want, 1e-6, 1e-6);
    }
}

#[test]
fn arrays_returned_early() {
    for x in [-0.7, 0.4] {
        // The vjp with cotangent `w` is the derivative of `w · f(x)`.
        let w = [1.5, -0.5];
        let (value, g) = early_array_vjp(x, w);
        assert_eq!(value, early_array(x));
        let weighted = |x: &[Fwd]| {
            let y = early_array(x[0]);
            y[0] * Fwd::cst(w[0]) + y[1] * Fwd::cst(w[1])
        };
        let (_, want) = dual_grad(weighted, &[x]);
        assert_all_close("early_array_vjp", &[g], &want, F64_REL, F64_ABS);

        let w = vec![0.5, 2.0, -1.0];
        let (value, g) = early_vec_vjp(x, w.clone());
        assert_eq!(value, early_vec(x));
        let want = if x < 0.0 {
            0.5 + 2.0 - 1.0
        } else {
            0.5 * 2.0 * x - x.exp()
        };
        assert_all_close("early_vec_vjp", &[g], &[want], F64_REL, F64_ABS);
    }
    let x = ndarray::Array1::from_vec(vec![0.5, -1.0]);
    let w = ndarray::Array1::from_vec(vec![1.0, 3.0]);
    for c in [2.0, -1.0] {
        let (value, (gx, gc)) = early_tensor_vjp(&x, c, w.clone());
        assert_eq!(value, early_tensor(&x, c));
        let (want_x, want_c) = if c > 0.0 {
            (x.mapv(f64::exp) * c * &w, (x.mapv(f64::exp) * &w).sum())
        } else {
            (&w * 2.0, 0.0)
        };
        assert_all_close(
            "early_tensor_vjp",
            gx.as_slice().unwrap_or(&[]),
            want_x.as_slice().unwrap_or(&[]),
            F64_REL,
            F64_ABS,
        );
        assert_all_close("early_tensor_vjp c", &[gc], &[want_c], F64_REL, F64_ABS);
    }
}

#[test]
fn ends_of_a_slice() {
    for x in [vec![0.5, -1.0, 2.0], vec![1.3], vec![-0.2, 0.7]] {
        check("ends", &x, ends_grad(&x), |x| ends(x), |x| ends(x));
    }
}

#[test]
fn windows_and_chunks() {
    for x in [vec![0.5, -1.0, 2.0, 0.3, 0.9], vec![1.2, -0.4, 0.8]] {
        // Windows of 3 (some, or one), and of 7 (none: the loop never runs).
        for k in [2, 3, 7] {
            check(
                &format!("windowed, k = {k}"),
                &x,
                windowed_grad(&x, k),
                |x| windowed(x, k),
                |x| windowed(x, k),
            );
        }
    }
}

#[test]
#[should_panic(expected = "index out of bounds: the len is 2 but the index is 2")]
fn a_window_read_past_its_end_panics_as_in_the_function() {
    let _ = windowed_past_end_grad(&[1.0, 2.0, 3.0]);
}

/// Reads `w[2]` of windows of 2: the function panics, and so must its gradient (the position
/// `x[i + 2]` is in bounds for the first window).
#[differentiate]
fn windowed_past_end(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for w in x.windows(2) {
        s += w[2];
    }
    s
}

/// Windows, chunks and the slice ends in a function on `f64`: its `NAME_hvp` runs a generic
/// copy of the body, which must keep those methods (it gave up on them: no `NAME_hvp`).
#[differentiate]
fn smoothness(x: &[f64], lam: f64) -> f64 {
    let mut s = *x.last().unwrap() * x.first().copied().unwrap();
    for w in x.windows(3) {
        let curvature = w[0] - 2.0 * w[1] + w[2];
        s += lam * curvature * curvature;
    }
    for c in x.chunks(2) {
        s += c[0].sin() * c[c.len() - 1];
    }
    s
}

#[test]
fn windows_and_ends_in_an_f64_function_have_an_hvp() {
    let x = [0.3, -0.2, 0.8, 1.1, -0.5];
    let t = [1.0, 0.5, -0.3, 0.2, 0.1];
    let (value, (g, gl), (hx, hl)) = smoothness_hvp(&x, 0.7, &t, 0.4);
    assert_eq!(value.to_bits(), smoothness(&x, 0.7).to_bits());
    assert_eq!((g, gl), smoothness_grad(&x, 0.7).1);
    // Over `x` and `lam` as one flat point.
    let grad = |p: &[f64]| {
        let (_, (mut g, gl)) = smoothness_grad(&p[..5], p[5]);
        g.push(gl);
        g
    };
    let point: Vec<f64> = x.iter().copied().chain([0.7]).collect();
    let direction: Vec<f64> = t.iter().copied().chain([0.4]).collect();
    let want = gradient_differences(&grad, &point, &direction);
    let mut got = hx;
    got.push(hl);
    assert_all_close("smoothness_hvp", &got, &want, 1e-7, 1e-7);
}
