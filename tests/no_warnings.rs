//! Generated code compiles without warnings under `#![deny(warnings)]` in the user's crate, for
//! the forms that once produced some (parenthesised constants, unit blocks), and companions of
//! generic functions whose generics the arguments do not determine.
#![deny(warnings)]

use autodiff::differentiate;
use num_traits::Float;

/// A deprecated function: its companions name it without a warning of their own.
#[deprecated(note = "a deprecated function still differentiates")]
#[differentiate(forward)]
fn deprecated_square(x: f64) -> f64 {
    x * x
}

#[differentiate]
fn scaled(x: f64, n: i32) -> f64 {
    x * (n as f64)
}

#[differentiate(wrt(y))]
fn shifted(x: f64, y: f64) -> f64 {
    y * (x + 1.0)
}

#[differentiate]
fn block_statement(x: f64, y: f64) -> f64 {
    let mut s = x;
    {
        s *= y;
    }
    s + 1.0
}

#[differentiate]
fn times_n<T: Float, const N: usize>(x: T) -> T {
    x * T::from(N).unwrap()
}

#[differentiate]
fn loops_and_branches(x: &[f64], k: usize) -> f64 {
    let mut s = 0.0;
    let mut count = 0;
    for (i, v) in x.iter().enumerate() {
        if i % 2 == 0 {
            continue;
        }
        count += 1;
        s += v * v;
        if count > k {
            break;
        }
    }
    s
}

#[test]
fn a_deprecated_function() {
    assert_eq!(deprecated_square_grad(3.0), (9.0, 6.0));
}

#[test]
fn parenthesised_constants() {
    assert_eq!(scaled_grad(2.0, 3), (6.0, 3.0));
    assert_eq!(shifted_grad(2.0, 5.0), (15.0, 3.0));
}

#[test]
fn unit_block_statements() {
    // f = x y + 1: df/dx = y, df/dy = x.
    assert_eq!(block_statement_grad(2.0, 3.0), (7.0, (3.0, 2.0)));
}

#[test]
fn generics_the_arguments_do_not_determine() {
    // f = N x: df/dx = N.
    assert_eq!(times_n_grad::<f64, 3>(0.5), (1.5, 3.0));
}

#[test]
fn enumerate_continue_break() {
    // Odd positions 1 and 3 are summed (the break comes after the second).
    let (value, g) = loops_and_branches_grad(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 1);
    assert_eq!(value, 4.0 + 16.0);
    assert_eq!(g, vec![0.0, 4.0, 0.0, 8.0, 0.0, 0.0]);
}
