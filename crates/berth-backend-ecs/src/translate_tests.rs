//! Snapshots of the translation: the task definition and RunTask input of a plain attempt
//! and of one with a size, a user, labels and a Spot capacity provider.

use std::collections::BTreeMap;

use berth_core::backend::AttemptPlan;
use berth_core::defaults::Defaults;
use berth_core::quantity::{ByteSize, DurationSpec};
use berth_core::spec::JobSpec;
use expect_test::{ExpectFile, expect_file};

use super::*;

fn plan(spec: JobSpec) -> AttemptPlan {
    AttemptPlan {
        job_id: "0123456789abcdef0123456789abcdef".parse().unwrap(),
        attempt: 2,
        spec: Defaults::default().apply(&spec),
        name: "berth-0123456789ab-2".into(),
        install_id: "5d41402abc4b2a76b9719d911017c592".into(),
        owner: "worker-a:41".into(),
        tenant: "team-a".into(),
        berth_env: BTreeMap::from([("BERTH_JOB_ID".into(), "0123456789abcdef0123456789abcdef".into())]),
        stdin: false,
        secrets: Vec::new(),
    }
}

fn check(plan: &AttemptPlan, settings: &Settings, expect: ExpectFile) {
    let def = task_definition(plan, settings).unwrap();
    let run = run_task(plan, settings, &def.family);
    let doc = serde_json::json!({"registerTaskDefinition": def, "runTask": run});
    expect.assert_eq(&format!("{}\n", serde_json::to_string_pretty(&doc).unwrap()));
}

#[test]
fn a_plain_attempt() {
    let mut spec = JobSpec::new("busybox:1.36");
    spec.command = Some(vec!["sh".into(), "-c".into(), "echo hi".into()]);
    check(&plan(spec), &Settings::default(), expect_file!["snapshots/plain.json"]);
}

#[test]
fn an_attempt_with_a_size_a_user_labels_and_spot() {
    let mut spec = JobSpec::new("123456789012.dkr.ecr.eu-west-1.amazonaws.com/tool:2");
    spec.command = Some(vec!["run".into()]);
    spec.env.insert("MODE".into(), "batch".into());
    spec.user = Some("1000:1000".into());
    spec.read_only = true;
    spec.labels.insert("team".into(), "data".into());
    spec.resources.cpus = Some(1.5);
    spec.resources.memory = Some(ByteSize::mib(3000));
    spec.timeouts.stop_grace = DurationSpec::secs(20);
    let settings = Settings {
        cluster: "jobs".into(),
        capacity_provider: Some("FARGATE_SPOT".into()),
        subnets: vec!["subnet-1".into()],
        security_groups: vec!["sg-1".into()],
        execution_role_arn: Some("arn:aws:iam::123456789012:role/berth-exec".into()),
        region: Some("eu-west-1".into()),
        ..Settings::default()
    };
    check(&plan(spec), &settings, expect_file!["snapshots/full.json"]);
}

#[test]
fn equal_shapes_share_a_family_and_a_command_does_not_change_it() {
    let a = plan(JobSpec::new("busybox"));
    let mut other = JobSpec::new("busybox");
    other.command = Some(vec!["true".into()]);
    let b = plan(other);
    let family = |p: &AttemptPlan| task_definition(p, &Settings::default()).unwrap().family;
    assert_eq!(family(&a), family(&b), "the command rides in the overrides");
    let mut bigger = JobSpec::new("busybox");
    bigger.resources.memory = Some(ByteSize::gib(4));
    assert_ne!(family(&a), family(&plan(bigger)));
    assert!(tag_value("worker-a:41") == "worker-a:41" && tag_value("a\nb").starts_with("h-"));
    assert_eq!(started_by("5d41402abc4b2a76b9719d911017c592").len(), 36);
}

#[test]
fn an_attempt_with_secrets_has_its_own_definition_and_no_value_in_either_document() {
    use berth_core::backend::SecretInput;
    use berth_core::vault::SecretValue;
    let mut spec = JobSpec::new("busybox:1.36");
    spec.command = Some(vec!["sh".into(), "-c".into(), "use-it".into()]);
    let mut p = plan(spec);
    let value = |v: &str| SecretValue(v.as_bytes().to_vec());
    p.secrets = vec![
        SecretInput { env: Some("DB_PASSWORD".into()), file: None, value: value("hunter2-value") },
        SecretInput { env: None, file: Some("/run/secrets/tls.key".into()), value: value("key-bytes-value") },
        SecretInput { env: None, file: Some("/etc/app/token".into()), value: value("token-value") },
    ];
    let arn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:berth/5d41/berth-0123456789ab-2/0f1e2d3c-AbCdEf";
    let mut def = task_definition(&p, &Settings::default()).unwrap();
    crate::secrets::attempt_definition(&mut def, &p, arn);
    let run = run_task(&p, &Settings::default(), &def.family);
    let doc = serde_json::json!({"registerTaskDefinition": def, "runTask": run});
    let text = serde_json::to_string_pretty(&doc).unwrap();
    for v in ["hunter2-value", "key-bytes-value", "token-value"] {
        assert!(!text.contains(v), "{v} is in the documents");
    }
    let json = crate::secrets::secret_string(&p).unwrap();
    assert_eq!(json, r#"{"e-0":"hunter2-value","f-1":"a2V5LWJ5dGVzLXZhbHVl","f-2":"dG9rZW4tdmFsdWU="}"#);
    expect_file!["snapshots/secrets.json"].assert_eq(&format!("{text}\n"));
}
