//! Running maxima and minima: `m = m.max(e)` carried through a `for` loop over a range, read
//! by nothing else in the loop. The loop records the last iteration whose `e` won instead of
//! saving `m` at every iteration, and the reverse sends `m`'s adjoint there; when nothing else
//! in the loop adds into an adjoint, only that iteration's reverse runs. These functions put
//! each side of that in a function: a log-sum-exp (GMM's), the running value on either side of
//! `max` and `min`, the `f64::max(m, e)` form, a row maximum inside a loop that saves it on its
//! tape, a reversed range, and loops the rule must leave alone (the running value read again in
//! the loop, a store beside it). Each is checked against forward-mode dual numbers and central
//! differences at several points and lengths, and in `f32`; ties and NaNs against the
//! conventions the README states (a tie goes to `max`'s first argument, NaN is skipped).

#![allow(
    clippy::needless_range_loop,
    reason = "index loops are what these tests differentiate"
)]

mod common;

use autodiff::differentiate;
use common::{assert_all_close, c, check_pair, dual_grad, point, split2};
use num_traits::Float;

/// GMM's log-sum-exp: a running maximum of `x[i] w[i]`, then the exponentials shifted by it.
/// The max loop's reverse has nothing else to add: only the iteration that won runs.
#[differentiate]
fn log_sum_exp<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let mut mx = x[0] * w[0];
    for i in 1..n {
        mx = mx.max(x[i] * w[i]);
    }
    let mut s = T::zero();
    for i in 0..n {
        s = s + (x[i] * w[i] - mx).exp();
    }
    mx + s.ln()
}

/// A running minimum on the right of `min`, of an expression of two arrays, times a weight from
/// outside the loop (its adjoint gets a contribution in the iteration that won only).
#[differentiate]
fn running_min_on_the_right<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let scale = w[0] * c(0.5) + c(1.0);
    let mut m = x[0].sin();
    for i in 0..n {
        m = ((x[i] - w[i]) * scale).min(m);
    }
    m * w[n - 1] + x[0]
}

/// A maximum over each row, inside a loop whose carried value is not a sum: the outer loop
/// saves what its reverse needs on its tape, the iteration that won each row among it.
#[differentiate]
fn row_maxima<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let rows = n.div_ceil(2);
    let mut s = c(0.25);
    for r in 0..rows {
        let mut rm = x[r] * w[r];
        for j in r..n {
            rm = rm.max((x[j] * (w[r] + c(2.0))).sin());
        }
        s = s * rm.cos() + rm;
    }
    s
}

/// A running maximum over a reversed range, of a value the loop also stores (a store beside it:
/// the rule keeps `won`, and every iteration's reverse still runs for the store).
#[differentiate]
fn reversed_with_a_store<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let mut y = vec![T::zero(); n];
    let mut m = w[0];
    for i in (0..n).rev() {
        y[i] = x[i] * w[i] + c(0.1);
        m = m.max(y[i]);
    }
    let mut s = m;
    for i in 0..n {
        s = s + y[i] * x[i];
    }
    s
}

/// The running value read again in the loop: not a running extremum for the rule (its adjoint
/// in an iteration is not only the next iteration's), reversed as any carried value.
#[differentiate]
fn read_again<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let mut m = x[0];
    let mut s = T::zero();
    for i in 0..n {
        m = m.max(x[i] * w[i]);
        s = s + m * w[i];
    }
    s + m
}

/// `f64::max(m, e)`, the path form, on `f64` (its reference below is generic).
#[differentiate]
fn path_form(x: &[f64], w: &[f64]) -> f64 {
    let mut m = f64::MIN;
    for i in 0..x.len() {
        m = f64::max(m, x[i].exp() - w[i]);
    }
    m * m
}

fn path_form_ref<T: Float>(x: &[T], w: &[T]) -> T {
    let mut m = T::min_value();
    for i in 0..x.len() {
        m = T::max(m, x[i].exp() - w[i]);
    }
    m * m
}

#[test]
fn running_extrema_match_the_references() {
    for n in [1, 2, 3, 6, 11] {
        check_pair(
            "log_sum_exp",
            n,
            &[7, 8, 9, 10],
            log_sum_exp_grad,
            log_sum_exp,
            log_sum_exp,
        );
        check_pair(
            "running_min_on_the_right",
            n,
            &[7, 8, 9, 10],
            running_min_on_the_right_grad,
            running_min_on_the_right,
            running_min_on_the_right,
        );
        check_pair(
            "row_maxima",
            n,
            &[7, 8, 9, 10],
            row_maxima_grad,
            row_maxima,
            row_maxima,
        );
        check_pair(
            "reversed_with_a_store",
            n,
            &[7, 8, 9, 10],
            reversed_with_a_store_grad,
            reversed_with_a_store,
            reversed_with_a_store,
        );
        check_pair(
            "read_again",
            n,
            &[7, 8, 9, 10],
            read_again_grad,
            read_again,
            read_again,
        );
        check_pair(
            "path_form",
            n,
            &[7, 8, 9, 10],
            path_form_grad,
            path_form,
            path_form_ref,
        );
    }
}

#[test]
fn in_f32() {
    for n in [1, 4, 9] {
        let full = point(2 * n, 90 + n as u64);
        let (x, w) = split2(&full, n);
        let to32 = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
        let (x32, w32) = (to32(&x), to32(&w));
        for (name, grad32, grad64) in [
            (
                "log_sum_exp",
                log_sum_exp_grad::<f32>(&x32, &w32).1,
                log_sum_exp_grad::<f64>(&x, &w).1,
            ),
            (
                "row_maxima",
                row_maxima_grad::<f32>(&x32, &w32).1,
                row_maxima_grad::<f64>(&x, &w).1,
            ),
        ] {
            let g32: Vec<f64> = grad32
                .0
                .iter()
                .chain(&grad32.1)
                .map(|&v| f64::from(v))
                .collect();
            let g64: Vec<f64> = grad64.0.into_iter().chain(grad64.1).collect();
            assert_all_close(&format!("{name} in f32 (n = {n})"), &g32, &g64, 2e-4, 2e-5);
        }
    }
}

/// Every element equal: each `max` is a tie, and a tie goes to `max`'s first argument. With
/// the running value first it keeps it to the end (the start gets everything); with the new
/// value first each iteration takes it (the last one gets everything).
#[differentiate]
fn first_of_ties(x: &[f64]) -> f64 {
    let mut m = x[0];
    for i in 1..x.len() {
        m = m.max(x[i]);
    }
    m * 3.0
}

#[differentiate]
fn last_of_ties(x: &[f64]) -> f64 {
    let mut m = x[0];
    for i in 1..x.len() {
        m = x[i].max(m);
    }
    m * 3.0
}

#[differentiate]
fn min_of_ties(x: &[f64]) -> f64 {
    let mut m = x[0];
    for i in 1..x.len() {
        m = m.min(x[i]);
    }
    m * 3.0
}

fn ties_ref<T: Float>(x: &[T], value_first: bool, max: bool) -> T {
    let mut m = x[0];
    for i in 1..x.len() {
        m = match (value_first, max) {
            (false, true) => m.max(x[i]),
            (true, true) => x[i].max(m),
            (_, false) => m.min(x[i]),
        };
    }
    m * c(3.0)
}

#[test]
fn ties_go_to_the_first_argument() {
    for n in [1, 2, 5] {
        let x = vec![0.75; n];
        let mut first = vec![0.0; n];
        first[0] = 3.0;
        let mut last = vec![0.0; n];
        last[n - 1] = 3.0;
        for (name, got, want, reference) in [
            (
                "first_of_ties",
                first_of_ties_grad(&x).1,
                &first,
                (false, true),
            ),
            ("last_of_ties", last_of_ties_grad(&x).1, &last, (true, true)),
            (
                "min_of_ties",
                min_of_ties_grad(&x).1,
                &first,
                (false, false),
            ),
        ] {
            assert_eq!(&got, want, "{name} (n = {n})");
            let (_, dual) = dual_grad(|v| ties_ref(v, reference.0, reference.1), &x);
            assert_eq!(&got, &dual, "{name} (n = {n}) against num-dual");
        }
    }
}

#[test]
fn nan_is_skipped_as_max_skips_it() {
    // `NAN.max(1.0)` is `1.0`: the start's NaN loses to the first element, which loses to 3.
    let x = [f64::NAN, 1.0, 3.0, 2.0];
    let (value, grad) = first_of_ties_grad(&x);
    assert_eq!(value, 9.0);
    assert_eq!(grad, vec![0.0, 0.0, 3.0, 0.0]);
    // A NaN met later is skipped too: the maximum stays where it was.
    let x = [0.5, f64::NAN, -1.0];
    let (value, grad) = first_of_ties_grad(&x);
    assert_eq!(value, 1.5);
    assert_eq!(grad, vec![3.0, 0.0, 0.0]);
}

/// The generic copy behind `NAME_hvp` records the same iteration and runs the same reverse:
/// its gradient is `NAME_grad`'s, bit for bit.
#[differentiate]
fn lse_f64(x: &[f64]) -> f64 {
    let mut mx = x[0];
    for i in 1..x.len() {
        mx = mx.max(x[i] * x[i]);
    }
    let mut s = 0.0;
    for i in 0..x.len() {
        s += (x[i] * x[i] - mx).exp();
    }
    mx + s.ln()
}

#[test]
fn the_hvp_copy_agrees_bit_for_bit() {
    for n in [1, 3, 8] {
        let x = point(n, 300 + n as u64);
        let (value, grad) = lse_f64_grad(&x);
        let v: Vec<f64> = (0..n).map(|i| 0.5 - i as f64 * 0.1).collect();
        let (h_value, h_grad, _) = lse_f64_hvp(&x, &v);
        assert_eq!(h_value.to_bits(), value.to_bits());
        assert_eq!(
            common::hyperdual::bits(&h_grad),
            common::hyperdual::bits(&grad)
        );
        autodiff::check_grad(lse_f64, &x, &grad)
            .unwrap_or_else(|e| panic!("lse_f64 (n = {n}): {e}"));
    }
}
