//! Quickstart: minimise Rosenbrock's banana by gradient descent.
//!
//! `#[differentiate]` keeps `rosen` exactly as written and adds `rosen_grad` beside it, which
//! returns the value and the gradient `(∂f/∂x, ∂f/∂y)` in one call. The gradient code is plain
//! Rust written at compile time (reverse mode, no tape, no allocation), so a call costs about as
//! much as a hand-written gradient.
//!
//! ```text
//! cargo run --release --example quickstart
//! ```

use std::time::Instant;

use autodiff::differentiate;

/// Rosenbrock's banana: minimum 0 at (1, 1), at the end of a long, curved, nearly flat valley.
#[differentiate]
fn rosen(x: f64, y: f64) -> f64 {
    let a = 1.0 - x;
    let b = y - x * x;
    a * a + 100.0 * b * b
}

fn main() {
    // Plain gradient descent with a fixed step. The step has to stay below 2 / (largest
    // curvature), about 2e-3 here; along the flat valley floor that makes progress slow, so it
    // takes a few tens of thousands of (cheap) steps.
    let step = 1e-3;
    let tolerance = 1e-8; // stop when the gradient is this small
    let max_iters = 100_000;

    let (mut x, mut y) = (-1.2, 1.0);
    let start = Instant::now();
    println!(
        "{:>6}  {:>10}  {:>26}  {:>9}",
        "iter", "f", "(x, y)", "|grad|"
    );
    for iter in 0..=max_iters {
        // The value and both partial derivatives, from one call.
        let (value, (dx, dy)) = rosen_grad(x, y);
        let norm = dx.hypot(dy);
        let done = norm < tolerance || iter == max_iters;
        if iter % 5_000 == 0 || done {
            println!("{iter:>6}  {value:>10.3e}  ({x:>11.8}, {y:>11.8})  {norm:>9.2e}");
        }
        if done {
            break;
        }
        x -= step * dx;
        y -= step * dy;
    }

    println!(
        "minimum found at ({x:.8}, {y:.8}), f = {:.2e}, in {:.1?}",
        rosen(x, y),
        start.elapsed()
    );
}
