use autodiff::differentiate;

/// Differentiated with respect to `x` only: `scale` is a constant to it.
#[differentiate(wrt(x), forward)]
fn scaled(x: f64, scale: f64) -> f64 {
    x * scale
}

#[differentiate(forward)]
fn caller(a: f64, b: f64) -> f64 {
    scaled(a, b.exp())
}

fn main() {
    let _ = caller_jvp(1.0, 2.0, 1.0, 0.0);
}
