//! Generated code reaches everything through absolute paths, so a user crate that shadows `f64`,
//! `Vec`, `Option`, `core` or has a module named `autodiff` still compiles and differentiates.
#![deny(warnings)]
#![allow(
    non_camel_case_types,
    dead_code,
    clippy::needless_range_loop,
    reason = "the shadowing and the index loop are the point of this test"
)]

/// A local module with the crate's name.
mod autodiff {
    pub fn differentiate() {}
}

/// Local items with the names of std's.
struct Vec;
struct Option;
struct Some;
mod core {}
mod std {}

#[::autodiff::differentiate]
fn loop_and_branch(x: &[f64], y: f64) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        if x[i] > 0.0 {
            s += x[i] * y;
        } else {
            s -= x[i].exp();
        }
    }
    let mut buf = [0.0; 2];
    buf[0] = s;
    buf[1] = s * s;
    buf[0] + buf[1]
}

#[test]
fn shadowed_names_do_not_reach_generated_code() {
    let x = [0.5, -1.0];
    let (value, (dx, dy)) = loop_and_branch_grad(&x, 2.0);
    let s = 0.5 * 2.0 - (-1.0f64).exp();
    assert_eq!(value, s + s * s);
    let ds = 1.0 + 2.0 * s;
    assert!((dx[0] - ds * 2.0).abs() < 1e-14);
    assert!((dx[1] + ds * (-1.0f64).exp()).abs() < 1e-14);
    assert!((dy - ds * 0.5).abs() < 1e-14);
    autodiff::differentiate();
}
