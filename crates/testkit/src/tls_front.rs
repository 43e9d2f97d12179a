//! [`TlsFront`]: HTTPS on `127.0.0.1:0` in front of a plain HTTP server, as
//! a TLS-terminating load balancer puts a service behind a certificate of
//! its (private) CA.

use crate::tls_server::{Leaf, server_config};
use std::net::SocketAddr;
use std::sync::Arc;

/// A TLS front: every connection's TLS is ended with a leaf certificate and
/// its bytes are carried to and from `backend`. Stops when dropped.
pub struct TlsFront {
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsFront {
    /// Serves `leaf` in front of `backend`.
    pub async fn start(leaf: &Leaf, backend: SocketAddr) -> TlsFront {
        let config = server_config()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.cert_der.clone()], leaf.key())
            .expect("a server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                connections.spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        TlsFront {
            url: format!("https://{addr}"),
            task,
        }
    }
}
