use autodiff::differentiate;

#[differentiate]
fn f((a, b): (f64, f64)) -> f64 {
    a * b
}

#[differentiate]
fn g(x: f64, n: usize) -> Vec<f64> {
    vec![x; n]
}

fn main() {
    let _ = f_grad((1.0, 2.0));
    let _ = g_vjp(1.0, 2, vec![1.0; 2]);
}
