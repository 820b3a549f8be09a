//! Parsers for the small Docker-syntax strings a spec carries (image references, port
//! mappings, `--gpus`, signal names), shared by validation and the backends' translation.

use std::net::IpAddr;

/// `[registry[:port]/]path[:tag][@algo:hex]`, with Docker's rules for each part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    pub registry: Option<String>,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    /// The `name` part a pull asks for (registry + path).
    pub fn repository(&self) -> String {
        match &self.registry {
            Some(r) => format!("{r}/{}", self.path),
            None => self.path.clone(),
        }
    }

    /// What to pull: the digest if there is one, else the tag, else `latest` (never empty:
    /// an empty tag makes Docker pull every tag).
    pub fn pull_tag(&self) -> String {
        self.digest.clone().or_else(|| self.tag.clone()).unwrap_or_else(|| "latest".to_string())
    }
}

pub fn parse_image_ref(s: &str) -> Result<ImageRef, String> {
    if s.is_empty() {
        return Err("is empty: give an image such as busybox or registry:5000/team/tool:1.2".into());
    }
    if s.len() > 255 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{s}` is not an image reference: no spaces, at most 255 characters"));
    }
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(check_digest(d)?)),
        None => (s, None),
    };
    let (registry, remainder) = match rest.split_once('/') {
        Some((first, more)) if first.contains(['.', ':']) || first == "localhost" => (Some(first.to_string()), more),
        _ => (None, rest),
    };
    let (path, tag) = match remainder.rsplit_once(':') {
        Some((p, t)) => (p, Some(t)),
        None => (remainder, None),
    };
    if path.is_empty() || !path.split('/').all(valid_path_component) {
        return Err(format!(
            "`{s}` is not an image reference: names are lowercase letters, digits and . _ - separated by /"
        ));
    }
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && !t.starts_with(['.', '-'])
            && t.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !ok {
            return Err(format!("`{s}` has an invalid tag `{t}`: letters, digits, _ . - (max 128)"));
        }
    }
    Ok(ImageRef { registry, path: path.to_string(), tag: tag.map(str::to_string), digest })
}

fn valid_path_component(c: &str) -> bool {
    let alnum = |ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit();
    !c.is_empty() && c.starts_with(alnum) && c.ends_with(alnum) && c.chars().all(|ch| alnum(ch) || "._-".contains(ch))
}

fn check_digest(d: &str) -> Result<String, String> {
    match d.split_once(':') {
        Some((algo, hex)) if !algo.is_empty() && hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
            Ok(d.to_string())
        }
        _ => Err(format!("`@{d}` is not a digest: expected e.g. @sha256:<64 hex>")),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMapping {
    pub host_ip: Option<IpAddr>,
    /// None: Docker picks a free host port.
    pub host_port: Option<u16>,
    pub container_port: u16,
    pub protocol: String,
}

/// `[ip:][host:]container[/tcp|udp|sctp]`, as `docker run -p` takes it.
pub fn parse_port(s: &str) -> Result<PortMapping, String> {
    let bad = || format!("`{s}` is not a port mapping: expected [ip:]host:container[/tcp|udp], e.g. 8080:80");
    let (main, protocol) = match s.rsplit_once('/') {
        Some((m, p)) if ["tcp", "udp", "sctp"].contains(&p) => (m, p.to_string()),
        Some(_) => return Err(bad()),
        None => (s, "tcp".to_string()),
    };
    let port = |p: &str| p.parse::<u16>().ok().filter(|n| *n > 0);
    let parts: Vec<&str> = main.rsplitn(3, ':').collect();
    let (host_ip, host_port, container) = match parts.as_slice() {
        [c] => (None, None, *c),
        [c, h] => (None, Some(*h), *c),
        [c, h, ip] => (Some(*ip), Some(*h), *c),
        _ => return Err(bad()),
    };
    let host_ip = match host_ip {
        Some(ip) => Some(ip.trim_matches(['[', ']']).parse::<IpAddr>().map_err(|_| bad())?),
        None => None,
    };
    let host_port = match host_port {
        None | Some("") => None,
        Some(h) => Some(port(h).ok_or_else(bad)?),
    };
    Ok(PortMapping { host_ip, host_port, container_port: port(container).ok_or_else(bad)?, protocol })
}

/// What `--gpus` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GpuRequest {
    All,
    Count(u32),
    Devices(Vec<String>),
}

pub fn parse_gpus(s: &str) -> Result<GpuRequest, String> {
    if s == "all" {
        return Ok(GpuRequest::All);
    }
    if let Ok(n) = s.parse::<u32>() {
        if n == 0 {
            return Err("0 GPUs: leave `gpus` unset instead".into());
        }
        return Ok(GpuRequest::Count(n));
    }
    if let Some(list) = s.strip_prefix("device=") {
        let ids: Vec<String> = list.split(',').map(str::trim).map(str::to_string).collect();
        if ids.iter().all(|d| !d.is_empty()) {
            return Ok(GpuRequest::Devices(ids));
        }
    }
    Err(format!("`{s}` is not a GPU request: expected all, a count, or device=0,1"))
}

/// One `--device` mapping: `/dev/fuse[:/dev/fuse[:rwm]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceMapping {
    pub host: String,
    pub container: String,
    pub permissions: String,
}

pub fn parse_device(s: &str) -> Result<DeviceMapping, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (host, container, permissions) = match parts[..] {
        [h] => (h, h, "rwm"),
        [h, p] if !p.starts_with('/') => (h, h, p),
        [h, c] => (h, c, "rwm"),
        [h, c, p] => (h, c, p),
        _ => return Err(format!("`{s}` is not a device: expected /dev/name[:/dev/name[:rwm]]")),
    };
    let path_ok = |p: &str| p.starts_with("/dev/") && p.len() > 5 && !p.split('/').any(|c| c == "..");
    if !path_ok(host) || !container.starts_with('/') {
        return Err(format!("`{s}` is not a device: the host path must be under /dev/ (e.g. /dev/fuse)"));
    }
    if permissions.is_empty() || !permissions.chars().all(|c| "rwm".contains(c)) {
        return Err(format!("`{s}` has invalid permissions `{permissions}`: a mix of r, w and m"));
    }
    Ok(DeviceMapping { host: host.into(), container: container.into(), permissions: permissions.into() })
}

const SIGNALS: [(&str, i32); 12] = [
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("KILL", 9),
    ("USR1", 10),
    ("USR2", 12),
    ("TERM", 15),
    ("CONT", 18),
    ("STOP", 19),
    ("WINCH", 28),
    ("PWR", 30),
    ("SYS", 31),
];

/// `SIGTERM`, `TERM` or `15` → 15.
pub fn parse_signal(s: &str) -> Result<i32, String> {
    if let Ok(n) = s.parse::<i32>()
        && (1..=64).contains(&n)
    {
        return Ok(n);
    }
    let name = s.trim_start_matches("SIG");
    SIGNALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, num)| *num)
        .ok_or_else(|| format!("`{s}` is not a signal: expected e.g. SIGTERM, SIGINT or 15"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_refs() {
        let r = parse_image_ref("127.0.0.1:5000/team/tool:1.2").unwrap();
        assert_eq!(r.registry.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!((r.path.as_str(), r.pull_tag().as_str()), ("team/tool", "1.2"));
        assert_eq!(parse_image_ref("busybox").unwrap().pull_tag(), "latest");
        let d = format!("alpine@sha256:{}", "a".repeat(64));
        assert!(parse_image_ref(&d).unwrap().digest.is_some());
        for bad in ["", "UPPER", "a b", "x:", "-x", "x@sha256:zz", "x:-bad", "a//b"] {
            assert!(parse_image_ref(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ports() {
        let p = parse_port("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(p.host_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!((p.host_port, p.container_port, p.protocol.as_str()), (Some(8080), 80, "udp"));
        assert_eq!(parse_port("80").unwrap().host_port, None);
        for bad in ["", "x:80", "80/foo", "0", "70000", "1.2.3:80:80"] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn gpus_and_signals() {
        assert_eq!(parse_gpus("all"), Ok(GpuRequest::All));
        assert_eq!(parse_gpus("2"), Ok(GpuRequest::Count(2)));
        assert_eq!(parse_gpus("device=0,1"), Ok(GpuRequest::Devices(vec!["0".into(), "1".into()])));
        assert!(parse_gpus("lots").is_err());
        assert_eq!(parse_signal("SIGTERM"), Ok(15));
        assert_eq!(parse_signal("INT"), Ok(2));
        assert_eq!(parse_signal("9"), Ok(9));
        assert!(parse_signal("SIGNOPE").is_err());
    }

    #[test]
    fn devices() {
        let d = parse_device("/dev/fuse").unwrap();
        assert_eq!((d.host.as_str(), d.container.as_str(), d.permissions.as_str()), ("/dev/fuse", "/dev/fuse", "rwm"));
        assert_eq!(parse_device("/dev/sda:/dev/xvda:r").unwrap().container, "/dev/xvda");
        assert_eq!(parse_device("/dev/null:rw").unwrap().permissions, "rw");
        for bad in ["", "fuse", "/etc/passwd", "/dev/../etc", "/dev/x:/y:z", "/dev/a:/b:r:x"] {
            assert!(parse_device(bad).is_err(), "{bad}");
        }
    }
}
