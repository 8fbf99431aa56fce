//! The deployment files and the README name only settings the binary reads, and the README's
//! configuration table names every one it reads.

use std::path::Path;

use cart_server::config::Config;
use clap::CommandFactory;

/// The environment variables `Config` reads, plus `RUST_LOG` (read by the log filter).
fn known_variables() -> Vec<String> {
    let mut names: Vec<String> = Config::command()
        .get_arguments()
        .filter_map(|argument| argument.get_env())
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    names.push("RUST_LOG".to_string());
    names
}

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn the_systemd_unit_and_the_dockerfile_set_only_variables_the_server_reads() {
    let known = known_variables();
    let unit = read("../../deploy/cart-server.service");
    let in_unit: Vec<&str> = unit
        .lines()
        .filter_map(|line| line.strip_prefix("Environment="))
        .filter_map(|setting| setting.split('=').next())
        .collect();
    let dockerfile = read("../../deploy/Dockerfile");
    let in_dockerfile: Vec<&str> = dockerfile
        .lines()
        .skip_while(|line| !line.starts_with("ENV "))
        .take_while(|line| line.starts_with("ENV ") || line.starts_with("    "))
        .filter_map(|line| line.trim_start_matches("ENV ").trim().split('=').next())
        .collect();
    assert!(in_unit.contains(&"DATABASE_URL"), "{in_unit:?}");
    assert!(in_dockerfile.contains(&"LOG_FORMAT"), "{in_dockerfile:?}");
    for name in in_unit.iter().chain(&in_dockerfile) {
        assert!(
            known.iter().any(|k| k == name),
            "{name} is not read by cart-server"
        );
    }
}

#[test]
fn the_readme_lists_every_variable_the_server_reads() {
    let readme = read("README.md");
    for name in known_variables() {
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "{name} is missing from the README's configuration table"
        );
    }
}
