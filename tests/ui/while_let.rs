use autodiff::differentiate;

#[differentiate]
fn f(x: f64, mut v: Vec<f64>) -> f64 {
    let mut s = x;
    while let Some(c) = v.pop() {
        s = s * c;
    }
    s
}

fn main() {}
