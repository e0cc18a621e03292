//! Compile-fail tests: every mistake the macros catch, with the message the user sees; and
//! programs that must compile, lint-clean.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui-pass/*.rs");
}
