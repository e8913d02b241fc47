//! `#[differentiate]` on methods: `&self` inactive by default, active through `wrt(self)` when
//! `Self` derives `Tangent`; the companions are methods too. References: central differences of
//! the original methods.

use autodiff::ndarray::Array1;
use autodiff::{differentiate, Tangent};

#[derive(Clone, Debug, Tangent)]
struct Model {
    w: Array1<f64>,
    b: f64,
}

impl Model {
    /// `self` is a constant here: the gradient is with respect to `x` only.
    #[differentiate]
    fn predict(&self, x: f64) -> f64 {
        (self.w.sum() * x + self.b).tanh()
    }

    /// The gradient is a `Model`.
    #[differentiate(wrt(self))]
    fn loss(&self, x: &Array1<f64>, y: f64) -> f64 {
        let p = (x.dot(&self.w) + self.b).tanh();
        (p - y) * (p - y)
    }

    /// Both the receiver and an argument.
    #[differentiate(wrt(self, x))]
    fn both(&self, x: f64) -> f64 {
        self.b * x * x + self.w[0] * x.sin()
    }
}

fn model() -> Model {
    Model {
        w: Array1::from_vec(vec![0.3, -0.2, 0.5]),
        b: 0.1,
    }
}

fn central(f: &dyn Fn(f64) -> f64, x: f64) -> f64 {
    let h = 1e-6;
    (f(x + h) - f(x - h)) / (2.0 * h)
}

#[test]
fn a_method_with_an_inactive_receiver() {
    let m = model();
    for x in [0.4, -1.3] {
        let (value, d) = m.predict_grad(x);
        assert_eq!(value.to_bits(), m.predict(x).to_bits());
        let want = central(&|x| m.predict(x), x);
        assert!((d - want).abs() < 1e-9, "{d} {want}");
    }
}

#[test]
fn a_method_differentiated_with_respect_to_self() {
    let m = model();
    let x = Array1::from_vec(vec![1.0, 0.5, -2.0]);
    let (value, g) = m.loss_grad(&x, 0.25);
    assert_eq!(value.to_bits(), m.loss(&x, 0.25).to_bits());
    for i in 0..3 {
        let want = central(
            &|wi| {
                let mut n = m.clone();
                n.w[i] = wi;
                n.loss(&x, 0.25)
            },
            m.w[i],
        );
        assert!((g.w[i] - want).abs() < 1e-9, "w[{i}]: {} {want}", g.w[i]);
    }
    let want_b = central(&|b| Model { b, ..m.clone() }.loss(&x, 0.25), m.b);
    assert!((g.b - want_b).abs() < 1e-9);
}

#[test]
fn a_method_with_respect_to_self_and_an_argument() {
    let m = model();
    let (_, (g, dx)) = m.both_grad(0.7);
    assert!((dx - (2.0 * m.b * 0.7 + m.w[0] * 0.7_f64.cos())).abs() < 1e-15);
    assert!((g.b - 0.49).abs() < 1e-15);
    assert!((g.w[0] - 0.7_f64.sin()).abs() < 1e-15);
    assert_eq!((g.w[1], g.w[2]), (0.0, 0.0));
}
