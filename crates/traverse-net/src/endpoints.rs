//! Where a node of the topology can be reached, by logical port.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use tokio::net::{TcpListener, TcpSocket};

/// A listener on an ephemeral loopback port: the only way nodes bind.
pub async fn bind_loopback() -> io::Result<TcpListener> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await
}

/// The real address behind each logical port of one node. A node that does
/// not serve a port still has an address for it, one that refuses
/// connections, so clients and hops experience a real "connection refused".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    ports: BTreeMap<u16, SocketAddr>,
}

impl Endpoints {
    pub fn new(ports: BTreeMap<u16, SocketAddr>) -> Endpoints {
        Endpoints { ports }
    }

    pub fn get(&self, logical_port: u16) -> Option<SocketAddr> {
        self.ports.get(&logical_port).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u16, SocketAddr)> + '_ {
        self.ports.iter().map(|(port, addr)| (*port, *addr))
    }
}

/// A loopback port that is bound but never listens: connecting to it is
/// refused by the kernel, and no one else can take the port while it lives.
#[derive(Debug)]
pub struct ClosedPort {
    _socket: TcpSocket,
    addr: SocketAddr,
}

impl ClosedPort {
    pub fn new() -> io::Result<ClosedPort> {
        let socket = TcpSocket::new_v4()?;
        socket.bind((Ipv4Addr::LOCALHOST, 0).into())?;
        let addr = socket.local_addr()?;
        Ok(ClosedPort {
            _socket: socket,
            addr,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_port_refuses_connections() {
        let closed = ClosedPort::new().expect("bind");
        let error = tokio::net::TcpStream::connect(closed.addr())
            .await
            .expect_err("nothing listens");
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    }
}
