//! A small program whose expansion (`cargo expand --example expansion`) shows a loop's tape.
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

fn main() {
    let (value, grad) = rosenbrock_grad(&[-1.2, 1.0, 0.5]);
    println!("f = {value}, grad = {grad:?}");
}
