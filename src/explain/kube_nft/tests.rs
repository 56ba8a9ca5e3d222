use super::*;
use crate::parse::nft::parse_ruleset;

const JSON: &str = include_str!("../../../tests/fixtures/nft/kube-proxy.json");
const TEXT: &str = include_str!("../../../tests/fixtures/nft/kube-proxy.txt");

fn table(text: Option<&str>) -> FirewallTable {
    let mut t = parse_ruleset(JSON, text).expect("fixture parses");
    assert_eq!(t.len(), 1);
    let t = t.remove(0);
    assert!(is_kube_proxy(&t));
    t
}

fn by_name<'a>(svcs: &'a [NftService], name: &str) -> &'a NftService {
    svcs.iter()
        .find(|s| s.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no {name} in {svcs:#?}"))
}

#[test]
fn services_from_the_fixture() {
    let svcs = group(&table(Some(TEXT)));
    let labels: Vec<String> = svcs.iter().map(NftService::label).collect();
    // service-ips' order (as nft lists the map), then the Service without endpoints,
    // named by its no-endpoint-services element's comment
    assert_eq!(
        labels,
        [
            "kube-system/kube-dns:dns",
            "shop/web:http",
            "shop/api:grpc",
            "shop/batch:http"
        ]
    );
    let web = by_name(&svcs, "shop/web:http");
    assert_eq!(web.cluster_ip.as_deref(), Some("172.30.0.41"));
    assert_eq!((web.protocol.as_str(), web.port), ("tcp", Some(80)));
    assert_eq!(web.node_port, None);
    assert_eq!(web.modulus, Some(3));
    let api = by_name(&svcs, "shop/api:grpc");
    assert_eq!(api.cluster_ip.as_deref(), Some("172.30.0.42"));
    assert_eq!(api.external_ips, ["192.168.99.33"]);
    assert_eq!((api.port, api.node_port), (Some(9090), Some(30090)));
    let dns = by_name(&svcs, "kube-system/kube-dns:dns");
    assert_eq!((dns.protocol.as_str(), dns.port), ("udp", Some(53)));
    let batch = &svcs[3];
    assert!(batch.endpoints.is_empty() && batch.chain.is_none());
    assert_eq!(batch.cluster_ip.as_deref(), Some("172.30.0.46"));
    // the name from the text alone (a paste) too
    let pasted = crate::parse::nft::text::parse(TEXT).remove(0);
    assert_eq!(group(&pasted)[3].name.as_deref(), Some("shop/batch:http"));
}

#[test]
fn endpoints_and_their_numgen_shares() {
    let svcs = group(&table(Some(TEXT)));
    let web = by_name(&svcs, "shop/web:http");
    let eps: Vec<(&str, &[String], f64)> = web
        .endpoints
        .iter()
        .map(|e| (e.address.as_str(), e.keys.as_slice(), e.share))
        .collect();
    assert_eq!(eps.len(), 3);
    for (i, (a, k, sh)) in eps.iter().enumerate() {
        assert_eq!(*k, [i.to_string()]);
        assert!((sh - 1.0 / 3.0).abs() < 1e-9, "{sh}");
        assert!(a.ends_with(":8080"), "{a}");
    }
    assert_eq!(eps[2].0, "10.180.1.3:8080");
    assert!(
        web.endpoints[0]
            .chain
            .starts_with("endpoint-A4TQ2KLE-shop/web/tcp/http__")
    );
    let api = by_name(&svcs, "shop/api:grpc");
    assert_eq!(api.endpoints.len(), 2);
    assert!(api.endpoints.iter().all(|e| (e.share - 0.5).abs() < 1e-9));
    let dns = by_name(&svcs, "kube-system/kube-dns:dns");
    assert_eq!(dns.endpoints[0].address, "10.180.0.9:53");
    assert!((dns.endpoints[0].share - 1.0).abs() < 1e-9);
}

#[test]
fn without_nft_the_shares_come_from_the_jumps() {
    // no `nft -a` text: the rules' text is made from the JSON; endpoints still follow
    let svcs = group(&table(None));
    let web = by_name(&svcs, "shop/web:http");
    assert_eq!(web.endpoints.len(), 3);
    assert!(
        web.endpoints
            .iter()
            .all(|e| (e.share - 1.0 / 3.0).abs() < 1e-9 && e.address.ends_with(":8080"))
    );
}

#[test]
fn names_from_chains() {
    assert_eq!(
        name_of("service-ULMVA6XW-ns1/svc1/tcp/p80"),
        Some(("ns1/svc1:p80".into(), "tcp".into()))
    );
    assert_eq!(
        name_of("endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"),
        Some(("ns1/svc1:p80".into(), "tcp".into()))
    );
    assert_eq!(name_of("services"), None);
    assert_eq!(name_of("service-endpoints-check"), None);
    assert_eq!(
        address_from_name("endpoint-X-a/b/tcp/p__fd00::1/80").as_deref(),
        Some("[fd00::1]:80")
    );
    assert_eq!(modulus("numgen random mod 12 vmap { }"), Some(12));
}
