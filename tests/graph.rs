//! `NAME_graph()`: the compile-time computation graph as DOT text.

use autodiff::differentiate;

#[differentiate]
fn rosen(x: f64, y: f64) -> f64 {
    let a = 1.0 - x;
    let b = y - x * x;
    a * a + 100.0 * b * b
}

#[differentiate(wrt(w))]
#[allow(
    clippy::needless_range_loop,
    reason = "the graph of an index loop is what is tested"
)]
fn scaled_sum(w: &[f64], k: f64) -> f64 {
    let mut s = 0.0;
    for i in 0..w.len() {
        s += w[i] * k;
    }
    s
}

#[test]
fn the_graph_names_the_users_operations() {
    let dot = rosen_graph();
    assert!(dot.starts_with("digraph \"rosen\" {"), "{dot}");
    for label in [
        "param x",
        "sub → a\\n1.0 - x",
        "mul\\nx * x",
        "sub → b\\ny - x * x",
    ] {
        assert!(dot.contains(label), "missing {label:?} in\n{dot}");
    }
    // Constants are drawn dashed, the result is marked.
    assert!(dot.contains("constant\\n100.0\", style=dashed"));
    assert!(dot.contains("shape=doublecircle"));
    assert_eq!(dot.matches('{').count(), dot.matches('}').count());
}

#[test]
fn loops_are_clusters_and_inactive_parameters_are_dashed() {
    let dot = scaled_sum_graph();
    assert!(
        dot.contains("subgraph cluster_1 { label=\"for i\""),
        "{dot}"
    );
    assert!(
        dot.contains("label=\"param k\", shape=ellipse, style=dashed"),
        "{dot}"
    );
    assert!(
        dot.contains("label=\"param w\", shape=ellipse, style=bold"),
        "{dot}"
    );
    assert!(dot.contains("carried s"));
}

/// A loop, so some operations are evaluated several times.
#[differentiate(trace)]
fn traced(x: f64, y: f64) -> f64 {
    let mut s = 0.0;
    for i in 0..3 {
        s += (x * f64::from(i)).tanh() * y;
    }
    s + (x - y).exp()
}

/// Sums into the result over a slice, through a call and over the elements: without a trace
/// their reverses run inside the forward loops; a trace runs them after, as any loop's.
#[differentiate]
fn square(v: f64) -> f64 {
    v * v
}

#[differentiate(trace)]
#[allow(
    clippy::needless_range_loop,
    reason = "the index loop is one of the two forms traced"
)]
fn traced_sums(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        s += square(x[i]);
    }
    for &v in x.iter() {
        s += v.sin();
    }
    s
}

#[test]
fn a_trace_of_loops_summing_into_the_result() {
    let x = [0.5, -1.0, 2.0];
    let (value, grad, trace) = traced_sums_trace(&x);
    assert_eq!((value, grad), traced_sums_grad(&x));
    let sines: Vec<_> = trace
        .entries
        .iter()
        .filter(|e| e.label.contains("sin:"))
        .collect();
    assert_eq!(sines.len(), 3);
    for (e, v) in sines.iter().zip(x) {
        assert_eq!((e.value, e.adjoint), (v.sin(), Some(1.0)));
    }
}

#[test]
fn a_trace_records_every_evaluation_with_its_adjoint() {
    let (x, y) = (0.5, 2.0);
    let (value, grad, trace) = traced_trace(x, y);
    assert_eq!((value, grad), traced_grad(x, y));
    // Each tanh evaluation: value tanh(x i), adjoint y (the derivative of the result by it).
    let tanhs: Vec<_> = trace
        .entries
        .iter()
        .filter(|e| e.label.contains("tanh:"))
        .collect();
    assert_eq!(tanhs.len(), 3);
    for (i, e) in tanhs.iter().enumerate() {
        assert_eq!(e.value, (x * i as f64).tanh());
        assert_eq!(e.adjoint, Some(y));
    }
    // The argument of each tanh: adjoint y (1 - tanh²).
    let products: Vec<_> = trace
        .entries
        .iter()
        .filter(|e| e.label.contains("mul: x * f64::from(i)"))
        .collect();
    assert_eq!(products.len(), 3);
    for (i, e) in products.iter().enumerate() {
        let t = (x * i as f64).tanh();
        assert!((e.adjoint.unwrap() - y * (1.0 - t * t)).abs() < 1e-15);
    }
    let exp = trace
        .entries
        .iter()
        .find(|e| e.label.contains("exp:"))
        .unwrap();
    assert_eq!((exp.value, exp.adjoint), ((x - y).exp(), Some(1.0)));
    assert_eq!(trace.suspicious().count(), 0);
    let table = trace.to_string();
    assert!(table.lines().count() == trace.entries.len() + 1, "{table}");
    assert!(trace.to_dot().contains("grad 2.0000e0"));
}
