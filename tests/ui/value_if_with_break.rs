use autodiff::differentiate;

#[differentiate]
fn f(x: f64) -> f64 {
    let mut s = x;
    for _ in 0..4 {
        let y = if s > 3.0 { break } else { s * 2.0 };
        s = y;
    }
    s
}

fn main() {}
