use autodiff::{differentiate, sigmoid};

#[differentiate]
fn f(x: f64) -> f64 {
    sigmoid(x * 2.0)
}

fn main() {}
