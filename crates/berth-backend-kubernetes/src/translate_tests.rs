//! Snapshots of the translation: the Job and Secret of a plain attempt and of one that uses
//! every field a pod can mean.

use std::collections::BTreeMap;

use berth_core::backend::{AttemptPlan, SecretInput};
use berth_core::defaults::Defaults;
use berth_core::quantity::{ByteSize, DurationSpec};
use berth_core::spec::{InputFile, JobSpec};
use berth_core::vault::SecretValue;
use expect_test::{ExpectFile, expect_file};

use super::*;

fn plan(spec: JobSpec) -> AttemptPlan {
    AttemptPlan {
        job_id: "0123456789abcdef0123456789abcdef".parse().unwrap(),
        attempt: 2,
        spec: Defaults::default().apply(&spec),
        name: "berth-0123456789ab-2".into(),
        install_id: "install-1".into(),
        owner: "worker-a:41".into(),
        tenant: "team-a".into(),
        berth_env: BTreeMap::from([("BERTH_JOB_ID".into(), "0123456789abcdef0123456789abcdef".into())]),
        stdin: false,
        secrets: Vec::new(),
    }
}

fn check(m: &Manifests, expect: ExpectFile) {
    let mut text = serde_yaml::to_string(&m.job).unwrap();
    if let Some(s) = &m.secret {
        text.push_str("---\n");
        text.push_str(&serde_yaml::to_string(s).unwrap());
    }
    expect.assert_eq(&text);
}

#[test]
fn a_plain_attempt_is_a_suspended_locked_down_job() {
    let mut spec = JobSpec::new("busybox:1.36");
    spec.command = Some(vec!["sh".into(), "-c".into(), "echo hi".into()]);
    check(&manifests(&plan(spec), &Settings::default()), expect_file!["snapshots/plain.yaml"]);
}

#[test]
fn every_field_a_pod_can_mean() {
    let mut spec = JobSpec::new("registry.example/tool@sha256:abc");
    spec.entrypoint = Some(vec!["/bin/tool".into()]);
    spec.command = Some(vec!["run".into()]);
    spec.args = vec!["--fast".into()];
    spec.env.insert("MODE".into(), "batch".into());
    spec.workdir = Some("/work".into());
    spec.user = Some("1000:1000".into());
    spec.read_only = true;
    spec.hostname = Some("box".into());
    spec.extra_hosts = vec!["db:10.0.0.5".into()];
    spec.dns_search = vec!["svc.local".into()];
    spec.dns_options = vec!["ndots:2".into()];
    spec.labels.insert("team".into(), "data".into());
    spec.resources.cpus = Some(1.5);
    spec.resources.memory = Some(ByteSize::mib(512));
    spec.resources.memory_reservation = Some(ByteSize::mib(256));
    spec.resources.shm_size = Some(ByteSize::mib(64));
    spec.resources.gpus = Some("1".into());
    spec.security.cap_add = vec!["NET_BIND_SERVICE".into()];
    spec.security.runtime = Some("gvisor".into());
    spec.timeouts.run = DurationSpec::secs(600);
    spec.timeouts.stop_grace = DurationSpec::secs(20);
    spec.files = vec![
        InputFile { path: "bin/run.sh".into(), content: "#!/bin/sh\necho it's\n".into(), mode: Some(0o755) },
        InputFile { path: "data.txt".into(), content: "data\n".into(), mode: None },
    ];
    let mut plan = plan(spec);
    plan.stdin = true;
    plan.secrets = vec![
        SecretInput { env: Some("TOKEN".into()), file: None, value: SecretValue(b"s3cret".to_vec()) },
        SecretInput { env: None, file: Some("/run/secrets/key".into()), value: SecretValue(b"k3y".to_vec()) },
    ];
    let settings = Settings {
        namespace: "jobs".into(),
        helper_image: "registry.example/busybox:1.36".into(),
        node_selector: BTreeMap::from([("pool".into(), "batch".into())]),
        service_account: Some("berth-job".into()),
        image_pull_secrets: vec!["regcred".into()],
        ..Settings::default()
    };
    let m = manifests(&plan, &settings);
    let job = serde_json::to_string(&m.job).unwrap();
    assert!(!job.contains("s3cret") && !job.contains("k3y"), "secret values stay out of the Job");
    check(&m, expect_file!["snapshots/full.yaml"]);
}

#[test]
fn values_a_label_cannot_hold_are_hashed_and_kept_in_annotations() {
    let m = manifests(&plan(JobSpec::new("x")), &Settings::default());
    let meta = &m.job.metadata;
    assert_eq!(meta.labels.as_ref().unwrap()["berth.owner"], label_value("worker-a:41"));
    assert!(label_value("worker-a:41").starts_with("h-"));
    assert_eq!(meta.annotations.as_ref().unwrap()["berth.owner"], "worker-a:41");
}
