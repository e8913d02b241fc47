use autodiff::differentiate;

#[differentiate]
fn f<const N: usize>(x: f64) -> f64 {
    let v = [x; N];
    v[0] * v[N - 1]
}

#[differentiate]
fn g(x: f64, n: usize) -> f64 {
    let v = vec![x; n];
    v[0]
}

fn main() {}
