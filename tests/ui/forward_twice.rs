use autodiff::differentiate;

#[differentiate(forward, forward)]
fn twice(x: f64) -> f64 {
    x * x
}

#[differentiate(forward = true)]
fn with_value(x: f64) -> f64 {
    x * x
}

fn main() {}
