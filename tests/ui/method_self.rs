use autodiff::differentiate;

struct Model {
    w: f64,
}

impl Model {
    #[differentiate]
    fn loss(&self, x: f64) -> f64 {
        self.w * x * x
    }
}

fn main() {}
