//! ADBench's GMM and LSTM objectives, as a user would write them for `#[differentiate]`: plain
//! loops over slices. Each module has the objective, a hand-written gradient to check and time
//! the generated one against, a reader for ADBench's input files, and a generator of small
//! instances so the objective is tested where the files are absent.
//!
//! The input files are read from `../shared/adbench/` beside the repository (or from the folder
//! named by `ADBENCH_DIR`) and never copied into it.
#![forbid(unsafe_code)]

pub mod gmm;
pub mod lstm;

use std::path::PathBuf;

/// The folder holding ADBench's inputs (`gmm/`, `lstm/`), if it exists: `ADBENCH_DIR`, or
/// `shared/adbench` beside the repository.
#[must_use]
pub fn data_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("ADBENCH_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/adbench"),
    };
    dir.is_dir().then_some(dir)
}

/// ADBench's measure of agreement: `|x - y| / max(1, |x| + |y|)`, the largest over components.
#[must_use]
pub fn max_relative_error(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "gradients of different lengths");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / (x.abs() + y.abs()).max(1.0))
        .fold(0.0, f64::max)
}
