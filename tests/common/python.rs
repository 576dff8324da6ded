//! The Python interpreter the tests start: the project's virtual environment, where
//! `scripts/test.sh` installs the test tools of `tests/requirements.txt`.
//! Also compiled into `tests/k8s.rs` by path, which does not use the rest of `common`.

use std::path::{Path, PathBuf};

/// `$CHARTE_PYTHON` (set by `scripts/test.sh`), else `.venv/bin/python` at the repository root
/// if it exists, else `python3` from `PATH`.
pub fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("CHARTE_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(python);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}
