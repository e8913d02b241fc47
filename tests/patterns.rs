//! `let` patterns: plain, tuple (also typed), and any pattern Rust allows on inactive values.

use autodiff::differentiate;

struct Pair {
    a: f64,
    b: f64,
}

#[differentiate(wrt(x))]
fn struct_pattern(x: f64, p: Pair) -> f64 {
    let Pair { a, b } = p;
    a * x + b * x.sin()
}

#[differentiate]
fn typed_tuple(x: f64, y: f64) -> f64 {
    let (a, b): (f64, f64) = (x, 2.0 * y);
    a * b
}

#[differentiate(wrt(x))]
fn nested_inactive_pattern(x: f64, pairs: [(f64, f64); 2]) -> f64 {
    let [(a, mut b), (c, _)] = pairs;
    b += c;
    (a * x).exp() + b * x
}

#[differentiate]
fn swap(x: f64, y: f64) -> f64 {
    let (a, b) = (x * x, y);
    let (a, b) = (b, a);
    a * 3.0 + b
}

#[test]
fn struct_pattern_on_an_inactive_argument() {
    let (value, dx) = struct_pattern_grad(0.5, Pair { a: 2.0, b: 3.0 });
    assert_eq!(value, struct_pattern(0.5, Pair { a: 2.0, b: 3.0 }));
    assert!((dx - (2.0 + 3.0 * 0.5_f64.cos())).abs() < 1e-15);
}

#[test]
fn typed_tuple_pattern() {
    let (value, (dx, dy)) = typed_tuple_grad(1.5, -2.0);
    assert_eq!(value, 1.5 * -4.0);
    assert_eq!((dx, dy), (-4.0, 3.0));
}

#[test]
fn nested_pattern_with_mut_binding() {
    let pairs = [(0.5, 1.0), (2.0, 9.0)];
    let (value, dx) = nested_inactive_pattern_grad(0.3, pairs);
    assert_eq!(value, nested_inactive_pattern(0.3, pairs));
    // d/dx [exp(a x) + (b + c) x] with a = 0.5, b + c = 3.
    assert!((dx - (0.5 * (0.15_f64).exp() + 3.0)).abs() < 1e-14);
}

#[test]
fn tuple_swap() {
    let (value, (dx, dy)) = swap_grad(2.0, 5.0);
    assert_eq!(value, 5.0 * 3.0 + 4.0);
    assert_eq!((dx, dy), (4.0, 3.0));
}

/// `let [a, b, c] = x;` of an active fixed array: each name one element.
#[differentiate]
fn array_pattern(p: [f64; 3], q: [f64; 3]) -> f64 {
    let [px, py, pz] = p;
    let [qx, _, mut qz] = q;
    qz *= 2.0;
    let r = ((px - qx).powi(2) + py * py + (pz - qz).powi(2)).sqrt();
    r.ln() + qx * pz
}

#[test]
fn array_pattern_on_an_active_argument() {
    let (p, q) = ([0.3, -1.1, 0.7], [1.2, 0.4, -0.5]);
    let (value, (gp, gq)) = array_pattern_grad(p, q);
    assert_eq!(value.to_bits(), array_pattern(p, q).to_bits());
    let all = [p[0], p[1], p[2], q[0], q[1], q[2]];
    let grad = [gp[0], gp[1], gp[2], gq[0], gq[1], gq[2]];
    autodiff::check_grad(
        |v: &[f64]| array_pattern([v[0], v[1], v[2]], [v[3], v[4], v[5]]),
        &all,
        &grad,
    )
    .unwrap();
    // `q[1]` is never read: its gradient is zero.
    assert_eq!(gq[1], 0.0);
}
