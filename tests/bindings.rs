//! What a binding means, as Rust has it: a fixed array bound to a second name is a copy of its
//! own (`let prev = cur;`, then `cur[i] = …`), `for v in y` walks a copy of `y` taken as the
//! loop starts, and `let r;` may be set inside a loop. The lowering writes arrays in place, so
//! each of these once shared one array between two names (a wrong value and gradient) or did
//! not compile. Checked against `num-dual` and central differences, values bit for bit.

#![allow(
    clippy::needless_range_loop,
    clippy::let_and_return,
    clippy::needless_late_init,
    clippy::redundant_locals,
    clippy::explicit_counter_loop,
    unused_assignments,
    reason = "the bindings are what these tests differentiate"
)]

mod common;

use autodiff::differentiate;
use common::{c, check_with_dual as check, point, Fwd};
use num_traits::Float;

/// A heat-equation step keeps the previous state: `prev` is a copy, not a second name for `cur`.
#[differentiate]
fn heat<T: Float>(x: [T; 4], steps: usize) -> T {
    let mut cur = x;
    for _ in 0..steps {
        let prev = cur;
        for i in 1..3 {
            cur[i] = prev[i] + c::<T>(0.25) * (prev[i - 1] - c::<T>(2.0) * prev[i] + prev[i + 1]);
        }
    }
    cur[1] * cur[2]
}

/// Copies by `let`, `let mut`, a tuple, an assignment and shadowing, each followed by a write
/// into one of the two.
#[differentiate]
fn copies<T: Float>(x: [T; 3]) -> T {
    let mut y = [x[0], x[1], x[2]];
    let z = y;
    y[0] = c(5.0);
    let mut w = z;
    w[1] = w[1] * x[2];
    let (u, k) = (w, c::<T>(2.0));
    let mut v = [T::zero(); 3];
    v = y;
    y[2] = x[0] * x[1];
    let old = y;
    let mut y = y;
    y[1] = T::zero();
    z[0] * y[0] + w[1] * u[0] * k + v[2] * old[2] + y[2] * old[1]
}

/// `for v in y` walks a copy: the writes into `y` do not reach the walk.
#[differentiate]
fn walk_a_copy<T: Float>(x: [T; 3]) -> T {
    let mut y = [x[0], x[1], x[2]];
    let mut i = 0;
    for v in y {
        y[(i + 1) % 3] = v * c(2.0) + y[i];
        i += 1;
    }
    y[0] * y[1] + y[2]
}

/// `to_vec()` of a fixed array: a `Vec` whose adjoint goes back to the array as an array.
#[differentiate]
fn copied_to_a_vec<T: Float>(x: [T; 3]) -> T {
    let mut w = x.to_vec();
    w[0] = c(2.0);
    w[0] * x[1] + w[2] * w[1]
}

/// A row stored whole into a nested array by one loop (`m[i] = r`, a copy), then changed in
/// place by the next (affinely, so its reverse saves nothing): the first loop reads `r` whole,
/// so neither the forward loops nor their reverses may run fused (they did: a wrong value
/// forward, a wrong gradient backward).
#[differentiate]
fn rows_stored_then_changed<T: Float>(x: [T; 3]) -> T {
    let mut r = [x[0], x[1], x[2]];
    let mut m = [[T::zero(); 3]; 3];
    for i in 0..3 {
        m[i] = r;
    }
    for i in 0..3 {
        r[i] = r[i] * T::from(3.0).unwrap() - T::one();
    }
    m[1][0] * m[0][1] + m[2][2] * r[0] + r[1] * r[2]
}

/// `let r;` set inside a `loop` before its `break`, with and without a type.
#[differentiate]
fn halve_until<T: Float>(x: T) -> T {
    let mut t = x;
    let r;
    loop {
        t = t * c(0.5);
        if t < c(0.1) {
            r = t * c(3.0);
            break;
        }
    }
    r
}

#[differentiate]
fn iterate_then_keep<T: Float>(x: T, n: usize) -> T {
    let r: T;
    let mut i = 0;
    let mut acc = x;
    loop {
        acc = acc.sin() + x;
        i += 1;
        if i >= n {
            r = acc * acc;
            break;
        }
    }
    r
}

fn arr<T: Copy, const N: usize>(v: &[T]) -> [T; N] {
    std::array::from_fn(|i| v[i])
}

#[test]
fn a_fixed_array_bound_to_a_second_name_is_a_copy() {
    for seed in 1..5 {
        let x = point(4, seed);
        for steps in [0, 1, 3] {
            let (value, grad) = heat_grad(arr(&x), steps);
            check(
                "heat",
                &x,
                (value, grad.to_vec()),
                |v| heat(arr(v), steps),
                |v: &[Fwd]| heat(arr(v), steps),
            );
        }
        let x = point(3, seed);
        let (value, grad) = copies_grad(arr(&x));
        check(
            "copies",
            &x,
            (value, grad.to_vec()),
            |v| copies(arr(v)),
            |v: &[Fwd]| copies(arr(v)),
        );
        let (value, grad) = copied_to_a_vec_grad(arr(&x));
        check(
            "copied_to_a_vec",
            &x,
            (value, grad.to_vec()),
            |v| copied_to_a_vec(arr(v)),
            |v: &[Fwd]| copied_to_a_vec(arr(v)),
        );
        let (value, grad) = rows_stored_then_changed_grad(arr(&x));
        check(
            "rows_stored_then_changed",
            &x,
            (value, grad.to_vec()),
            |v| rows_stored_then_changed(arr(v)),
            |v: &[Fwd]| rows_stored_then_changed(arr(v)),
        );
        let (value, grad) = walk_a_copy_grad(arr(&x));
        check(
            "walk_a_copy",
            &x,
            (value, grad.to_vec()),
            |v| walk_a_copy(arr(v)),
            |v: &[Fwd]| walk_a_copy(arr(v)),
        );
    }
    // Worked by hand at x = [2, 3, 4]: z = [2, 3, 4], w = u = [2, 12, 4], v = [5, 3, 4],
    // old = [5, 3, 6], the last y = [5, 0, 6]: 2 * 5 + 12 * 2 * 2 + 4 * 6 + 6 * 3.
    assert_eq!(copies([2.0, 3.0, 4.0]), 100.0);
    assert_eq!(copies_grad([2.0, 3.0, 4.0]).0, 100.0);
}

#[test]
fn a_variable_declared_before_a_loop_may_be_set_inside_it() {
    for x in [0.3, 1.7, 5.0] {
        check(
            "halve_until",
            &[x],
            {
                let (v, g) = halve_until_grad(x);
                (v, vec![g])
            },
            |v| halve_until(v[0]),
            |v: &[Fwd]| halve_until(v[0]),
        );
        for n in [1, 2, 5] {
            check(
                "iterate_then_keep",
                &[x],
                {
                    let (v, g) = iterate_then_keep_grad(x, n);
                    (v, vec![g])
                },
                |v| iterate_then_keep(v[0], n),
                |v: &[Fwd]| iterate_then_keep(v[0], n),
            );
        }
    }
}

/// A statement macro naming a local `Vec` the function goes on using: the statement gets a copy
/// (found by a red-team pass: the `Vec` moved into the statement, and the function did not
/// compile).
#[differentiate]
fn printed_vec(x: &[f64]) -> f64 {
    let mut y = vec![0.0; 2];
    y[0] = x[0] * x[1];
    assert_eq!(y.len(), 2, "{y:?}");
    debug_assert!(y[1] == 0.0, "{:?}", y);
    y[0] * x[1] + y[1]
}

#[test]
fn statement_macros_get_copies_of_arrays() {
    for seed in 0..3 {
        let x = point(2, seed);
        let (value, grad) = printed_vec_grad(&x);
        assert_eq!(value.to_bits(), printed_vec(&x).to_bits());
        autodiff::check_grad(printed_vec, &x, &grad).unwrap();
    }
}
