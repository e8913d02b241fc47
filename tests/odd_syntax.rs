//! Valid Rust that the mutation tests found the macro mishandling: each now differentiates.
//! References are the derivatives worked out by hand.

use autodiff::differentiate;

/// An empty statement.
#[differentiate]
#[rustfmt::skip]
#[allow(redundant_semicolons, reason = "the empty statement is the case tested")]
fn empty_statement(x: f64) -> f64 {
    let s = x * x; ;
    s
}

/// A statement macro as a loop body's last line, without `;`.
#[differentiate]
#[allow(clippy::unit_arg, reason = "the macro is the case tested")]
fn macro_ending_a_loop(x: f64) -> f64 {
    let mut s = 0.0;
    for _ in 0..3 {
        s += x;
        debug_assert!(s.is_finite())
    }
    s
}

/// An inner attribute in the body.
#[differentiate]
fn inner_attribute(x: f64) -> f64 {
    #![allow(clippy::many_single_char_names)]
    let (a, b) = (x, 2.0);
    a * b
}

/// An inactive expression with a macro inside, cast afterwards.
#[differentiate(wrt(x))]
#[allow(clippy::cast_precision_loss, reason = "a small count")]
fn macro_in_a_constant(x: f64, n: i32) -> f64 {
    let k = if n > 0 {
        n
    } else {
        assert!(n == 0, "negative");
        1
    } as f64;
    k * x
}

#[test]
fn odd_but_valid_syntax_differentiates() {
    assert_eq!(empty_statement_grad(3.0), (9.0, 6.0));
    assert_eq!(macro_ending_a_loop_grad(2.0), (6.0, 3.0));
    assert_eq!(inner_attribute_grad(5.0), (10.0, 2.0));
    assert_eq!(macro_in_a_constant_grad(1.5, 4), (6.0, 4.0));
    assert_eq!(macro_in_a_constant_grad(1.5, 0), (1.5, 1.0));
}

/// A bare literal assigned to a variable, then a float method on it: the generated code binds
/// the literal to a name of its own, which gets the function's float type (found by the
/// differential fuzzer: `can't call method powi on ambiguous numeric type {float}`).
#[differentiate]
fn literal_reassigned(x: &[f64], n: usize) -> f64 {
    let mut s0 = x[n % x.len()];
    let mut t = s0 * 2.0;
    for _ in 0..x.len() {
        s0 = 1.5;
        t = 0.25;
        if n > 100 {
            return s0.powi(n as i32);
        }
    }
    s0.min(t).clamp(0.0, 1.0) * x[0] + s0.powi(2) * x[1]
}

/// The same with a negative literal, `a = -2.0;` (found by the fuzzer, seed 9: `can't call
/// method atan2 on ambiguous numeric type {float}`).
#[differentiate]
fn negative_literal_reassigned(x: &[f64], b: f64) -> f64 {
    let mut a = x[0] + b;
    let first = a * 0.5;
    a = -2.0;
    a.atan2(x[1]) * b + a.hypot(2.0) + first
}

/// Arithmetic on literals alone, `c = -(-2.0) * 0.75;` (found by the fuzzer, seed 31: `can't
/// call method hypot on ambiguous numeric type {float}`).
#[differentiate]
fn literal_arithmetic_reassigned(x: f64) -> f64 {
    let mut c = x;
    let first = c * 3.0;
    c = -(-2.0) * 0.75;
    c.hypot(x) + first
}

#[test]
fn a_literal_assigned_takes_the_functions_float_type() {
    for x in [-0.4, 0.0, 2.5] {
        let (value, g) = literal_arithmetic_reassigned_grad(x);
        assert_eq!(value.to_bits(), literal_arithmetic_reassigned(x).to_bits());
        // hypot(1.5, x) + 3x: x / hypot(1.5, x) + 3.
        assert!(
            (g - (x / 1.5_f64.hypot(x) + 3.0)).abs() < 1e-15,
            "{g} at {x}"
        );
    }
    let x = [0.3, -0.7];
    let (value, (gx, gb)) = negative_literal_reassigned_grad(&x, 1.5);
    assert_eq!(
        value.to_bits(),
        negative_literal_reassigned(&x, 1.5).to_bits()
    );
    // d/dx1 of atan2(-2, x1) · b = b · 2 / (4 + x1²); d/db = atan2(-2, x1) + 0.5.
    assert_eq!(gx[0], 0.5);
    assert!((gx[1] - 1.5 * 2.0 / (4.0 + 0.49)).abs() < 1e-15);
    assert_eq!(gb, (-2.0_f64).atan2(-0.7) + 0.5);
    let x = [0.3, -0.7];
    let (value, g) = literal_reassigned_grad(&x, 1);
    assert_eq!(value.to_bits(), literal_reassigned(&x, 1).to_bits());
    assert_eq!(g, vec![0.25, 2.25]);
}

/// Float literals that end in their point (`0.`, `2.`): the generic copy behind `NAME_hvp`
/// spells each literal with the float's suffix, and `0._f64` is not a literal (found by the
/// mutation tests: the macro panicked).
#[differentiate]
#[allow(
    clippy::unreadable_literal,
    reason = "the literals' spelling is the case tested"
)]
fn literals_ending_in_a_point(x: f64) -> f64 {
    let a = 0. - x;
    a * a * 2. + 1e1 * x
}

#[test]
fn literals_ending_in_a_point_differentiate_twice() {
    for x in [-1.5, 0.25, 3.0] {
        let (value, g) = literals_ending_in_a_point_grad(x);
        assert_eq!(value.to_bits(), literals_ending_in_a_point(x).to_bits());
        // 2x² + 10x: 4x + 10, and the second derivative 4.
        assert_eq!(g, 4.0 * x + 10.0);
        let (_, g2, hv) = literals_ending_in_a_point_hvp(x, 0.5);
        assert_eq!((g2, hv), (g, 2.0));
    }
}
