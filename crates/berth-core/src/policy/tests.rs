//! The policy's rules, presets, files and patches, case by case.

use super::check::glob;
use super::*;
use crate::spec::{JobSpec, Mount};
use crate::spec_load::parse_spec;

fn spec(yaml: &str) -> JobSpec {
    parse_spec(yaml).unwrap()
}

fn refused(p: &Policy, yaml: &str) -> (String, String) {
    let d = p.check(&spec(yaml)).unwrap_err();
    (d.field, d.rule)
}

#[test]
fn the_server_refuses_every_way_out_of_the_container() {
    let p = Policy::server();
    assert!(p.check(&spec("image: busybox")).is_ok());
    let cases = [
        ("mounts: [{type: bind, source: /etc, target: /host}]", "mounts[0].source", "bind_mounts"),
        ("mounts: [{type: bind, source: /var/run, target: /s}]", "mounts[0].source", "engine_socket"),
        ("security: {cap_add: [SYS_ADMIN]}", "security.cap_add", "cap_add"),
        ("security: {seccomp_profile: unconfined}", "security.seccomp_profile", "seccomp_profiles"),
        ("security: {apparmor_profile: unconfined}", "security.apparmor_profile", "apparmor_profiles"),
        ("security: {privileged: true}", "security.privileged", "privileged"),
        ("security: {oom_kill_disable: true}", "security.oom_kill_disable", "oom_kill_disable"),
        ("security: {keep_default_caps: true}", "security.keep_default_caps", "keep_default_caps"),
        ("security: {no_new_privileges: false}", "security.no_new_privileges", "new_privileges"),
        ("security: {sysctls: {net.ipv4.ip_forward: '1'}}", "security.sysctls.net.ipv4.ip_forward", "sysctls"),
        ("security: {runtime: runsc}", "security.runtime", "runtimes"),
        ("resources: {devices: [/dev/fuse]}", "resources.devices[0]", "devices"),
        ("resources: {gpus: all}", "resources.gpus", "gpus"),
        ("network: container:abc", "network", "join_containers"),
        ("network: host", "network", "host_namespaces"),
        ("pid: host", "pid", "host_namespaces"),
        ("ipc: host", "ipc", "host_namespaces"),
        ("uts: host", "uts", "host_namespaces"),
        ("pid: container:abc", "pid", "join_containers"),
        ("network: tenant-b-net", "network", "networks"),
        ("log_driver: {type: syslog, options: {syslog-address: 'udp://10.0.0.1:514'}}", "log_driver", "log_drivers"),
        ("ports: ['0.0.0.0:80:80']", "ports", "ports"),
        ("resources: {ulimits: [{name: rtprio, soft: 99, hard: 99}]}", "resources.ulimits[0]", "ulimits"),
        ("mounts: [{type: bind, source: /var/lib/docker/volumes, target: /v}]", "mounts[0].source", "engine_socket"),
    ];
    for (extra, field, rule) in cases {
        let got = refused(&p, &format!("image: busybox\n{extra}"));
        assert_eq!(got, (field.to_string(), rule.to_string()), "{extra}");
    }
    for fine in ["network: none", "network: bridge", "mounts: [{type: volume, source: cache, target: /c}]"] {
        assert!(p.check(&spec(&format!("image: busybox\n{fine}"))).is_ok(), "{fine}");
    }
}

#[test]
fn the_local_policy_keeps_docker_habits_but_not_the_host() {
    let p = Policy::local();
    for fine in [
        "mounts: [{type: bind, source: /tmp, target: /t}]",
        "security: {cap_add: [NET_ADMIN], seccomp_profile: unconfined}",
        "network: my-net",
        "resources: {devices: [/dev/fuse]}",
    ] {
        assert!(p.check(&spec(&format!("image: busybox\n{fine}"))).is_ok(), "{fine}");
    }
    for (extra, rule) in [
        ("security: {privileged: true}", "privileged"),
        ("network: host", "host_namespaces"),
        ("mounts: [{type: bind, source: /var/run/docker.sock/, target: /s}]", "engine_socket"),
        ("mounts: [{type: bind, source: /, target: /host}]", "engine_socket"),
        ("mounts: [{type: bind, source: /tmp/../run, target: /host}]", "bind_mounts"),
    ] {
        assert_eq!(refused(&p, &format!("image: busybox\n{extra}")).1, rule, "{extra}");
    }
    let d = p.check(&spec("image: busybox\nsecurity: {privileged: true}")).unwrap_err();
    assert!(d.to_string().contains("refused by the local policy, rule `privileged`"), "{d}");
}

#[test]
fn bind_prefixes_are_whole_components_and_read_only_unless_writable() {
    let file = r#"bind_mounts = [{prefix = "/srv/data"}, {prefix = "/srv/scratch/", writable = true}]"#;
    let p = parse_policy(file, false, &Policy::server()).unwrap();
    let bind = |src: &str, ro: bool| {
        let mut s = JobSpec::new("busybox");
        s.mounts.push(Mount::Bind { source: src.into(), target: "/m".into(), read_only: ro });
        p.check(&s).map_err(|d| d.field)
    };
    assert_eq!(bind("/srv/data/x", true), Ok(()));
    assert_eq!(bind("/srv/data", false), Err("mounts[0].read_only".into()));
    assert_eq!(bind("/srv/database", true), Err("mounts[0].source".into()));
    assert_eq!(bind("/srv/scratch/a", false), Ok(()));
    // The most specific prefix decides, whatever the order.
    let nested = r#"bind_mounts = [{prefix = "/srv", writable = true}, {prefix = "/srv/keys"}]"#;
    let nested = parse_policy(nested, false, &Policy::server()).unwrap();
    let mut rw = JobSpec::new("busybox");
    rw.mounts.push(Mount::Bind { source: "/srv/keys/a".into(), target: "/m".into(), read_only: false });
    assert_eq!(nested.check(&rw).unwrap_err().field, "mounts[0].read_only");
    // Where a symlink really points is checked too.
    let mut s = JobSpec::new("busybox");
    s.mounts.push(Mount::Bind { source: "/srv/data/link".into(), target: "/m".into(), read_only: true });
    let d = p.check_with(&s, &|_| Some("/srv/data/real".to_string())).unwrap_err();
    assert!(d.message.contains("must not pass through a symbolic link"), "{d}");
    assert!(p.check_with(&s, &|src| Some(src.to_string())).is_ok(), "no link, no refusal");
}

#[test]
fn images_ceilings_and_required_limits() {
    let file = r#"
        require = ["memory"]
        [images]
        allow = ["127.0.0.1:5858/*", "docker.io/library/busybox"]
        [ceilings]
        memory = "512m"
        run_timeout = "10m"
    "#;
    let p = parse_policy(file, false, &Policy::server()).unwrap();
    let m = "resources: {memory: 64m}";
    assert!(p.check(&spec(&format!("image: busybox:1.36\n{m}"))).is_ok());
    assert!(p.check(&spec(&format!("image: 127.0.0.1:5858/team/tool\n{m}"))).is_ok());
    assert_eq!(refused(&p, &format!("image: alpine\n{m}")), ("image".into(), "images.allow".into()));
    assert_eq!(refused(&p, "image: busybox"), ("resources.memory".into(), "require".into()));
    let big = refused(&p, "image: busybox\nresources: {memory: 1g}");
    assert_eq!(big, ("resources.memory".into(), "ceilings.memory".into()));
    let swap = refused(&p, "image: busybox\nresources: {memory: 64m, memory_swap: unlimited}");
    assert_eq!(swap, ("resources.memory_swap".into(), "ceilings.memory".into()));
    let sized = parse_policy("[ceilings]\nfile_size = \"64m\"", false, &Policy::server()).unwrap();
    let eff = sized.effective(&Defaults::default(), &spec("image: busybox"));
    assert_eq!(eff.resources.ulimits[0].hard, 64 << 20);
    let big = "image: busybox\nresources: {ulimits: [{name: fsize, soft: -1, hard: -1}]}";
    assert_eq!(refused(&sized, big), ("resources.ulimits[0]".into(), "ceilings.file_size".into()));
    let eff = p.effective(&Defaults::default(), &spec("image: busybox\ntimeouts: {run: 1h}"));
    assert_eq!(eff.resources.memory, Some(ByteSize::mib(512)));
    assert_eq!(eff.resources.cpus, None, "no CPU ceiling, no CPU limit");
    let cpu = parse_policy("[ceilings]\ncpus = 0.5", false, &Policy::server()).unwrap();
    assert_eq!(cpu.effective(&Defaults::default(), &spec("image: busybox")).resources.cpus, Some(0.5));
    assert_eq!(eff.timeouts.run, "10m".parse().unwrap());
    let pinned = Policy { images: ImageRules { allow: vec![], digest_pinned: true }, ..Policy::server() };
    assert_eq!(refused(&pinned, "image: busybox").1, "images.digest_pinned");
}

#[test]
fn a_tenant_patch_changes_only_what_it_names() {
    let base = Policy::server();
    let patch = serde_json::json!({"cap_add": ["NET_ADMIN"], "ceilings": {"cpus": 2.0}});
    let t = base.patched(&patch, "tenant acme's policy").unwrap();
    assert_eq!(t.cap_add, ["NET_ADMIN"]);
    assert_eq!(t.ceilings.cpus, Some(2.0));
    assert_eq!(t.bind_mounts, base.bind_mounts);
    assert_eq!(t.source, "tenant acme's policy");
    let key = base.patched(&serde_json::json!({"pass_env": ["BERTH_SECRET_KEY"]}), "x").unwrap_err();
    assert!(key.contains("BERTH_* variables are berth's own"), "{key}");
    let bad = base.patched(&serde_json::json!({"bind_mount": "any"}), "x").unwrap_err();
    assert!(bad.contains("bind_mount"), "{bad}");
    let wrong = parse_policy("bind_mounts = 3", false, &base).unwrap_err();
    assert!(wrong.contains("`none`, `any`, or a list"), "{wrong}");
    assert!(parse_policy("bind_mounts: any\n", true, &base).is_ok());
}

#[test]
fn globs() {
    assert!(glob(b"*", b""));
    assert!(glob(b"docker.io/library/*", b"docker.io/library/busybox"));
    assert!(!glob(b"docker.io/library/*", b"docker.io/evil/busybox"));
    assert!(glob(b"net.*.conf.*", b"net.ipv4.conf.all"));
    assert!(glob(b"a?c", b"abc"));
    assert!(!glob(b"abc", b"abcd"));
}
