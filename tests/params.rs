//! Parameter structs: `#[derive(autodiff::Tangent)]` structs as active arguments (named in
//! `wrt(...)`), field reads, nested structs, array fields, calls that pass a field on, and the
//! training-loop operations. Gradients are checked against central differences of the original
//! function along several directions (`<grad, dir>` against `(f(p + h dir) - f(p - h dir)) / 2h`).

use autodiff::ndarray::{Array1, Array2};
use autodiff::{differentiate, Tangent};

#[derive(Clone, Debug, Tangent)]
struct Layer {
    w: Array2<f64>,
    b: Array1<f64>,
}

#[derive(Clone, Debug, Tangent)]
struct Mlp {
    l1: Layer,
    l2: Layer,
    temperature: f64,
    extra: Vec<f64>,
}

/// A two-layer network's loss, its parameters one struct.
#[differentiate(wrt(p))]
fn mlp_loss(p: &Mlp, x: &Array2<f64>, labels: &[usize]) -> f64 {
    let h = (x.dot(&p.l1.w) + &p.l1.b).mapv(f64::tanh);
    let logits = (h.dot(&p.l2.w) + &p.l2.b) / p.temperature;
    let mut penalty = 0.0;
    for i in 0..p.extra.len() {
        penalty += p.extra[i] * p.extra[i];
    }
    autodiff::cross_entropy(&logits, labels) + 0.1 * penalty
}

#[differentiate(wrt(l))]
fn layer_energy(l: &Layer) -> f64 {
    (&l.w * &l.w).sum() + l.b.mapv(f64::sin).sum()
}

/// A field passed on to another differentiated function.
#[differentiate(wrt(p))]
fn via_call(p: &Mlp) -> f64 {
    layer_energy(&p.l1) * p.temperature + layer_energy(&p.l2)
}

/// Scalars and fixed arrays in a generic-free struct of plain floats.
#[derive(Clone, Copy, Debug, Tangent)]
struct Spring {
    k: f64,
    c: [f64; 2],
}

#[differentiate(wrt(s))]
fn spring_energy(s: Spring, x: f64) -> f64 {
    0.5 * s.k * x * x + s.c[0] * x.sin() + s.c[1] * s.k.ln()
}

/// A struct generic over its float, read in a generic function (its fields' values are
/// references `&g.a`, which `T * &T` does not take).
#[derive(Clone, Debug, Tangent)]
struct Pair<T> {
    a: T,
    v: Vec<T>,
}

#[differentiate(wrt(g))]
fn pair_energy<T: num_traits::Float>(g: &Pair<T>, x: T) -> T {
    -g.a * x + g.v[0] * g.a + (g.v[1] / g.a).sin()
}

#[test]
fn a_generic_struct_in_a_generic_function() {
    for (a, v0, v1, x) in [(1.5_f64, 2.0, 3.0, 0.5), (-0.7, 0.4, 1.1, 2.0)] {
        let g = Pair { a, v: vec![v0, v1] };
        let (value, d) = pair_energy_grad(&g, x);
        assert_eq!(value.to_bits(), pair_energy(&g, x).to_bits());
        let c = (v1 / a).cos();
        let want = [-x + v0 - c * v1 / (a * a), a, c / a];
        let got = [d.a, d.v[0], d.v[1]];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-14, "{got:?} {want:?}");
        }
        #[allow(clippy::cast_possible_truncation, reason = "the f32 point")]
        let g32 = Pair {
            a: a as f32,
            v: vec![v0 as f32, v1 as f32],
        };
        let (_, d32) = pair_energy_grad(&g32, x as f32);
        assert!((f64::from(d32.a) - want[0]).abs() < 1e-4);
    }
}

fn sample_mlp() -> Mlp {
    Mlp {
        l1: Layer {
            w: Array2::from_shape_fn((3, 4), |(i, j)| ((i * 4 + j) as f64 * 0.37).sin() * 0.5),
            b: Array1::from_vec(vec![0.1, -0.2, 0.05, 0.3]),
        },
        l2: Layer {
            w: Array2::from_shape_fn((4, 2), |(i, j)| ((i * 2 + j) as f64 * 0.71).cos() * 0.5),
            b: Array1::from_vec(vec![0.01, -0.02]),
        },
        temperature: 1.3,
        extra: vec![0.5, -0.25, 0.75],
    }
}

/// A deterministic direction of the parameters' shape.
fn direction(p: &Mlp, seed: u64) -> Mlp {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move |_: f64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut d = p.zeros_like();
    d.l1.w.mapv_inplace(&mut next);
    d.l1.b.mapv_inplace(&mut next);
    d.l2.w.mapv_inplace(&mut next);
    d.l2.b.mapv_inplace(&mut next);
    d.temperature = next(0.0);
    for e in &mut d.extra {
        *e = next(0.0);
    }
    d
}

#[track_caller]
fn check_directions(p: &Mlp, grad: &Mlp, f: &dyn Fn(&Mlp) -> f64) {
    for seed in 1..=5 {
        let dir = direction(p, seed);
        let h = 1e-6;
        let mut plus = p.clone();
        plus.scaled_add(h, &dir);
        let mut minus = p.clone();
        minus.scaled_add(-h, &dir);
        let differences = (f(&plus) - f(&minus)) / (2.0 * h);
        let ours = grad.inner(&dir);
        assert!(
            (differences - ours).abs() <= 1e-7 * (1.0 + differences.abs()),
            "direction {seed}: differences {differences:e}, gradient {ours:e}"
        );
    }
}

/// An array field walked in a loop through a variable bound to it (`let extra = &p.extra;`),
/// as the error for `for v in p.extra.iter()` suggests.
#[differentiate(wrt(p))]
fn field_walked(p: &Mlp, x: &[f64]) -> f64 {
    let extra = &p.extra;
    let mut s = p.temperature;
    for (e, v) in extra.iter().zip(x.iter()) {
        if e > v {
            s += e * v * p.temperature;
        } else {
            s -= e.sin();
        }
    }
    for e in extra {
        s += e * e;
    }
    s
}

/// A float field as a loop's start, as one side of a branch's value, and assigned to a
/// variable: the value is the field itself, not the reference the generated code reads it by.
#[allow(
    clippy::needless_range_loop,
    reason = "the index reads a field's array too"
)]
#[differentiate(wrt(p))]
fn field_accumulators(p: &Mlp, x: &[f64]) -> f64 {
    let mut s = p.temperature;
    for i in 0..x.len() {
        s = s * 0.9 + x[i] * p.extra[i];
    }
    let t = if x[0] > 0.0 { p.temperature } else { s };
    let mut u = p.extra[1];
    if x[1] < 0.0 {
        u = p.temperature;
    }
    s * t + u
}

#[test]
fn an_array_field_walked_through_a_variable() {
    let p = sample_mlp();
    for x in [[0.1, -0.5, 0.9], [2.0, -2.0, 0.0]] {
        let (value, grad) = field_walked_grad(&p, &x);
        assert_eq!(value.to_bits(), field_walked(&p, &x).to_bits());
        check_directions(&p, &grad, &|q| field_walked(q, &x));
    }
}

#[test]
fn float_fields_as_starts_branch_values_and_assigned() {
    let p = sample_mlp();
    for x in [[0.1, -0.5, 0.9], [-2.0, 2.0, 0.3]] {
        let (value, grad) = field_accumulators_grad(&p, &x);
        assert_eq!(value.to_bits(), field_accumulators(&p, &x).to_bits());
        check_directions(&p, &grad, &|q| field_accumulators(q, &x));
    }
}

#[test]
fn an_mlp_whose_parameters_are_a_struct() {
    let p = sample_mlp();
    let x = Array2::from_shape_fn((5, 3), |(i, j)| ((i * 3 + j) as f64 * 0.53).sin());
    let labels = [0_usize, 1, 1, 0, 1];
    let (value, grad) = mlp_loss_grad(&p, &x, &labels);
    assert_eq!(value.to_bits(), mlp_loss(&p, &x, &labels).to_bits());
    assert_eq!(grad.l1.w.dim(), (3, 4));
    assert_eq!(grad.extra.len(), 3);
    // The penalty's share is exact: d(0.1 Σ e²)/de = 0.2 e.
    for (g, e) in grad.extra.iter().zip(&p.extra) {
        assert!((g - 0.2 * e).abs() < 1e-15);
    }
    check_directions(&p, &grad, &|q| mlp_loss(q, &x, &labels));
}

#[test]
fn fields_passed_to_a_differentiated_callee() {
    let p = sample_mlp();
    let (value, grad) = via_call_grad(&p);
    assert_eq!(value.to_bits(), via_call(&p).to_bits());
    assert!(
        grad.extra.iter().all(|&g| g == 0.0),
        "unused fields get zero"
    );
    check_directions(&p, &grad, &via_call);
}

#[test]
fn a_struct_of_floats_by_value() {
    let s = Spring {
        k: 2.5,
        c: [0.3, -0.7],
    };
    for x in [0.4, -1.1] {
        let (_, g) = spring_energy_grad(s, x);
        let h = 1e-6;
        let dk = (spring_energy(Spring { k: s.k + h, ..s }, x)
            - spring_energy(Spring { k: s.k - h, ..s }, x))
            / (2.0 * h);
        assert!((g.k - dk).abs() < 1e-8, "{} {dk}", g.k);
        assert!((g.c[0] - x.sin()).abs() < 1e-15);
        assert!((g.c[1] - s.k.ln()).abs() < 1e-15);
    }
}

#[test]
fn gradient_descent_on_a_parameter_struct_lowers_the_loss() {
    let mut p = sample_mlp();
    let x = Array2::from_shape_fn((8, 3), |(i, j)| ((i * 3 + j) as f64 * 0.91).cos());
    let labels = [0_usize, 1, 0, 1, 1, 0, 0, 1];
    let start = mlp_loss(&p, &x, &labels);
    for _ in 0..50 {
        let (_, g) = mlp_loss_grad(&p, &x, &labels);
        p.scaled_add(-0.2, &g);
    }
    let end = mlp_loss(&p, &x, &labels);
    assert!(end < 0.9 * start, "loss {start} -> {end}");
    let g = mlp_loss_grad(&p, &x, &labels).1;
    assert!((g.norm() - g.inner(&g).sqrt()).abs() < 1e-15);
}
