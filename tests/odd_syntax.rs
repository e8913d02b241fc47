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
