//! Network namespaces to look into: `ip netns` names under /run/netns, and, when Docker
//! answers, every container's and sandbox's namespace (the API's `SandboxKey`: files
//! such as /var/run/docker/netns/ingress_sbox). `--netns container:NAME` is resolved
//! here to the container's namespace file.
//!
//! The daemon's answers are not trusted further than they need to be: a `SandboxKey`
//! counts only as a file right under Docker's own netns directory (another path is not
//! entered, and its directory never listed), and `--list-netns` inspects at most
//! [`MAX_INSPECTED`] containers within [`DEADLINE`], saying when the list is cut.

use std::collections::HashSet;
use std::path::{Component, Path};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::{DockerError, Host};
use crate::error::AppError;

/// `--netns container:NAME`.
pub const CONTAINER: &str = "container:";

/// Where `ip netns` keeps its names.
pub const RUN_NETNS: &str = "/run/netns";

/// Where Docker keeps its sandboxes' namespace files: the only directories whose files
/// iptop takes as sandboxes (`/var/run` is `/run` on most systems).
pub const DOCKER_NETNS: [&str; 2] = ["/var/run/docker/netns", "/run/docker/netns"];

/// `--list-netns` inspects at most this many containers...
pub const MAX_INSPECTED: usize = 1000;

/// ...and asks Docker for at most this long in all.
pub const DEADLINE: Duration = Duration::from_secs(4);

/// Whether a `SandboxKey` is a file right under Docker's netns directory.
pub fn docker_sandbox(key: &str) -> bool {
    let p = Path::new(key);
    p.parent()
        .is_some_and(|d| DOCKER_NETNS.iter().any(|n| d == Path::new(n)))
        && matches!(p.components().next_back(), Some(Component::Normal(_)))
        && !key.ends_with('/')
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// `dock-host`, `dock-web`, `ingress_sbox`.
    pub name: String,
    /// `ip netns`, `container (bridge)`, `swarm ingress sandbox`, ...
    pub what: String,
    /// What to give `--netns` to list inside it.
    pub netns: String,
    /// The namespace file.
    pub path: String,
}

/// The names under `dir` (/run/netns), sorted.
pub fn ip_netns(dir: &Path) -> Vec<Entry> {
    let mut v: Vec<Entry> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            Entry {
                netns: if dir == Path::new(RUN_NETNS) {
                    name.clone()
                } else {
                    e.path().display().to_string()
                },
                path: e.path().display().to_string(),
                what: "ip netns".into(),
                name,
            }
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// One running container's namespace, from `GET /containers/{id}/json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerNs {
    pub name: String,
    /// The namespace file Docker keeps for it; empty for a container sharing another's
    /// namespace or the host's, and when the daemon names a file outside its netns
    /// directory.
    pub sandbox_key: String,
    pub pid: u32,
    pub running: bool,
    /// The networks it is attached to.
    pub networks: Vec<String>,
    pub network_mode: String,
}

impl ContainerNs {
    pub fn from_inspect(v: &Value) -> Option<ContainerNs> {
        Some(ContainerNs {
            name: v["Name"].as_str()?.trim_start_matches('/').to_string(),
            sandbox_key: v["NetworkSettings"]["SandboxKey"]
                .as_str()
                .filter(|k| docker_sandbox(k))
                .unwrap_or_default()
                .to_string(),
            pid: v["State"]["Pid"].as_u64().unwrap_or(0) as u32,
            running: v["State"]["Running"].as_bool().unwrap_or(false),
            networks: v["NetworkSettings"]["Networks"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
            network_mode: v["HostConfig"]["NetworkMode"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        })
    }

    /// The namespace file to enter: the sandbox Docker keeps, else the process's own.
    pub fn path(&self) -> Option<String> {
        if !self.sandbox_key.is_empty() && Path::new(&self.sandbox_key).exists() {
            return Some(self.sandbox_key.clone());
        }
        (self.pid > 0).then(|| format!("/proc/{}/ns/net", self.pid))
    }
}

/// What a sandbox file Docker keeps is, by its name.
pub fn sandbox_kind(file: &str, networks: &[(String, String)]) -> String {
    let net_of = |prefix: &str| {
        networks
            .iter()
            .find(|(id, _)| !prefix.is_empty() && id.starts_with(prefix))
            .map(|(_, n)| n.clone())
    };
    if file == "ingress_sbox" {
        return "swarm ingress sandbox (routing mesh)".into();
    }
    if let Some(id) = file.strip_prefix("lb_") {
        return match net_of(id) {
            Some(n) => format!("swarm load balancer of network {n}"),
            None => "swarm load balancer".into(),
        };
    }
    // overlay networks: `1-<network id prefix>`
    if let Some((_, id)) = file.split_once('-')
        && file.chars().next().is_some_and(|c| c.is_ascii_digit())
    {
        return match net_of(id) {
            Some(n) => format!("overlay network {n}"),
            None => "overlay network".into(),
        };
    }
    "Docker sandbox".into()
}

/// The running containers Docker lists, inspected one by one: at most `max` of them,
/// and only until `deadline`; the note says where the list was cut.
async fn containers(
    host: &Host,
    max: usize,
    deadline: tokio::time::Instant,
) -> Result<(Vec<ContainerNs>, Option<String>), DockerError> {
    let timed_out = || DockerError::Timeout(host.client.path().display().to_string(), DEADLINE);
    let list = tokio::time::timeout_at(deadline, host.client.get("/containers/json"))
        .await
        .map_err(|_| timed_out())??;
    let ids: Vec<&str> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["Id"].as_str())
        .collect();
    let cut = |done: usize, why: &str| {
        format!(
            "the list is cut: {done} of {} containers inspected ({why})",
            ids.len()
        )
    };
    let mut out = Vec::new();
    for (done, id) in ids.iter().enumerate() {
        if done == max {
            return Ok((out, Some(cut(done, &format!("at most {max}")))));
        }
        let path = format!("/containers/{id}/json");
        match tokio::time::timeout_at(deadline, host.client.get(&path)).await {
            Err(_) => {
                let why = format!("Docker took longer than {}s in all", DEADLINE.as_secs());
                return Ok((out, Some(cut(done, &why))));
            }
            Ok(Ok(v)) => out.extend(ContainerNs::from_inspect(&v)),
            // gone between the two questions, or an id iptop does not ask about
            Ok(Err(DockerError::Status { status: 404, .. } | DockerError::NotAllowed(_))) => {}
            Ok(Err(e)) => return Err(e),
        }
    }
    Ok((out, None))
}

/// Every namespace iptop can list: `ip netns` names, then Docker's containers and
/// sandboxes. A Docker that was named but does not answer is a warning, not an error;
/// so is a list of containers cut short.
pub async fn list(host: &Host) -> (Vec<Entry>, Option<String>) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    list_within(host, MAX_INSPECTED, deadline, &DOCKER_NETNS).await
}

async fn list_within(
    host: &Host,
    max: usize,
    deadline: tokio::time::Instant,
    sandbox_dirs: &[&str],
) -> (Vec<Entry>, Option<String>) {
    let mut out = ip_netns(Path::new(RUN_NETNS));
    if !host.client.present() && !host.named {
        return (out, None);
    }
    let (found, note) = match containers(host, max, deadline).await {
        Ok(c) => c,
        Err(e) => return (out, Some(format!("containers from Docker: {e}"))),
    };
    let note = note.map(|n| format!("containers from Docker: {n}"));
    let networks: Vec<(String, String)> =
        match tokio::time::timeout_at(deadline, host.client.get("/networks")).await {
            Ok(Ok(v)) => v
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| {
                    Some((
                        n["Id"].as_str()?.to_string(),
                        n["Name"].as_str()?.to_string(),
                    ))
                })
                .collect(),
            _ => Vec::new(),
        };
    // the sandbox files containers use, by file name (under /var/run or /run)
    let mut seen: HashSet<String> = HashSet::new();
    for c in found.iter().filter(|c| c.running) {
        let what = if c.networks.is_empty() {
            format!("container ({})", c.network_mode)
        } else {
            format!("container ({})", c.networks.join(", "))
        };
        if let Some(f) = Path::new(&c.sandbox_key).file_name() {
            seen.insert(f.to_string_lossy().into_owned());
        }
        out.push(Entry {
            netns: format!("{CONTAINER}{}", c.name),
            path: c.path().unwrap_or_default(),
            name: c.name.clone(),
            what,
        });
    }
    // sandboxes of no container (swarm's ingress_sbox, load balancers, overlays): Docker's
    // own directory only, once even where /var/run is /run
    let dir = sandbox_dirs.iter().map(Path::new).find(|d| d.is_dir());
    let mut files: Vec<(String, String)> = dir
        .and_then(|d| std::fs::read_dir(d).ok())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.path().display().to_string(),
            )
        })
        .filter(|(f, _)| !seen.contains(f))
        .collect();
    files.sort();
    for (file, path) in files {
        out.push(Entry {
            what: sandbox_kind(&file, &networks),
            netns: path.clone(),
            name: file,
            path,
        });
    }
    (out, note)
}

/// The namespace file of `--netns container:NAME`, or why there is none.
pub async fn container_path(host: &Host, name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("--netns container:NAME needs a container name".into());
    }
    let v = host
        .client
        .get(&format!("/containers/{name}/json"))
        .await
        .map_err(|e| match e {
            DockerError::Status { status: 404, .. } => format!(
                "no container {name} in the Docker Engine at {} (docker ps lists them)",
                host.client.path().display()
            ),
            DockerError::NotAllowed(_) => format!("`{name}` is not a container name"),
            e => format!("--netns container:{name}: {e}"),
        })?;
    let c = ContainerNs::from_inspect(&v)
        .ok_or_else(|| format!("Docker's answer about {name} has no name"))?;
    if !c.running {
        return Err(format!(
            "container {name} is not running: it has no network namespace"
        ));
    }
    c.path()
        .ok_or_else(|| format!("container {name} has no network namespace iptop can enter"))
}

/// The namespace `--netns` names: `container:NAME` resolved through Docker, anything
/// else as given.
pub async fn resolve(
    docker_host: Option<&str>,
    netns: Option<&str>,
) -> Result<Option<String>, AppError> {
    let Some(ns) = netns else {
        return Ok(None);
    };
    let Some(name) = ns.strip_prefix(CONTAINER) else {
        return Ok(Some(ns.to_string()));
    };
    let host = Host::named_or_env(docker_host).map_err(AppError::Usage)?;
    container_path(&host, name)
        .await
        .map(Some)
        .map_err(AppError::Runtime)
}

/// `--list-netns`: prints the namespaces; a Docker that was named but did not answer
/// is said on stderr.
pub async fn print(docker_host: Option<&str>, json: bool) -> Result<(), AppError> {
    use std::io::Write;
    let host = Host::named_or_env(docker_host).map_err(AppError::Usage)?;
    let (entries, warning) = list(&host).await;
    if let Some(w) = warning {
        crate::sanitize::eprint_line(&format!("iptop: warning: {w}"));
    }
    let out = render(&entries, json);
    let out = crate::sanitize::lines(&out);
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(AppError::Runtime(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

/// `--list-netns` as a table (or JSON).
pub fn render(entries: &[Entry], json: bool) -> String {
    if json {
        let mut s = crate::sanitize::json_pretty(entries).unwrap_or_else(|_| "[]".into());
        s.push('\n');
        return s;
    }
    use crate::sanitize::text as clean;
    let w0 = entries
        .iter()
        .map(|e| clean(&e.name).chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    let w1 = entries
        .iter()
        .map(|e| clean(&e.what).chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let mut out = format!("{:<w0$}  {:<w1$}  --netns\n", "NETNS", "WHAT");
    for e in entries {
        out.push_str(&format!(
            "{:<w0$}  {:<w1$}  {}\n",
            clean(&e.name),
            clean(&e.what),
            clean(&e.netns)
        ));
    }
    if entries.is_empty() {
        out.push_str("(none: no /run/netns entries, and no Docker answered)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_namespaces_from_inspection() {
        let v = json!({
            "Name": "/dock-web",
            "State": {"Running": true, "Pid": 4242},
            "HostConfig": {"NetworkMode": "default"},
            "NetworkSettings": {"SandboxKey": "/nonexistent/netns/3f2a9c", "Networks": {"bridge": {}}}
        });
        let c = ContainerNs::from_inspect(&v).unwrap();
        assert_eq!(c.name, "dock-web");
        assert_eq!(c.networks, ["bridge"]);
        // the sandbox file is not there: the process's own namespace
        assert_eq!(c.path().as_deref(), Some("/proc/4242/ns/net"));
        let stopped = ContainerNs::from_inspect(
            &json!({"Name": "/x", "State": {"Running": false, "Pid": 0}}),
        )
        .unwrap();
        assert_eq!(stopped.path(), None);
        assert!(ContainerNs::from_inspect(&json!({})).is_none());
    }

    #[test]
    fn sandbox_keys_only_under_dockers_netns_directory() {
        for ok in [
            "/var/run/docker/netns/3f2a9c0d1e2f",
            "/run/docker/netns/ingress_sbox",
        ] {
            assert!(docker_sandbox(ok), "{ok}");
        }
        for no in [
            "",
            "/root/private/keyfile",
            "/var/run/docker/netns",
            "/var/run/docker/netns/",
            "/var/run/docker/netns/..",
            "/var/run/docker/netns/a/b",
            "/var/run/docker/netns/../../../etc/passwd",
            "var/run/docker/netns/x",
            "/tmp/dock/exec/netns/3f2a9c",
        ] {
            assert!(!docker_sandbox(no), "{no}");
        }
        let v = json!({
            "Name": "/c", "State": {"Running": true, "Pid": 7},
            "NetworkSettings": {"SandboxKey": "/root/private/keyfile"}
        });
        let c = ContainerNs::from_inspect(&v).unwrap();
        assert_eq!(c.sandbox_key, "");
        assert_eq!(c.path().as_deref(), Some("/proc/7/ns/net"));
    }

    #[test]
    fn sandboxes_by_their_file_names() {
        let nets = vec![
            ("q1w2e3r4t5y6u7".to_string(), "ingress".to_string()),
            ("a9b8c7d6e5".to_string(), "web-net".to_string()),
        ];
        assert!(sandbox_kind("ingress_sbox", &nets).contains("ingress"));
        assert_eq!(
            sandbox_kind("1-q1w2e3r4t5", &nets),
            "overlay network ingress"
        );
        assert_eq!(
            sandbox_kind("lb_a9b8c7d6e5", &nets),
            "swarm load balancer of network web-net"
        );
        assert_eq!(sandbox_kind("3f2a9c0d1e2f", &nets), "Docker sandbox");
    }

    #[test]
    fn ip_netns_names_and_the_table() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b-host"), "").unwrap();
        std::fs::write(dir.path().join("a-client"), "").unwrap();
        let v = ip_netns(dir.path());
        assert_eq!(
            v.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
            ["a-client", "b-host"]
        );
        // outside /run/netns, --netns takes the path
        assert!(v[0].netns.ends_with("/a-client") && v[0].netns.starts_with('/'));
        let t = render(&v, false);
        assert!(t.starts_with("NETNS"), "{t}");
        assert_eq!(t.lines().count(), 3);
        let j: Value = serde_json::from_str(&render(&v, true)).unwrap();
        assert_eq!(j[1]["name"], "b-host");
        assert!(ip_netns(Path::new("/nonexistent")).is_empty());
    }
}
