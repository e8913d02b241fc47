//! Prints generated programs: `cargo run -p autodiff-fuzz --example show -- SEED FIRST [COUNT]`
//! (the `f64` twin after each generic function).
use autodiff_fuzz::ast::Dialect;
use autodiff_fuzz::gen::{generate, Config};

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|s| s.parse().expect("numbers"))
        .collect();
    let seed = args.first().copied().unwrap_or(1);
    let first = args.get(1).copied().unwrap_or(0);
    let count = args.get(2).copied().unwrap_or(1);
    // The configuration of `tests/fuzz.rs`: `AUTODIFF_FUZZ_SEED=s AUTODIFF_FUZZ_ONLY=i` there.
    let cfg = Config::excluding_known_bugs();
    for i in first..first + count {
        let f = generate(seed, i, &cfg);
        print!("{}", f.render(&format!("f{i}"), true));
        print!("{}", f.render_in(&format!("f{i}_f64"), true, Dialect::F64));
    }
}
