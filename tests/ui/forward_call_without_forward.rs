use autodiff::differentiate;

/// Reverse mode only: no `square_jvp`.
#[differentiate]
fn square(x: f64) -> f64 {
    x * x
}

#[differentiate(forward)]
fn caller(a: f64) -> f64 {
    square(a) + a
}

fn main() {
    let _ = caller_jvp(1.0, 1.0);
}
