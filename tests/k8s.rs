//! The deployment artefacts: the Kubernetes manifests of `k8s/` must be valid against the
//! Kubernetes schemas (a broken manifest fails here, not at `kubectl apply` time), must only use
//! settings the binary knows, and the Dockerfile must build a non-root release image.
//! No container engine or cluster is available to the tests, so the Dockerfile is checked by reading it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "common/python.rs"]
mod python;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn validate(script: &Path) -> Output {
    let python = python::python();
    Command::new(&python)
        .arg(script)
        .current_dir(
            script
                .parent()
                .and_then(Path::parent)
                .expect("k8s/validate.py has a parent"),
        )
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (Python with kubernetes-validate: scripts/test.sh installs it in .venv/)",
                python.display()
            )
        })
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// Names of the environment variables `charte serve` reads, from its clap definitions.
fn known_env_vars() -> Vec<String> {
    read("src/config.rs")
        .split("env = \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next().map(str::to_owned))
        .collect()
}

#[test]
fn manifests_are_valid_against_the_kubernetes_schemas() {
    let out = validate(&root().join("k8s/validate.py"));
    assert!(
        out.status.success(),
        "k8s/validate.py failed:\n{}",
        describe(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Guards against a validator that "passes" because it found nothing to check.
    assert!(stdout.contains("3 kustomizations"), "{stdout}");
}

#[test]
fn the_validator_rejects_broken_manifests() {
    let cases = [
        // A wrong type, in the base: every overlay that renders it must fail.
        (
            "base/charte-deployment.yaml",
            "  replicas: 2\n",
            "  replicas: \"two\"\n",
            "'two' is not of type",
        ),
        // A misspelt field is silently dropped by a lenient apply; strict schemas refuse it.
        (
            "base/charte-deployment.yaml",
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesytem: true",
            "'readOnlyRootFilesytem' was unexpected",
        ),
        // Schema-valid but broken: the pod would wait forever for a ConfigMap that does not exist.
        (
            "base/charte-deployment.yaml",
            "name: charte-directory\n",
            "name: charte-directori\n",
            "charte-directori, defined nowhere",
        ),
        // A Service whose selector matches no pod has no endpoints.
        (
            "base/redis-haproxy.yaml",
            "  selector:\n    app.kubernetes.io/name: redis-haproxy\n  ports:",
            "  selector:\n    app.kubernetes.io/name: redis-haproxi\n  ports:",
            "selects no pod",
        ),
        // An overlay patch aimed at nothing.
        (
            "overlays/production/patch-charte.yaml",
            "  name: charte\nspec:\n  replicas: 3",
            "  name: charte-api\nspec:\n  replicas: 3",
            "matches 0 resources",
        ),
        // The Secret template is outside every kustomization but still validated.
        (
            "base/secret.template.yaml",
            "type: Opaque\nstringData:\n  redis-password",
            "typ: Opaque\nstringData:\n  redis-password",
            "'typ' was unexpected",
        ),
    ];
    for (file, from, to, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let k8s = dir.path().join("k8s");
        copy_tree(&root().join("k8s"), &k8s);
        let path = k8s.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.matches(from).count(),
            1,
            "{file}: the text to break ({from:?}) must occur once"
        );
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();

        let out = validate(&k8s.join("validate.py"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{file} with {to:?} passed validation:\n{}",
            describe(&out)
        );
        assert!(
            stderr.contains(expected),
            "{file} with {to:?}: expected {expected:?} in:\n{}",
            describe(&out)
        );
    }
}

#[test]
fn manifests_only_set_variables_that_charte_reads() {
    let known = known_env_vars();
    assert!(
        known.contains(&"REDIS_URL".to_owned()),
        "src/config.rs parsing found {known:?}"
    );
    let mut used = Vec::new();
    for file in [
        "k8s/base/charte-configmap.yaml",
        "k8s/overlays/staging/patch-charte.yaml",
        "k8s/overlays/production/patch-charte.yaml",
    ] {
        for line in read(file).lines() {
            let key = line.trim_start().split(':').next().unwrap_or_default();
            if line.starts_with("  ") && !line.starts_with("   ") && key.starts_with("CHARTE_") {
                used.push((file, key.to_owned()));
            }
        }
    }
    for line in read("k8s/base/charte-deployment.yaml").lines() {
        if let Some(name) = line.trim().strip_prefix("- name: ")
            && (name.starts_with("CHARTE_") || name == "REDIS_URL")
        {
            used.push(("k8s/base/charte-deployment.yaml", name.to_owned()));
        }
    }
    assert!(used.len() > 10, "{used:?}");
    for (file, name) in used {
        assert!(
            known.contains(&name),
            "{file} sets {name}, which src/config.rs does not read (renamed?)"
        );
    }
}

#[test]
fn redis_in_kubernetes_keeps_the_durability_settings_of_deploy_redis_conf() {
    let k8s = read("k8s/base/redis-config.yaml");
    let k8s_lines: Vec<&str> = k8s.lines().map(str::trim).collect();
    let shipped = read("deploy/redis.conf");
    let settings: Vec<&str> = shipped
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(settings.contains(&"appendfsync always"), "{settings:?}");
    for setting in settings {
        assert!(
            k8s_lines.contains(&setting),
            "deploy/redis.conf sets `{setting}`, k8s/base/redis-config.yaml does not"
        );
    }
    // With replicas, docs/redis.md asks for these; deploy/redis.conf leaves them commented out.
    for setting in ["min-replicas-to-write 1", "min-replicas-max-lag 10"] {
        assert!(
            k8s_lines.contains(&setting),
            "k8s/base/redis-config.yaml lacks `{setting}`"
        );
    }
}

#[test]
fn dockerfile_builds_a_non_root_release_image_without_secrets() {
    let dockerfile = read("Dockerfile");
    let instructions: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let stages: Vec<usize> = instructions
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("FROM "))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        stages.len(),
        2,
        "a builder stage and a runtime stage: {stages:?}"
    );
    assert!(
        instructions[stages[0]].starts_with("FROM docker.io/library/rust:1-bookworm AS builder"),
        "{}",
        instructions[stages[0]]
    );
    // Every base image names its registry: a short name is resolved by each engine's own search
    // list (Podman may ask, or pick another registry), and its meaning can change under the build.
    let mut stage_names: Vec<&str> = Vec::new();
    for &stage in &stages {
        let words: Vec<&str> = instructions[stage]
            .split_whitespace()
            .skip(1)
            .filter(|w| !w.starts_with("--"))
            .collect();
        let image = words.first().copied().unwrap_or_default();
        if !stage_names.contains(&image) {
            let host = image.split('/').next().unwrap_or_default();
            assert!(
                image.contains('/')
                    && (host.contains('.') || host.contains(':') || host == "localhost"),
                "the base image names its registry host (docker.io/library/…): {}",
                instructions[stage]
            );
        }
        if let [_, alias, name] = words[..]
            && alias.eq_ignore_ascii_case("AS")
        {
            stage_names.push(name);
        }
    }
    // No `# syntax=` parser directive: it makes BuildKit pull a frontend image from a registry
    // before building; the cache mounts used here are built into current Docker.
    for line in dockerfile.lines() {
        let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
        assert!(
            !compact.to_ascii_lowercase().starts_with("#syntax="),
            "no remote syntax image: {line}"
        );
    }
    assert!(
        dockerfile.contains("cargo build --release --locked"),
        "release build from the lock file"
    );

    let runtime = &instructions[stages[1]..];
    assert!(
        runtime[0] == "FROM gcr.io/distroless/cc-debian12:nonroot"
            || runtime[0] == "FROM docker.io/library/debian:bookworm-slim",
        "small runtime base: {}",
        runtime[0]
    );
    let user = runtime
        .iter()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the runtime stage sets USER");
    let uid = user.split(':').next().unwrap_or_default();
    assert!(!["root", "0", ""].contains(&uid), "USER {user} is root");
    for copy in runtime
        .iter()
        .filter(|l| l.starts_with("COPY ") || l.starts_with("ADD "))
    {
        assert!(
            copy.starts_with("COPY --from=builder "),
            "the runtime stage copies the binary only: {copy}"
        );
        assert!(
            copy.contains("/charte "),
            "the runtime stage copies the binary only: {copy}"
        );
    }
    for expected in [
        "ENTRYPOINT [\"charte\"]",
        "CMD [\"serve\"]",
        "EXPOSE 8080",
        "CHARTE_LISTEN=0.0.0.0:8080",
        "CHARTE_LOG_FORMAT=json",
    ] {
        assert!(dockerfile.contains(expected), "Dockerfile lacks {expected}");
    }

    let copies: Vec<&str> = instructions
        .iter()
        .copied()
        .filter(|l| l.starts_with("COPY ") && !l.starts_with("COPY --from"))
        .collect();
    for copy in &copies {
        let sources: Vec<&str> = copy.split_whitespace().skip(1).collect();
        for source in &sources[..sources.len() - 1] {
            assert!(
                *source != "." && *source != "./",
                "COPY of the whole context may take data/ and keys: {copy}"
            );
            assert!(
                !source.starts_with("data")
                    && !source.ends_with(".pem")
                    && !source.contains(".env"),
                "{copy}"
            );
        }
    }

    // A file embedded with include_str! that is not in the build context breaks the image build only.
    let dockerignore = read(".dockerignore");
    assert!(
        dockerignore.lines().any(|l| l.trim() == "*"),
        ".dockerignore starts from an empty context"
    );
    assert!(
        !dockerignore.lines().any(|l| l.trim().starts_with("!data")),
        "data/ holds the dev token secret"
    );
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for macro_name in ["include_str!(\"", "include_bytes!(\""] {
            for rest in text.split(macro_name).skip(1) {
                let relative = rest.split('"').next().unwrap_or_default();
                let embedded = file.parent().unwrap().join(relative);
                let embedded = embedded
                    .canonicalize()
                    .unwrap_or_else(|e| panic!("{}: {e}", embedded.display()));
                let top = embedded
                    .strip_prefix(root().canonicalize().unwrap())
                    .unwrap()
                    .components()
                    .next()
                    .unwrap();
                let top = top.as_os_str().to_string_lossy();
                assert!(
                    copies
                        .iter()
                        .any(|c| c.split_whitespace().nth(1) == Some(top.as_ref())),
                    "{} embeds {relative}: the builder stage must COPY {top}",
                    file.display()
                );
                assert!(
                    dockerignore
                        .lines()
                        .any(|l| l.trim().trim_end_matches('/') == format!("!{top}")),
                    ".dockerignore must let {top} in"
                );
            }
        }
    }
}
