//! How much memory the loops' tapes hold: with the `tape-stats` feature, every tape the
//! generated code fills adds the most it held at once to a per-thread count when its loop ends
//! (once per loop, not per iteration). Without the feature, recording does nothing and costs
//! nothing.

/// Adds a finished tape's size (the most entries it held at once, not its spare capacity) to
/// this thread's count. A tape that a fused loop fills and empties iteration by iteration counts
/// with what one iteration put on it.
#[inline(always)]
pub fn record<T>(tape: &crate::Tape<T>) {
    #[cfg(feature = "tape-stats")]
    BYTES.with(|b| b.set(b.get() + tape.peak_len() * core::mem::size_of::<T>()));
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

#[cfg(all(test, feature = "tape-stats"))]
mod tests {
    #[test]
    fn a_tape_emptied_as_it_goes_counts_the_most_it_held() {
        let _ = super::take();
        let mut tape = crate::Tape::new();
        for run in 0..3_u8 {
            let from = tape.len();
            for slot in tape.run_slots(4) {
                *slot = f64::from(run);
            }
            assert_eq!(tape.drain_to(from).count(), 4);
        }
        tape.push(1.0);
        tape.push(2.0);
        super::record(&tape);
        assert_eq!(super::take(), Some(4 * 8));
    }
}
