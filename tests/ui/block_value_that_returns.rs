use autodiff::differentiate;

#[differentiate]
fn f(x: f64) -> f64 {
    let s = {
        return x * x;
    };
    s
}

fn main() {}
