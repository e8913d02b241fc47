use autodiff::differentiate;

struct Params {
    w: f64,
}

#[differentiate(wrt(p))]
fn loss(p: &Params, x: f64) -> f64 {
    p.w * x
}

fn main() {}
