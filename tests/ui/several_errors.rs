use autodiff::differentiate;

fn helper(t: f64) -> f64 {
    t
}

#[differentiate]
fn f(x: f64, y: f64) -> f64 {
    let a = x.copysign(y);
    let b = helper(y);
    let c = x as f32;
    let d = dbg!(x * y);
    if y > 0.0 {
        return d;
    }
    a + b + f64::from(c) + d
}

fn main() {}
