use autodiff::differentiate;

#[differentiate]
fn f(x: f64) -> f64 {
    let scale = |t: f64| t * x;
    scale(2.0)
}

fn main() {}

#[differentiate]
fn through_a_local_closure(x: f64) -> f64 {
    let square = |t: f64| t * t;
    square(x) + 1.0
}
