//! TODO: parser (owned by the parser work).
use super::{Manifest, ManifestError};
use std::path::Path;

pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
    Err(ManifestError(format!("{}: parser not written yet", path.display())))
}
