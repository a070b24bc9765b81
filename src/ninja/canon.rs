//! TODO
pub fn canonicalize_path(path: &str) -> String {
    path.to_string()
}
