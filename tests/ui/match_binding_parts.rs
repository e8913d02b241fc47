use autodiff::differentiate;

#[differentiate]
fn f(x: f64, p: (i32, i32)) -> f64 {
    match p {
        (0, k) => x * k as f64,
        _ => x,
    }
}

fn main() {}
