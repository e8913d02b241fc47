//! Integer counters the reverse pass counts back down instead of saving: a loop's `l += 1`, and
//! a counter an inner loop counts (`for j in i + 1..d { … l += 1; }`: packed triangular
//! indexing), in loops over ranges forwards and backwards, a `while` loop around one, a counter
//! whose value the outer loop's body also reads, a step of 2, and an inner loop that may run
//! zero times. Each function is written once, generic over `T: Float`, and checked against
//! forward-mode dual numbers and central differences, the value bit for bit against the
//! original.

#![allow(
    clippy::needless_range_loop,
    clippy::redundant_closure,
    reason = "index loops are what these tests differentiate; each closure is instantiated at two types"
)]

mod common;

use autodiff::differentiate;
use common::{c, check_split2};
use num_traits::Float;

/// `‖L x‖²` for a packed strictly-lower-triangular `L` (columns in turn, `l` counting the
/// entries) plus a diagonal.
#[differentiate]
fn packed_lower<T: Float>(x: &[T], packed: &[T]) -> T {
    let d = x.len();
    let mut y = vec![T::zero(); d];
    for j in 0..d {
        y[j] = x[j] * c(0.5);
    }
    let mut l = 0;
    for i in 0..d {
        for j in i + 1..d {
            y[j] = y[j] + packed[l] * x[i];
            l += 1;
        }
    }
    let mut s = T::zero();
    for j in 0..d {
        s = s + y[j] * y[j];
    }
    s
}

/// Rows of the lower triangle backwards (`0..i`, empty for the first row), a counter starting
/// at an offset with a step of 2 (every other packed entry), read by the outer body too.
#[differentiate]
fn strided_rows<T: Float>(x: &[T], packed: &[T], offset: usize) -> T {
    let d = x.len();
    let mut s = T::zero();
    let mut l = offset;
    for i in (0..d).rev() {
        let row_start = packed[l % packed.len()];
        for j in 0..i {
            s = s * c(0.9) + (packed[l] * x[j] * x[i]).sin();
            l += 2;
        }
        s = s + row_start * x[i];
    }
    s
}

/// A `while` loop whose body holds a packed loop.
#[differentiate]
fn sweeps<T: Float>(x: &[T], packed: &[T], n: usize) -> T {
    let d = x.len();
    let mut s = T::zero();
    let mut sweep = 0;
    let mut l = 0;
    while sweep < n {
        l = 0;
        for i in 0..d {
            for j in i + 1..d {
                s = s + packed[l] * (x[i] - x[j] + s * c(0.1)).tanh();
                l += 1;
            }
        }
        sweep += 1;
    }
    s + c::<T>(l as f64) * x[0]
}

#[test]
fn counters_an_inner_loop_counts() {
    let all = [
        0.3, -0.2, 1.1, 0.8, -0.5, 0.4, 0.9, -1.3, 0.2, 0.6, 0.1, -0.7, 0.25, -0.45, 0.55, 1.2,
        -0.8, 0.35, 0.05, 0.75, -0.15, 0.95, -1.05, 0.65,
    ];
    for d in [1, 2, 4] {
        let n_packed = d * (d - 1) / 2;
        let v = &all[..d + n_packed.max(1)];
        check_split2(
            "packed_lower",
            v,
            d,
            packed_lower_grad,
            packed_lower,
            packed_lower,
        );

        let v = &all[..d + d * d + 3];
        for offset in [0, 3] {
            check_split2(
                "strided_rows",
                v,
                d,
                |x, p| strided_rows_grad(x, p, offset),
                |x, p| strided_rows(x, p, offset),
                |x, p| strided_rows(x, p, offset),
            );
        }

        let v = &all[..d + n_packed.max(1)];
        for n in [0, 2] {
            check_split2(
                "sweeps",
                v,
                d,
                |x, p| sweeps_grad(x, p, n),
                |x, p| sweeps(x, p, n),
                |x, p| sweeps(x, p, n),
            );
        }
    }
}

/// An inner range read from values the outer loop changes in place (`seen.push(i)`, `m[0] =
/// n - i`): the reverse cannot count the counter back through the range written again (it
/// read the values as the loop left them: a panic, or a wrong gradient), so it saves it.
#[differentiate]
fn growing_rows<T: Float>(x: &[T]) -> T {
    let n = x.len();
    let mut seen: Vec<usize> = Vec::new();
    let mut packed = vec![T::zero(); n * n];
    let mut l = 0;
    for i in 0..n {
        seen.push(i);
        for j in 0..seen.len() {
            packed[l] = x[i] * x[seen[j]];
            l += 1;
        }
    }
    let mut s = T::zero();
    for k in 0..l {
        s = s + packed[k] * packed[k] * T::from(k + 1).unwrap();
    }
    s
}

#[differentiate]
fn shrinking_rows<T: Float>(x: &[T]) -> T {
    let n = x.len();
    let mut m = [0_usize; 1];
    let mut packed = vec![T::zero(); n * n];
    let mut l = 0;
    for i in 0..n {
        m[0] = n - i;
        for j in 0..m[0] {
            packed[l] = x[i] * x[j];
            l += 1;
        }
    }
    let mut s = T::zero();
    for k in 0..l {
        s = s + packed[k] * packed[k] * T::from(k + 1).unwrap();
    }
    s
}

#[test]
fn ranges_changed_in_place_by_the_outer_loop() {
    for n in [1, 3, 5] {
        for seed in 0..3 {
            let x = common::point(n, seed);
            let (value, grad) = growing_rows_grad(&x);
            common::check_with_dual(
                "growing_rows",
                &x,
                (value, grad),
                growing_rows,
                growing_rows,
            );
            let (value, grad) = shrinking_rows_grad(&x);
            common::check_with_dual(
                "shrinking_rows",
                &x,
                (value, grad),
                shrinking_rows,
                shrinking_rows,
            );
        }
    }
}
