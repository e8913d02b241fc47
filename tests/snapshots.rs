//! Scratch arrays a loop fills in each iteration (`for j in 0..d { xc[j] = … }`, then reads):
//! the generated code saves them whole once per iteration and puts them back when the reverse
//! pass reaches the iteration, instead of saving every read. These functions put that in each
//! place it can be: a loop of the function body, a loop inside a loop that sums into the result
//! (whose reverse runs between forward iterations), the summing loop itself (no snapshot: its
//! reverse follows each iteration), a loop
//! inside a loop run backwards over a tape, a `loop` that breaks, reads before the fill (stale
//! values from the previous iteration), a triangular loop whose read of `xc[i]` is hoisted
//! and may run zero times, fixed arrays filled over `0..a.len()`. Each is written once, generic
//! over `T: Float`, and checked against forward-mode dual numbers and central differences, the
//! value bit for bit against the original; the `f64` one also through its `NAME_hvp`.

#![allow(
    clippy::needless_range_loop,
    clippy::manual_slice_fill,
    clippy::redundant_closure,
    reason = "index loops are what these tests differentiate; each closure is instantiated at two types"
)]

mod common;

use autodiff::differentiate;
use common::{
    assert_all_close, c, check_split2, check_with_dual as check, gradient_differences, split2,
    split3,
};
use num_traits::Float;

/// GMM's inner loop: `xc = x − mu_k`, `z = Q_k xc` (diagonal, then the strictly-lower entries
/// column by column), `Σ_k w_k ‖z‖²` with a carried product so the loop over `k` runs backwards
/// over its tape.
#[differentiate]
fn quadratic_forms<T: Float>(x: &[T], mu: &[T], q: &[T], m: usize) -> T {
    let d = x.len();
    let mut xc = vec![T::zero(); d];
    let mut z = vec![T::zero(); d];
    let mut s = T::zero();
    for k in 0..m {
        for j in 0..d {
            xc[j] = x[j] - mu[k * d + j];
        }
        for j in 0..d {
            z[j] = q[k * d + j].exp() * xc[j];
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
        s = s * c(0.75) + norm.sqrt() + xc[0] * z[d - 1];
    }
    s
}

/// The same loop inside a loop that sums into the result (a log-sum-exp over the components
/// per point, as in GMM): its reverse runs at the end of each point's iteration, between
/// forward iterations.
#[differentiate]
fn mixture<T: Float>(points: &[T], mu: &[T], q: &[T], m: usize) -> T {
    let d = mu.len() / m;
    let n = points.len() / d;
    let mut xc = vec![T::zero(); d];
    let mut z = vec![T::zero(); d];
    let mut terms = vec![T::zero(); m];
    let mut total = T::zero();
    for p in 0..n {
        for k in 0..m {
            for j in 0..d {
                xc[j] = points[p * d + j] - mu[k * d + j];
            }
            for j in 0..d {
                z[j] = q[k * d + j] * xc[j];
            }
            for i in 0..d {
                for j in i + 1..d {
                    z[j] = z[j] + q[k * d + i] * c::<T>(0.5) * xc[i];
                }
            }
            let mut sq = T::zero();
            for j in 0..d {
                sq = sq + z[j] * z[j];
            }
            terms[k] = -c::<T>(0.5) * sq;
        }
        let mut top = terms[0];
        for k in 1..m {
            top = top.max(terms[k]);
        }
        let mut sum = T::zero();
        for k in 0..m {
            sum = sum + (terms[k] - top).exp();
        }
        total = total + (top + sum.ln());
    }
    total
}

/// A read of the scratch array before the fill sees what the previous iteration left, even the
/// previous point's last component: inside a summing loop, the reverse of the inner loop puts
/// back what it found, or the next point would read a restored snapshot.
#[differentiate]
fn stale_reads<T: Float>(points: &[T], w: &[T]) -> T {
    let d = w.len();
    let n = points.len() / d;
    let mut a = vec![T::zero(); d];
    let mut total = T::zero();
    for p in 0..n {
        let mut s = T::zero();
        for k in 0..3 {
            let before = a[0] + a[d - 1];
            for j in 0..a.len() {
                a[j] = (points[p * d + j] * w[j] + c(k as f64)).sin();
            }
            s = s * c(0.5) + before * a[1] + a[0] * a[0];
        }
        total = total + s;
    }
    total
}

/// A scratch array in a loop nested in a loop whose reverse runs over a tape, and a fixed array
/// filled over `0..b.len()` in a `loop` that breaks (its reverse runs over a tape too).
#[differentiate]
fn nested_and_while<T: Float>(x: &[T], y: T) -> T {
    let d = x.len();
    let mut a = vec![T::zero(); d];
    let mut b = [T::zero(); 3];
    let mut s = y;
    for r in 0..2 {
        s = s * c(0.9) + c(r as f64);
        for k in 0..d {
            for j in 0..d {
                a[j] = x[j] * s + x[(j + k) % d];
            }
            s = (s * c(0.1)).sin() + (a[k] * a[(k + 1) % d]).tanh();
        }
    }
    let mut it = 0;
    loop {
        for j in 0..b.len() {
            b[j] = s * c(0.2 * j as f64 + 0.2) + x[j % d];
        }
        s = s * c(0.5) + (b[0] * b[2]).tanh() * c(0.3) - b[1].cos() * c(0.3);
        it += 1;
        if s > c(0.9) || it == 5 {
            break;
        }
    }
    s
}

/// A scratch array filled in each iteration of a loop that sums into the result: that loop's
/// reverse runs at the end of each iteration, with the array as the iteration left it, and
/// reads it there (no snapshot), also inside its inner loops.
#[differentiate]
fn summed_scratch<T: Float>(x: &[T], m: usize) -> T {
    let d = x.len();
    let mut a = vec![T::zero(); d];
    let mut total = T::zero();
    for k in 0..m {
        for j in 0..d {
            a[j] = (x[j] * c(k as f64 + 1.0)).sin();
        }
        let mut p = T::zero();
        for j in 0..d {
            p = p + a[j] * x[j] * a[j];
        }
        total = total + p * p;
    }
    total
}

/// A function of `f64` (its `NAME_hvp` runs a generic copy of its body on dual numbers).
#[differentiate]
fn filled_f64(x: &[f64], m: usize) -> f64 {
    let d = x.len();
    let mut t = vec![0.0; d];
    let mut s = 0.0;
    for k in 0..m {
        for j in 0..d {
            t[j] = (x[j] * (k as f64 + 1.0)).sin();
        }
        for i in 0..d {
            for j in i + 1..d {
                s += t[i] * t[j] * 0.5;
            }
        }
        s = s.tanh() + t[d - 1];
    }
    s
}

fn points() -> Vec<Vec<f64>> {
    vec![
        vec![
            0.3, -0.2, 1.1, 0.8, -0.5, 0.4, 0.9, -1.3, 0.2, 0.6, 0.1, -0.7,
        ],
        vec![
            -1.0, 0.5, 0.25, -0.3, 1.4, 0.05, -0.8, 0.6, 1.2, -0.4, 0.35, 0.9,
        ],
    ]
}

/// The last loop reading a scratch array reads it only in a condition: the reverse of that
/// read, the first to touch each element's adjoint in an iteration's reverse, adds nothing, and
/// must still set the element (to zero) before the earlier reads add to it and the fill's
/// reverse reads it.
#[differentiate]
fn read_last_in_a_condition<T: Float>(x: &[T], mu: &[T], m: usize) -> T {
    let d = x.len();
    let mut xc = vec![T::zero(); d];
    let mut s = T::zero();
    for k in 0..m {
        for j in 0..d {
            xc[j] = x[j] * mu[k * d + j] - mu[j];
        }
        let mut t = T::zero();
        for j in 0..d {
            t = t + xc[j] * xc[j];
        }
        let mut count = 1;
        for j in 0..d {
            let v = xc[j];
            if v > T::zero() {
                count += 1;
            }
        }
        s = s * c::<T>(0.9) + t.sqrt() * T::from(count).unwrap();
    }
    s
}

/// The same with the condition's read hoisted out of an inner loop whose reverse is empty.
#[differentiate]
fn read_last_in_an_inner_loop<T: Float>(x: &[T], mu: &[T], m: usize) -> T {
    let d = x.len();
    let mut xc = vec![T::zero(); d];
    let mut s = T::zero();
    for k in 0..m {
        for j in 0..d {
            xc[j] = x[j] * mu[k * d + j] - mu[j];
        }
        let mut t = T::zero();
        for j in 0..d {
            t = t + xc[j] * xc[j];
        }
        let mut count = 1;
        for i in 0..d {
            for j in 0..d {
                let v = xc[i];
                if v > mu[j] {
                    count += 1;
                }
            }
        }
        s = s * c::<T>(0.9) + t.sqrt() * T::from(count).unwrap();
    }
    s
}

/// A store after the fill of the very value the fill stores (`y[i] = b` both): only the fill's
/// reverse leaves the element's adjoint for the zeroing at the iteration's end; the later
/// store's takes it (found by the fuzzer, seed 39: the later store was taken for the fill, and
/// `b` got its contribution three times).
#[differentiate]
fn the_fill_value_stored_again<T: Float>(x: &[T], b: T, n: usize) -> T {
    let mut y = vec![T::zero(); x.len()];
    let mut s = x[0];
    for i in 0..x.len() {
        for j in 0..y.len() {
            y[j] = b;
        }
        let mut k = 0;
        while k < n {
            k += 1;
            let t = y[i] * x[i];
            y[i] = b;
            s = s * c::<T>(0.5) + t;
        }
    }
    s
}

#[test]
fn a_store_of_the_fill_value_is_not_the_fill() {
    for pts in points() {
        for (len, n) in [(1, 1), (2, 3), (4, 2)] {
            let full = pts[..=len].to_vec();
            let (x, b) = split2(&full, len);
            let (value, (gx, gb)) = the_fill_value_stored_again_grad(&x, b[0], n);
            let mut g = gx;
            g.push(gb);
            check(
                &format!("the_fill_value_stored_again (len = {len}, n = {n})"),
                &full,
                (value, g),
                |v| {
                    let (x, b) = split2(v, len);
                    the_fill_value_stored_again(&x, b[0], n)
                },
                |v| {
                    let (x, b) = split2(v, len);
                    the_fill_value_stored_again(&x, b[0], n)
                },
            );
        }
    }
}

#[test]
fn a_last_read_with_nothing_to_add() {
    type Grad = fn(&[f64], &[f64], usize) -> (f64, (Vec<f64>, Vec<f64>));
    type Plain = fn(&[f64], &[f64], usize) -> f64;
    type Dual = fn(&[common::Fwd], &[common::Fwd], usize) -> common::Fwd;
    let cases: [(&str, Grad, Plain, Dual); 2] = [
        (
            "read_last_in_a_condition",
            read_last_in_a_condition_grad,
            read_last_in_a_condition,
            read_last_in_a_condition,
        ),
        (
            "read_last_in_an_inner_loop",
            read_last_in_an_inner_loop_grad,
            read_last_in_an_inner_loop,
            read_last_in_an_inner_loop,
        ),
    ];
    for pts in points() {
        for (d, m) in [(1, 2), (3, 2), (4, 3)] {
            for (name, grad, plain, dual) in cases {
                let mut full = pts[..d].to_vec();
                full.extend(
                    pts.iter()
                        .cycle()
                        .skip(d)
                        .map(|v| v * 0.8 + 0.1)
                        .take(m * d),
                );
                check_split2(
                    &format!("{name} (d = {d}, m = {m})"),
                    &full,
                    d,
                    |x, mu| grad(x, mu, m),
                    |x, mu| plain(x, mu, m),
                    |x, mu| dual(x, mu, m),
                );
            }
        }
    }
}

#[test]
fn a_loop_of_the_function_body() {
    let (d, m) = (4, 2);
    for all in points() {
        // x (d), mu (m d), q (m d diagonal logs, then m d(d-1)/2 lower entries).
        let q_len = m * d + m * d * (d - 1) / 2;
        let mut full: Vec<f64> = all[..d + m * d].to_vec();
        full.extend(all.iter().cycle().map(|v| v * 0.3 - 0.1).take(q_len));
        let (a, b) = (d, d + m * d);
        let (x, mu, q) = split3(&full, a, b);
        let (value, (gx, gmu, gq)) = quadratic_forms_grad(&x, &mu, &q, m);
        let g: Vec<f64> = gx.into_iter().chain(gmu).chain(gq).collect();
        check(
            "quadratic_forms",
            &full,
            (value, g),
            |v| {
                let (x, mu, q) = split3(v, a, b);
                quadratic_forms(&x, &mu, &q, m)
            },
            |v| {
                let (x, mu, q) = split3(v, a, b);
                quadratic_forms(&x, &mu, &q, m)
            },
        );
    }
}

#[test]
fn a_loop_inside_a_summing_loop() {
    let (d, m) = (3, 2);
    for pts in points() {
        let mut full = pts.clone();
        full.extend(pts.iter().map(|v| v * 0.7 + 0.2).take(2 * m * d));
        let (a, b) = (pts.len(), pts.len() + m * d);
        let (p, mu, q) = split3(&full, a, b);
        let (value, (gp, gmu, gq)) = mixture_grad(&p, &mu, &q, m);
        let g: Vec<f64> = gp.into_iter().chain(gmu).chain(gq).collect();
        check(
            "mixture",
            &full,
            (value, g),
            |v| {
                let (p, mu, q) = split3(v, a, b);
                mixture(&p, &mu, &q, m)
            },
            |v| {
                let (p, mu, q) = split3(v, a, b);
                mixture(&p, &mu, &q, m)
            },
        );

        let mut full = pts.clone();
        full.extend([0.9, -0.6, 1.3, 0.4]);
        check_split2(
            "stale_reads",
            &full,
            pts.len(),
            stale_reads_grad,
            stale_reads,
            stale_reads,
        );
    }
}

#[test]
fn a_summing_loop_filling_a_scratch_array() {
    for pts in points() {
        let x = &pts[..6];
        check(
            "summed_scratch",
            x,
            summed_scratch_grad(x, 3),
            |x| summed_scratch(x, 3),
            |x| summed_scratch(x, 3),
        );
    }
}

#[test]
fn loops_run_backwards_over_a_tape_and_while_loops() {
    for pts in points() {
        for len in [3, 5] {
            let full: Vec<f64> = pts[..=len].to_vec();
            let (x, y) = split2(&full, len);
            let (value, (gx, gy)) = nested_and_while_grad(&x, y[0]);
            let mut g = gx;
            g.push(gy);
            check(
                "nested_and_while",
                &full,
                (value, g),
                |v| {
                    let (x, y) = split2(v, len);
                    nested_and_while(&x, y[0])
                },
                |v| {
                    let (x, y) = split2(v, len);
                    nested_and_while(&x, y[0])
                },
            );
        }
    }
}

/// [`filled_f64`] on any float, for the reference.
fn filled_generic<T: Float>(x: &[T], m: usize) -> T {
    let d = x.len();
    let mut t = vec![T::zero(); d];
    let mut s = T::zero();
    for k in 0..m {
        for j in 0..d {
            t[j] = (x[j] * c(k as f64 + 1.0)).sin();
        }
        for i in 0..d {
            for j in i + 1..d {
                s = s + t[i] * t[j] * c(0.5);
            }
        }
        s = s.tanh() + t[d - 1];
    }
    s
}

#[test]
fn a_function_of_f64_and_its_hvp() {
    for pts in points() {
        let x = &pts[..5];
        assert_eq!(filled_f64(x, 3).to_bits(), filled_generic(x, 3).to_bits());
        check(
            "filled_f64",
            x,
            filled_f64_grad(x, 3),
            |x| filled_f64(x, 3),
            |x| filled_generic(x, 3),
        );
        let v = [0.4, -1.0, 0.3, 0.8, -0.2];
        let (value, g, hv) = filled_f64_hvp(x, 3, &v);
        assert_eq!(value.to_bits(), filled_f64(x, 3).to_bits());
        assert_eq!(g, filled_f64_grad(x, 3).1);
        let want = gradient_differences(&|p| filled_f64_grad(p, 3).1, x, &v);
        assert_all_close("filled_f64_hvp", &hv, &want, 1e-7, 1e-7);
    }
}

#[test]
fn f32_gets_the_f64_gradient_to_f32_precision() {
    let pts = &points()[0];
    let (d, m) = (3, 2);
    let mu: Vec<f64> = pts.iter().map(|v| v * 0.7 + 0.2).take(m * d).collect();
    let q: Vec<f64> = pts.iter().map(|v| v * 0.3).take(m * d).collect();
    let narrow = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let (v64, (g64, _, _)) = mixture_grad(pts, &mu, &q, m);
    let (v32, (g32, _, _)) = mixture_grad(&narrow(pts), &narrow(&mu), &narrow(&q), m);
    assert_all_close("mixture f32 value", &[f64::from(v32)], &[v64], 1e-4, 1e-4);
    let widened: Vec<f64> = g32.iter().map(|&g| f64::from(g)).collect();
    assert_all_close("mixture f32 gradient", &widened, &g64, 1e-3, 1e-3);
}
