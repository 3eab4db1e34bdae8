//! Replays the `probe_values` fuzz corpus (and its regressions) through the same entry function
//! the fuzz target calls, on stable, so `cargo test` exercises the probe's own parsers.

use std::fs;
use std::path::Path;

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../fuzz/src/probe_entry.rs"]
mod probe_entry;

#[test]
fn probe_values_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
    let mut failed = Vec::new();
    for kind in ["corpus", "regressions"] {
        let Ok(dir) = fs::read_dir(root.join(kind).join("probe_values")) else {
            assert_ne!(kind, "corpus", "fuzz/corpus/probe_values/ is missing");
            continue;
        };
        for entry in dir {
            let path = entry.expect("read the corpus directory").path();
            let data = fs::read(&path).expect("read a corpus file");
            if std::panic::catch_unwind(|| probe_entry::probe_values(&data)).is_err() {
                failed.push(path.display().to_string());
            }
            replayed += 1;
        }
    }
    assert!(failed.is_empty(), "inputs that fail: {failed:#?}");
    assert!(
        replayed >= 9,
        "only {replayed} inputs: the seeds are missing"
    );
    eprintln!("probe_values: replayed {replayed} inputs");
}
