//! Shape arithmetic and the shape errors of the tensor rules, each in a `#[cold]` function that
//! prints every shape involved.

/// The shape `a` and `b` broadcast to, as ndarray computes it: align the trailing axes; a length
/// `1` stretches to the other length; the shorter shape gains leading axes. `None` when two
/// aligned lengths differ and neither is `1`.
pub(super) fn co_broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let offset = long.len() - short.len();
    let mut out = long.to_vec();
    for (o, &s) in out[offset..].iter_mut().zip(short) {
        if *o != s {
            if *o == 1 {
                *o = s;
            } else if s != 1 {
                return None;
            }
        }
    }
    Some(out)
}

/// Forward broadcasting arithmetic on shapes that do not broadcast.
#[cold]
#[inline(never)]
#[track_caller]
pub(super) fn broadcast_error(a: &[usize], b: &[usize], op: &str) -> ! {
    panic!("autodiff: cannot broadcast shapes {a:?} and {b:?} for `{op}`")
}

/// Operands of one elementwise rule whose shapes differ.
#[cold]
#[inline(never)]
#[track_caller]
pub(super) fn same_shape_error(what: &str, a: &[usize], b: &[usize]) -> ! {
    panic!("autodiff: {what} of shapes {a:?} and {b:?}: the shapes must be equal")
}

/// A matrix product whose inner dimensions differ.
#[cold]
#[inline(never)]
#[track_caller]
pub(super) fn dot_error(a: &[usize], b: &[usize]) -> ! {
    panic!("autodiff: `dot` of shapes {a:?} and {b:?}: inner dimensions differ")
}

/// An adjoint (or accumulator) of a matrix product with the wrong shape.
#[cold]
#[inline(never)]
#[track_caller]
pub(super) fn dot_adjoint_error(
    what: &str,
    a: &[usize],
    b: &[usize],
    got: &[usize],
    want: &[usize],
) -> ! {
    panic!(
        "autodiff: adjoint of `dot` of shapes {a:?} and {b:?}: the {what} has shape {got:?}, \
         expected {want:?}"
    )
}

/// An axis past the last one.
#[cold]
#[inline(never)]
#[track_caller]
pub(super) fn axis_error(what: &str, axis: usize, shape: &[usize]) -> ! {
    panic!("autodiff: `{what}` along axis {axis} of an array of shape {shape:?}: no such axis")
}

/// Panics with [`axis_error`] unless `axis` is an axis of `shape`.
#[inline]
#[track_caller]
pub(super) fn check_axis(what: &str, axis: usize, shape: &[usize]) {
    if axis >= shape.len() {
        axis_error(what, axis, shape);
    }
}

/// `n` as a float (exact below `2^53`, which every array length is in practice).
#[inline]
#[allow(
    clippy::cast_precision_loss,
    reason = "array lengths are far below 2^53"
)]
pub(super) fn count<T: crate::Real>(n: usize) -> T {
    T::of_f64(n as f64)
}

#[cfg(test)]
mod tests {
    use super::co_broadcast;

    #[test]
    fn co_broadcast_follows_numpy() {
        assert_eq!(co_broadcast(&[3, 1], &[1, 4]), Some(vec![3, 4]));
        assert_eq!(co_broadcast(&[4, 3], &[3]), Some(vec![4, 3]));
        assert_eq!(co_broadcast(&[3], &[2, 1, 3]), Some(vec![2, 1, 3]));
        assert_eq!(co_broadcast(&[], &[2, 5]), Some(vec![2, 5]));
        assert_eq!(co_broadcast(&[3, 4], &[5]), None);
        assert_eq!(co_broadcast(&[0], &[1]), Some(vec![0]));
    }
}
