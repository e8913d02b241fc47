//! Valid Rust with branches that panic or leave, deferred initialisation, unit values and odd
//! annotations: each differentiates (found by compiling the functions the macro used to leave to
//! rustc). References: derivatives by hand.

#![allow(
    clippy::needless_late_init,
    clippy::assign_op_pattern,
    clippy::match_single_binding,
    reason = "the odd but valid forms are what is tested"
)]

use autodiff::differentiate;

#[differentiate]
fn panicking_else(x: f64) -> f64 {
    if x > 0.0 {
        x * x
    } else {
        panic!("negative input")
    }
}

#[differentiate]
fn todo_branch(x: f64, n: usize) -> f64 {
    let y = if n == 0 {
        x.exp()
    } else {
        unreachable!("n is always 0 here")
    };
    y * 2.0
}

#[differentiate]
fn deferred_with_early_return(x: f64) -> f64 {
    let mut y;
    if x > 0.0 {
        y = x * x;
    } else {
        return 0.0;
    }
    y += x;
    y * 3.0
}

#[differentiate]
fn deferred_read(x: f64) -> f64 {
    let y;
    if x > 0.0 {
        y = x * x;
    } else {
        return -x;
    }
    y * x
}

#[differentiate]
#[allow(
    clippy::let_unit_value,
    reason = "a unit block as a value is the case tested"
)]
fn unit_block(x: f64) -> f64 {
    let mut y = x;
    let _u = {
        y = y * x;
    };
    y
}

#[differentiate]
#[allow(
    clippy::let_with_type_underscore,
    reason = "the `_` annotation is the case tested"
)]
fn annotated_tuple(x: f64) -> f64 {
    let (a, b): _ = (x, x.sin());
    a * b
}

#[differentiate]
fn path_clone(x: f64) -> f64 {
    f64::clone(&x) * x
}

#[differentiate]
fn mutable_match_binding(x: f64, n: i32) -> f64 {
    match n {
        mut k => {
            k += 1;
            x * f64::from(k)
        }
    }
}

#[test]
fn each_differentiates() {
    assert_eq!(panicking_else_grad(3.0), (9.0, 6.0));
    let (v, d) = todo_branch_grad(0.5, 0);
    assert_eq!((v, d), (2.0 * 0.5_f64.exp(), 2.0 * 0.5_f64.exp()));
    assert_eq!(deferred_with_early_return_grad(2.0), (18.0, 15.0));
    assert_eq!(deferred_with_early_return_grad(-1.0), (0.0, 0.0));
    assert_eq!(deferred_read_grad(2.0), (8.0, 12.0));
    assert_eq!(deferred_read_grad(-2.0), (2.0, -1.0));
    assert_eq!(unit_block_grad(3.0), (9.0, 6.0));
    let (v, d) = annotated_tuple_grad(0.7);
    assert_eq!(v, 0.7 * 0.7_f64.sin());
    assert!((d - (0.7_f64.sin() + 0.7 * 0.7_f64.cos())).abs() < 1e-15);
    assert_eq!(path_clone_grad(3.0), (9.0, 6.0));
    assert_eq!(mutable_match_binding_grad(2.0, 4), (10.0, 5.0));
}

#[test]
#[should_panic(expected = "negative input")]
fn the_panicking_branch_still_panics() {
    let _ = panicking_else_grad(-1.0);
}

// ----- found by black-box user programs ----------------------------------------------------

/// Rebinding an owned array argument and writing it.
#[differentiate]
fn rebind_array(x: [f64; 2]) -> f64 {
    let mut x = x;
    x[0] += 1.0;
    x[0] * x[1]
}

#[differentiate]
fn rebind_vec(x: Vec<f64>) -> f64 {
    let mut y = x;
    y[0] *= 3.0;
    y[0] * y[1]
}

#[derive(Clone, autodiff::Tangent)]
struct P {
    a: f64,
    v: Vec<f64>,
}

#[differentiate]
fn square(s: f64) -> f64 {
    s * s
}

/// A scalar field passed by value to a differentiated function.
#[differentiate(wrt(p))]
fn field_to_callee(p: &P) -> f64 {
    square(p.a) + p.v[0] * p.a
}

struct Model {
    w: f64,
}

impl Model {
    #[differentiate]
    fn inner(&self, x: f64) -> f64 {
        (self.w * x).sin()
    }

    /// A differentiated method calling another one with method syntax.
    #[differentiate]
    fn outer(&self, x: f64) -> f64 {
        self.inner(x) * 2.0 + x
    }
}

#[test]
fn rebinding_fields_and_method_calls() {
    assert_eq!(rebind_array_grad([2.0, 5.0]), (15.0, [5.0, 3.0]));
    assert_eq!(rebind_vec_grad(vec![2.0, 5.0]), (30.0, vec![15.0, 6.0]));
    let p = P {
        a: 3.0,
        v: vec![0.5],
    };
    let (value, g) = field_to_callee_grad(&p);
    assert_eq!(value, 10.5);
    assert_eq!((g.a, g.v.clone()), (6.5, vec![3.0]));
    let m = Model { w: 0.7 };
    let (v, d) = m.outer_grad(1.3);
    assert_eq!(v, m.outer(1.3));
    assert!((d - (2.0 * 0.7 * (0.7_f64 * 1.3).cos() + 1.0)).abs() < 1e-15);
}

#[differentiate]
fn panic_statement_in_a_value_branch(x: f64) -> f64 {
    let y = if x > 0.0 {
        x.sqrt()
    } else {
        panic!("square root of a negative number");
    };
    y * x
}

#[differentiate]
fn deferred_with_a_panicking_else(x: f64) -> f64 {
    let mut y;
    if x > 0.0 {
        y = x;
    } else {
        panic!()
    }
    y *= x;
    y
}

#[test]
fn panicking_statements() {
    let (v, d) = panic_statement_in_a_value_branch_grad(4.0);
    assert_eq!((v, d), (8.0, 3.0));
    assert_eq!(deferred_with_a_panicking_else_grad(3.0), (9.0, 6.0));
}

/// Elements of inactive data that are arrays: `xs[t]` of a `&[Array2<f64>]`.
#[differentiate(wrt(w))]
#[allow(
    clippy::needless_range_loop,
    reason = "indexing the sequence is the case tested"
)]
fn sequence(xs: &[autodiff::ndarray::Array2<f64>], w: &autodiff::ndarray::Array1<f64>) -> f64 {
    let mut s = 0.0;
    for t in 0..xs.len() {
        s += xs[t].dot(w).mapv(f64::tanh).sum();
    }
    s
}

#[test]
fn a_sequence_of_arrays_indexed_by_step() {
    use autodiff::ndarray::{Array1, Array2};
    let xs = vec![
        Array2::from_shape_fn((2, 3), |(i, j)| (i + j) as f64 * 0.3),
        Array2::from_shape_fn((2, 3), |(i, j)| (i * j) as f64 * 0.2 - 0.1),
    ];
    let w = Array1::from_vec(vec![0.1, -0.2, 0.3]);
    let (value, g) = sequence_grad(&xs, &w);
    assert_eq!(value, sequence(&xs, &w));
    for k in 0..3 {
        let h = 1e-6;
        let mut plus = w.clone();
        plus[k] += h;
        let mut minus = w.clone();
        minus[k] -= h;
        let want = (sequence(&xs, &plus) - sequence(&xs, &minus)) / (2.0 * h);
        assert!((g[k] - want).abs() < 1e-8, "{k}: {} vs {want}", g[k]);
    }
}
