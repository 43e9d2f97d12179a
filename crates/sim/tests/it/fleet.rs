//! Fleets: distinct loopback addresses on one port, kinds placed as planned, targets, shards.

use crate::client::get;
use proxyhealth_core::Status;
use proxyhealth_sim::bodies::{ERRORS_BODY, OK_BODY};
use proxyhealth_sim::{Fleet, FleetSpec, Kind, SimError, fleet_ip};
use std::collections::HashSet;
use std::io::ErrorKind;
use std::net::IpAddr;
use std::time::Duration;
use tokio::net::TcpStream;

fn mixed_300() -> FleetSpec {
    FleetSpec::new(&[
        (Kind::Ok, 270),
        (Kind::Errors, 15),
        (Kind::Refused, 10),
        (Kind::Hang, 5),
    ])
}

#[tokio::test]
async fn three_hundred_proxies_listen_on_distinct_addresses_sharing_one_port() {
    let fleet = Fleet::start(mixed_300()).await.expect("start");
    let proxies = fleet.proxies();
    assert_eq!(proxies.len(), 300);
    let ips: HashSet<IpAddr> = proxies.iter().map(|p| p.addr.ip()).collect();
    assert_eq!(ips.len(), 300, "addresses are distinct");
    assert!(proxies.iter().all(|p| p.addr.port() == fleet.port()));
    assert_eq!(proxies[0].addr.ip(), IpAddr::from(fleet_ip(0).expect("ip")));
    assert_eq!(proxies[0].url, format!("http://127.1.0.1:{}", fleet.port()));

    for p in proxies
        .iter()
        .filter(|p| matches!(p.kind, Kind::Ok | Kind::Errors))
    {
        let r = get(p.addr, "/healthz-report").await.expect("answer");
        let want = if p.kind == Kind::Ok {
            OK_BODY
        } else {
            ERRORS_BODY
        };
        assert_eq!((r.status, r.text().as_str()), (200, want), "{}", p.url);
    }
    for p in proxies.iter().filter(|p| p.kind == Kind::Refused) {
        let err = TcpStream::connect(p.addr).await.expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{}: {err}", p.url);
    }
    assert_eq!(fleet.requests(), 285);
}

#[tokio::test]
async fn totals_and_expected_statuses_match_the_spec() {
    let fleet = Fleet::start(mixed_300()).await.expect("start");
    let totals: Vec<(&str, usize)> = fleet.totals().into_iter().collect();
    assert_eq!(
        totals,
        [("errors", 15), ("hang", 5), ("ok", 270), ("refused", 10)]
    );
    assert_eq!(
        fleet.expected_totals(),
        [
            (Status::Ok, 270),
            (Status::Unhealthy, 15),
            (Status::Unreachable, 15),
            (Status::Unregistered, 0),
            (Status::Unknown, 0),
        ]
    );
    let hangs: Vec<usize> = fleet
        .proxies()
        .iter()
        .enumerate()
        .filter(|(_, p)| p.kind == Kind::Hang)
        .map(|(i, _)| i)
        .collect();
    assert!(
        hangs.iter().any(|&i| i < 250),
        "hangs are not all at the end: {hangs:?}"
    );
}

#[tokio::test]
async fn the_targets_file_has_url_name_kind_and_expected_status_per_line() {
    let fleet = Fleet::start(mixed_300()).await.expect("start");
    let dir = std::env::temp_dir().join(format!("sim-targets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let targets = dir.join("targets.tsv");
    let urls = dir.join("urls.txt");
    fleet.write_targets(&targets).expect("targets");
    fleet.write_url_list(&urls).expect("urls");

    let text = std::fs::read_to_string(&targets).expect("read");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "# url\tname\tkind\texpected status (proxyhealth sim; \
             `proxyhealth check --targets FILE` reads the url and the name)"
        )
    );
    let lines: Vec<&str> = lines.collect();
    assert_eq!(lines.len(), 300);
    for (line, p) in lines.iter().zip(fleet.proxies()) {
        assert_eq!(
            *line,
            format!(
                "{}\t{}-{}\t{}\t{}",
                p.url,
                p.kind.name(),
                p.index,
                p.kind.name(),
                p.expected
            )
        );
    }
    let names: std::collections::HashSet<&str> =
        lines.iter().filter_map(|l| l.split('\t').nth(1)).collect();
    assert_eq!(names.len(), 300, "every name is unique");
    assert!(lines.iter().any(|l| l.ends_with("\trefused\tunreachable")));
    let urls_text = std::fs::read_to_string(&urls).expect("read");
    let url_lines: Vec<&str> = urls_text.lines().collect();
    let want: Vec<&str> = fleet.proxies().iter().map(|p| p.url.as_str()).collect();
    assert_eq!(url_lines, want);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn writing_targets_into_a_missing_directory_names_the_file() {
    let fleet = Fleet::start(FleetSpec::uniform(Kind::Ok, 1))
        .await
        .expect("start");
    let path = std::path::Path::new("/nonexistent-sim-dir/targets.tsv");
    let err = fleet.write_targets(path).expect_err("no such directory");
    assert!(
        err.to_string()
            .starts_with("cannot write /nonexistent-sim-dir/targets.tsv: "),
        "{err}"
    );
}

#[tokio::test]
async fn shards_serve_disjoint_addresses_that_together_make_the_whole_fleet() {
    let spec = mixed_300();
    let whole: HashSet<IpAddr> = spec
        .plan()
        .expect("plan")
        .iter()
        .map(|p| IpAddr::from(p.ip))
        .collect();
    let a = Fleet::start(spec.clone().shard(0, 2))
        .await
        .expect("shard 0");
    let b = Fleet::start(spec.shard(1, 2)).await.expect("shard 1");
    let ips = |f: &Fleet| -> HashSet<IpAddr> { f.proxies().iter().map(|p| p.addr.ip()).collect() };
    let (ips_a, ips_b) = (ips(&a), ips(&b));
    assert_eq!((ips_a.len(), ips_b.len()), (150, 150));
    assert!(ips_a.is_disjoint(&ips_b));
    let union: HashSet<IpAddr> = ips_a.union(&ips_b).copied().collect();
    assert_eq!(union, whole);
    assert_eq!(
        (a.fleet_total(), a.shard().to_string()),
        (300, "0/2".to_owned())
    );
}

#[tokio::test]
async fn fleet_wide_in_flight_counts_requests_across_members() {
    let fleet = Fleet::start(FleetSpec::uniform(
        Kind::Slow(Duration::from_millis(300)),
        8,
    ))
    .await
    .expect("start");
    let addrs: Vec<_> = fleet.proxies().iter().map(|p| p.addr).collect();
    let requests: Vec<_> = addrs
        .into_iter()
        .map(|addr| tokio::spawn(async move { get(addr, "/healthz-report").await }))
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(fleet.in_flight(), 8);
    for r in requests {
        assert_eq!(r.await.expect("join").expect("answer").status, 200);
    }
    assert_eq!(
        (fleet.requests(), fleet.in_flight(), fleet.max_in_flight()),
        (8, 0, 8)
    );
    let member = fleet.proxy(3).expect("member");
    assert_eq!((member.requests(), member.max_in_flight()), (1, 1));
}

#[tokio::test]
async fn a_member_can_be_taken_down_and_brought_back() {
    let fleet = Fleet::start(FleetSpec::uniform(Kind::Ok, 3))
        .await
        .expect("start");
    let member = fleet.proxy(1).expect("member");
    member.set_kind(Kind::Refused).await.expect("down");
    let err = TcpStream::connect(member.addr())
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    member.set_kind(Kind::Ok).await.expect("up");
    let r = get(member.addr(), "/healthz-report").await.expect("answer");
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn shutdown_closes_every_listener() {
    let fleet = Fleet::start(FleetSpec::uniform(Kind::Ok, 20))
        .await
        .expect("start");
    let addrs: Vec<_> = fleet.proxies().iter().map(|p| p.addr).collect();
    fleet.shutdown().await;
    for addr in addrs {
        let err = TcpStream::connect(addr).await.expect_err("closed");
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{addr}: {err}");
    }
}

#[tokio::test]
async fn a_port_in_use_on_a_fleet_address_is_reported_with_the_address() {
    let squatter = tokio::net::TcpListener::bind("127.1.0.2:0")
        .await
        .expect("bind");
    let port = squatter.local_addr().expect("addr").port();
    let err = Fleet::start(FleetSpec::uniform(Kind::Ok, 3).port(port))
        .await
        .expect_err("the fixed port is taken on 127.1.0.2");
    assert!(matches!(err, SimError::Bind { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot listen on 127.1.0.2:{port}: ")),
        "{err}"
    );
}

#[tokio::test]
async fn ten_thousand_listeners_start_answer_and_stop_in_one_process() {
    let spec = FleetSpec::mix(
        10_000,
        &[(Kind::Refused, 1.0), (Kind::Errors, 3.0)],
        Kind::Ok,
    )
    .expect("mix")
    .max_connections(256);
    let limit = proxyhealth_sim::raise_fd_limit().expect("rlimit");
    let needed = proxyhealth_sim::fds_needed(9_900, 256);
    if limit < needed {
        eprintln!("skipped: the open-file limit {limit} is below the {needed} this test needs");
        return;
    }
    let fleet = Fleet::start(spec).await.expect("start");
    assert_eq!(fleet.len(), 10_000);
    let last = fleet.proxies().last().expect("last");
    assert_eq!(last.addr.ip(), IpAddr::from(fleet_ip(9_999).expect("ip")));
    for p in fleet
        .proxies()
        .iter()
        .step_by(97)
        .filter(|p| p.kind.listens())
    {
        let r = get(p.addr, "/healthz-report").await.expect("answer");
        assert_eq!(r.status, 200, "{}", p.url);
    }
    assert!(
        fleet
            .summary()
            .starts_with("10000 proxies (shard 0/1 of a fleet of 10000) on port ")
    );
    tokio::time::timeout(Duration::from_secs(10), fleet.shutdown())
        .await
        .expect("shutdown in time");
}
