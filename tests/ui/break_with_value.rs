use autodiff::differentiate;

#[differentiate]
fn f(x: f64) -> f64 {
    let mut s = x;
    let y = loop {
        s *= 2.0;
        if s > 5.0 {
            break s;
        }
    };
    y
}

fn main() {}
