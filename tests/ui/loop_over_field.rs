use autodiff::{differentiate, Tangent};

#[derive(Clone, Tangent)]
struct Params {
    w: Vec<f64>,
    b: f64,
}

#[differentiate(wrt(p))]
fn loss(p: &Params, x: &[f64]) -> f64 {
    let mut s = p.b;
    for (w, v) in p.w.iter().zip(x.iter()) {
        s += w * v;
    }
    s
}

fn main() {}
