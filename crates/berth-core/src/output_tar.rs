//! The output directory as a tar (`output/...`, as the Docker archive API and the
//! Kubernetes helper's `tar -C /berth -cf - output` give it) read into `OutputEntry`s:
//! only what `OutputPicker` wants is held, the rest is listed with its size and skipped.

use std::io::Read;

use crate::backend::{OutputEntry, OutputPicker};

/// Entries of a tar of the output directory (`output/...`), names relative to it, in the
/// archive's order.
pub fn read(reader: impl Read, mut picker: OutputPicker) -> std::io::Result<Vec<OutputEntry>> {
    let mut archive = tar::Archive::new(reader);
    let mut out = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        let path = entry.path()?.to_string_lossy().into_owned();
        let name = path.split_once('/').map(|(_, rest)| rest.to_string()).unwrap_or(path);
        // `size()` is the real size (a PAX header may override the ustar field).
        let size = entry.size();
        let regular = kind.is_file();
        let mut e = OutputEntry { name, size, regular, data: None };
        if picker.wants(&e.name, size, regular) {
            let mut data = Vec::new();
            (&mut entry).take(picker.limit(&e.name, size)).read_to_end(&mut data)?;
            e.data = Some(data.into());
        }
        out.push(e);
    }
    Ok(out)
}
