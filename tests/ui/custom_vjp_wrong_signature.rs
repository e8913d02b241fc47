use autodiff::differentiate;

#[differentiate(vjp = rule)]
fn f(x: f64, y: f64) -> f64 {
    x * y
}

/// Forgets `y` and `d_out`.
fn rule(x: f64) -> (f64, f64) {
    (x, 1.0)
}

fn main() {}
