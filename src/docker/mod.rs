//! Names from Docker: when the Docker Engine API answers on its unix socket, bridges are
//! shown as their network names and container addresses as container names
//! ([`names`]); `--list-netns` and `--netns container:NAME` find container and sandbox
//! namespaces ([`netns`]). Read-only GETs ([`client`]); without Docker nothing changes
//! and nothing waits: a missing socket is one `stat`, an unanswering daemon a short
//! timeout, once.

pub mod client;
pub mod names;
pub mod netns;

use std::time::Duration;

pub use client::{Client, DockerError};
pub use names::{Names, RuleNames};

/// Where dockerd listens unless `--docker-host` or `DOCKER_HOST` says otherwise.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// How long one question to Docker may take.
pub const TIMEOUT: Duration = Duration::from_millis(1500);

/// The Docker Engine to ask, and whether the user named it (`--docker-host` or
/// `DOCKER_HOST`): only then is its absence worth a word.
#[derive(Debug, Clone)]
pub struct Host {
    pub client: Client,
    pub named: bool,
}

impl Host {
    /// From `--docker-host` (`flag`) and `DOCKER_HOST` (`env`), else the default socket.
    pub fn new(flag: Option<&str>, env: Option<&str>) -> Result<Host, String> {
        let (spec, named) = match (flag, env.filter(|e| !e.is_empty())) {
            (Some(f), _) => (f, true),
            (None, Some(e)) => (e, true),
            (None, None) => (DEFAULT_SOCKET, false),
        };
        Ok(Host {
            client: Client::new(client::socket_path(spec)?, TIMEOUT),
            named,
        })
    }

    /// The host `--docker-host` names, else `DOCKER_HOST` from the environment.
    pub fn named_or_env(docker_host: Option<&str>) -> Result<Host, String> {
        let env = std::env::var("DOCKER_HOST").ok();
        Host::new(docker_host, env.as_deref())
    }

    /// Network and container names; None when there is no socket and nobody asked for
    /// one.
    pub async fn names(&self) -> Result<Option<Names>, DockerError> {
        if !self.client.present() && !self.named {
            return Ok(None);
        }
        let networks = self.client.get("/networks").await?;
        let containers = self.client.get("/containers/json").await?;
        Ok(Some(Names::from_api(&networks, &containers)))
    }
}

/// The names to show for this run, and a warning when Docker was named but did not
/// answer. A replay is not of this host: names only when `--docker-host` asks for them.
/// Inside another namespace (`--netns`, but not `container:`), the host's Docker may
/// know other containers at the same addresses: names only when a Docker host is named.
pub async fn names_for(
    docker_host: Option<&str>,
    netns: Option<&str>,
    replay: bool,
) -> (Option<Names>, Option<String>) {
    let replay_only = replay && docker_host.is_none();
    let host = match Host::named_or_env(docker_host) {
        Ok(h) => h,
        Err(_) if replay_only => return (None, None),
        Err(e) => return (None, Some(format!("names from Docker: {e}"))),
    };
    let other_netns = netns.is_some_and(|ns| !ns.starts_with(netns::CONTAINER));
    if replay_only || (other_netns && !host.named) {
        return (None, None);
    }
    match host.names().await {
        Ok(n) => (n, None),
        Err(e) => (None, Some(format!("names from Docker: {e}"))),
    }
}
