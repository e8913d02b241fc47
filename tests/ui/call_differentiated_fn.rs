use autodiff::differentiate;

#[differentiate]
fn square(t: f64) -> f64 {
    t * t
}

#[differentiate]
fn f(x: f64) -> f64 {
    1.0 + square(x)
}

fn main() {}
