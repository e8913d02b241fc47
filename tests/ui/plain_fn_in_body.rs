// A function declared inside the differentiated function without `#[differentiate]` has no
// reverse pass: calling it on an active value is a compile error at the call that names the fix
// (rustc alone would say only that `helper_vjp_all` cannot be found).
use autodiff::differentiate;

#[differentiate]
fn energy(x: &[f64]) -> f64 {
    fn helper(t: f64) -> f64 {
        t * t
    }
    let mut s = 0.0;
    for i in 0..x.len() {
        s += helper(x[i]) + helper(i as f64);
    }
    s
}

fn main() {
    let _ = energy_grad(&[1.0, 2.0]);
}
