//! Branches, loops, early exits and arrays, checked against forward-mode dual numbers
//! (`num-dual`, through `common::Fwd`) and central differences.
//!
//! Each function is written once, generic over `T: Float`: `#[differentiate]` differentiates it
//! at `f64` (and `f32` for some), and the same source run on dual numbers is the reference.

#![allow(
    clippy::needless_range_loop,
    clippy::manual_memcpy,
    clippy::redundant_closure,
    clippy::ptr_arg,
    reason = "index loops and `&Vec` arguments are what these tests differentiate; each closure is instantiated at two types"
)]

mod common;

use autodiff::{check_grad, differentiate};
use common::{assert_all_close, c, check_with_dual as check, Fwd};
use num_traits::Float;

// ----- branches -----------------------------------------------------------------------------

#[differentiate]
fn piecewise<T: Float>(x: T) -> T {
    let y = if x < T::zero() {
        -x * c(2.0)
    } else if x < T::one() {
        x * x
    } else {
        x.ln() + T::one()
    };
    y * c(3.0)
}

#[differentiate]
fn abs_by_if<T: Float>(x: T) -> T {
    let mut y = x;
    if x < T::zero() {
        y = -x;
    }
    c::<T>(2.0) * y
}

#[differentiate]
fn by_integer<T: Float>(x: T, n: i32) -> T {
    match n {
        0 => x,
        1 | 2 => x * x,
        k if k < 10 => x.sin() * c(k as f64),
        _ => x.exp(),
    }
}

/// `#[cfg]` on a statement is a compile error (`tests/ui/cfg_on_statement.rs`); a branch on
/// `cfg!` is an ordinary branch on a constant.
#[differentiate]
fn by_configuration<T: Float>(x: T) -> T {
    let y = if cfg!(debug_assertions) {
        x * c(2.0)
    } else {
        x.sin()
    };
    y * x
}

#[test]
fn branches_take_the_derivative_of_the_branch_taken() {
    for x in [-1.5, -0.25, 0.3, 0.9, 1.7, 4.0] {
        check(
            "piecewise",
            &[x],
            vec1(piecewise_grad(x)),
            |v| piecewise(v[0]),
            |v| piecewise(v[0]),
        );
        check(
            "abs_by_if",
            &[x],
            vec1(abs_by_if_grad(x)),
            |v| abs_by_if(v[0]),
            |v| abs_by_if(v[0]),
        );
        for n in [0, 1, 2, 7, 12] {
            check(
                "by_integer",
                &[x],
                vec1(by_integer_grad(x, n)),
                |v| by_integer(v[0], n),
                |v| by_integer(v[0], n),
            );
        }
    }
    for x in [-0.7, 0.4, 2.5] {
        check(
            "by_configuration",
            &[x],
            vec1(by_configuration_grad(x)),
            |v| by_configuration(v[0]),
            |v| by_configuration(v[0]),
        );
    }
    // Exactly at the branch point the branch taken is differentiated: `x < 0` is false at 0.
    assert_eq!(piecewise_grad(0.0_f64).1, 0.0);
    assert_eq!(piecewise_grad(1.0_f64).1, 3.0);
}

// ----- early return -------------------------------------------------------------------------

#[differentiate]
fn early<T: Float>(x: T) -> T {
    if x > c(2.0) {
        return x * x;
    }
    let y = x.exp();
    y + T::one()
}

#[differentiate]
fn return_in_loop<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..x.len() {
        s = s + x[i] * x[i];
        if s > c(2.0) {
            return s.sqrt();
        }
    }
    s
}

#[differentiate]
fn inactive_return<T: Float>(x: T, n: i32) -> T {
    if n > 0 {
        return T::one();
    }
    x * x
}

#[test]
fn early_returns() {
    for x in [0.5, 1.9, 2.1, 3.0] {
        check(
            "early",
            &[x],
            vec1(early_grad(x)),
            |v| early(v[0]),
            |v| early(v[0]),
        );
        for n in [-1, 1] {
            check(
                "inactive_return",
                &[x],
                vec1(inactive_return_grad(x, n)),
                |v| inactive_return(v[0], n),
                |v| inactive_return(v[0], n),
            );
        }
    }
    for x in [
        vec![0.3, 0.4, 0.5],
        vec![1.0, 0.9, 0.2, 0.1],
        vec![0.1, 0.2],
    ] {
        check(
            "return_in_loop",
            &x,
            return_in_loop_grad(&x),
            |v| return_in_loop(v),
            |v| return_in_loop(v),
        );
    }
}

// ----- loops --------------------------------------------------------------------------------

#[differentiate]
fn fixed_trip<T: Float>(x: T) -> T {
    let mut s = T::zero();
    for _ in 0..3 {
        s = s + x;
    }
    s
}

#[differentiate]
fn doubling<T: Float>(x: T) -> T {
    let mut s = x;
    while s < c(10.0) {
        s = s * c(2.0);
    }
    s
}

#[differentiate(wrt(a))]
fn newton_cbrt<T: Float>(a: T) -> T {
    let mut x = a;
    let mut k = 0;
    while (x * x * x - a).abs() > c(1e-13) && k < 100 {
        x = x - (x * x * x - a) / (c::<T>(3.0) * x * x);
        k += 1;
    }
    x
}

#[differentiate]
fn halving_loop<T: Float>(x: T) -> T {
    let mut y = x;
    let mut k = 0;
    loop {
        y = y * c(0.5) + x.sin();
        k += 1;
        if k >= 5 {
            break;
        }
    }
    y
}

#[differentiate]
fn skip_odd<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..x.len() {
        if i % 2 == 1 {
            continue;
        }
        s = s + x[i].powi(3);
    }
    s
}

#[differentiate]
fn counted<T: Float>(x: T, n: usize) -> T {
    let mut k = T::one();
    for i in 0..n {
        k = k + c(i as f64);
    }
    k * x
}

#[test]
fn loops_with_active_and_inactive_trip_counts() {
    // Away from the points where the trip count changes (`doubling` at 2.5 hits 10 exactly).
    for x in [0.3, 1.1, 2.7, 7.0] {
        check(
            "fixed_trip",
            &[x],
            vec1(fixed_trip_grad(x)),
            |v| fixed_trip(v[0]),
            |v| fixed_trip(v[0]),
        );
        check(
            "doubling",
            &[x],
            vec1(doubling_grad(x)),
            |v| doubling(v[0]),
            |v| doubling(v[0]),
        );
        check(
            "halving_loop",
            &[x],
            vec1(halving_loop_grad(x)),
            |v| halving_loop(v[0]),
            |v| halving_loop(v[0]),
        );
        check(
            "counted",
            &[x],
            vec1(counted_grad(x, 4)),
            |v| counted(v[0], 4),
            |v| counted(v[0], 4),
        );
    }
    for a in [0.5, 8.0, 27.0, 100.0] {
        let (value, da) = newton_cbrt_grad(a);
        assert!((value - a.cbrt()).abs() < 1e-12);
        // d/da a^(1/3) = 1 / (3 a^(2/3)): the derivative of the iterations actually run.
        assert!(
            (da - 1.0 / (3.0 * a.powf(2.0 / 3.0))).abs() < 1e-9 * da.abs(),
            "{a}: {da}"
        );
    }
    for x in [vec![0.5, -1.0, 2.0], vec![1.0, 2.0, 3.0, 4.0, 5.0]] {
        check(
            "skip_odd",
            &x,
            skip_odd_grad(&x),
            |v| skip_odd(v),
            |v| skip_odd(v),
        );
    }
}

// ----- arrays and slices --------------------------------------------------------------------

#[differentiate]
fn rosenbrock<T: Float>(x: &[T]) -> T {
    let mut f = T::zero();
    for i in 0..x.len() - 1 {
        let a = T::one() - x[i];
        let b = x[i + 1] - x[i] * x[i];
        f = f + a * a + c::<T>(100.0) * b * b;
    }
    f
}

#[differentiate]
fn horner<T: Float>(coeffs: &[T], x: T) -> T {
    let mut acc = T::zero();
    for i in (0..coeffs.len()).rev() {
        acc = acc * x + coeffs[i];
    }
    acc
}

#[differentiate]
fn matvec<T: Float>(a: &[T], x: &[T], rows: usize) -> T {
    let cols = x.len();
    let mut norm = T::zero();
    for i in 0..rows {
        let mut row = T::zero();
        for j in 0..cols {
            row = row + a[i * cols + j] * x[j];
        }
        norm = norm + row * row;
    }
    norm
}

#[differentiate]
fn prefix_sum<T: Float>(x: &[T]) -> T {
    let n = x.len();
    let mut y = vec![T::zero(); n];
    for i in 0..n {
        y[i] = x[i];
    }
    for i in 1..n {
        y[i] = y[i] + y[i - 1] * c(0.5);
    }
    let mut s = T::zero();
    for i in 0..n {
        s = s + y[i].sin();
    }
    s
}

#[differentiate]
fn softmax_cross_entropy<T: Float>(logits: &[T], label: usize) -> T {
    let mut m = logits[0];
    for i in 1..logits.len() {
        m = m.max(logits[i]);
    }
    let mut total = T::zero();
    for i in 0..logits.len() {
        total = total + (logits[i] - m).exp();
    }
    m + total.ln() - logits[label]
}

#[differentiate]
fn piecewise_in_loop<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for &v in x.iter() {
        if v > T::zero() {
            s = s + v.sqrt();
        } else {
            s = s - v * v;
        }
    }
    s
}

#[differentiate]
fn iterate_by_reference<T: Float>(x: &[T]) -> T {
    let mut p = T::one();
    for v in x {
        p = p * (*v).cos() + *v;
    }
    p
}

/// Horner's rule over the coefficients last first, and a position-weighted sum over
/// `enumerate().rev()`: each element's adjoint goes to its own position.
#[differentiate]
fn iterate_reversed<T: Float>(x: &[T]) -> T {
    let mut y = T::zero();
    for &c in x.iter().rev() {
        y = y * T::from(0.7).unwrap() + c * c;
    }
    let mut z = T::zero();
    for (i, v) in x.iter().enumerate().rev() {
        z = z * (*v).sin() + T::from(i + 1).unwrap() * *v;
    }
    y * z
}

/// Carried values that shift (`prev = cur; cur = x[i]`): the next iteration's `prev` is this
/// iteration's old `cur`, so the carried values must all be read before any is set (found by
/// the differential fuzzer: `_grad` returned the last element instead of the one before).
#[differentiate(forward)]
fn shifted_carries<T: Float>(x: &[T]) -> T {
    let mut cur = T::from(0.5).unwrap();
    let mut prev = T::zero();
    let mut older = T::one();
    for i in 0..x.len() {
        older = prev;
        prev = cur;
        cur = x[i] * prev.cos();
    }
    cur + prev * T::from(2.0).unwrap() + older * T::from(3.0).unwrap()
}

/// Loops over ranges of an active array (`x[1..]`, `&x[k..n - 1]`, `x[..=1]` reversed): each
/// element's adjoint goes to its position in the whole array.
#[differentiate]
fn iterate_ranges<T: Float>(x: &[T], k: usize) -> T {
    let mut s = T::zero();
    for &v in x[1..].iter() {
        s = s * T::from(0.9).unwrap() + v * v;
    }
    for v in &x[k..x.len() - 1] {
        s = s + (*v).sin() * s;
    }
    for &v in x[..=1].iter().rev().skip(1) {
        s = s * v;
    }
    s
}

/// Adaptors that keep each element's position: `skip`, `take`, `step_by`, `rev`, chained, with
/// and without `enumerate` first.
#[differentiate]
fn iterate_adapted<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for &v in x.iter().skip(1) {
        s = s * T::from(0.8).unwrap() + v * v;
    }
    for &v in x.iter().take(x.len() - 1).rev() {
        s = s + v.exp() * s.sin();
    }
    for (i, &v) in x.iter().enumerate().skip(1).step_by(2) {
        s = s + T::from(i).unwrap() * v.cos();
    }
    for v in x.iter().step_by(2).rev().take(2) {
        s = s * (*v);
    }
    s
}

/// Two arrays walked together: both active (`(&a, &b)`, and by reference), then an active one
/// with a constant one built in the function.
#[differentiate]
fn iterate_zipped<T: Float>(x: &[T]) -> T {
    let mut y = vec![T::zero(); x.len()];
    for i in 0..x.len() {
        y[i] = x[i].sin() + T::from(i).unwrap();
    }
    let mut s = T::zero();
    for (&a, &b) in x.iter().zip(y.iter()) {
        s = s + a * b * b;
    }
    for (a, b) in y.iter().zip(x) {
        s = s * T::from(0.9).unwrap() + (*a) * (*b).exp();
    }
    let weights = vec![T::from(0.5).unwrap(); x.len()];
    for (w, &v) in weights.iter().zip(x.iter()) {
        s = s + *w * v * v;
    }
    // Neighbours: each side at its own position.
    for (&a, &b) in x.iter().zip(x[1..].iter()) {
        s = s + (b - a) * (b - a) * a.exp();
    }
    for (&a, &b) in x.iter().rev().zip(y.iter().skip(1)) {
        s = s * T::from(0.95).unwrap() + a * b;
    }
    s
}

/// Elements taken by reference and read as written in conditions and constant expressions
/// (`v < &10.0`, `*v > 1.5`, `v.abs()`, `a < b` over a zip): the expressions keep the types
/// they were written with.
#[differentiate]
fn by_reference_conditions(x: &[f64], y: f64) -> f64 {
    let mut s = 0.0;
    for v in x.iter() {
        if *v > 1.5 && v < &10.0 {
            s += v * v * y;
        } else if v.abs() < 0.5 {
            s += v.exp();
        } else {
            s += (*v).sin() * y + v.cos();
        }
    }
    for (a, b) in x.iter().zip(x.iter().skip(1)) {
        if a < b {
            s += a * b;
        }
    }
    for (i, v) in x.iter().enumerate() {
        let w = if v >= &0.0 { i as f64 } else { 1.0 };
        s += w * v;
    }
    s
}

/// [`by_reference_conditions`] for the dual numbers: the same arithmetic on values.
fn by_reference_conditions_reference<T: Float>(x: &[T], y: T) -> T {
    let mut s = T::zero();
    for &v in x {
        if v > c(1.5) && v < c(10.0) {
            s = s + v * v * y;
        } else if v.abs() < c(0.5) {
            s = s + v.exp();
        } else {
            s = s + v.sin() * y + v.cos();
        }
    }
    for i in 1..x.len() {
        if x[i - 1] < x[i] {
            s = s + x[i - 1] * x[i];
        }
    }
    for (i, &v) in x.iter().enumerate() {
        let w = if v >= T::zero() {
            c(i as f64)
        } else {
            T::one()
        };
        s = s + w * v;
    }
    s
}

/// The same on a generic float: `v > &T::zero()` compares references.
#[differentiate]
fn by_reference_generic<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for v in x.iter().rev() {
        if v > &T::zero() {
            s = s * c(0.5) + (*v) * (*v);
        } else {
            s = s - (*v).exp();
        }
    }
    s
}

/// Elements walked by value (`for v in x` over a `Vec` or an array taken by value) are floats,
/// not references: a condition compares them with a float.
#[differentiate]
fn owned_elements_by_value<T: Float>(x: Vec<T>, y: [T; 3]) -> T {
    let mut s = T::zero();
    for v in x {
        if v > c(0.5) {
            s = s + v * v;
        } else {
            s = s - v.sin();
        }
    }
    for (i, v) in y.into_iter().enumerate() {
        if v < c(1.0) && i > 0 {
            s = s * v;
        }
    }
    s
}

/// A `Vec` parameter read by index, then consumed by a loop that walks it by value: the
/// reverse pass reads it again, so the generated loop walks it by reference.
#[differentiate]
fn consumed_after_reads<T: Float>(x: [T; 2], y: Vec<T>) -> T {
    let mut s = T::zero();
    for i in 0..2 {
        s = s + x[i] * y[0];
    }
    for v in y {
        if v > c(0.5) {
            s = s * v;
        }
    }
    s
}

/// References bound by `let` (`let r = &x[0];`, `let yr = &y;`, a variable copied from one, a
/// branch giving one): read as written they are references, dereferenced they are the values.
#[differentiate]
fn let_bound_references(x: &[f64], y: f64) -> f64 {
    let r = &x[0];
    let yr = &y;
    let mut s = r * 2.0 + *yr;
    if r > &0.5 && *yr < 5.0 {
        s += x[1] * *r;
    }
    for v in x.iter() {
        let w = v;
        if w > &0.0 && yr > w {
            s += w * v * y;
        }
    }
    let larger = if x[2] > x[3] { &x[2] } else { &x[3] };
    if larger > &1.0 {
        s += larger * y;
    }
    let (a, b) = (&x[0], &x[1]);
    if a > b {
        s += a * b;
    }
    s
}

/// [`let_bound_references`] for the dual numbers.
fn let_bound_references_reference<T: Float>(x: &[T], y: T) -> T {
    let r = x[0];
    let mut s = r * c(2.0) + y;
    if r > c(0.5) && y < c(5.0) {
        s = s + x[1] * r;
    }
    for &v in x {
        if v > T::zero() && y > v {
            s = s + v * v * y;
        }
    }
    let larger = if x[2] > x[3] { x[2] } else { x[3] };
    if larger > T::one() {
        s = s + larger * y;
    }
    if x[0] > x[1] {
        s = s + x[0] * x[1];
    }
    s
}

#[test]
fn elements_by_value_and_let_bound_references() {
    for x in [vec![0.9, 0.2, 1.7, -0.3], vec![0.1, 2.2, 0.6, 1.1]] {
        let y = [0.4, 1.6, 0.7];
        let mut at = x.clone();
        at.extend(y);
        let n = x.len();
        let (value, (gx, gy)) = owned_elements_by_value_grad(x.clone(), y);
        let got: Vec<f64> = gx.iter().chain(&gy).copied().collect();
        let split = |p: &[f64]| (p[..n].to_vec(), [p[n], p[n + 1], p[n + 2]]);
        check(
            "owned_elements_by_value",
            &at,
            (value, got),
            |p: &[f64]| {
                let (a, b) = split(p);
                owned_elements_by_value(a, b)
            },
            |p: &[Fwd]| owned_elements_by_value(p[..n].to_vec(), [p[n], p[n + 1], p[n + 2]]),
        );
        let (value, (gx, gy)) = consumed_after_reads_grad([x[0], x[1]], x[2..].to_vec());
        let got: Vec<f64> = gx.iter().chain(&gy).copied().collect();
        check(
            "consumed_after_reads",
            &x,
            (value, got),
            |p: &[f64]| consumed_after_reads([p[0], p[1]], p[2..].to_vec()),
            |p: &[Fwd]| consumed_after_reads([p[0], p[1]], p[2..].to_vec()),
        );
        for y in [0.8, 1.5] {
            let mut at = x.clone();
            at.push(y);
            let (value, (gx, gy)) = let_bound_references_grad(&x, y);
            let got: Vec<f64> = gx.iter().copied().chain([gy]).collect();
            check(
                "let_bound_references",
                &at,
                (value, got),
                |p: &[f64]| let_bound_references(&p[..n], p[n]),
                |p: &[Fwd]| let_bound_references_reference(&p[..n], p[n]),
            );
        }
    }
}

#[test]
fn elements_by_reference_read_as_written() {
    for x in [
        vec![1.7, -0.2, 0.3, 2.5, 0.9],
        vec![-1.1, 0.4, 12.0, 1.6, -0.7],
    ] {
        let y = 0.8;
        let mut at = x.clone();
        at.push(y);
        let n = x.len();
        let (value, (gx, gy)) = by_reference_conditions_grad(&x, y);
        let got: Vec<f64> = gx.iter().copied().chain([gy]).collect();
        check(
            "by_reference_conditions",
            &at,
            (value, got),
            |p: &[f64]| by_reference_conditions(&p[..n], p[n]),
            |p: &[Fwd]| by_reference_conditions_reference(&p[..n], p[n]),
        );
        check(
            "by_reference_generic",
            &x,
            by_reference_generic_grad(&x),
            |p: &[f64]| by_reference_generic(p),
            |p: &[Fwd]| by_reference_generic(p),
        );
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let (_, g32) = by_reference_generic_grad(&x32);
        let (_, g64) = by_reference_generic_grad(&x);
        for (a, b) in g32.iter().zip(&g64) {
            assert!(
                (f64::from(*a) - b).abs() <= 1e-5 * (1.0 + b.abs()),
                "f32 {a} against f64 {b}"
            );
        }
    }
}

#[differentiate]
fn overwrite_read_element<T: Float>(x: &[T]) -> T {
    let mut y = vec![T::zero(); x.len()];
    for i in 0..x.len() {
        y[i] = x[i] * x[i];
    }
    // Read an element, then overwrite it with something that depends on the old value.
    let first = y[0];
    y[0] = first.exp() + y[1];
    y[1] = y[1] + first;
    y[0] * y[1]
}

/// Updates of an element in place (`a[i] = a[i] + e`, `e + a[i]`, `a[i] - e`), whose reverse leaves
/// the element's adjoint in place instead of taking it and adding it back; one also reads the
/// element again before the store.
#[differentiate]
fn in_place_updates<T: Float>(x: &[T]) -> T {
    let n = x.len();
    let mut y = vec![T::zero(); n];
    for i in 0..n {
        y[i] = x[i];
    }
    for i in 1..n {
        y[i] = y[i] + y[i].sin() * x[i - 1];
        y[i] = y[i] - y[i - 1] * c(0.3);
        y[i] = x[i].cos() + y[i];
    }
    let mut s = T::zero();
    for i in 0..n {
        s = s + y[i] * y[i];
    }
    s
}

#[test]
fn slices() {
    for x in [vec![0.4, -0.9], vec![0.1, 0.5, -0.3, 0.8, 1.7]] {
        check(
            "in_place_updates",
            &x,
            in_place_updates_grad(&x),
            |v| in_place_updates(v),
            |v| in_place_updates(v),
        );
    }
    for n in [2, 3, 10, 1000] {
        let x: Vec<f64> = (0..n).map(|i| 0.5 + 0.3 * (i as f64 * 0.7).sin()).collect();
        check(
            "rosenbrock",
            &x,
            rosenbrock_grad(&x),
            |v| rosenbrock(v),
            |v| rosenbrock(v),
        );
    }
    let coeffs = [1.0, -2.0, 0.5, 3.0];
    for x in [-1.3, 0.2, 2.0] {
        let mut args = coeffs.to_vec();
        args.push(x);
        let (value, (dc, dx)) = horner_grad(&coeffs, x);
        let mut g = dc;
        g.push(dx);
        check(
            "horner",
            &args,
            (value, g),
            |v| horner(&v[..4], v[4]),
            |v| horner(&v[..4], v[4]),
        );
    }
    let a: Vec<f64> = (0..6).map(|i| (i as f64 - 2.5) * 0.4).collect();
    let x = [0.3, -0.7];
    let (value, (da, dx)) = matvec_grad(&a, &x, 3);
    let args: Vec<f64> = a.iter().chain(&x).copied().collect();
    let g: Vec<f64> = da.iter().chain(&dx).copied().collect();
    check(
        "matvec",
        &args,
        (value, g),
        |v| matvec(&v[..6], &v[6..], 3),
        |v| matvec(&v[..6], &v[6..], 3),
    );
    for x in [vec![0.1, 0.5, -0.3, 0.8], vec![1.0, 2.0]] {
        check(
            "prefix_sum",
            &x,
            prefix_sum_grad(&x),
            |v| prefix_sum(v),
            |v| prefix_sum(v),
        );
        check(
            "softmax_xent",
            &x,
            softmax_cross_entropy_grad(&x, 1),
            |v| softmax_cross_entropy(v, 1),
            |v| softmax_cross_entropy(v, 1),
        );
        check(
            "piecewise_in_loop",
            &x,
            piecewise_in_loop_grad(&x),
            |v| piecewise_in_loop(v),
            |v| piecewise_in_loop(v),
        );
        check(
            "iterate_by_reference",
            &x,
            iterate_by_reference_grad(&x),
            |v| iterate_by_reference(v),
            |v| iterate_by_reference(v),
        );
        check(
            "iterate_reversed",
            &x,
            iterate_reversed_grad(&x),
            |v| iterate_reversed(v),
            |v| iterate_reversed(v),
        );
        check(
            "iterate_zipped",
            &x,
            iterate_zipped_grad(&x),
            |v| iterate_zipped(v),
            |v| iterate_zipped(v),
        );
        check(
            "shifted_carries",
            &x,
            shifted_carries_grad(&x),
            |v| shifted_carries(v),
            |v| shifted_carries(v),
        );
        let tangent: Vec<f64> = (0..x.len()).map(|i| 0.3 - 0.2 * i as f64).collect();
        let (value, along) = shifted_carries_jvp(&x, &tangent);
        assert_eq!(value.to_bits(), shifted_carries(&x).to_bits());
        let (_, g) = shifted_carries_grad(&x);
        let expect: f64 = g.iter().zip(&tangent).map(|(a, b)| a * b).sum();
        assert_all_close("shifted_carries jvp", &[along], &[expect], 1e-12, 1e-14);
        check(
            "iterate_ranges",
            &x,
            iterate_ranges_grad(&x, 1),
            |v| iterate_ranges(v, 1),
            |v| iterate_ranges(v, 1),
        );
        check(
            "iterate_adapted",
            &x,
            iterate_adapted_grad(&x),
            |v| iterate_adapted(v),
            |v| iterate_adapted(v),
        );
        check(
            "overwrite_read_element",
            &x,
            overwrite_read_element_grad(&x),
            |v| overwrite_read_element(v),
            |v| overwrite_read_element(v),
        );
    }
}

// ----- argument kinds and gradient types ---------------------------------------------------

#[differentiate]
fn fixed_array(x: [f64; 3], y: &[f64; 3]) -> f64 {
    let mut s = 0.0;
    for i in 0..3 {
        s += x[i] * y[i].exp();
    }
    s
}

#[differentiate]
fn owned_vec(x: Vec<f64>, w: &Vec<f64>) -> f64 {
    let mut s = 0.0;
    for (i, v) in x.into_iter().enumerate() {
        s += v * w[i];
    }
    s
}

#[differentiate]
fn nested_rows(x: &[Vec<f64>]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        for j in 0..x[i].len() {
            s += x[i][j] * (i + j) as f64;
        }
    }
    s * s
}

#[test]
fn gradient_types_follow_the_arguments() {
    let (value, (dx, dy)): (f64, ([f64; 3], [f64; 3])) =
        fixed_array_grad([1.0, 2.0, 3.0], &[0.1, 0.2, 0.3]);
    assert_eq!(value, fixed_array([1.0, 2.0, 3.0], &[0.1, 0.2, 0.3]));
    for i in 0..3 {
        let y = [0.1, 0.2, 0.3][i];
        assert!((dx[i] - f64::exp(y)).abs() < 1e-15);
        assert!((dy[i] - (i as f64 + 1.0) * f64::exp(y)).abs() < 1e-14);
    }
    let (value, (dx, dw)) = owned_vec_grad(vec![1.0, 2.0], &vec![3.0, 4.0]);
    assert_eq!(value, 11.0);
    assert_eq!((dx, dw), (vec![3.0, 4.0], vec![1.0, 2.0]));
    let x = vec![vec![1.0, 2.0], vec![3.0]];
    let (value, dx) = nested_rows_grad(&x);
    let s = 1.0 * 0.0 + 2.0 * 1.0 + 3.0 * 1.0;
    assert_eq!(value, s * s);
    assert_eq!(dx, vec![vec![0.0, 2.0 * s], vec![2.0 * s]]);
}

#[test]
fn f32_loops_match_f64() {
    let x64 = [0.4, -0.2, 0.9, 0.3];
    let x32: Vec<f32> = x64.iter().map(|&v| v as f32).collect();
    let (v32, g32) = softmax_cross_entropy_grad(&x32, 2);
    let (v64, g64) = softmax_cross_entropy_grad(&x64, 2);
    assert!((f64::from(v32) - v64).abs() < 1e-6);
    for (a, b) in g32.iter().zip(&g64) {
        assert!((f64::from(*a) - b).abs() < 1e-6, "{a} vs {b}");
    }
    let (r32, d32) = rosenbrock_grad(&x32);
    let (r64, d64) = rosenbrock_grad(&x64);
    assert!((f64::from(r32) - r64).abs() < 1e-4 * r64.abs());
    for (a, b) in d32.iter().zip(&d64) {
        assert!(
            (f64::from(*a) - b).abs() < 1e-4 * b.abs().max(1.0),
            "{a} vs {b}"
        );
    }
}

#[differentiate]
fn table_lookup(x: &[f64], t: f64) -> f64 {
    // The index comes from an active value: a float cast to an integer has derivative zero.
    let i = (t * 2.0) as usize;
    x[i] * t + x[i + 1]
}

#[test]
fn integer_casts_of_active_values_are_constants() {
    let x = [1.0, 2.0, 3.0, 4.0];
    let (value, (dx, dt)) = table_lookup_grad(&x, 1.2);
    assert_eq!(value, 3.0 * 1.2 + 4.0);
    assert_eq!(dx, vec![0.0, 0.0, 1.2, 1.0]);
    assert_eq!(dt, 3.0);
}

fn vec1(g: (f64, f64)) -> (f64, Vec<f64>) {
    (g.0, vec![g.1])
}

#[differentiate]
fn neuron<T: Float>(w: &[T], x: &[T], b: T) -> T {
    let mut z = b;
    for i in 0..w.len() {
        z = z + w[i] * x[i];
    }
    autodiff::sigmoid(z) + autodiff::softplus(z * c(0.5)) + autodiff::relu(z - c(0.2))
}

#[test]
fn differentiable_helpers() {
    for (w, x, b) in [
        ([0.3, -0.8], [1.0, 2.0], 0.1),
        ([1.5, 0.2], [-0.4, 0.9], -2.0),
    ] {
        let (value, (dw, dx, db)) = neuron_grad(&w, &x, b);
        let args: Vec<f64> = w.iter().chain(&x).copied().chain([b]).collect();
        let mut g = dw;
        g.extend(dx);
        g.push(db);
        let f = |v: &[f64]| neuron(&v[..2], &v[2..4], v[4]);
        assert_eq!(value.to_bits(), f(&args).to_bits());
        check_grad(f, &args, &g).unwrap();
    }
    // At z = 0.2 the relu sits exactly at its kink, where its derivative is 0:
    // d/db = sigmoid'(0.2) + sigmoid(0.1) / 2 + 0.
    let (_, (_, _, db)) = neuron_grad(&[0.0], &[0.0], 0.2);
    let s = 1.0 / (1.0 + (-0.2f64).exp());
    let want = s * (1.0 - s) + 0.5 / (1.0 + (-0.1f64).exp());
    assert!((db - want).abs() < 1e-15, "{db} vs {want}");
}

#[differentiate]
fn strided<T: Float>(x: &[T], a: T) -> T {
    // An integer counter the reverse pass counts back down instead of saving.
    let mut k = 1;
    let mut s = T::zero();
    for _ in 0..x.len() / 2 {
        s = s + x[k] * x[k - 1] * a;
        k += 2;
    }
    let mut m = 0;
    while m < x.len() {
        s = s + x[m].sin();
        m += 3;
    }
    s
}

#[test]
fn integer_counters() {
    for x in [vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], vec![1.5, -0.5]] {
        let (value, (dx, da)) = strided_grad(&x, 1.3);
        let mut args = x.clone();
        args.push(1.3);
        let mut g = dx;
        g.push(da);
        check(
            "strided",
            &args,
            (value, g),
            |v| strided(&v[..v.len() - 1], v[v.len() - 1]),
            |v| strided(&v[..v.len() - 1], v[v.len() - 1]),
        );
    }
}

#[differentiate]
#[allow(
    clippy::clone_on_copy,
    reason = "cloning a scalar is part of what is tested"
)]
fn modified_copy(x: &[f64], mut v: Vec<f64>) -> f64 {
    // A copy written in place must leave the original alone.
    let mut y = x.to_vec();
    y[0] *= 3.0;
    let w = v.clone();
    v[1] = w[0] * x[1];
    let a = x[0].clone();
    y[0] + x[0] * y[1] + v[1] * w[1] + a
}

#[test]
fn copies_of_arrays_are_values_of_their_own() {
    let x = [2.0, 5.0];
    let v = vec![0.5, 7.0];
    let (value, (dx, dv)) = modified_copy_grad(&x, v.clone());
    // f = 3 x0 + x0 x1 + v0 x1 v1 + x0.
    assert_eq!(value, modified_copy(&x, v.clone()));
    assert_eq!(value, 3.0 * 2.0 + 2.0 * 5.0 + 0.5 * 5.0 * 7.0 + 2.0);
    assert_eq!(dx, vec![3.0 + 5.0 + 1.0, 2.0 + 0.5 * 7.0]);
    assert_eq!(dv, vec![5.0 * 7.0, 0.5 * 5.0]);
}

#[differentiate(wrt(x))]
fn built_by_push(x: &[f64], n: usize) -> f64 {
    // An inactive Vec grown by push, then read: it stays mutable, and the reverse pass reads the
    // values it saved rather than the Vec, which later pushes change.
    let mut weights = Vec::new();
    for i in 0..n {
        weights.push(i as f64 + 0.5);
    }
    let mut acc = 0.0;
    for k in 0..x.len() {
        acc += weights[k] * x[k] * x[k];
    }
    weights.clear();
    weights.push(100.0);
    acc + weights[0]
}

#[test]
fn vectors_grown_by_method_calls() {
    let x = [1.0, -2.0, 3.0];
    let (value, dx) = built_by_push_grad(&x, 3);
    assert_eq!(value, built_by_push(&x, 3));
    assert_eq!(dx, vec![2.0 * 0.5 * 1.0, 2.0 * 1.5 * -2.0, 2.0 * 2.5 * 3.0]);
}

#[differentiate]
fn returned_value_also_stored(x: &[f64], n: usize) -> f64 {
    // The result is read from an array and then written back into it: the graph has a cycle
    // through the array, and the result's adjoint receives a (zero) contribution.
    let mut y = vec![0.0; x.len()];
    y[0] = x[0] * 2.0;
    let t = y[n % x.len()];
    y[1] = t.atan2(x[1]);
    t
}

#[test]
fn a_result_written_into_an_array() {
    let x = [1.5, 2.0];
    assert_eq!(
        returned_value_also_stored_grad(&x, 0),
        (3.0, vec![2.0, 0.0])
    );
    assert_eq!(
        returned_value_also_stored_grad(&x, 1),
        (0.0, vec![0.0, 0.0])
    );
}

// ----- labelled loops --------------------------------------------------------------------------

/// Labels on loops, with `break 'label` and `continue 'label` naming the innermost loop (the
/// same as plain ones).
#[differentiate]
fn labelled_loops<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    'rows: for i in 0..x.len() {
        let mut k = 0;
        'steps: while k < 3 {
            k += 1;
            if x[i] * c(k as f64) > c(2.5) {
                break 'steps;
            }
            s = s + x[i] * x[i];
        }
        if x[i] < T::zero() {
            continue 'rows;
        }
        let mut y = x[i];
        'halve: loop {
            y = y * c(0.5);
            if y < c(0.1) {
                break 'halve;
            }
        }
        s = s + y.sin();
    }
    s
}

#[test]
fn labels_naming_the_innermost_loop() {
    for x in [
        vec![0.3, -0.7, 1.9, 2.6],
        vec![1.2, 0.05, -0.2],
        vec![3.0, 0.9],
    ] {
        check(
            "labelled_loops",
            &x,
            labelled_loops_grad(&x),
            |v| labelled_loops(v),
            |v| labelled_loops(v),
        );
    }
}

/// `break 'outer` and `continue 'outer` from loops inside: a search that stops at the first
/// large product, rows skipped from a loop two levels down, a `while` left from a `for`.
#[differentiate]
fn leaving_outer_loops<T: Float>(x: &[T], a: T) -> T {
    let mut s = T::zero();
    'search: for i in 0..x.len() {
        for j in 0..x.len() {
            let p = x[i] * x[j] * a;
            if p > c(3.0) {
                s = s + p.sqrt();
                break 'search;
            }
            s = s + p.sin();
        }
        s = s * c(0.9);
    }
    'rows: for i in 0..x.len() {
        let mut k = 0;
        while k < 2 {
            k += 1;
            for j in 0..i {
                if x[j] < T::zero() {
                    continue 'rows;
                }
                s = s + x[j] * a * c(k as f64);
            }
            s = s + x[i].cos();
        }
        s = s + a * x[i];
    }
    let mut t = a;
    'newton: while t < c(10.0) {
        for v in x.iter() {
            t = t + *v * *v + c(0.5);
            if t > c(4.0) {
                break 'newton;
            }
        }
        t = t * c(1.5);
    }
    s + t
}

#[test]
fn breaks_and_continues_out_of_outer_loops() {
    for (x, a) in [
        (vec![0.3, -0.7, 1.9, 2.6], 0.8),
        (vec![1.2, 0.05, -0.2], 1.7),
        (vec![0.1, 0.2], 0.3),
        (vec![-0.5, 0.4, 0.9, -1.1, 0.6], 2.5),
    ] {
        let (value, (gx, ga)) = leaving_outer_loops_grad(&x, a);
        let mut all = x.clone();
        all.push(a);
        let mut grad = gx.clone();
        grad.push(ga);
        let n = x.len();
        check(
            "leaving_outer_loops",
            &all,
            (value, grad),
            |v| leaving_outer_loops(&v[..n], v[n]),
            |v| leaving_outer_loops(&v[..n], v[n]),
        );
    }
}

/// A labelled loop inside another loop, left by its own `break 'label`: the statements after it
/// in the outer loop are not guarded by a flag the outer loop does not have (found by the fuzzer:
/// the expansion read `!()`).
#[differentiate]
fn labelled_inner_loop<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..x.len() {
        'inner: for j in 0..x.len() {
            if x[j] > x[i] {
                break 'inner;
            }
            s = s + x[i] * x[j];
        }
        s = s * c(0.5) + x[i].sin();
    }
    s
}

#[test]
fn a_labelled_loop_left_by_its_own_break() {
    for x in [vec![0.3, -0.7, 1.9, 2.6], vec![1.2, 0.05, -0.2]] {
        check(
            "labelled_inner_loop",
            &x,
            labelled_inner_loop_grad(&x),
            |v| labelled_inner_loop(v),
            |v| labelled_inner_loop(v),
        );
    }
}

/// An array made in each iteration of a loop that sums into the result, written and read in
/// the iteration. That loop's reverse runs inside the forward loop, iteration by iteration, and
/// the array's adjoint was never declared there: its writes' and reads' contributions were
/// dropped and the gradient was zero (found writing array literals; now a missing adjoint is a
/// compile error, never a wrong gradient).
#[differentiate]
fn scratch_made_in_each_iteration<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..x.len() - 1 {
        let mut pair = [T::zero(); 2];
        pair[0] = x[i];
        pair[1] = x[i + 1] * pair[0];
        let mut v = vec![T::zero(); 2];
        v[1] = pair[1].sin();
        s = s + (pair[0] * pair[1] + v[1]);
    }
    s
}

#[test]
fn an_array_made_in_each_iteration_of_a_summing_loop() {
    for x in [vec![0.3, -0.2, 1.5, 0.8], vec![-1.1, 0.6, 0.25]] {
        check(
            "scratch_made_in_each_iteration",
            &x,
            scratch_made_in_each_iteration_grad(&x),
            |v| scratch_made_in_each_iteration(v),
            |v| scratch_made_in_each_iteration(v),
        );
    }
}
