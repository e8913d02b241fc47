//! The stack a loop pushes its saved values on: Tapenade's PUSH and POP, for one loop.
//!
//! A [`Tape`] is a list of plain `Vec` chunks. Growing it never moves what was pushed (a single
//! `Vec` would copy everything each time it doubles, which for tapes of tens of megabytes costs
//! as much as the pushes themselves), and the reverse pass takes the entries of one run of the
//! loop, last first, with [`Tape::drain_to`]. A loop that runs exactly its range takes slots for
//! its run before it starts ([`Tape::run_slots`]) and stores into them instead of pushing.

/// Entries per chunk when the loop's trip count is unknown or small.
const CHUNK: usize = 1 << 12;

/// A stack of saved values, one entry per loop iteration.
#[derive(Debug)]
pub struct Tape<T> {
    /// The chunk being filled (and, in the reverse pass, emptied).
    current: Vec<T>,
    /// Full chunks below it, oldest first.
    full: Vec<Vec<T>>,
    /// How many entries the full chunks hold.
    full_len: usize,
    /// The most entries it has held at once, for [`crate::tape_stats`].
    #[cfg(feature = "tape-stats")]
    peak: usize,
}

impl<T> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Tape<T> {
    /// An empty tape; nothing is allocated until the first push.
    #[must_use]
    pub fn new() -> Self {
        Tape {
            current: Vec::new(),
            full: Vec::new(),
            full_len: 0,
            #[cfg(feature = "tape-stats")]
            peak: 0,
        }
    }

    /// An empty tape with room for `n` entries.
    #[must_use]
    pub fn with_capacity(n: usize) -> Self {
        Tape {
            current: Vec::with_capacity(n),
            full: Vec::new(),
            full_len: 0,
            #[cfg(feature = "tape-stats")]
            peak: 0,
        }
    }

    /// Room for `n` more entries without allocating again: a new chunk if the current one is
    /// too full.
    #[inline]
    pub fn reserve(&mut self, n: usize) {
        if self.current.capacity() - self.current.len() < n {
            self.start_chunk(n);
        }
    }

    /// Pushes one entry.
    #[inline]
    pub fn push(&mut self, entry: T) {
        if self.current.len() == self.current.capacity() {
            self.start_chunk(1);
        }
        self.current.push(entry);
        self.note_peak();
    }

    /// Keeps the most entries held at once up to date (with the `tape-stats` feature).
    #[inline(always)]
    fn note_peak(&mut self) {
        #[cfg(feature = "tape-stats")]
        {
            self.peak = self.peak.max(self.len());
        }
    }

    /// The most entries the tape has held at once: a fused loop empties its tapes iteration by
    /// iteration, so what they hold when it ends says nothing. Counted with the `tape-stats`
    /// feature only.
    #[cfg(feature = "tape-stats")]
    #[must_use]
    pub fn peak_len(&self) -> usize {
        self.peak.max(self.len())
    }

    /// Moves the current chunk below and starts one with room for at least `n` entries.
    #[cold]
    fn start_chunk(&mut self, n: usize) {
        let size = n.max(CHUNK).max(self.current.capacity().saturating_mul(2));
        let next = Vec::with_capacity(size);
        let done = core::mem::replace(&mut self.current, next);
        if !done.is_empty() {
            self.full_len += done.len();
            self.full.push(done);
        }
    }

    /// How many entries the tape holds.
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        self.full_len + self.current.len()
    }

    /// Whether the tape holds nothing.
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pops the entries above position `from`, last first: the reverse of the run of the loop
    /// that pushed them. Entries left unread by a dropped iterator stay on the tape.
    #[inline]
    pub fn pop_to(&mut self, from: usize) -> PopTo<'_, T> {
        PopTo { tape: self, from }
    }

    /// Room for one run of a loop, `n` entries at the top of the tape in one chunk, made with
    /// their default values for the loop to overwrite in order: a store per iteration where a
    /// push would check for room and might grow the tape.
    #[inline]
    pub fn run_slots(&mut self, n: usize) -> &mut [T]
    where
        T: Default,
    {
        self.reserve(n);
        let start = self.current.len();
        self.current.resize_with(start + n, T::default);
        self.note_peak();
        &mut self.current[start..]
    }

    /// The entries from position `from` on, last first, each removed as it is yielded: what
    /// [`Tape::pop_to`] yields, faster where the entries are in one chunk (one run of a loop
    /// that reserved its room, the common case): they are drained from that chunk's `Vec`
    /// instead of popped one by one through the tape.
    #[inline]
    pub fn drain_to(&mut self, from: usize) -> DrainTo<'_, T> {
        if self.current.is_empty() && from < self.full_len {
            // The run ends at the top of the chunk below: make it the current one again.
            if let Some(below) = self.full.pop() {
                self.full_len -= below.len();
                self.current = below;
            }
        }
        if from >= self.full_len {
            let local = (from - self.full_len).min(self.current.len());
            DrainTo::Chunk(self.current.drain(local..).rev())
        } else {
            DrainTo::Pop(self.pop_to(from))
        }
    }

    /// Pushes a copy of a whole array, as consecutive entries of one chunk: the snapshot a loop
    /// takes at the end of each iteration of a scratch array it fills, which the reverse pass
    /// of that iteration reads through [`Tape::view_top`] and then drops with
    /// [`Tape::drop_top`].
    #[inline]
    pub fn save_slice(&mut self, values: &[T])
    where
        T: Copy,
    {
        self.reserve(values.len());
        self.current.extend_from_slice(values);
        self.note_peak();
    }

    /// The last `n` entries, in the order [`Tape::save_slice`] pushed them.
    ///
    /// # Panics
    /// If the tape holds fewer than `n` entries (the generated code pairs every view with a
    /// save of the same array).
    #[inline]
    pub fn view_top(&mut self, n: usize) -> &[T] {
        if self.current.is_empty() {
            // The snapshot is at the top of the chunk below (a save never spans chunks).
            if let Some(below) = self.full.pop() {
                self.full_len -= below.len();
                self.current = below;
            }
        }
        &self.current[self.current.len() - n..]
    }

    /// Removes the last `n` entries, which [`Tape::view_top`] showed.
    #[inline]
    pub fn drop_top(&mut self, n: usize) {
        let from = self.current.len() - n;
        self.current.truncate(from);
    }

    #[inline]
    fn pop(&mut self) -> Option<T> {
        match self.current.pop() {
            Some(entry) => Some(entry),
            None => self.pop_from_below(),
        }
    }

    #[cold]
    fn pop_from_below(&mut self) -> Option<T> {
        let below = self.full.pop()?;
        self.full_len -= below.len();
        self.current = below;
        self.current.pop()
    }
}

/// The entries of one run of a loop, last first; see [`Tape::pop_to`].
#[derive(Debug)]
pub struct PopTo<'a, T> {
    tape: &'a mut Tape<T>,
    from: usize,
}

impl<T> Iterator for PopTo<'_, T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        if self.tape.len() > self.from {
            self.tape.pop()
        } else {
            None
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.tape.len().saturating_sub(self.from);
        (n, Some(n))
    }
}

impl<T> ExactSizeIterator for PopTo<'_, T> {}

/// What [`Tape::drain_to`] returns: the entries of one chunk drained last first, or popped one
/// by one where they span chunks.
#[derive(Debug)]
pub enum DrainTo<'a, T> {
    /// All the entries are in the current chunk.
    Chunk(core::iter::Rev<std::vec::Drain<'a, T>>),
    /// They span chunks.
    Pop(PopTo<'a, T>),
}

impl<T> Iterator for DrainTo<'_, T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        match self {
            DrainTo::Chunk(d) => d.next(),
            DrainTo::Pop(p) => p.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            DrainTo::Chunk(d) => d.size_hint(),
            DrainTo::Pop(p) => p.size_hint(),
        }
    }
}

impl<T> ExactSizeIterator for DrainTo<'_, T> {}

#[cfg(test)]
mod tests {
    use super::Tape;

    #[test]
    fn drain_to_yields_what_pop_to_yields() {
        // Runs of different lengths, some crossing chunks (no room reserved), some not.
        for reserve in [false, true] {
            let mut popped = Tape::new();
            let mut drained = Tape::new();
            let mut starts = Vec::new();
            let mut next = 0usize;
            for run in 0..40 {
                let n = (run * 997) % 3000;
                starts.push(popped.len());
                if reserve {
                    popped.reserve(n);
                    drained.reserve(n);
                }
                for _ in 0..n {
                    popped.push(next);
                    drained.push(next);
                    next += 1;
                }
            }
            for &start in starts.iter().rev() {
                let a: Vec<usize> = popped.pop_to(start).collect();
                let b: Vec<usize> = drained.drain_to(start).collect();
                assert_eq!(a, b);
                assert_eq!(popped.len(), drained.len());
            }
            assert!(drained.is_empty());
        }
    }

    #[test]
    fn runs_pop_last_first_across_chunks() {
        let mut tape = Tape::new();
        let first: Vec<usize> = (0..10_000).collect();
        for &v in &first {
            tape.push(v);
        }
        let start = tape.len();
        tape.reserve(3);
        for v in [7, 8, 9] {
            tape.push(v);
        }
        assert_eq!(tape.pop_to(start).collect::<Vec<_>>(), vec![9, 8, 7]);
        assert_eq!(tape.len(), 10_000);
        let all: Vec<usize> = tape.pop_to(0).collect();
        assert_eq!(all, first.into_iter().rev().collect::<Vec<_>>());
        assert!(tape.is_empty());
    }

    #[test]
    fn snapshots_come_back_last_first_across_chunks() {
        // Arrays of different lengths (some empty, some longer than a chunk) saved in turn,
        // enough to fill several chunks: each comes back whole, in one piece.
        let mut tape = Tape::new();
        let mut saved = Vec::new();
        for run in 0..3000_usize {
            let n = if run % 500 == 1 {
                5000
            } else {
                run % 7 + (run % 5) * 300
            };
            let values: Vec<usize> = (0..n).map(|i| run * 10_000 + i).collect();
            tape.save_slice(&values);
            saved.push(values);
        }
        for values in saved.iter().rev() {
            assert_eq!(tape.view_top(values.len()), &values[..]);
            tape.drop_top(values.len());
        }
        assert!(tape.is_empty());
    }
}
