//! A single simulated proxy: counters, keep-alive, changing kind, stopping.

use crate::client::{get, read_response, send};
use proxyhealth_sim::bodies::{ERRORS_BODY, OK_BODY};
use proxyhealth_sim::{Kind, spawn};
use std::io::ErrorKind;
use std::time::Duration;
use tokio::net::TcpStream;

#[tokio::test]
async fn in_flight_counts_concurrent_requests_and_keeps_the_maximum() {
    let proxy = spawn(Kind::Slow(Duration::from_millis(300)))
        .await
        .expect("spawn");
    let addr = proxy.addr();
    let requests: Vec<_> = (0..5)
        .map(|_| tokio::spawn(async move { get(addr, "/healthz-report").await }))
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(proxy.in_flight(), 5);
    for request in requests {
        let answer = request.await.expect("join").expect("answer");
        assert_eq!(answer.status, 200);
    }
    assert_eq!(
        (proxy.requests(), proxy.in_flight(), proxy.max_in_flight()),
        (5, 0, 5)
    );
    proxy.reset_max_in_flight();
    assert_eq!(proxy.max_in_flight(), 0);
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let proxy = spawn(Kind::Ok).await.expect("spawn");
    let mut stream = TcpStream::connect(proxy.addr()).await.expect("connect");
    for _ in 0..3 {
        send(&mut stream, "/healthz-report", true)
            .await
            .expect("send");
        let r = read_response(&mut stream).await.expect("answer");
        assert_eq!((r.status, r.text().as_str()), (200, OK_BODY));
    }
    assert_eq!((proxy.requests(), proxy.connections()), (3, 1));
}

#[tokio::test]
async fn set_kind_takes_a_proxy_down_and_brings_it_back_on_the_same_address() {
    let proxy = spawn(Kind::Ok).await.expect("spawn");
    let url = proxy.url().to_owned();
    assert_eq!(url, format!("http://{}", proxy.addr()));

    proxy.set_kind(Kind::Errors).await.expect("errors");
    let r = get(proxy.addr(), "/healthz-report").await.expect("answer");
    assert_eq!(r.text(), ERRORS_BODY);

    proxy.set_kind(Kind::Refused).await.expect("down");
    let err = TcpStream::connect(proxy.addr()).await.expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");

    proxy.set_kind(Kind::Ok).await.expect("back up");
    let r = get(proxy.addr(), "/healthz-report").await.expect("answer");
    assert_eq!((r.status, r.text().as_str()), (200, OK_BODY));
    assert_eq!(proxy.url(), url);
    assert_eq!(proxy.kind(), Kind::Ok);
}

#[tokio::test]
async fn a_refused_proxy_can_come_up() {
    let proxy = spawn(Kind::Refused).await.expect("spawn");
    proxy.set_kind(Kind::Ok).await.expect("up");
    let r = get(proxy.addr(), "/healthz-report").await.expect("answer");
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn shutdown_closes_the_listener_and_hanging_connections() {
    let proxy = spawn(Kind::Hang).await.expect("spawn");
    let addr = proxy.addr();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    send(&mut stream, "/healthz-report", false)
        .await
        .expect("send");
    tokio::time::sleep(Duration::from_millis(50)).await;
    tokio::time::timeout(Duration::from_secs(2), proxy.shutdown())
        .await
        .expect("shutdown in time");
    let err = read_response(&mut stream)
        .await
        .expect_err("closed without answer");
    assert_eq!(err.kind(), ErrorKind::UnexpectedEof, "{err}");
    let err = TcpStream::connect(addr).await.expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
}
