use autodiff::differentiate;

fn norm_rule(x: f64, y: f64, d: f64) -> (f64, (f64, f64)) {
    let n = x.hypot(y);
    (n, (d * x / n, d * y / n))
}

/// The rule is a function path, not a `Fn(...)` type.
#[differentiate(vjp = norm_rule(f64, f64))]
fn norm(x: f64, y: f64) -> f64 {
    x.hypot(y)
}

fn main() {
    let _ = norm_grad(3.0, 4.0);
}
