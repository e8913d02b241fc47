//! Jacobians of vector-valued functions from their reverse mode: one `NAME_vjp` call per output,
//! seeded with that output's unit vector, gives one row.

use ndarray::{Array1, Array2};

use crate::scalar::Real;

/// The rows of the Jacobian of a function with `outputs` outputs: row `i` is `vjp(e_i)`, the
/// gradient of output `i`, whatever its type (a tuple for several active arguments).
///
/// ```
/// use autodiff_runtime::ndarray::{array, Array1};
///
/// // The reverse mode of f(x, s) = s sin(x), written by hand (`#[differentiate]` writes it as
/// // `f_vjp`): the gradients with respect to x and s, scaled by the seed d.
/// let (x, s) = (array![0.5, 1.0], 3.0);
/// let f_vjp = |d: Array1<f64>| (&d * &x.mapv(f64::cos) * s, (&d * &x.mapv(f64::sin)).sum());
/// let rows = autodiff_runtime::jacobian_rows(2, f_vjp);
/// assert_eq!(rows[0].0, array![3.0 * 0.5_f64.cos(), 0.0]);
/// assert_eq!(rows[0].1, 0.5_f64.sin());
/// ```
pub fn jacobian_rows<T: Real, G>(outputs: usize, mut vjp: impl FnMut(Array1<T>) -> G) -> Vec<G> {
    (0..outputs)
        .map(|i| {
            let mut seed = Array1::zeros(outputs);
            seed[i] = T::one();
            vjp(seed)
        })
        .collect()
}

/// The Jacobian matrix (`outputs × inputs`) of a function of one vector argument returning a
/// vector: row `i` is `vjp(e_i)`.
///
/// ```
/// use autodiff_runtime::ndarray::{array, Array1};
///
/// // polar(r, t) = (r cos t, r sin t); its reverse mode by hand.
/// let (r, t) = (2.0_f64, 0.5_f64);
/// let polar_vjp = |d: Array1<f64>| {
///     array![d[0] * t.cos() + d[1] * t.sin(), -d[0] * r * t.sin() + d[1] * r * t.cos()]
/// };
/// let j = autodiff_runtime::jacobian(2, polar_vjp);
/// assert_eq!(j, array![[t.cos(), -r * t.sin()], [t.sin(), r * t.cos()]]);
/// ```
///
/// # Panics
/// When the gradients do not all have the same length.
pub fn jacobian<T: Real>(outputs: usize, vjp: impl FnMut(Array1<T>) -> Array1<T>) -> Array2<T> {
    let rows = jacobian_rows(outputs, vjp);
    let inputs = rows.first().map_or(0, Array1::len);
    let mut j = Array2::zeros((outputs, inputs));
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(
            row.len(),
            inputs,
            "autodiff::jacobian: the gradients have different lengths"
        );
        j.row_mut(i).assign(row);
    }
    j
}
