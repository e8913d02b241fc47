//! How much memory the loops' tapes hold: with the `tape-stats` feature, every tape the
//! generated code fills adds its size to a per-thread count when its loop ends (once per loop,
//! not per iteration). Without the feature, recording does nothing and costs nothing.

/// Adds a finished tape's size (its entries, not its spare capacity) to this thread's count.
#[inline(always)]
pub fn record<T>(tape: &crate::Tape<T>) {
    #[cfg(feature = "tape-stats")]
    BYTES.with(|b| b.set(b.get() + tape.len() * core::mem::size_of::<T>()));
    #[cfg(not(feature = "tape-stats"))]
    let _ = tape;
}

/// The bytes recorded on this thread since the last call, and a fresh start. With the
/// `tape-stats` feature off, always `None`.
///
/// ```
/// // Without the feature nothing is counted.
/// # #[cfg(not(feature = "tape-stats"))]
/// assert_eq!(autodiff_runtime::tape_stats::take(), None);
/// ```
#[must_use]
pub fn take() -> Option<usize> {
    #[cfg(feature = "tape-stats")]
    return Some(BYTES.with(|b| b.replace(0)));
    #[cfg(not(feature = "tape-stats"))]
    None
}

#[cfg(feature = "tape-stats")]
thread_local! {
    static BYTES: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}
