//! A real DNS server on loopback for tests that look host names up: UDP and
//! TCP on one port of 127.0.0.1, answering from a small zone the test gives.
//!
//! Each name of the zone gets an address, or no answer at all (a resolver
//! that never answers); any other name is `NXDOMAIN`. Only loopback
//! addresses belong in a zone.

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{RData, Record, RecordType};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// How the server answers for one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsAnswer {
    /// The name has this address (an `A` or `AAAA` record, TTL 60 s; the
    /// other type gets an empty answer).
    Address(IpAddr),
    /// The query is read and never answered: a resolver that hangs.
    Silence,
}

/// A DNS server on `127.0.0.1:PORT` (UDP and TCP). Stops when dropped.
pub struct DnsServer {
    /// Where it listens, for both UDP and TCP.
    pub addr: SocketAddr,
    /// Queries received so far (answered or not).
    pub queries: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The address every name of a test zone usually has.
pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

impl DnsServer {
    /// Starts a server answering `zone` (names without the final dot, any
    /// case); every other name is `NXDOMAIN`.
    pub async fn start<'a>(zone: impl IntoIterator<Item = (&'a str, DnsAnswer)>) -> DnsServer {
        let zone: Arc<HashMap<String, DnsAnswer>> = Arc::new(
            zone.into_iter()
                .map(|(name, answer)| (normalize(name), answer))
                .collect(),
        );
        let (udp, tcp) = bind_both().await;
        let addr = udp.local_addr().expect("the UDP socket's address");
        let queries = Arc::new(AtomicUsize::new(0));
        let udp_task = tokio::spawn(serve_udp(udp, Arc::clone(&zone), Arc::clone(&queries)));
        let tcp_task = tokio::spawn(serve_tcp(tcp, zone, Arc::clone(&queries)));
        DnsServer {
            addr,
            queries,
            tasks: vec![udp_task, tcp_task],
        }
    }

    /// The queries received so far.
    pub fn query_count(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

/// A UDP socket and a TCP listener on one free port of 127.0.0.1.
async fn bind_both() -> (UdpSocket, TcpListener) {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind UDP");
        let addr = udp.local_addr().expect("the UDP socket's address");
        if let Ok(tcp) = TcpListener::bind(addr).await {
            return (udp, tcp);
        }
    }
    panic!("no port of 127.0.0.1 was free for both UDP and TCP");
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

async fn serve_udp(
    socket: UdpSocket,
    zone: Arc<HashMap<String, DnsAnswer>>,
    queries: Arc<AtomicUsize>,
) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        queries.fetch_add(1, Ordering::SeqCst);
        if let Some(answer) = respond(&buf[..len], &zone) {
            let _ = socket.send_to(&answer, peer).await;
        }
    }
}

async fn serve_tcp(
    listener: TcpListener,
    zone: Arc<HashMap<String, DnsAnswer>>,
    queries: Arc<AtomicUsize>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve_tcp_connection(
            stream,
            Arc::clone(&zone),
            Arc::clone(&queries),
        ));
    }
}

/// Length-prefixed messages (RFC 1035 §4.2.2) until the client closes.
async fn serve_tcp_connection(
    mut stream: TcpStream,
    zone: Arc<HashMap<String, DnsAnswer>>,
    queries: Arc<AtomicUsize>,
) {
    loop {
        let Ok(len) = stream.read_u16().await else {
            return;
        };
        let mut buf = vec![0u8; usize::from(len)];
        if stream.read_exact(&mut buf).await.is_err() {
            return;
        }
        queries.fetch_add(1, Ordering::SeqCst);
        let Some(answer) = respond(&buf, &zone) else {
            continue;
        };
        let Ok(len) = u16::try_from(answer.len()) else {
            return;
        };
        if stream.write_u16(len).await.is_err() || stream.write_all(&answer).await.is_err() {
            return;
        }
    }
}

/// The answer to one query, or `None` to stay silent.
fn respond(request: &[u8], zone: &HashMap<String, DnsAnswer>) -> Option<Vec<u8>> {
    let request = Message::from_vec(request).ok()?;
    let mut response = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.metadata.authoritative = true;
    let Some(query) = request.queries.first() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return response.to_vec().ok();
    };
    response.add_query(query.clone());
    match zone.get(&normalize(&query.name.to_string())) {
        None => response.metadata.response_code = ResponseCode::NXDomain,
        Some(DnsAnswer::Silence) => return None,
        Some(DnsAnswer::Address(ip)) => {
            let data = match (ip, query.query_type) {
                (IpAddr::V4(v4), RecordType::A) => Some(RData::A(A(*v4))),
                (IpAddr::V6(v6), RecordType::AAAA) => Some(RData::AAAA(AAAA(*v6))),
                _ => None,
            };
            if let Some(data) = data {
                response.add_answer(Record::from_rdata(query.name.clone(), 60, data));
            }
        }
    }
    response.to_vec().ok()
}
