//! The demo data set (a Grand Est sample) shipped with the service and loaded on first run.

use crate::annuaire::{AnnuaireImport, parse_annuaire_csv};
use crate::domain::directory::Directory;

/// The demo annuaire extract.
pub const ANNUAIRE_CSV: &str = include_str!("../demo/annuaire-demo.csv");
/// The demo directory of authorities and contacts.
pub const DIRECTORY_TOML: &str = include_str!("../demo/directory.toml");

/// The demo directory.
pub fn directory() -> Directory {
    // The shipped file is checked by a test, so failing here is a build defect, not user input.
    Directory::parse_toml(DIRECTORY_TOML).expect("demo/directory.toml is valid")
}

/// The demo schools.
pub fn schools() -> AnnuaireImport {
    parse_annuaire_csv(ANNUAIRE_CSV)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_data_parses_cleanly() {
        let import = super::schools();
        assert!(import.errors.is_empty(), "{:?}", import.errors);
        assert!(import.schools.len() >= 15);
        assert!(super::directory().authorities.len() >= 5);
    }
}
