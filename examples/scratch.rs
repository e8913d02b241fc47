use autodiff::differentiate;

/// Rosenbrock's banana.
#[differentiate]
pub fn rosen(x: f64, y: f64) -> f64 {
    let a = 1.0 - x;
    let b = y - x * x;
    a * a + 100.0 * b * b
}

#[differentiate]
fn gen<T: num_traits::Float>(x: T, y: T) -> T {
    let two = T::from(2.0).unwrap();
    let mut s = x.sin() * y;
    s = s + T::exp(x) / two;
    println!("s = {:?}", s.to_f64());
    s.powi(2).max(y)
}

fn main() {
    let (v, (dx, dy)) = rosen_grad(-1.2, 1.0);
    println!("{v} {dx} {dy} {}", rosen(-1.2, 1.0));
    println!("{:?}", gen_grad(0.5f32, 2.0f32));
}
