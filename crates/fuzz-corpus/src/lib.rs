//! The fuzz targets' committed corpora (`fuzz/corpus/<target>/`), replayed as ordinary tests:
//! each crate that owns a parser runs every file of its targets' corpora through the same
//! entry point the fuzz target calls, so an input that once crashed, or a regression on a
//! known input, fails CI on the stable toolchain without a fuzzing build.

use std::path::{Path, PathBuf};

/// Where the corpora live: `fuzz/corpus` at the repository's root.
pub fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

/// Runs every file of `target`'s corpus through `run`; panics (naming the file) on the first
/// that makes `run` panic, and when the corpus is missing or empty, so a corpus that was not
/// committed cannot pass for one that replayed. Returns how many files ran.
pub fn replay(target: &str, run: impl Fn(&[u8]) + std::panic::RefUnwindSafe) -> usize {
    let dir = corpus_root().join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus {} cannot be read: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "the corpus {} is empty: run the fuzz target and commit its minimised corpus \
         (RELIABILITY.md, \"Fuzzing\")",
        dir.display()
    );
    for file in &files {
        let data = std::fs::read(file).expect("a corpus file");
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            panic!(
                "{} makes the {target} fuzz target fail: reproduce with `cargo fuzz run {target} {}`",
                file.display(),
                file.display()
            );
        }
    }
    files.len()
}
