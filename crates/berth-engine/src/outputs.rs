//! What an attempt gave back, from what the backend collected (reading only what
//! `OutputPicker` wanted): the result document (`result.json`, size-capped, valid JSON) and
//! the artifacts (within the per-attempt cap), with a warning for everything dropped and
//! why. Pure: the backend did the reading.

use berth_core::backend::{OutputEntry, OutputPicker};
use berth_core::spec::OutputLimits;
use berth_core::store::{Artifact, ArtifactFile};

/// What an attempt left behind.
#[derive(Debug, Default, PartialEq)]
pub struct Collected {
    pub result: Option<serde_json::Value>,
    pub artifacts: Vec<ArtifactFile>,
    /// Problems to record as events (an invalid result, dropped files).
    pub warnings: Vec<String>,
}

/// The result and artifacts among `entries`, in the backend's order (the order its
/// `OutputPicker` saw them in, so the same picker here tells why a file has no data).
pub fn select(entries: Vec<OutputEntry>, attempt: u32, limits: &OutputLimits) -> Collected {
    let mut picker = OutputPicker::new(limits);
    let mut out = Collected::default();
    for e in entries {
        let wanted = picker.wants(&e.name, e.size, e.regular);
        if !e.regular {
            out.warnings.push(format!("{} is not a regular file (symlink, device or pipe): ignored", e.name));
        } else if e.name == limits.result_file {
            read_result(e, limits, &mut out);
        } else if !wanted {
            out.warnings.push(format!(
                "artifact {} ({} bytes) dropped: artifacts are capped at {} per attempt",
                e.name, e.size, limits.artifacts_cap
            ));
        } else if let Some(data) = e.data {
            let artifact = Artifact { attempt, name: e.name, size: data.len() as u64 };
            out.artifacts.push(ArtifactFile { artifact, data });
        } else {
            out.warnings.push(format!("artifact {} could not be read: dropped", e.name));
        }
    }
    out
}

fn read_result(e: OutputEntry, limits: &OutputLimits, out: &mut Collected) {
    let file = &limits.result_file;
    if e.size > limits.result_cap.0 {
        out.warnings.push(format!("{file} is {} bytes, over the {} result cap: ignored", e.size, limits.result_cap));
        return;
    }
    match e.data.map(|b| serde_json::from_slice::<serde_json::Value>(&b)) {
        Some(Ok(v)) => out.result = Some(v),
        Some(Err(e)) => out.warnings.push(format!("{file} is not valid JSON ({e}): no result recorded")),
        None => out.warnings.push(format!("{file} could not be read: no result recorded")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::quantity::ByteSize;

    fn file(name: &str, data: &[u8]) -> OutputEntry {
        OutputEntry { name: name.into(), size: data.len() as u64, regular: true, data: Some(data.to_vec().into()) }
    }

    #[test]
    fn result_artifacts_caps_and_special_files() {
        let link = OutputEntry { name: "leak".into(), size: 11, regular: false, data: None };
        let entries =
            vec![file("z.bin", &[0; 100]), file("result.json", br#"{"ok":true}"#), link, file("sub/a.txt", b"aaaa")];
        let limits = OutputLimits { artifacts_cap: ByteSize(50), ..OutputLimits::default() };
        let got = select(entries, 1, &limits);
        assert_eq!(got.result, Some(serde_json::json!({"ok": true})));
        let kept: Vec<(&str, &[u8])> = got.artifacts.iter().map(|a| (a.artifact.name.as_str(), &a.data[..])).collect();
        assert_eq!(kept, [("sub/a.txt", b"aaaa".as_slice())]);
        assert_eq!(got.warnings.len(), 2, "{:?}", got.warnings);
        assert!(got.warnings[0].contains("z.bin (100 bytes) dropped"), "{:?}", got.warnings);
        assert!(got.warnings[1].contains("leak is not a regular file"), "{:?}", got.warnings);
    }

    #[test]
    fn a_file_too_big_for_what_is_left_is_skipped_and_the_next_may_fit() {
        let limits = OutputLimits { artifacts_cap: ByteSize(10), ..OutputLimits::default() };
        let big = OutputEntry { data: None, ..file("a.big", &[1; 20]) };
        let unreadable = OutputEntry { data: None, ..file("c.txt", b"cc") };
        let got = select(vec![big, file("b.txt", b"bbbb"), unreadable], 1, &limits);
        assert_eq!(got.artifacts.len(), 1);
        assert_eq!(got.artifacts[0].artifact.name, "b.txt");
        assert!(got.warnings[0].contains("a.big (20 bytes) dropped"), "{:?}", got.warnings);
        assert!(got.warnings[1].contains("c.txt could not be read"), "{:?}", got.warnings);
    }

    #[test]
    fn invalid_or_oversized_results_are_warnings_not_results() {
        let got = select(vec![file("result.json", b"{nope")], 1, &OutputLimits::default());
        assert_eq!(got.result, None);
        assert!(got.warnings[0].contains("not valid JSON"));
        let small = OutputLimits { result_cap: ByteSize(2), ..OutputLimits::default() };
        let got = select(vec![file("result.json", b"[1]")], 1, &small);
        assert!(got.result.is_none() && got.warnings[0].contains("over the 2B result cap"), "{:?}", got.warnings);
    }
}
