//! Rows cut out of an array once before a loop over a range, for the loop to index directly.
//!
//! A loop `for j in 0..d` that reads `x[b + j]` (`b` the same in every iteration, GMM's
//! `x[ix * d + j]`) makes the optimiser check `b + j` against `x.len()` in every iteration, and
//! keep the arithmetic of every such bound in the vectorised loop's set-up. `#[differentiate]`
//! cuts the row `&x[b .. b + end]` once before the loop instead, and the loop reads `row[j]`:
//! the row's length is the range's end, so the checks go.
//!
//! The row is cut only when the loop runs, over what its variable reaches: a loop that does
//! not run cuts nothing (and evaluates no `b`), and a row out of the array's bounds panics where
//! the loop would have panicked at its last element (the loops the macro cuts rows for run
//! every iteration: no `break`, no `return`). The message is the slice's, not the element's.

use std::iter::Rev;
use std::ops::{Range, RangeInclusive};

use crate::Real;

/// A range a loop walks: where the rows it indexes end.
pub trait RowRange {
    /// One past the largest value the range yields, or `None` when it yields nothing (or its
    /// largest value is `usize::MAX`: no row can end past it).
    fn row_end(&self) -> Option<usize>;

    /// The smallest value the range yields, or `None` when it yields nothing.
    fn row_start(&self) -> Option<usize>;
}

impl RowRange for Range<usize> {
    #[inline(always)]
    fn row_end(&self) -> Option<usize> {
        (self.start < self.end).then_some(self.end)
    }

    #[inline(always)]
    fn row_start(&self) -> Option<usize> {
        (self.start < self.end).then_some(self.start)
    }
}

impl RowRange for RangeInclusive<usize> {
    #[inline(always)]
    fn row_end(&self) -> Option<usize> {
        if self.is_empty() {
            None
        } else {
            self.end().checked_add(1)
        }
    }

    #[inline(always)]
    fn row_start(&self) -> Option<usize> {
        (!self.is_empty()).then(|| *self.start())
    }
}

impl<R: RowRange + DoubleEndedIterator<Item = usize> + Clone> RowRange for Rev<R> {
    #[inline(always)]
    fn row_end(&self) -> Option<usize> {
        // The first item of the reversed range is the largest.
        self.clone().next()?.checked_add(1)
    }

    #[inline(always)]
    fn row_start(&self) -> Option<usize> {
        self.clone().next_back()
    }
}

/// The row `&a[base() .. base() + end]` a loop over `range` indexes with its variable, `end`
/// one past the range's largest value; empty (and `base` not called) when the range is empty.
///
/// # Panics
/// When the row is not in `a`: the loop would index past `a` at its last element.
///
/// ```
/// use autodiff_runtime::rows::row;
/// let x = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
/// let r = row(&x, &(1..3), || 2);
/// assert_eq!(r, &[2.0, 3.0, 4.0]); // x[2 + j] is r[j] for j in 1..3
/// assert!(row(&x, &(3..3), || unreachable!()).is_empty());
/// ```
#[inline(always)]
#[track_caller]
pub fn row<'a, T, R: RowRange>(a: &'a [T], range: &R, base: impl FnOnce() -> usize) -> &'a [T] {
    match range.row_end() {
        Some(end) => {
            let start = base();
            &a[start..start + end]
        }
        None => &[],
    }
}

/// [`row`], mutable: for a loop that writes the elements it indexes.
///
/// # Panics
/// When the row is not in `a`, as [`row`].
///
/// ```
/// use autodiff_runtime::rows::row_mut;
/// let mut y = vec![0.0; 4];
/// let r = row_mut(&mut y, &(0..2).rev(), || 2);
/// r[1] = 7.0;
/// assert_eq!(y, [0.0, 0.0, 0.0, 7.0]);
/// ```
#[inline(always)]
#[track_caller]
pub fn row_mut<'a, T, R: RowRange>(
    a: &'a mut [T],
    range: &R,
    base: impl FnOnce() -> usize,
) -> &'a mut [T] {
    match range.row_end() {
        Some(end) => {
            let start = base();
            &mut a[start..start + end]
        }
        None => &mut [],
    }
}

/// One past the largest value of `range` (see [`RowRange::row_end`]).
#[inline(always)]
pub fn row_end<R: RowRange>(range: &R) -> Option<usize> {
    range.row_end()
}

/// The smallest value of `range` (see [`RowRange::row_start`]).
#[inline(always)]
pub fn row_start<R: RowRange>(range: &R) -> Option<usize> {
    range.row_start()
}

/// The element `d[at]` a loop carries from one iteration to the next in a local (see
/// [`carry_end`]), read before its first iteration: zero, never read, when the loop runs no
/// iteration (`at` is `None`).
///
/// ```
/// use autodiff_runtime::rows::{carry_end, carry_from, row_end, row_start};
/// let mut d = vec![1.0, 2.0, 3.0];
/// let r = 0..2;
/// // for j in 0..2 { d[j] += 1.0; d[j + 1] += 10.0; }, with d[j] carried:
/// let (start, end) = (row_start(&r), row_end(&r));
/// let mut at = carry_from(&d, start);
/// for j in r {
///     let mut next = d[j + 1];
///     at += 1.0;
///     next += 10.0;
///     d[j] = at;
///     at = next;
/// }
/// carry_end(&mut d, end, at);
/// assert_eq!(d, [2.0, 13.0, 13.0]);
/// ```
#[inline(always)]
#[track_caller]
pub fn carry_from<T: Real>(d: &[T], at: Option<usize>) -> T {
    match at {
        Some(i) => d[i],
        None => T::zero(),
    }
}

/// Stores `value`, the element a loop carried past its last iteration, at `d[at]`; nothing
/// when the loop ran no iteration (`at` is `None`).
///
/// # Panics
/// When that element is not in `d` (the loop indexed it, so it is).
#[inline(always)]
#[track_caller]
pub fn carry_end<T>(d: &mut [T], at: Option<usize>, value: T) {
    if let Some(i) = at {
        d[i] = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_of_each_range_form() {
        // Bounds from variables, as a loop's are (and clippy leaves empty ranges of them be).
        let (two, four, five, six) = (2, 4, 5, 6);
        assert_eq!((2..5).row_end(), Some(5));
        assert_eq!((5..5).row_end(), None);
        assert_eq!((six..five).row_end(), None);
        assert_eq!((2..=5).row_end(), Some(6));
        assert_eq!((five..=four).row_end(), None);
        assert_eq!((0..=usize::MAX).row_end(), None);
        assert_eq!((2..5).rev().row_end(), Some(5));
        assert_eq!((five..five).rev().row_end(), None);
        assert_eq!((two..=two).rev().row_end(), Some(3));
        assert_eq!((2..=5).rev().row_end(), Some(6));
        assert_eq!((2..5).row_start(), Some(2));
        assert_eq!((five..five).row_start(), None);
        assert_eq!((2..=5).row_start(), Some(2));
        assert_eq!((2..5).rev().row_start(), Some(2));
        assert_eq!((two..=two).rev().row_start(), Some(2));
        assert_eq!((five..five).rev().row_start(), None);
    }

    #[test]
    fn a_loop_that_does_not_run_cuts_nothing() {
        let x = [1.0_f32; 3];
        // Past the end, but the loop runs no iteration: no panic, `base` not evaluated.
        assert!(row(&x, &(7..7), || usize::MAX).is_empty());
        let (three, four) = (3, 4);
        let mut y = [0.0_f64; 2];
        assert!(row_mut(&mut y, &(four..=three), || 100).is_empty());
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn a_row_past_the_array_panics() {
        let x = [1.0; 4];
        let _ = row(&x, &(0..3), || 2);
    }
}
