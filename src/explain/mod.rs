//! What the user is looking at: notes on well-known chains ([`notes`]), rules of thumb
//! that point at traps ([`findings`]), and kube-proxy's Services read back from the nat
//! table ([`services`]) or from its nftables table ([`kube_nft`]). Pure functions over
//! snapshots and deltas; no I/O.

pub mod findings;
pub mod kube_nft;
pub mod notes;
pub mod ports;
pub mod services;
