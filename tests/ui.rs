//! Compile-fail tests: every input `#[differentiate]` does not support gives one clear error at
//! the offending span. Regenerate the snapshots with `TRYBUILD=overwrite cargo test --test ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
