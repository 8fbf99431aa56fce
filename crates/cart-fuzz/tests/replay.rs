//! Replays the committed fuzz corpus and every crash found so far through the fuzz targets'
//! bodies, on stable Rust, so `cargo test` (and `npm test`) keep them fixed.

use std::path::{Path, PathBuf};

use cart_fuzz::{join_parts, parts, TARGETS};

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted; none when the directory does not exist.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

fn run(target: &str, data: &[u8]) {
    match target {
        "wire_decode" => cart_fuzz::wire_decode(data),
        "server_sync" => cart_fuzz::server_sync(data),
        "merge_bytes" => cart_fuzz::merge_bytes(data),
        "schema_check" => cart_fuzz::schema_check(data),
        other => panic!("no fuzz target {other}"),
    }
}

fn replay(kind: &str, target: &str) -> usize {
    let files = inputs(kind, target);
    for path in &files {
        let data = std::fs::read(path).expect("a corpus file");
        let name = path.strip_prefix(fuzz_dir()).unwrap_or(path);
        println!("replaying {}", name.display());
        run(target, &data);
    }
    files.len()
}

fn replay_target(target: &str) {
    let seeds = replay("corpus", target);
    assert!(seeds > 0, "fuzz/corpus/{target}/ holds the seed corpus");
    replay("regressions", target);
}

#[test]
fn the_wire_decode_corpus_and_regressions_replay() {
    replay_target("wire_decode");
}

#[test]
fn the_server_sync_corpus_and_regressions_replay() {
    replay_target("server_sync");
}

#[test]
fn the_merge_bytes_corpus_and_regressions_replay() {
    replay_target("merge_bytes");
}

#[test]
fn the_schema_check_corpus_and_regressions_replay() {
    replay_target("schema_check");
}

#[test]
fn every_target_has_a_fuzz_target_file_and_a_replay() {
    for target in TARGETS {
        let file = fuzz_dir().join("fuzz_targets").join(format!("{target}.rs"));
        assert!(Path::new(&file).is_file(), "{} is missing", file.display());
    }
}

#[test]
fn parts_split_what_join_parts_joined() {
    let pieces: [&[u8]; 3] = [b"first", b"", b"third part"];
    assert_eq!(parts(&join_parts(&pieces)), pieces);
    // A length beyond the end takes the rest; a lone trailing byte is dropped.
    assert_eq!(parts(&[0, 9, 1, 2, 3]), [&[1u8, 2, 3][..]]);
    assert_eq!(parts(&[0, 1, 5, 0]), [&[5u8][..]]);
}
