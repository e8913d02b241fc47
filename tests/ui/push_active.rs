use autodiff::differentiate;

#[differentiate]
fn f(x: f64) -> f64 {
    let mut v = Vec::new();
    v.push(x * 2.0);
    v[0]
}

fn main() {}
