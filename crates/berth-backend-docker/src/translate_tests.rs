//! Snapshots of the create body for representative specs (`UPDATE_EXPECT=1` to refresh).

use std::collections::BTreeMap;

use berth_core::backend::AttemptPlan;
use berth_core::defaults::Defaults;
use berth_core::spec_load::parse_spec;
use expect_test::{Expect, expect};

use super::{Staged, create_body};

fn check(yaml: &str, want: Expect) {
    let spec = Defaults::default().apply(&parse_spec(yaml).unwrap());
    let stdin = spec.stdin.is_some();
    let plan = AttemptPlan {
        job_id: "0196a8c0d1e27f0a8b9c0d1e2f3a4b5c".parse().unwrap(),
        attempt: 1,
        spec,
        name: "berth-0196a8c0d1e2-1".into(),
        install_id: "inst0123456789ab".into(),
        owner: "host:42:1000".into(),
        tenant: "acme".into(),
        berth_env: BTreeMap::from([("BERTH_JOB_ID".into(), "0196a8c0d1e27f0a8b9c0d1e2f3a4b5c".into())]),
        stdin,
        secrets: Vec::new(),
    };
    let staged = Staged::Bind { output: "/data/out".into(), workspace: None, secrets: Vec::new() };
    let body = serde_json::to_value(create_body(&plan, &staged)).unwrap();
    want.assert_eq(&serde_json::to_string_pretty(&body).unwrap());
}

#[test]
fn a_minimal_spec_gets_the_secure_defaults() {
    check(
        "image: busybox\ncommand: [echo, hi]",
        expect![[r#"
            {
              "AttachStderr": true,
              "AttachStdin": false,
              "AttachStdout": true,
              "Cmd": [
                "echo",
                "hi"
              ],
              "Env": [
                "BERTH_JOB_ID=0196a8c0d1e27f0a8b9c0d1e2f3a4b5c"
              ],
              "HostConfig": {
                "CapDrop": [
                  "ALL"
                ],
                "Init": true,
                "Memory": 2147483648,
                "MemorySwap": 2147483648,
                "Mounts": [
                  {
                    "ReadOnly": false,
                    "Source": "/data/out",
                    "Target": "/berth/output",
                    "Type": "bind"
                  }
                ],
                "NetworkMode": "bridge",
                "PidsLimit": 1024,
                "Privileged": false,
                "ReadonlyRootfs": false,
                "SecurityOpt": [
                  "no-new-privileges"
                ],
                "Ulimits": [
                  {
                    "Hard": 10737418240,
                    "Name": "fsize",
                    "Soft": 10737418240
                  }
                ]
              },
              "Image": "busybox",
              "Labels": {
                "berth.attempt": "1",
                "berth.install": "inst0123456789ab",
                "berth.job": "0196a8c0d1e27f0a8b9c0d1e2f3a4b5c",
                "berth.managed": "true",
                "berth.owner": "host:42:1000",
                "berth.tenant": "acme"
              },
              "OpenStdin": false,
              "StdinOnce": false,
              "StopTimeout": 10,
              "Tty": false
            }"#]],
    );
}

#[test]
fn every_docker_field_is_translated() {
    check(
        r#"
image: registry.local:5000/team/tool:1.2
entrypoint: [/bin/sh, -c]
command: ["echo $A"]
args: [extra]
env: {A: "1"}
workdir: /work
user: "1000:1000"
hostname: job
labels: {team: data}
stdin: "hello"
mounts:
  - {type: volume, source: cache, target: /cache}
  - {type: bind, source: /srv/in, target: /in, read_only: true}
  - {type: tmpfs, target: /tmp, size: 64m, mode: 0o1777}
read_only: true
network: none
pid: host
ipc: shareable
uts: host
dns: [127.0.0.1]
extra_hosts: ["db:127.0.0.2"]
dns_search: [example.internal]
dns_options: ["ndots:2"]
domainname: example
resources:
  cpus: 1.5
  cpu_shares: 512
  cpuset_cpus: "0-1"
  memory_reservation: 128m
  memory: 256m
  memory_swap: unlimited
  pids_limit: 64
  cgroup:
    cpu_period: 100000
    cpu_quota: 50000
    cpuset_mems: "0"
    memory_swappiness: 0
    oom_score_adj: 500
    blkio_weight: 300
    blkio_weight_device: ["/dev/sda:200"]
    device_read_bps: ["/dev/sda:1mb"]
    device_write_iops: ["/dev/sda:100"]
    device_cgroup_rules: ["c 1:3 mr"]
  shm_size: 32m
  ulimits: [{name: nofile, soft: 1024, hard: 2048}]
  gpus: all
  devices: [/dev/fuse, "/dev/sda:/dev/xvda:r"]
security:
  cap_add: [NET_BIND_SERVICE]
  group_add: [audio]
  seccomp_profile: unconfined
  init: false
  sysctls: {net.core.somaxconn: "1024"}
  runtime: runsc
timeouts: {stop_grace: 2s}
stop_signal: SIGINT
healthcheck: {test: [CMD, "true"], interval: 5s, retries: 3}
log_driver: {type: json-file, options: {max-size: 1m}}
"#,
        expect![[r#"
            {
              "AttachStderr": true,
              "AttachStdin": true,
              "AttachStdout": true,
              "Cmd": [
                "echo $A",
                "extra"
              ],
              "Domainname": "example",
              "Entrypoint": [
                "/bin/sh",
                "-c"
              ],
              "Env": [
                "A=1",
                "BERTH_JOB_ID=0196a8c0d1e27f0a8b9c0d1e2f3a4b5c"
              ],
              "Healthcheck": {
                "Interval": 5000000000,
                "Retries": 3,
                "Test": [
                  "CMD",
                  "true"
                ]
              },
              "HostConfig": {
                "BlkioDeviceReadBps": [
                  {
                    "Path": "/dev/sda",
                    "Rate": 1048576
                  }
                ],
                "BlkioDeviceWriteIOps": [
                  {
                    "Path": "/dev/sda",
                    "Rate": 100
                  }
                ],
                "BlkioWeight": 300,
                "BlkioWeightDevice": [
                  {
                    "Path": "/dev/sda",
                    "Weight": 200
                  }
                ],
                "CapAdd": [
                  "NET_BIND_SERVICE"
                ],
                "CapDrop": [
                  "ALL"
                ],
                "CpuPeriod": 100000,
                "CpuQuota": 50000,
                "CpuShares": 512,
                "CpusetCpus": "0-1",
                "CpusetMems": "0",
                "DeviceCgroupRules": [
                  "c 1:3 mr"
                ],
                "DeviceRequests": [
                  {
                    "Capabilities": [
                      [
                        "gpu"
                      ]
                    ],
                    "Count": -1,
                    "Driver": ""
                  }
                ],
                "Devices": [
                  {
                    "CgroupPermissions": "rwm",
                    "PathInContainer": "/dev/fuse",
                    "PathOnHost": "/dev/fuse"
                  },
                  {
                    "CgroupPermissions": "r",
                    "PathInContainer": "/dev/xvda",
                    "PathOnHost": "/dev/sda"
                  }
                ],
                "Dns": [
                  "127.0.0.1"
                ],
                "DnsOptions": [
                  "ndots:2"
                ],
                "DnsSearch": [
                  "example.internal"
                ],
                "ExtraHosts": [
                  "db:127.0.0.2"
                ],
                "GroupAdd": [
                  "audio"
                ],
                "Init": false,
                "IpcMode": "shareable",
                "LogConfig": {
                  "Config": {
                    "max-size": "1m"
                  },
                  "Type": "json-file"
                },
                "Memory": 268435456,
                "MemoryReservation": 134217728,
                "MemorySwap": -1,
                "MemorySwappiness": 0,
                "Mounts": [
                  {
                    "ReadOnly": false,
                    "Source": "cache",
                    "Target": "/cache",
                    "Type": "volume"
                  },
                  {
                    "ReadOnly": true,
                    "Source": "/srv/in",
                    "Target": "/in",
                    "Type": "bind"
                  },
                  {
                    "Target": "/tmp",
                    "TmpfsOptions": {
                      "Mode": 1023,
                      "SizeBytes": 67108864
                    },
                    "Type": "tmpfs"
                  },
                  {
                    "ReadOnly": false,
                    "Source": "/data/out",
                    "Target": "/berth/output",
                    "Type": "bind"
                  }
                ],
                "NanoCpus": 1500000000,
                "NetworkMode": "none",
                "OomScoreAdj": 500,
                "PidMode": "host",
                "PidsLimit": 64,
                "Privileged": false,
                "ReadonlyRootfs": true,
                "Runtime": "runsc",
                "SecurityOpt": [
                  "no-new-privileges",
                  "seccomp=unconfined"
                ],
                "ShmSize": 33554432,
                "Sysctls": {
                  "net.core.somaxconn": "1024"
                },
                "UTSMode": "host",
                "Ulimits": [
                  {
                    "Hard": 2048,
                    "Name": "nofile",
                    "Soft": 1024
                  },
                  {
                    "Hard": 10737418240,
                    "Name": "fsize",
                    "Soft": 10737418240
                  }
                ]
              },
              "Hostname": "job",
              "Image": "registry.local:5000/team/tool:1.2",
              "Labels": {
                "berth.attempt": "1",
                "berth.install": "inst0123456789ab",
                "berth.job": "0196a8c0d1e27f0a8b9c0d1e2f3a4b5c",
                "berth.managed": "true",
                "berth.owner": "host:42:1000",
                "berth.tenant": "acme",
                "team": "data"
              },
              "OpenStdin": true,
              "StdinOnce": true,
              "StopSignal": "SIGINT",
              "StopTimeout": 2,
              "Tty": false,
              "User": "1000:1000",
              "WorkingDir": "/work"
            }"#]],
    );
}
