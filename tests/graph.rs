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
