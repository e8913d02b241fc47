//! A small program whose expansion (`cargo expand --example expansion`) shows the two ways a
//! loop is reversed: a loop that sums into the result runs each iteration's reverse inside the
//! forward loop (`rosenbrock`); any other loop saves what its reverse needs on a tape and runs
//! backwards over it after the forward pass (`horner`).
use autodiff::differentiate;

/// Extended Rosenbrock over a slice.
#[differentiate]
pub fn rosenbrock(x: &[f64]) -> f64 {
    let mut f = 0.0;
    for i in 0..x.len() - 1 {
        let a = 1.0 - x[i];
        let b = x[i + 1] - x[i] * x[i];
        f += a * a + 100.0 * b * b;
    }
    f
}

/// A polynomial by Horner's rule, with respect to its point and its coefficients: each
/// iteration multiplies the running value, so the reverse reads every iteration's value.
#[differentiate]
pub fn horner(coefficients: &[f64], x: f64) -> f64 {
    let mut y = 0.0;
    for &c in coefficients.iter().rev() {
        y = y * x + c;
    }
    y
}

fn main() {
    let (value, grad) = rosenbrock_grad(&[-1.2, 1.0, 0.5]);
    println!("f = {value}, grad = {grad:?}");
    let (value, (d_coefficients, d_x)) = horner_grad(&[1.0, -2.0, 3.0], 0.5);
    println!("p = {value}, d coefficients = {d_coefficients:?}, d x = {d_x}");
}
