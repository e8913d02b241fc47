//! Rows cut before a loop over a range: a loop that reads `x[b + j]` (`b` the same in every
//! iteration) reads the row `&x[b .. b + end]` cut once instead. Right only when the loop
//! reaches the row's last element (else a row past the array's end panics where the loop would
//! not) and the offset cannot change in the loop. These functions put each side of those rules
//! in a function — offsets from outer loop variables and from products, rows of the same array
//! in nested loops, reversed and inclusive ranges, elements read only in some iterations, loops
//! that end early, arrays written at two offsets, fixed arrays — and check the gradient against
//! forward-mode dual numbers and central differences (the value bit for bit against the
//! original), at several points and lengths, and in `f32`.

#![allow(
    clippy::needless_range_loop,
    clippy::explicit_counter_loop,
    clippy::erasing_op,
    clippy::eq_op,
    clippy::ptr_arg,
    reason = "index loops and offsets as a user may write them are what these tests differentiate"
)]

mod common;

use autodiff::{differentiate, GradCheck};
use common::{assert_all_close, c, check_pair, check_with_dual, dual_grad, point, split2};
use num_traits::Float;

/// Windows of `x` and `w` at offsets from the outer loop's variable, in both orders, and at a
/// product of names: each inner loop cuts its rows.
#[differentiate]
fn windows<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let half = n / 2;
    let mut s = T::zero();
    for i in 0..half {
        for j in 0..n - half {
            s = s + x[i + j] * w[j + i] - (x[(i + 1) * 0 + j] * w[half + j]).sin();
        }
    }
    s
}

/// Rows of `x` in the inner loop (`x[i * m + j]`) and in the outer one (`x[i]`), both named
/// after their loop's variable: the inner one must not hide the outer one.
#[differentiate]
fn rows_in_nested_loops<T: Float>(x: &[T], w: &[T]) -> T {
    let m = 3;
    let mut s = T::zero();
    for i in 0..m {
        let mut r = T::zero();
        for j in 0..m {
            r = r + x[i * m + j] * w[j];
        }
        s = s + r * r + x[i] * w[i * m + 2];
    }
    s
}

/// `x[j + 1]` read only when `j + 1 < n`: no row of `x` at offset 1 (it would end past `x`).
#[differentiate]
fn next_when_there_is_one<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let mut s = T::zero();
    for j in 0..n {
        s = s + x[j] * w[j];
        if j + 1 < n {
            s = s + x[j + 1] * w[j];
        }
    }
    s
}

/// A range past the arrays' ends, left by `break` before it gets there: no rows.
#[differentiate]
fn left_early<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let mut s = T::zero();
    for j in 0..n + 5 {
        if j >= n {
            break;
        }
        s = s + x[j] * w[j];
    }
    s
}

/// `y` written at `j + 1` and read at `j`: not cut (two rows of one array written), `x` is.
#[differentiate]
fn shifted_product<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let mut y = vec![T::one(); n];
    for j in 0..n - 1 {
        y[j + 1] = y[j] * w[j] + x[j + 1];
    }
    let mut s = T::zero();
    for j in 0..n {
        s = s + y[j] * y[j];
    }
    s
}

/// Reversed and inclusive ranges: the row ends past the range's largest value.
#[differentiate]
fn other_ranges<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let mut s = T::zero();
    for j in (0..n - 1).rev() {
        s = s * w[j] + x[j + 1];
    }
    for j in 0..=n - 2 {
        s = s + x[j + 1] * w[j].cos();
    }
    for j in (1..=n - 1).rev() {
        s = s - x[j - 1 + 1] * w[j];
    }
    s
}

/// A name of the loop's own with the same name as one outside it: the offset is the inner
/// name's, bound in the loop, so not cut.
#[differentiate]
fn shadowed_offset<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let k = n - 1;
    let mut s = T::zero();
    for j in 0..n - 1 {
        let k = 1;
        s = s + x[k + j] * w[j + k - 1];
    }
    s + x[k]
}

/// An offset changed by the loop (a counter): not cut.
#[differentiate]
fn moving_offset<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let mut off = 0;
    let mut s = T::zero();
    for j in 0..n / 2 {
        s = s + x[off + j] * w[j];
        off += 1;
    }
    s
}

/// A loop that does not run, over a row that would be past the end: nothing cut, no panic.
#[differentiate]
fn empty_range_past_the_end<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let mut s = x[0] * w[0];
    for j in 0..n - n {
        s = s + x[n + 5 + j];
    }
    s
}

#[test]
fn rows_give_the_gradient() {
    for n in [2, 3, 6, 9] {
        type Grad = fn(&[f64], &[f64]) -> (f64, (Vec<f64>, Vec<f64>));
        type Plain = fn(&[f64], &[f64]) -> f64;
        type Dual = fn(&[common::Fwd], &[common::Fwd]) -> common::Fwd;
        let cases: [(&str, Grad, Plain, Dual); 8] = [
            ("windows", windows_grad, windows, windows),
            (
                "next_when_there_is_one",
                next_when_there_is_one_grad,
                next_when_there_is_one,
                next_when_there_is_one,
            ),
            ("left_early", left_early_grad, left_early, left_early),
            (
                "shifted_product",
                shifted_product_grad,
                shifted_product,
                shifted_product,
            ),
            (
                "other_ranges",
                other_ranges_grad,
                other_ranges,
                other_ranges,
            ),
            (
                "shadowed_offset",
                shadowed_offset_grad,
                shadowed_offset,
                shadowed_offset,
            ),
            (
                "moving_offset",
                moving_offset_grad,
                moving_offset,
                moving_offset,
            ),
            (
                "empty_range_past_the_end",
                empty_range_past_the_end_grad,
                empty_range_past_the_end,
                empty_range_past_the_end,
            ),
        ];
        for (name, grad, plain, dual) in cases {
            check_pair(name, n, &[0, 1, 2], grad, plain, dual);
        }
    }
    check_pair(
        "rows_in_nested_loops",
        9,
        &[0, 1, 2, 3],
        rows_in_nested_loops_grad,
        rows_in_nested_loops,
        rows_in_nested_loops,
    );
}

/// A fixed array and a `Vec`, and a row written: `y[b + j] = …` with `y` a local of the
/// function body.
#[differentiate]
fn fixed_rows(x: [f64; 6], w: &Vec<f64>) -> f64 {
    let mut y = [0.0; 9];
    for i in 0..2 {
        for j in 0..3 {
            y[i * 3 + j + 3] = x[i * 3 + j] * w[j + i];
        }
    }
    let mut s = 0.0;
    for j in 3..9 {
        s += y[j] * y[j - 3 + 3].sin();
    }
    s
}

#[test]
fn fixed_arrays_and_vecs() {
    for seed in 0..3 {
        let full = point(10, seed);
        let x: [f64; 6] = full[..6].try_into().unwrap();
        let w = full[6..].to_vec();
        let (value, (gx, gw)) = fixed_rows_grad(x, &w);
        let g: Vec<f64> = gx.iter().copied().chain(gw).collect();
        let plain = |v: &[f64]| fixed_rows(v[..6].try_into().unwrap(), &v[6..].to_vec());
        // The reference: the same function on dual numbers, written out here once more.
        let dual = |v: &[common::Fwd]| {
            let mut y = [c::<common::Fwd>(0.0); 9];
            for i in 0..2 {
                for j in 0..3 {
                    y[i * 3 + j + 3] = v[i * 3 + j] * v[6 + j + i];
                }
            }
            let mut s = c::<common::Fwd>(0.0);
            for j in 3..9 {
                s += y[j] * y[j].sin();
            }
            s
        };
        check_with_dual("fixed_rows", &full, (value, g), plain, dual);
    }
}

/// The same in `f32`: against the `f64` dual-number reference at the same point, and
/// `GradCheck::f32`.
#[test]
fn in_f32() {
    let n = 6;
    let full: Vec<f32> = point(2 * n, 5).iter().map(|&v| v as f32).collect();
    let (x, w) = split2(&full, n);
    let wide: Vec<f64> = full.iter().map(|&v| f64::from(v)).collect();
    type Pair32 = fn(&[f32], &[f32]) -> (f32, (Vec<f32>, Vec<f32>));
    type Plain32 = fn(&[f32], &[f32]) -> f32;
    type Dual = fn(&[common::Fwd], &[common::Fwd]) -> common::Fwd;
    let cases: [(&str, Pair32, Plain32, Dual); 3] = [
        ("windows", windows_grad, windows, windows),
        (
            "other_ranges",
            other_ranges_grad,
            other_ranges,
            other_ranges,
        ),
        (
            "next_when_there_is_one",
            next_when_there_is_one_grad,
            next_when_there_is_one,
            next_when_there_is_one,
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
        assert_all_close(name, &got, &want, 1e-4, 1e-5);
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

/// An index past the array still panics, as the original does (here with the row's message:
/// the row is cut before the loop).
#[test]
#[should_panic(expected = "out of range")]
fn a_row_past_the_end_panics() {
    let x = [1.0, 2.0, 3.0];
    let w = [1.0, 1.0, 1.0];
    let _ = windows_past_grad(&x, &w);
}

#[differentiate]
fn windows_past(x: &[f64], w: &[f64]) -> f64 {
    let mut s = 0.0;
    for j in 0..x.len() {
        s += x[j + 1] * w[j];
    }
    s
}
