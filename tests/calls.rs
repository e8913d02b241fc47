//! Calls between differentiated functions: the caller's reverse pass calls the callee's
//! `NAME_vjp_all`. References: forward mode (`num-dual`, running the untouched generic
//! originals, calls included) for scalar chains, central differences of the original functions
//! for slices and tensors.

mod common;

use autodiff::differentiate;
use autodiff::ndarray::{Array1, Array2};
use common::{assert_all_close, dual_grad, Fwd};
use num_traits::Float;

// ----- scalar chains -------------------------------------------------------------------------

#[differentiate]
fn sq<T: Float>(x: T) -> T {
    x * x
}

#[differentiate]
fn poly<T: Float>(x: T, y: T) -> T {
    sq(x) * y + sq(y - x).sin()
}

/// Two levels: `chain` calls `poly`, which calls `sq`; a call's result feeds another call.
#[differentiate]
fn chain<T: Float>(x: T, y: T) -> T {
    let a = poly(x, y);
    poly(a, x) + sq(a) * T::from(0.5).unwrap()
}

#[test]
fn a_two_level_chain_matches_forward_mode() {
    for (x, y) in [(0.3, 1.1), (-0.7, 0.4), (1.5, -2.0)] {
        let (value, (dx, dy)) = chain_grad(x, y);
        let (want, grad) = dual_grad(|v| chain(v[0], v[1]), &[x, y]);
        assert_eq!(value.to_bits(), chain(x, y).to_bits());
        assert_eq!(value.to_bits(), want.to_bits());
        assert_all_close("chain", &[dx, dy], &grad, 1e-13, 1e-15);
    }
}

#[test]
fn calls_work_in_f32() {
    for x in [0.3_f32, -1.25, 2.0] {
        let (_, (dx, dy)) = chain_grad(x, 0.75_f32);
        let (_, grad) = dual_grad(|v| chain(v[0], v[1]), &[f64::from(x), 0.75]);
        assert_all_close(
            "chain f32",
            &[f64::from(dx), f64::from(dy)],
            &grad,
            1e-4,
            1e-5,
        );
    }
}

/// `x^n` by repeated squaring: recursion through the function's own `_vjp_all`.
#[differentiate]
fn power<T: Float>(x: T, n: u32) -> T {
    if n == 0 {
        T::one()
    } else if n % 2 == 0 {
        let h = power(x, n / 2);
        h * h
    } else {
        x * power(x, n - 1)
    }
}

#[test]
fn recursion_by_repeated_squaring() {
    for x in [0.9_f64, -1.3, 2.5] {
        for n in [0_u32, 1, 2, 5, 8, 13, 30] {
            let (value, d) = power_grad(x, n);
            assert_eq!(value.to_bits(), power(x, n).to_bits());
            let (_, grad) = dual_grad(|v| power(v[0], n), &[x]);
            assert_all_close(&format!("power n={n}"), &[d], &grad, 1e-13, 1e-15);
        }
    }
}

/// A call inside a loop whose result is carried.
#[differentiate]
fn iterate<T: Float>(x: T, n: usize) -> T {
    let mut s = x;
    for _ in 0..n {
        s = poly(s, T::from(0.5).unwrap()) * T::from(0.3).unwrap();
    }
    s
}

#[test]
fn a_call_in_a_loop() {
    for x in [0.2, -0.6, 1.1] {
        let (_, d) = iterate_grad(x, 5);
        let (_, grad) = dual_grad(|v| iterate(v[0], 5), &[x]);
        assert_all_close("iterate", &[d], &grad, 1e-12, 1e-15);
    }
}

/// An integrator step returning the state as an array, called in a loop and indexed after it:
/// the state is an array though the macro sees only a call (`s = step(s, dt)`, then `s[0]`).
#[differentiate]
fn step<T: Float>(s: [T; 2], dt: T) -> [T; 2] {
    [s[0] + dt * s[1], s[1] - dt * s[0].sin()]
}

#[differentiate]
fn pendulum<T: Float>(s0: [T; 2], dt: T, steps: usize) -> T {
    let mut s = s0;
    for _ in 0..steps {
        s = step(s, dt);
    }
    s[0] * s[1]
}

#[differentiate]
fn squares(v: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; v.len()];
    for i in 0..v.len() {
        out[i] = v[i] * v[i];
    }
    out
}

#[differentiate]
fn first_squares(v: &[f64]) -> f64 {
    let mut z = squares(v);
    z[1] *= v[0];
    z[0] + z[1] * 2.0
}

#[test]
fn an_array_result_of_a_call_in_a_loop() {
    for (p, dt) in [([0.3_f64, -0.5], 0.1_f64), ([1.2, 0.4], 0.05)] {
        for steps in [0, 1, 4] {
            let (value, (ds, ddt)) = pendulum_grad(p, dt, steps);
            assert_eq!(value.to_bits(), pendulum(p, dt, steps).to_bits());
            let (_, want) = dual_grad(|v| pendulum([v[0], v[1]], v[2], steps), &[p[0], p[1], dt]);
            assert_all_close("pendulum", &[ds[0], ds[1], ddt], &want, 1e-12, 1e-15);
        }
    }
    let x = [0.7, -1.2, 0.4];
    let (value, d) = first_squares_grad(&x);
    assert_eq!(value.to_bits(), first_squares(&x).to_bits());
    assert_all_close(
        "first_squares",
        &d,
        &differences(&|v| first_squares(v), &x),
        1e-8,
        1e-9,
    );
}

/// A callee that differentiates only `x`, called with an inactive second argument: fine.
#[differentiate(wrt(x))]
fn scaled<T: Float>(x: T, scale: T) -> T {
    x * scale + x.exp()
}

#[differentiate]
fn uses_scaled<T: Float>(a: T, k: usize) -> T {
    scaled(a * a, T::from(k).unwrap()) + scaled(a, T::one())
}

#[test]
fn a_callee_with_wrt_takes_constants_for_the_rest() {
    for a in [0.4, -1.2] {
        let (_, d) = uses_scaled_grad(a, 3);
        let (_, grad) = dual_grad(|v| uses_scaled(v[0], 3), &[a]);
        assert_all_close("uses_scaled", &[d], &grad, 1e-13, 1e-15);
    }
}

// ----- slices and arrays ---------------------------------------------------------------------

#[differentiate]
fn norm2(v: &[f64]) -> f64 {
    let mut s = 0.0;
    for &x in v.iter() {
        s += x * x;
    }
    s.sqrt()
}

/// A local array passed to a callee and overwritten after the call: the callee's reverse must
/// see what the array held at the call.
#[differentiate]
fn through_a_buffer(x: &[f64]) -> f64 {
    let mut buf = vec![0.0; x.len()];
    for i in 0..x.len() {
        buf[i] = x[i] * 2.0;
    }
    let first = norm2(&buf);
    for i in 0..x.len() {
        buf[i] = x[i].sin();
    }
    first * norm2(&buf) + norm2(x)
}

fn differences(f: &dyn Fn(&[f64]) -> f64, x: &[f64]) -> Vec<f64> {
    autodiff::numeric_grad(f, x, 1e-6)
}

#[test]
fn arrays_passed_to_callees_are_read_as_they_were_at_the_call() {
    for x in [vec![0.3, -1.0, 0.7], vec![1.5, 0.2, -0.4, 2.0]] {
        let (value, d) = through_a_buffer_grad(&x);
        assert_eq!(value.to_bits(), through_a_buffer(&x).to_bits());
        let want = differences(&|v| through_a_buffer(v), &x);
        assert_all_close("through_a_buffer", &d, &want, 1e-8, 1e-9);
    }
}

// ----- tensors, module paths ------------------------------------------------------------------

mod nn {
    use super::*;

    /// A tensor-valued callee.
    #[differentiate]
    pub fn layer(x: &Array1<f64>, w: &Array2<f64>) -> Array1<f64> {
        w.dot(x).mapv(f64::tanh)
    }
}

#[differentiate]
fn net(x: &Array1<f64>, w1: &Array2<f64>, w2: &Array2<f64>) -> f64 {
    let h = nn::layer(x, w1);
    let o = nn::layer(&h, w2);
    (&o * &o).sum()
}

#[test]
fn tensor_valued_callees_by_path() {
    let x = Array1::from_vec(vec![0.3, -0.5, 0.8]);
    let w1 = Array2::from_shape_fn((4, 3), |(i, j)| ((i * 3 + j) as f64 * 0.7).sin() * 0.5);
    let w2 = Array2::from_shape_fn((2, 4), |(i, j)| ((i * 4 + j) as f64 * 0.3).cos() * 0.5);
    let (value, (dx, d1, d2)) = net_grad(&x, &w1, &w2);
    assert_eq!(value.to_bits(), net(&x, &w1, &w2).to_bits());
    let flat = |a: &[f64]| a.to_vec();
    let want_x = differences(
        &|v| net(&Array1::from_vec(v.to_vec()), &w1, &w2),
        &flat(x.as_slice().unwrap()),
    );
    assert_all_close("d x", dx.as_slice().unwrap(), &want_x, 1e-7, 1e-9);
    let want_1 = differences(
        &|v| {
            net(
                &x,
                &Array2::from_shape_vec((4, 3), v.to_vec()).unwrap(),
                &w2,
            )
        },
        w1.as_slice().unwrap(),
    );
    assert_all_close("d w1", d1.as_slice().unwrap(), &want_1, 1e-7, 1e-9);
    let want_2 = differences(
        &|v| {
            net(
                &x,
                &w1,
                &Array2::from_shape_vec((2, 4), v.to_vec()).unwrap(),
            )
        },
        w2.as_slice().unwrap(),
    );
    assert_all_close("d w2", d2.as_slice().unwrap(), &want_2, 1e-7, 1e-9);
}

#[test]
fn the_all_arguments_companion_has_one_slot_per_parameter() {
    // `scaled` differentiates only `x`: its `scale` slot says so in its type.
    let (value, (dx, not_differentiated)) = scaled_vjp_all(0.5, 2.0, 1.0);
    assert_eq!(value, scaled(0.5, 2.0));
    assert_eq!(dx, 2.0 + 0.5_f64.exp());
    let _: autodiff::__private::NotDifferentiated = not_differentiated;
    // Non-float parameters get `()`.
    let (_, (d, ())) = power_vjp_all(1.5, 3, 1.0);
    assert!((d - 3.0 * 1.5 * 1.5).abs() < 1e-12);
    let _ = Fwd::cst(0.0);
}

// ----- an integrator: calls in a loop, a parameter struct, tensors read by element -----------

#[derive(Clone, Copy, Debug, autodiff::Tangent)]
struct Spring {
    k: f64,
    c: f64,
}

#[differentiate(wrt(p, s))]
fn deriv(p: Spring, s: &Array1<f64>) -> Array1<f64> {
    let mut out = Array1::zeros(2);
    out[0] = s[1];
    out[1] = -p.k * s[0] - p.c * s[1];
    out
}

#[differentiate(wrt(p, s))]
fn rk4(p: Spring, s: &Array1<f64>, dt: f64) -> Array1<f64> {
    let k1 = deriv(p, s);
    let k2 = deriv(p, &(s + &k1 * (0.5 * dt)));
    let k3 = deriv(p, &(s + &k2 * (0.5 * dt)));
    let k4 = deriv(p, &(s + &k3 * dt));
    s + (k1 + k2 * 2.0 + k3 * 2.0 + k4) * (dt / 6.0)
}

#[differentiate(wrt(p))]
fn trajectory_error(p: Spring, s0: &Array1<f64>, observed: &[f64], dt: f64) -> f64 {
    let mut s = s0.to_owned();
    let mut total = 0.0;
    for &o in observed.iter() {
        s = rk4(p, &s, dt);
        let e = s[0] - o;
        total += e * e;
    }
    total
}

#[test]
fn the_gradient_through_an_rk4_integrator() {
    let s0 = Array1::from_vec(vec![1.0, -0.5]);
    let observed: Vec<f64> = (0..25).map(|t| (f64::from(t) * 0.3).cos() * 0.8).collect();
    for p in [Spring { k: 2.0, c: 0.5 }, Spring { k: 5.0, c: 0.1 }] {
        let (value, g) = trajectory_error_grad(p, &s0, &observed, 0.1);
        assert_eq!(
            value.to_bits(),
            trajectory_error(p, &s0, &observed, 0.1).to_bits()
        );
        let f = |k: f64, c: f64| trajectory_error(Spring { k, c }, &s0, &observed, 0.1);
        let h = 1e-6;
        let dk = (f(p.k + h, p.c) - f(p.k - h, p.c)) / (2.0 * h);
        let dc = (f(p.k, p.c + h) - f(p.k, p.c - h)) / (2.0 * h);
        assert_all_close("spring", &[g.k, g.c], &[dk, dc], 1e-7, 1e-9);
    }
}

// ----- the log-sum-exp helper on slices and Vecs ------------------------------------------

#[differentiate]
fn soft_max_of(x: &[f64], t: f64) -> f64 {
    let mut scaled = vec![0.0; x.len()];
    for i in 0..x.len() {
        scaled[i] = x[i] / t;
    }
    t * autodiff::log_sum_exp(&scaled) + autodiff::log_sum_exp(x)
}

#[test]
fn log_sum_exp_on_slices_and_vecs() {
    let x = [0.3, -1.2, 2.5, 0.0];
    for t in [0.5, 2.0] {
        let (value, (dx, dt)) = soft_max_of_grad(&x, t);
        assert_eq!(value.to_bits(), soft_max_of(&x, t).to_bits());
        let want = autodiff::numeric_grad(|v: &[f64]| soft_max_of(v, t), &x, 1e-6);
        assert_all_close("d x", &dx, &want, 1e-6, 1e-9);
        let h = 1e-6;
        let want_t = (soft_max_of(&x, t + h) - soft_max_of(&x, t - h)) / (2.0 * h);
        assert_all_close("d t", &[dt], &[want_t], 1e-6, 1e-9);
    }
}

// ----- loops whose reverse runs inside the forward loop ---------------------------------------
//
// A loop of the function body that sums into the returned value (here: with calls in it, a
// branch, inner loops, or nothing to save at all) runs each iteration's reverse right after the
// iteration. These check that against forward mode on dual numbers, with the cases the
// fusion must refuse beside them.

#[differentiate]
fn bond<T: Float>(a: T, b: T) -> T {
    let r = (b - a).abs() + T::from(0.1).unwrap();
    let e = r - T::one();
    e * e + (-r).exp()
}

/// A sum of calls: fused.
#[differentiate]
fn chain_energy<T: Float>(x: &[T], k: T) -> T {
    let mut total = T::zero();
    for i in 1..x.len() {
        total = total + bond(x[i - 1], x[i]) * k;
    }
    total
}

/// `-=`, a branch and an inner loop in the fused body, a scalar read only in the loop.
#[differentiate]
fn mixed_energy<T: Float>(x: &[T], k: T) -> T {
    let mut total = T::zero();
    for &xi in x.iter() {
        let mut inner = T::zero();
        for j in 0..3 {
            inner = inner + bond(xi, k * T::from(j).unwrap());
        }
        let term = if xi > T::zero() {
            inner * xi
        } else {
            inner.sin()
        };
        total = total - term;
    }
    total
}

/// The sum is read in the loop (`total * ...`): not fused.
#[differentiate]
fn feedback<T: Float>(x: &[T]) -> T {
    let mut total = T::zero();
    for i in 1..x.len() {
        total = total + bond(x[i - 1], x[i]) * (T::one() + total * T::from(0.01).unwrap());
    }
    total
}

/// `k` is read in the loop and after it: the reverse of the code after the loop makes its
/// adjoint first, so the loop is not fused.
#[differentiate]
fn read_after<T: Float>(x: &[T], k: T) -> T {
    let mut total = T::zero();
    for i in 1..x.len() {
        total = total + bond(x[i - 1], x[i] * k);
    }
    total + k * k
}

/// An array the loop reads is written after the loop: not fused (that write's reverse must
/// come before the loop's).
#[differentiate]
fn written_after<T: Float>(x: &[T], k: T) -> T {
    let mut y = vec![T::zero(); x.len()];
    for i in 0..x.len() {
        y[i] = x[i] * k;
    }
    let mut total = T::zero();
    for i in 1..y.len() {
        total = total + bond(y[i - 1], y[i]);
    }
    y[0] = k * T::from(5.0).unwrap();
    total + y[0] * T::zero()
}

/// A loop that needs no tape (extended Rosenbrock): fused, each iteration's element
/// contributions held to its end, in the order the iteration read the elements.
#[differentiate]
fn rosen_sum<T: Float>(x: &[T], k: T) -> T {
    let mut f = T::zero();
    for i in 0..x.len() - 1 {
        let a = T::one() - x[i];
        let b = x[i + 1] - x[i] * x[i];
        f = f + (a * a + k * b * b);
    }
    f
}

/// Inner loops in a fused loop, and a read of an array after them, whose contribution is held
/// to the iteration's end across the inner loops' reverses (the shape of GMM's prior term).
#[allow(
    clippy::needless_range_loop,
    reason = "index loops, as a user writes them for #[differentiate]"
)]
#[differentiate]
fn held_across_inner_loops<T: Float>(x: &[T], k: T) -> T {
    let mut w = vec![T::zero(); x.len()];
    for i in 0..x.len() {
        w[i] = x[i] * k;
    }
    let mut total = T::zero();
    for i in 1..x.len() {
        let mut inner = T::zero();
        for j in 0..i {
            inner = inner + x[j] * x[j];
        }
        let mut other = T::zero();
        for j in i..x.len() {
            other = other + w[j];
        }
        total = total + (inner * k - other * w[i - 1] + x[i]);
    }
    total
}

#[test]
fn summing_loops_reversed_iteration_by_iteration_match_forward_mode() {
    let x = [0.3, -1.2, 0.8, 1.5, -0.4];
    for k in [0.7, -1.3] {
        let mut at = x.to_vec();
        at.push(k);
        let n = x.len();
        for (name, grad, want) in [
            (
                "chain_energy",
                {
                    let (_, (g, gk)) = chain_energy_grad(&x, k);
                    [g, vec![gk]].concat()
                },
                dual_grad(|p: &[Fwd]| chain_energy(&p[..n], p[n]), &at).1,
            ),
            (
                "mixed_energy",
                {
                    let (_, (g, gk)) = mixed_energy_grad(&x, k);
                    [g, vec![gk]].concat()
                },
                dual_grad(|p: &[Fwd]| mixed_energy(&p[..n], p[n]), &at).1,
            ),
            (
                "read_after",
                {
                    let (_, (g, gk)) = read_after_grad(&x, k);
                    [g, vec![gk]].concat()
                },
                dual_grad(|p: &[Fwd]| read_after(&p[..n], p[n]), &at).1,
            ),
            (
                "written_after",
                {
                    let (_, (g, gk)) = written_after_grad(&x, k);
                    [g, vec![gk]].concat()
                },
                dual_grad(|p: &[Fwd]| written_after(&p[..n], p[n]), &at).1,
            ),
            (
                "rosen_sum",
                {
                    let (_, (g, gk)) = rosen_sum_grad(&x, k);
                    [g, vec![gk]].concat()
                },
                dual_grad(|p: &[Fwd]| rosen_sum(&p[..n], p[n]), &at).1,
            ),
            (
                "held_across_inner_loops",
                {
                    let (_, (g, gk)) = held_across_inner_loops_grad(&x, k);
                    [g, vec![gk]].concat()
                },
                dual_grad(|p: &[Fwd]| held_across_inner_loops(&p[..n], p[n]), &at).1,
            ),
        ] {
            assert_all_close(name, &grad, &want, 1e-13, 1e-14);
        }
        let (_, g) = feedback_grad(&x);
        let want = dual_grad(|p: &[Fwd]| feedback(p), &x).1;
        assert_all_close("feedback", &g, &want, 1e-13, 1e-14);
    }
}

// ----- a Vec result assigned back to the variable it came from --------------------------------

#[differentiate(forward)]
fn euler_step<T: Float>(y: &[T], dt: T) -> Vec<T> {
    let mut out = vec![T::zero(); 2];
    out[0] = y[0] + dt * y[1];
    out[1] = y[1] - dt * y[0].sin();
    out
}

/// The ODE update a user writes: `y = step(&y, dt)` in a loop, `y` indexed after it.
#[differentiate(forward)]
fn integrate<T: Float>(y0: &[T], dt: T) -> T {
    let mut y = euler_step(y0, dt);
    for _ in 0..20 {
        y = euler_step(&y, dt);
    }
    y[0] * y[0] + y[1]
}

#[test]
fn a_vec_result_assigned_back_in_a_loop() {
    for (y0, dt) in [([1.0, 0.5], 0.1), ([-0.3, 2.0], 0.05)] {
        let at = [y0[0], y0[1], dt];
        let (value, want) = dual_grad(|p: &[Fwd]| integrate(&p[..2], p[2]), &at);
        let (v, (gy, gdt)) = integrate_grad(&y0, dt);
        assert_eq!(v.to_bits(), value.to_bits());
        assert_all_close("integrate grad", &[gy[0], gy[1], gdt], &want, 1e-12, 1e-14);
        let (_, along) = integrate_jvp(&y0, dt, &[0.3, -0.2], 0.7);
        let expect = 0.3 * want[0] - 0.2 * want[1] + 0.7 * want[2];
        assert_all_close("integrate jvp", &[along], &[expect], 1e-12, 1e-14);
    }
}

// ----- a fixed-size array passed where the callee takes a slice -------------------------------

#[differentiate]
fn dot_slices<T: Float>(a: &[T], b: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..a.len() {
        s = s + a[i] * b[i];
    }
    s
}

/// `[T; 3]` arguments into `&[T]` parameters: the callee's `Vec` gradient is added into the
/// array's adjoint.
#[differentiate]
fn triple<T: Float>(a: [T; 3], v: &[T]) -> T {
    dot_slices(&a, v) * dot_slices(&a, &a)
}

#[test]
fn a_fixed_array_into_a_slice_parameter() {
    let (a, v) = ([0.5, -1.0, 2.0], [1.0, 0.3, -0.2]);
    let at = [a[0], a[1], a[2], v[0], v[1], v[2]];
    let (value, want) = dual_grad(|p: &[Fwd]| triple([p[0], p[1], p[2]], &p[3..]), &at);
    let (got_value, (ga, gv)) = triple_grad(a, &v);
    assert_eq!(got_value.to_bits(), value.to_bits());
    let got: Vec<f64> = ga.iter().chain(&gv).copied().collect();
    assert_all_close("triple", &got, &want, 1e-13, 1e-14);
}

// ----- summing loops with scratch arrays, and sums that reach the result through a chain ------

/// A scratch array rewritten in full at the start of every iteration, and the sum reaching the
/// result through `+` and `-`: the reverse runs iteration by iteration.
#[allow(
    clippy::needless_range_loop,
    reason = "index loops over scratch arrays are the case tested"
)]
#[differentiate(wrt(means, w))]
fn scratch_energy<T: Float>(x: &[T], means: &[T], w: T, d: usize, n: usize) -> T {
    let mut centered = vec![T::zero(); d];
    let mut total = T::zero();
    for ix in 0..n {
        for j in 0..d {
            centered[j] = x[ix * d + j] - means[j];
        }
        for i in 0..d {
            for j in i + 1..d {
                centered[j] = centered[j] + w * centered[i];
            }
        }
        let mut sq = T::zero();
        for j in 0..d {
            sq = sq + centered[j] * centered[j];
        }
        total = total + (sq + T::one()).ln() * centered[0];
    }
    T::from(1.5).unwrap() - (means[1] - total) - means[0] * means[2]
}

/// The scratch array is read before it is written in an iteration (it carries a value from
/// the previous iteration): the loop must not be fused.
#[allow(
    clippy::needless_range_loop,
    reason = "index loops over scratch arrays are the case tested"
)]
#[differentiate(wrt(means))]
fn carried_scratch<T: Float>(x: &[T], means: &[T], d: usize, n: usize) -> T {
    let mut state = vec![T::zero(); d];
    let mut total = T::zero();
    for ix in 0..n {
        for j in 0..d {
            state[j] = state[j] * T::from(0.5).unwrap() + x[ix * d + j] * means[j];
        }
        let mut sq = T::zero();
        for j in 0..d {
            sq = sq + state[j].sin();
        }
        total = total + sq;
    }
    total
}

/// The array the loop writes is read after it: not fused either.
#[allow(
    clippy::needless_range_loop,
    reason = "index loops over scratch arrays are the case tested"
)]
#[differentiate(wrt(means))]
fn read_after_loop<T: Float>(x: &[T], means: &[T], d: usize, n: usize) -> T {
    let mut last = vec![T::zero(); d];
    let mut total = T::zero();
    for ix in 0..n {
        for j in 0..d {
            last[j] = x[ix * d + j] * means[j];
        }
        let mut sq = T::zero();
        for j in 0..d {
            sq = sq + last[j] * last[j];
        }
        total = total + sq.sqrt();
    }
    total + last[1] * last[2]
}

/// Scratch arrays written and read back in the same iteration of one inner loop (`c[j] = …;
/// … c[j] …`): each read follows its write, so the outer loop's reverse may still run
/// iteration by iteration.
#[allow(
    clippy::needless_range_loop,
    reason = "index loops over scratch arrays are the case tested"
)]
#[differentiate(wrt(means, w))]
fn written_then_read<T: Float>(x: &[T], means: &[T], w: T, d: usize, n: usize) -> T {
    let mut c = vec![T::zero(); d];
    let mut q = vec![T::zero(); d];
    let mut total = T::zero();
    for ix in 0..n {
        for j in 0..d {
            c[j] = x[ix * d + j] - means[j];
            q[j] = w * c[j] * c[j];
            let qj = q[j];
            let r = if qj > T::from(0.1).unwrap() {
                q[j].sqrt()
            } else {
                q[j]
            };
            q[j] = r + c[j];
        }
        let mut s = T::zero();
        for j in 0..d {
            s = s + q[j] * c[j];
        }
        total = total + s.sin();
    }
    total
}

/// The element is written only on one branch, then read after it: in an iteration that takes
/// the other branch, the read sees the previous iteration's value, so the loop must not be
/// fused.
#[allow(
    clippy::needless_range_loop,
    reason = "index loops over scratch arrays are the case tested"
)]
#[differentiate(wrt(means))]
fn written_on_one_branch<T: Float>(x: &[T], means: &[T], d: usize, n: usize) -> T {
    let mut c = vec![T::zero(); d];
    let mut total = T::zero();
    for ix in 0..n {
        let mut s = T::zero();
        for j in 0..d {
            if x[ix * d + j] > T::zero() {
                c[j] = x[ix * d + j] * means[j];
            }
            s = s + c[j] * c[j];
        }
        total = total + s.sin();
    }
    total
}

#[test]
fn summing_loops_with_scratch_arrays_match_forward_mode() {
    let (d, n) = (3, 5);
    let x: Vec<f64> = (0..d * n).map(|i| (i as f64 * 0.7).sin()).collect();
    let means = [0.2, -0.4, 0.9];
    for w in [0.3, -1.1] {
        let mut at = means.to_vec();
        at.push(w);
        let (value, want) = dual_grad(
            |p: &[Fwd]| {
                let xs: Vec<Fwd> = x.iter().map(|&v| Fwd::cst(v)).collect();
                scratch_energy(&xs, &p[..3], p[3], d, n)
            },
            &at,
        );
        let (v, (gm, gw)) = scratch_energy_grad(&x, &means, w, d, n);
        assert_eq!(v.to_bits(), value.to_bits());
        let got: Vec<f64> = gm.iter().copied().chain([gw]).collect();
        assert_all_close("scratch_energy", &got, &want, 1e-12, 1e-14);
    }
    let xs = |x: &[f64]| -> Vec<Fwd> { x.iter().map(|&v| Fwd::cst(v)).collect() };
    let (_, want) = dual_grad(|p: &[Fwd]| carried_scratch(&xs(&x), p, d, n), &means);
    let (_, got) = carried_scratch_grad(&x, &means, d, n);
    assert_all_close("carried_scratch", &got, &want, 1e-12, 1e-14);
    let (_, want) = dual_grad(|p: &[Fwd]| read_after_loop(&xs(&x), p, d, n), &means);
    let (_, got) = read_after_loop_grad(&x, &means, d, n);
    assert_all_close("read_after_loop", &got, &want, 1e-12, 1e-14);
    let (_, want) = dual_grad(|p: &[Fwd]| written_on_one_branch(&xs(&x), p, d, n), &means);
    let (_, got) = written_on_one_branch_grad(&x, &means, d, n);
    assert_all_close("written_on_one_branch", &got, &want, 1e-12, 1e-14);
    for w in [0.3, 2.5] {
        let mut at = means.to_vec();
        at.push(w);
        let (value, want) = dual_grad(
            |p: &[Fwd]| written_then_read(&xs(&x), &p[..3], p[3], d, n),
            &at,
        );
        let (v, (gm, gw)) = written_then_read_grad(&x, &means, w, d, n);
        assert_eq!(v.to_bits(), value.to_bits());
        let got: Vec<f64> = gm.iter().copied().chain([gw]).collect();
        assert_all_close("written_then_read", &got, &want, 1e-12, 1e-14);
    }
}

/// A value read in the fused loop only through a branch's merge, and again after the loop
/// (found by the differential fuzzer): not fused, and right.
#[allow(
    clippy::needless_range_loop,
    reason = "the index also picks the match arm"
)]
#[differentiate]
fn merge_read<T: Float>(x: &[T], a: T) -> T {
    let mut s0 = T::zero();
    s0 = s0 + a;
    let mut s4 = T::zero();
    for i5 in 0..x.len() {
        let t7 = match i5 % 3 {
            0 => x[i5],
            1 => s0,
            _ => T::from(0.5).unwrap(),
        };
        s4 = s4 + t7 * x[i5].sin();
    }
    s0 + s4
}

#[test]
fn a_value_read_through_a_merge_and_after_the_loop() {
    let x = [0.3, -1.2, 0.8, 1.5];
    let mut at = x.to_vec();
    at.push(0.7);
    let (_, want) = dual_grad(|p: &[Fwd]| merge_read(&p[..4], p[4]), &at);
    let (_, (gx, ga)) = merge_read_grad(&x, 0.7);
    let got: Vec<f64> = gx.iter().copied().chain([ga]).collect();
    assert_all_close("merge_read", &got, &want, 1e-13, 1e-14);
}

// ----- a fixed local array passed to a callee that takes a slice ------------------------------

#[differentiate]
fn squares_of<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for v in x.iter() {
        s = s + *v * *v;
    }
    s
}

/// A `let mut` fixed array written element by element and passed to a callee that takes a
/// slice: it is copied at the call, and the callee's `Vec` gradient goes back into the array's
/// adjoint through the copy.
#[differentiate]
fn through_a_local_array<T: Float>(x: &[T], y: T) -> T {
    let mut pair = [T::zero(); 2];
    pair[0] = x[1];
    pair[1] = y * x[0];
    let n = squares_of(&pair);
    n * y + squares_of(x)
}

#[test]
fn a_local_array_passed_as_a_slice() {
    for (x, y) in [([0.4, -1.3, 0.7], 0.9), ([2.0, 0.5, -0.1], -0.6)] {
        let mut at = x.to_vec();
        at.push(y);
        let (value, want) = dual_grad(|p| through_a_local_array(&p[..3], p[3]), &at);
        let (v, (gx, gy)) = through_a_local_array_grad(&x, y);
        assert_eq!(v.to_bits(), value.to_bits());
        let got: Vec<f64> = gx.iter().copied().chain([gy]).collect();
        assert_all_close("through_a_local_array", &got, &want, 1e-13, 1e-14);
    }
}

/// The squares of the elements, as a `Vec`.
#[differentiate]
fn squares_vec<T: Float>(x: &[T]) -> Vec<T> {
    let mut y = vec![T::zero(); x.len()];
    for j in 0..x.len() {
        y[j] = x[j] * x[j];
    }
    y
}

/// A `Vec`-valued callee called in every iteration of a summing loop, whose reverse runs inside
/// the forward loop: the iteration's contributions to the result's adjoint go in before the
/// callee's reverse takes it (found by a red-team pass: they were held to the iteration's end,
/// after the adjoint had moved into the callee, and the function did not compile).
#[differentiate]
fn callee_in_the_loop<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for j in 0..x.len() {
        let v = squares_vec(x);
        s = s + v[j] * x[x.len() - 1 - j];
    }
    s
}

#[test]
fn a_vec_callee_in_a_summing_loop() {
    for n in [1, 2, 4] {
        let x: Vec<f64> = (0..n)
            .map(|i| 0.3 + 0.4 * i as f64 - 0.1 * (i * i) as f64)
            .collect();
        let (value, grad) = callee_in_the_loop_grad(&x);
        assert_eq!(value.to_bits(), callee_in_the_loop(&x).to_bits());
        let (_, want) = dual_grad(|v: &[Fwd]| callee_in_the_loop(v), &x);
        assert_all_close("callee_in_the_loop", &grad, &want, 1e-12, 1e-14);
    }
}
