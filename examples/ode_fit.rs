//! Fit a damped spring to observations by gradient descent, differentiating through an RK4
//! integrator.
//!
//! ```text
//! cargo run --release --example ode_fit
//! ```
//!
//! The model is `x'' = -k x - c x'`. `rk4` takes one fixed step of the state `(x, v)`; `loss`
//! runs it for every observation and sums the squared errors of `x`. The gradient of the loss
//! with respect to the parameter struct `Spring { k, c }` flows back through every step: `loss`
//! calls `rk4`, which calls `deriv`, each `#[differentiate]`d, and the reverse pass of each call is
//! the callee's generated `_vjp_all`. The example first checks that gradient against central
//! differences, then fits `k` and `c` to observations made with `k = 4, c = 0.3`.

use autodiff::ndarray::Array1;
use autodiff::{differentiate, Tangent};

/// The spring's parameters: stiffness and damping.
#[derive(Clone, Copy, Debug, Tangent)]
struct Spring {
    k: f64,
    c: f64,
}

/// The state's time derivative: `(v, -k x - c v)`.
#[differentiate(wrt(p, s))]
fn deriv(p: Spring, s: &Array1<f64>) -> Array1<f64> {
    let mut out = Array1::zeros(2);
    out[0] = s[1];
    out[1] = -p.k * s[0] - p.c * s[1];
    out
}

/// One classical Runge–Kutta step of length `dt`.
#[differentiate(wrt(p, s))]
fn rk4(p: Spring, s: &Array1<f64>, dt: f64) -> Array1<f64> {
    let k1 = deriv(p, s);
    let k2 = deriv(p, &(s + &k1 * (0.5 * dt)));
    let k3 = deriv(p, &(s + &k2 * (0.5 * dt)));
    let k4 = deriv(p, &(s + &k3 * dt));
    s + (k1 + k2 * 2.0 + k3 * 2.0 + k4) * (dt / 6.0)
}

/// Mean squared error of the simulated positions against the observations, one RK4 step
/// between observations.
#[differentiate(wrt(p))]
fn loss(p: Spring, s0: &Array1<f64>, observed: &[f64], dt: f64) -> f64 {
    let mut s = s0.to_owned();
    let mut total = 0.0;
    for &o in observed.iter() {
        s = rk4(p, &s, dt);
        let e = s[0] - o;
        total += e * e;
    }
    total / observed.len() as f64
}

fn main() {
    let dt = 0.05;
    let s0 = Array1::from_vec(vec![1.0, 0.0]);
    let truth = Spring { k: 4.0, c: 0.3 };

    // Observations: the true spring, integrated finely, sampled every `dt`, with a little
    // deterministic noise.
    let mut observed = Vec::new();
    let mut s = s0.clone();
    for t in 0..120 {
        for _ in 0..10 {
            s = rk4(truth, &s, dt / 10.0);
        }
        let noise = 0.01 * ((t as f64) * 12.9898).sin();
        observed.push(s[0] + noise);
    }

    // The gradient through 120 integrator steps against central differences.
    let mut p = Spring { k: 2.0, c: 1.0 };
    let (value, grad) = loss_grad(p, &s0, &observed, dt);
    let h = 1e-6;
    let dk = (loss(Spring { k: p.k + h, ..p }, &s0, &observed, dt)
        - loss(Spring { k: p.k - h, ..p }, &s0, &observed, dt))
        / (2.0 * h);
    let dc = (loss(Spring { c: p.c + h, ..p }, &s0, &observed, dt)
        - loss(Spring { c: p.c - h, ..p }, &s0, &observed, dt))
        / (2.0 * h);
    println!("loss at k = 2, c = 1: {value:.6}");
    println!(
        "  d/dk: generated {:+.8}, central differences {dk:+.8}",
        grad.k
    );
    println!(
        "  d/dc: generated {:+.8}, central differences {dc:+.8}",
        grad.c
    );
    assert!((grad.k - dk).abs() < 1e-6 * (1.0 + dk.abs()));
    assert!((grad.c - dc).abs() < 1e-6 * (1.0 + dc.abs()));

    // Gradient descent with a step that shrinks when the loss goes up.
    let mut step = 1.0;
    let mut current = value;
    for iteration in 0..=100 {
        let (l, g) = loss_grad(p, &s0, &observed, dt);
        current = l;
        if iteration % 20 == 0 {
            println!(
                "step {iteration:3}: loss {l:.3e}  k = {:.4}  c = {:.4}  |grad| = {:.2e}",
                p.k,
                p.c,
                g.norm()
            );
        }
        let mut next = p;
        next.scaled_add(-step, &g);
        if loss(next, &s0, &observed, dt) < l {
            p = next;
            step *= 1.2;
        } else {
            step *= 0.5;
        }
    }
    println!(
        "fitted k = {:.3} (true 4), c = {:.3} (true 0.3), loss {current:.2e}",
        p.k, p.c
    );
    assert!((p.k - truth.k).abs() < 0.05 && (p.c - truth.c).abs() < 0.05);
}
