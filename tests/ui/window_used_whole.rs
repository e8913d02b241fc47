use autodiff::differentiate;

#[differentiate]
fn norm(v: &[f64]) -> f64 {
    (v[0] * v[0] + v[1] * v[1]).sqrt()
}

#[differentiate]
fn path_length(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for w in x.windows(2) {
        s += norm(w);
    }
    s
}

#[differentiate]
fn sizes(x: &[f64], k: &[usize]) -> f64 {
    let mut s = 0.0;
    for c in x.chunks(k[0]) {
        s += c[0];
    }
    s
}

#[differentiate]
fn shadowed(x: &[f64], y: &[f64]) -> f64 {
    let mut s = 0.0;
    for w in x.windows(2) {
        s += w[0];
        let w = y;
        s += w[1];
    }
    s
}

fn main() {}
