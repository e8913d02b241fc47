use autodiff::differentiate;

struct Point {
    x: f64,
    y: f64,
}

#[differentiate]
fn f(x: f64, y: f64) -> f64 {
    let p = Point { x, y: 2.0 * y };
    p.x * p.y
}

fn main() {}
