use autodiff::differentiate;

#[differentiate]
fn f(x: f64) -> f64 {
    let mut s = x;
    'outer: for _ in 0..3 {
        for _ in 0..2 {
            s *= 2.0;
            if s > 5.0 {
                break 'outer;
            }
        }
    }
    s
}

fn main() {}
