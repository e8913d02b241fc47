//! Custom derivatives: `#[differentiate(vjp = rule)]` makes the user's rule the reverse pass of a
//! function `#[differentiate]` does not look into (here, iterator chains it cannot differentiate,
//! and a rule more accurate than the formula's). Checked against central differences of the
//! original functions, also when called from other differentiated functions.

use autodiff::differentiate;

/// `ln(1 + e^x)`, written with iterator-free but branchy code, given the rule `sigmoid(x)`.
#[differentiate(vjp = softplus_rule)]
fn my_softplus(x: f64) -> f64 {
    if x > 30.0 {
        x
    } else {
        x.exp().ln_1p()
    }
}

fn softplus_rule(x: f64, d_out: f64) -> (f64, f64) {
    (my_softplus(x), d_out / (1.0 + (-x).exp()))
}

/// A Euclidean norm written with an iterator chain, which `#[differentiate]` cannot look into.
#[differentiate(vjp = norm_rule)]
fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

fn norm_rule(v: &[f64], d_out: f64) -> (f64, Vec<f64>) {
    let n = norm(v);
    (n, v.iter().map(|a| d_out * a / n).collect())
}

/// A generic rule named with its type argument and no turbofish, as a path in an attribute may
/// be written (`rule<f64>`): the generated call spells it `rule::<f64>`.
#[differentiate(vjp = cube_rule<f64>)]
fn cube(x: f64) -> f64 {
    x.powi(3)
}

fn cube_rule<T: num_traits::Float>(x: T, d_out: T) -> (T, T) {
    (
        x.powi(3),
        d_out * T::from(3.0).unwrap_or_else(T::nan) * x * x,
    )
}

/// Both used from a differentiated function.
#[differentiate]
fn uses_custom(x: f64, y: f64) -> f64 {
    let mut buf = vec![0.0; 3];
    buf[0] = x;
    buf[1] = my_softplus(y);
    buf[2] = x * y;
    norm(&buf) * my_softplus(x - y)
}

fn central(f: &dyn Fn(f64) -> f64, x: f64) -> f64 {
    let h = 1e-6;
    (f(x + h) - f(x - h)) / (2.0 * h)
}

#[test]
fn a_custom_rule_is_the_gradient() {
    for x in [-3.0, 0.0, 2.5, 40.0] {
        let (value, d) = my_softplus_grad(x);
        assert_eq!(value.to_bits(), my_softplus(x).to_bits());
        let want = central(&my_softplus, x);
        assert!((d - want).abs() < 1e-8, "{x}: {d} vs {want}");
    }
    let v = [0.3, -1.2, 2.0];
    let (_, g) = norm_grad(&v);
    let want = autodiff::numeric_grad(|v: &[f64]| norm(v), &v, 1e-6);
    for (a, b) in g.iter().zip(&want) {
        assert!((a - b).abs() < 1e-8);
    }
}

#[test]
fn a_generic_rule_named_without_turbofish() {
    for x in [-1.5, 0.5, 2.0] {
        let (value, d) = cube_grad(x);
        assert_eq!(value.to_bits(), cube(x).to_bits());
        let want = central(&cube, x);
        assert!(
            (d - want).abs() < 1e-8 * want.abs().max(1.0),
            "{x}: {d} vs {want}"
        );
    }
}

#[test]
fn custom_rules_compose_with_differentiated_callers() {
    for (x, y) in [(0.4, -0.3), (1.5, 2.0), (-2.0, 0.7)] {
        let (value, (dx, dy)) = uses_custom_grad(x, y);
        assert_eq!(value.to_bits(), uses_custom(x, y).to_bits());
        let wx = central(&|x| uses_custom(x, y), x);
        let wy = central(&|y| uses_custom(x, y), y);
        assert!((dx - wx).abs() < 1e-7 * (1.0 + wx.abs()), "{dx} {wx}");
        assert!((dy - wy).abs() < 1e-7 * (1.0 + wy.abs()), "{dy} {wy}");
    }
}
