use autodiff::differentiate;

#[differentiate]
fn f(x: f64, y: f64) -> f64 {
    x.copysign(y)
}

fn main() {
    let (value, (dx, dy)): (f64, (f64, f64)) = f_grad(1.0, 2.0);
    let (_, _): (f64, (f64, f64)) = f_vjp(1.0, 2.0, 1.0);
    println!("{value} {dx} {dy}");
}
