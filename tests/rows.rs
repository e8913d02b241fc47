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
    clippy::manual_swap,
    reason = "index loops and offsets as a user may write them are what these tests differentiate"
)]

mod common;

use autodiff::differentiate;
use common::{c, check_pair, check_with_dual, dual_grad, point, split2};
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
    let cases: [(&str, Pair32, Plain32, Dual); 5] = [
        ("windows", windows_grad, windows, windows),
        (
            "first_differences",
            first_differences_grad,
            first_differences,
            first_differences,
        ),
        (
            "differences_stored",
            differences_stored_grad,
            differences_stored,
            differences_stored,
        ),
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
        let g: Vec<f32> = gx.into_iter().chain(gw).collect();
        let reference = dual_grad(
            |v| {
                let (x, w) = split2(v, n);
                dual(&x, &w)
            },
            &wide,
        );
        let plain_at = |v: &[f32]| {
            let (x, w) = split2(v, n);
            plain(&x, &w)
        };
        common::check_f32(name, &full, (value, g), plain(&x, &w), &reference, plain_at);
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

/// Rosenbrock's shape: each iteration's reverse adds to `d_x[j]` and `d_x[j + 1]`, the next
/// iteration's `d_x[j]`: the element is carried between iterations in a local.
#[differentiate]
fn first_differences<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let mut s = T::zero();
    for j in 0..n - 1 {
        let d = x[j + 1] - x[j] * w[j];
        s = s + d * d + (x[j] * w[j + 1]).sin();
    }
    s
}

/// The same shape in a loop whose reverse runs after it (it writes `y`), walking the range
/// upwards, over `0..=n - 2`, and downwards (not carried).
#[differentiate]
fn differences_stored<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let mut y = vec![T::zero(); n];
    for j in 0..=n - 2 {
        y[j] = x[j + 1] * w[j] - x[j];
    }
    for j in (0..n - 1).rev() {
        y[j + 1] = y[j + 1] + w[j + 1] * x[j] - w[j];
    }
    let mut s = T::zero();
    for j in 0..n {
        s = s + y[j] * y[j] * w[j];
    }
    s
}

/// The element past the end read only when there is one: not carried (`d_x[n]` would be past
/// the end), and a loop that runs no iteration (`n = 1`).
#[differentiate]
fn guarded_differences<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let mut s = x[0] * w[0];
    for j in 0..n {
        s = s + x[j] * w[j];
        if j + 1 < n {
            s = s + (x[j + 1] - x[j]) * w[j];
        }
    }
    for j in 1..n {
        s = s * w[j] + x[j - 1 + 1] * x[j];
    }
    s
}

#[test]
fn carried_neighbours_give_the_gradient() {
    for n in [1, 2, 3, 7] {
        type Grad = fn(&[f64], &[f64]) -> (f64, (Vec<f64>, Vec<f64>));
        type Plain = fn(&[f64], &[f64]) -> f64;
        type Dual = fn(&[common::Fwd], &[common::Fwd]) -> common::Fwd;
        let mut cases: Vec<(&str, Grad, Plain, Dual)> = vec![(
            "guarded_differences",
            guarded_differences_grad,
            guarded_differences,
            guarded_differences,
        )];
        if n > 1 {
            cases.push((
                "first_differences",
                first_differences_grad,
                first_differences,
                first_differences,
            ));
            cases.push((
                "differences_stored",
                differences_stored_grad,
                differences_stored,
                differences_stored,
            ));
        }
        for (name, grad, plain, dual) in cases {
            check_pair(name, n, &[0, 1, 2], grad, plain, dual);
        }
    }
}

/// Offsets that are references (`for st in starts.iter()`): `x[st + j]` as written.
#[differentiate(wrt(x))]
fn offsets_by_reference(x: &[f64], starts: &[usize], off: &usize) -> f64 {
    let mut s = 0.0;
    for st in starts.iter() {
        for j in 0..2 {
            s += x[st + j] * x[j + off];
        }
    }
    s
}

/// A scratch array written at `j` and read in an inner loop's range and in another index: its
/// row serves every mention (found by a red-team pass: the mentions after `..` and inside an
/// index were not seen, and the row's borrow clashed with them).
#[differentiate]
fn mentions_in_ranges_and_indices(x: &[f64]) -> f64 {
    let n = x.len();
    let mut cnt = vec![0.0; n];
    let mut s = 0.0;
    for j in 0..n {
        cnt[j] = (j % 3) as f64;
        for _k in 0..cnt[j] as usize {
            s += x[j] * x[(cnt[j] * 0.0) as usize];
        }
    }
    s
}

/// An offset a method changes in the loop (found by a red-team pass: the row was cut once, at
/// the offset's first value).
#[differentiate]
fn offset_changed_by_a_method(x: &[f64]) -> f64 {
    use std::ops::AddAssign;
    let mut s = 0.0;
    let mut b = 0;
    for j in 0..x.len() / 2 {
        s += x[b + j] * x[j];
        b.add_assign(1);
    }
    s
}

/// A raw identifier as an array parameter: the row's name is made from `in`, not `r#in` (found
/// by a red-team pass: the macro panicked).
#[differentiate]
fn raw_name(r#in: &[f64]) -> f64 {
    let mut s = 0.0;
    for j in 0..r#in.len() {
        s += r#in[j] * r#in[j].sin();
    }
    s
}

/// Offsets the loop swaps (its carried values updated as one tuple): not cut (found by a
/// red-team pass: `(a, b, s) = (b, a, …)` did not count as changing `a`).
#[differentiate]
fn swapped_offsets(x: &[f64]) -> f64 {
    let mut a = 0;
    let mut b = 3;
    let mut s = 0.0;
    for j in 0..3 {
        s += x[a + j] * x[b + j].cos();
        let t = a;
        a = b;
        b = t;
    }
    s
}

/// An offset the reverse reads from the tape, per iteration: not cut (found by a red-team pass:
/// the reverse loop's pattern binds it, which the scan of the body did not see, and the row was
/// cut at the forward loop's last value).
#[differentiate]
fn offset_from_the_tape(x: &[f64]) -> f64 {
    let mut k = 0;
    let mut s = 0.0;
    for j in 0..3 {
        s = s * x[k + j] + x[k + j].sin();
        if x[j] > -5.0 {
            k += 1;
        }
    }
    s
}

#[differentiate]
fn dot3(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Rows of a fixed 2-D local built from a named row, read at `j` and `j + 1`: their adjoints
/// are arrays, not carried (found by a red-team pass: `[z; 4]` counted as an array of floats).
#[differentiate]
fn rows_of_rows(x: &[f64]) -> f64 {
    let z = [0.0; 3];
    let mut g = [z; 4];
    for j in 0..4 {
        for k in 0..3 {
            g[j][k] = x[j] * (k as f64 + 1.0) + x[k];
        }
    }
    let mut s = 0.0;
    for j in 0..3 {
        s += dot3(&g[j], &g[j + 1]);
    }
    s
}

const OFF: usize = 0;

/// A constant of the loop body shadowing the module's: the offset is the body's `OFF`, which
/// does not exist before the loop (found by a red-team pass: the row was cut at the module's).
#[differentiate]
fn shadowing_constant(x: &[f64]) -> f64 {
    let mut s = x[OFF];
    for j in 0..2 {
        const OFF: usize = 3;
        s += x[OFF + j] * x[j];
    }
    s
}

#[test]
fn cases_found_by_the_red_team() {
    for seed in 0..3 {
        let x = point(6, seed + 40);
        let starts = [0, 3, 1];
        let (value, grad) = offsets_by_reference_grad(&x, &starts, &2);
        let plain = |v: &[f64]| offsets_by_reference(v, &starts, &2);
        assert_eq!(value.to_bits(), plain(&x).to_bits());
        autodiff::check_grad(plain, &x, &grad).unwrap();
        type Single = (fn(&[f64]) -> (f64, Vec<f64>), fn(&[f64]) -> f64);
        let singles: [Single; 7] = [
            (
                mentions_in_ranges_and_indices_grad,
                mentions_in_ranges_and_indices,
            ),
            (offset_changed_by_a_method_grad, offset_changed_by_a_method),
            (raw_name_grad, raw_name),
            (swapped_offsets_grad, swapped_offsets),
            (offset_from_the_tape_grad, offset_from_the_tape),
            (rows_of_rows_grad, rows_of_rows),
            (shadowing_constant_grad, shadowing_constant),
        ];
        for (grad, plain) in singles {
            let (value, g) = grad(&x);
            assert_eq!(value.to_bits(), plain(&x).to_bits());
            autodiff::check_grad(plain, &x, &g).unwrap();
        }
    }
}

#[differentiate]
fn windows_past(x: &[f64], w: &[f64]) -> f64 {
    let mut s = 0.0;
    for j in 0..x.len() {
        s += x[j + 1] * w[j];
    }
    s
}
