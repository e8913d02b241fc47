//! Adjacent loops over one range whose reverses run as one loop: each reversed iteration runs
//! the later loop's reverse, then the earlier one's, for the same item. Right only when no
//! element's adjoint one loop writes (takes, or reads where the other adds) is touched by the
//! other at another item. The same rule within one loop lets its reverse walk the range
//! forwards, when no tape or snapshot inside needs the iterations last first. These functions
//! put each side of those rules in a function: chains of elementwise loops that fuse (in the
//! function body and inside a loop over scratch arrays, GMM's shape), loops that must not,
//! because one reads a neighbouring or mirrored element or a triangular update reads every
//! element before it, a loop whose iterations each overwrite one element (walked backwards),
//! and rows over an inner loop's tape (walked backwards too). A rule gone wrong loses or
//! misplaces contributions, so each is checked against forward-mode dual numbers and central
//! differences (the value bit for bit against the original), at several points and lengths,
//! and in `f32`.

#![allow(
    clippy::needless_range_loop,
    reason = "index loops are what these tests differentiate"
)]

mod common;

use autodiff::{differentiate, GradCheck};
use common::{
    assert_all_close, c, check_pair, check_split2, check_with_dual as check, dual_grad, point,
    split2, split3,
};
use num_traits::Float;

/// Three elementwise loops, each reading what the one before wrote: with no tape (their
/// reverses read the arrays again), their reverses run as one loop.
#[differentiate]
fn elementwise_chain<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let mut a = vec![T::zero(); n];
    let mut b = vec![T::zero(); n];
    let mut e = vec![T::zero(); n];
    for j in 0..n {
        a[j] = x[j] * x[j] - w[j];
    }
    for j in 0..n {
        b[j] = a[j] * w[j] + x[j];
    }
    for j in 0..n {
        e[j] = b[j] * a[j] - b[j];
    }
    let mut s = T::zero();
    for j in 0..n {
        s = s + e[j] * x[j].sin();
    }
    s
}

/// The second loop reads `y` at the next index: its reverse adds into `d_y[j + 1]`, which the
/// first loop's reverse must not have taken yet, so the two run as two loops.
#[differentiate]
fn neighbours<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let mut y = vec![T::zero(); n];
    let mut z = vec![T::zero(); n];
    for j in 0..n - 1 {
        y[j] = x[j] * w[j];
    }
    for j in 0..n - 1 {
        z[j] = y[j] * w[j + 1] + y[j + 1] * x[j];
    }
    let mut s = T::zero();
    for j in 0..n {
        s = s + z[j] * x[j];
    }
    s
}

/// Each iteration overwrites `y[0]`: only the last one's value reaches the result, so the
/// reverse gives the element's adjoint to the last iteration and zero to the others. Its
/// iterations' reverses do not commute (each takes `d_y[0]`): the loop is walked backwards,
/// where the others here walk forwards.
#[differentiate]
fn last_write_wins<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let mut y = vec![T::zero(); n];
    for j in 0..n {
        y[0] = x[j] * w[j];
    }
    let mut s = T::zero();
    for j in 0..n {
        s = s + y[j] * x[j].cos();
    }
    s
}

/// A loop over rows whose inner loop keeps a tape (the carried `t` before each update): the
/// rows' reverses commute, but the tape holds the rows' entries in the order the rows ran, so
/// the rows are walked last first all the same.
#[differentiate]
fn rows_over_a_tape<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let mut y = vec![T::zero(); n];
    for i in 0..n {
        let mut t = T::zero();
        for j in 0..n {
            t = t * w[i] + x[j];
        }
        y[i] = t;
    }
    let mut s = T::zero();
    for i in 0..n {
        s = s + y[i] * x[i];
    }
    s
}

/// A triangular update after a fill: row `i` reads `y[i]` and updates every `y[j]`, `j > i`,
/// in place, so the fill's reverse (which takes `d_y[j]`) must wait for every row. (Here the
/// rows' reverse keeps a tape of `y[i]`, which alone keeps it on its own; GMM's shape, with
/// the fill's reverse leaving `d_y` as it is, is [`components`].)
#[differentiate]
fn triangular_after_fill<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let mut y = vec![T::zero(); n];
    for j in 0..n {
        y[j] = x[j] * w[j];
    }
    for i in 0..n {
        for j in i + 1..n {
            y[j] = y[j] + y[i] * c::<T>(0.5);
        }
    }
    let mut s = T::zero();
    for j in 0..n {
        s = s + y[j] * y[j];
    }
    s
}

/// A loop whose reverse does not read its variable (it updates `u[n - 1]` in place) after one
/// that does: fused, the fused loop binds the earlier loop's variable.
#[differentiate]
fn unread_variable<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let last = n - 1;
    let mut r = vec![T::zero(); n];
    let mut u = vec![T::zero(); n];
    for j in 0..n {
        r[j] = x[j] * w[j];
    }
    for _j in 0..n {
        u[last] = u[last] + x[last] * w[0];
    }
    let mut s = T::zero();
    for j in 0..n {
        s = s + (r[j] + u[j]).cos();
    }
    s
}

/// GMM's inner loop, over scratch arrays filled in each iteration: `xc = x − mu_k`, `z = Q_k
/// xc` (the diagonal `q_k`, then a triangular update), `‖z‖²`. The reverses of the triangular
/// product and of the two fills run as one loop; with `mirrored`, a loop between the product
/// and the diagonal adds `xc` read backwards into `z`, and the fill of `xc` must then run on
/// its own.
#[differentiate]
fn components<T: Float>(x: &[T], mu: &[T], q: &[T], m: usize) -> T {
    let d = x.len();
    let mut xc = vec![T::zero(); d];
    let mut z = vec![T::zero(); d];
    let mut s = T::zero();
    for k in 0..m {
        for j in 0..d {
            xc[j] = x[j] - mu[k * d + j];
        }
        for j in 0..d {
            z[j] = q[k * d + j] * xc[j];
        }
        let mut l = m * d + k * d * (d - 1) / 2;
        for i in 0..d {
            for j in i + 1..d {
                z[j] = z[j] + q[l] * xc[i];
                l += 1;
            }
        }
        let mut norm = T::zero();
        for j in 0..d {
            norm = norm + z[j] * z[j];
        }
        s = s * c(0.8) - norm * c(0.5) + xc[0];
    }
    s
}

/// [`components`] with `z[j] += xc[d − 1 − j] mu_kj` after the diagonal: the loops from the
/// triangular product down to the diagonal fuse, the fill of `xc` (whose reverse reads
/// `d_xc[j]`, which the mirrored loop adds to at `d − 1 − j`) runs after them.
#[differentiate]
fn components_mirrored<T: Float>(x: &[T], mu: &[T], q: &[T], m: usize) -> T {
    let d = x.len();
    let mut xc = vec![T::zero(); d];
    let mut z = vec![T::zero(); d];
    let mut s = T::zero();
    for k in 0..m {
        for j in 0..d {
            xc[j] = x[j] - mu[k * d + j];
        }
        for j in 0..d {
            z[j] = q[k * d + j] * xc[j];
        }
        for j in 0..d {
            z[j] = z[j] + xc[d - 1 - j] * mu[k * d + j];
        }
        let mut l = m * d + k * d * (d - 1) / 2;
        for i in 0..d {
            for j in i + 1..d {
                z[j] = z[j] + q[l] * xc[i];
                l += 1;
            }
        }
        let mut norm = T::zero();
        for j in 0..d {
            norm = norm + z[j] * z[j];
        }
        s = s * c(0.8) - norm * c(0.5) + xc[0];
    }
    s
}

/// A mirrored read inside the loop over components: `z`'s fill reads `xc[d - 1 - j]`, so the
/// reverse of `xc`'s fill (which reads `d_xc[j]` and leaves it) must wait for all of it.
#[differentiate]
fn shifted_fill<T: Float>(x: &[T], mu: &[T], m: usize) -> T {
    let d = x.len();
    let mut xc = vec![T::zero(); d];
    let mut z = vec![T::zero(); d];
    let mut s = T::zero();
    for k in 0..m {
        for j in 0..d {
            xc[j] = x[j] - mu[k * d + j];
        }
        for j in 0..d {
            z[j] = xc[j] * xc[d - 1 - j];
        }
        let mut t = T::zero();
        for j in 0..d {
            t = t + z[j] * mu[k * d + j];
        }
        s = s * c(0.9) + t.sin();
    }
    s
}

#[test]
fn elementwise_loops_fuse() {
    for n in [1, 2, 5, 9] {
        check_pair(
            "elementwise_chain",
            n,
            &[0, 1, 2],
            elementwise_chain_grad,
            elementwise_chain,
            elementwise_chain,
        );
        check_pair(
            "last_write_wins",
            n,
            &[0, 1, 2],
            last_write_wins_grad,
            last_write_wins,
            last_write_wins,
        );
        check_pair(
            "rows_over_a_tape",
            n,
            &[0, 1, 2],
            rows_over_a_tape_grad,
            rows_over_a_tape,
            rows_over_a_tape,
        );
        check_pair(
            "unread_variable",
            n.max(2),
            &[0, 1, 2],
            unread_variable_grad,
            unread_variable,
            unread_variable,
        );
    }
}

#[test]
fn loops_reading_other_elements_do_not_fuse() {
    for n in [1, 2, 5, 9] {
        check_pair(
            "neighbours",
            n,
            &[0, 1, 2],
            neighbours_grad,
            neighbours,
            neighbours,
        );
        check_pair(
            "triangular_after_fill",
            n,
            &[0, 1, 2],
            triangular_after_fill_grad,
            triangular_after_fill,
            triangular_after_fill,
        );
    }
}

#[test]
fn scratch_array_loops_inside_a_loop() {
    for (d, m) in [(1, 2), (3, 2), (4, 3)] {
        type Grad3 = fn(&[f64], &[f64], &[f64], usize) -> (f64, (Vec<f64>, Vec<f64>, Vec<f64>));
        type Plain3 = fn(&[f64], &[f64], &[f64], usize) -> f64;
        type Dual3 = fn(&[common::Fwd], &[common::Fwd], &[common::Fwd], usize) -> common::Fwd;
        let cases: [(&str, Grad3, Plain3, Dual3); 2] = [
            ("components", components_grad, components, components),
            (
                "components_mirrored",
                components_mirrored_grad,
                components_mirrored,
                components_mirrored,
            ),
        ];
        for (name, grad, plain, dual) in cases {
            let q_len = m * d + m * d * (d - 1) / 2;
            let (a, b) = (d, d + m * d);
            let full = point(b + q_len, (d * 7 + m) as u64);
            let (x, mu, q) = split3(&full, a, b);
            let (value, (gx, gmu, gq)) = grad(&x, &mu, &q, m);
            let g: Vec<f64> = gx.into_iter().chain(gmu).chain(gq).collect();
            check(
                &format!("{name} (d = {d}, m = {m})"),
                &full,
                (value, g),
                |v| {
                    let (x, mu, q) = split3(v, a, b);
                    plain(&x, &mu, &q, m)
                },
                |v| {
                    let (x, mu, q) = split3(v, a, b);
                    dual(&x, &mu, &q, m)
                },
            );
        }
        let full = point(d + m * d, (d * 11 + m) as u64);
        check_split2(
            &format!("shifted_fill (d = {d}, m = {m})"),
            &full,
            d,
            |x, mu| shifted_fill_grad(x, mu, m),
            |x, mu| shifted_fill(x, mu, m),
            |x, mu| shifted_fill(x, mu, m),
        );
    }
}

/// The same functions in `f32`: against the `f64` dual-number reference at the same point, and
/// `GradCheck::f32`.
#[test]
fn in_f32() {
    let n = 5;
    let full: Vec<f32> = point(2 * n, 3).iter().map(|&v| v as f32).collect();
    let (x, w) = split2(&full, n);
    let wide: Vec<f64> = full.iter().map(|&v| f64::from(v)).collect();
    type Pair32 = fn(&[f32], &[f32]) -> (f32, (Vec<f32>, Vec<f32>));
    type Plain32 = fn(&[f32], &[f32]) -> f32;
    type Dual = fn(&[common::Fwd], &[common::Fwd]) -> common::Fwd;
    let cases: [(&str, Pair32, Plain32, Dual); 3] = [
        (
            "elementwise_chain",
            elementwise_chain_grad,
            elementwise_chain,
            elementwise_chain,
        ),
        ("neighbours", neighbours_grad, neighbours, neighbours),
        (
            "triangular_after_fill",
            triangular_after_fill_grad,
            triangular_after_fill,
            triangular_after_fill,
        ),
    ];
    for (name, grad, plain, dual) in cases {
        let (value, (gx, gw)) = grad(&x, &w);
        assert_eq!(value.to_bits(), plain(&x, &w).to_bits(), "{name}: value");
        let g: Vec<f32> = gx.into_iter().chain(gw).collect();
        let (_, want) = dual_grad(
            |v| {
                let (x, w) = split2(v, n);
                dual(&x, &w)
            },
            &wide,
        );
        let got: Vec<f64> = g.iter().map(|&v| f64::from(v)).collect();
        assert_all_close(name, &got, &want, 1e-5, 1e-6);
        GradCheck::f32()
            .check(
                |v: &[f32]| {
                    let (x, w) = split2(v, n);
                    plain(&x, &w)
                },
                &full,
                &g,
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// A function on `f64` summing into one element in place (`y1[0] += …`), read at the loop's
/// index and mirrored: its reverse walks forwards. `NAME_hvp` runs a generic copy of the
/// function, which writes `y1[0] = y1[0] + …` with the two `0`s as two values; it must still
/// see the in-place update, walk the same way, and so give the gradient bit for bit (found by
/// the fuzzer, seed 41: the copy walked backwards, the last bit differed).
#[differentiate]
fn mirrored_products(x: &[f64]) -> f64 {
    let mut y0 = vec![0.0; x.len()];
    let mut y1 = vec![0.0; x.len()];
    for i in 0..x.len() {
        y0[i] = x[i] * 1.5;
    }
    for i in 0..x.len() {
        y1[0] += (y0[i] + y0[x.len() - 1 - i]) * y0[x.len() - 1 - i];
    }
    y1[0]
}

#[test]
fn the_hvp_copy_walks_the_same_way() {
    for seed in 0..4 {
        let x = point(3 + seed as usize, seed + 40);
        let (value, grad) = mirrored_products_grad(&x);
        let v: Vec<f64> = (0..x.len())
            .map(|i| if i == 0 { 1.0 } else { 0.0 })
            .collect();
        let (h_value, h_grad, _) = mirrored_products_hvp(&x, &v);
        assert_eq!(h_value.to_bits(), value.to_bits());
        assert_eq!(
            common::hyperdual::bits(&h_grad),
            common::hyperdual::bits(&grad)
        );
        let (_, want) = dual_grad(mirrored_products_ref, &x);
        assert_all_close("mirrored_products", &grad, &want, 1e-12, 1e-13);
    }
}

/// A sum into the last element (`y0[x.len() - 1] += …`), read mirrored: the generic copy
/// behind `NAME_hvp` reads the length twice, and must still see the in-place update and walk
/// the same way (found by the fuzzer, seed 66: the copy walked backwards, `d_b` differed in
/// the last bit).
#[differentiate]
fn sum_into_the_last(x: &[f64], b: f64) -> f64 {
    let mut y0 = vec![0.0; x.len()];
    let mut y1 = vec![0.0; x.len()];
    for i in 0..x.len() {
        y0[x.len() - 1] += b * x[i];
    }
    for i in 0..x.len() {
        y1[i] = y0[x.len() - 1 - i];
    }
    y1[0] * b
}

#[test]
fn the_hvp_copy_sees_a_length_read_twice() {
    for seed in 0..4 {
        let x = point(3 + seed as usize, seed + 50);
        let b = 0.3 + 0.1 * seed as f64;
        let (value, grad) = sum_into_the_last_grad(&x, b);
        let v = vec![0.5; x.len()];
        let (h_value, h_grad, _) = sum_into_the_last_hvp(&x, b, &v, 0.25);
        assert_eq!(h_value.to_bits(), value.to_bits());
        assert_eq!(
            common::hyperdual::bits(&h_grad.0),
            common::hyperdual::bits(&grad.0)
        );
        assert_eq!(h_grad.1.to_bits(), grad.1.to_bits());
        let plain = |p: &[f64]| sum_into_the_last(&p[..p.len() - 1], p[p.len() - 1]);
        let full: Vec<f64> = x.iter().copied().chain([b]).collect();
        let g: Vec<f64> = grad.0.iter().copied().chain([grad.1]).collect();
        autodiff::check_grad(plain, &full, &g).unwrap();
    }
}

/// [`mirrored_products`] on dual numbers, for the reference.
fn mirrored_products_ref<T: Float>(x: &[T]) -> T {
    let n = x.len();
    let mut s = T::zero();
    for i in 0..n {
        let (a, b) = (x[i] * c::<T>(1.5), x[n - 1 - i] * c::<T>(1.5));
        s = s + (a + b) * b;
    }
    s
}

/// A sum loop whose scratch array is read at a literal index its fill does not reach
/// (`for j in 0..1` fills `c[0]` only; `c[1]` keeps the previous iteration's value): the
/// iteration's reverse cannot run inside the forward loop, which assumed `c[1]` fresh (a wrong
/// gradient); a literal index below a literal end, or any under `0..c.len()`, is fresh.
#[differentiate]
fn stale_element<T: Float>(x: &[T]) -> T {
    let mut c = vec![T::zero(); 2];
    let mut s = T::zero();
    for i in 0..x.len() {
        for j in 0..1 {
            c[j] = x[i];
        }
        s = s + c[1] * c[0];
        c[1] = x[i] * x[i];
    }
    s
}

#[test]
fn a_literal_index_beyond_the_fill() {
    for n in [1, 2, 4] {
        for seed in 0..3 {
            let x = point(n, seed);
            let (value, grad) = stale_element_grad(&x);
            check(
                "stale_element",
                &x,
                (value, grad),
                stale_element,
                stale_element,
            );
        }
    }
}
