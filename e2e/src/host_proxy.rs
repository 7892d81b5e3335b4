//! A loopback HTTP CONNECT proxy that sends Alibaba host names to the fakes (override mode).
//!
//! The OCI client and unmodified implementations resolve `registry.<r>.aliyuncs.com` with the
//! system resolver; without root (no network namespace) the only portable way to send them to the
//! fake is `HTTPS_PROXY`. TLS stays end to end (the client still checks the fake's certificate
//! for the real host name). Hosts the route table does not know are refused, so no traffic ever
//! leaves the machine through this proxy.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Maps `(host, port)` of a CONNECT request to a loopback address, or refuses it.
pub type HostRoutes = Arc<dyn Fn(&str, u16) -> Option<SocketAddr> + Send + Sync>;

/// Errors starting the proxy.
#[derive(Debug, thiserror::Error)]
pub enum HostProxyError {
    /// The loopback listener could not be bound.
    #[error("host-override proxy: cannot listen on 127.0.0.1: {0}")]
    Bind(std::io::Error),
}

/// A running proxy; stops when dropped.
pub struct HostProxy {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl HostProxy {
    /// Starts the proxy on an ephemeral loopback port.
    pub async fn start(routes: HostRoutes) -> Result<Self, HostProxyError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(HostProxyError::Bind)?;
        let addr = listener.local_addr().map_err(HostProxyError::Bind)?;
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let routes = routes.clone();
                tokio::spawn(async move {
                    if let Err(e) = tunnel(conn, routes).await {
                        tracing::debug!("host-override proxy: {e}");
                    }
                });
            }
        });
        Ok(Self { addr, task })
    }

    /// `http://127.0.0.1:<port>`, for `HTTPS_PROXY` and the OCI client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for HostProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one CONNECT request, then copies bytes both ways.
async fn tunnel(mut client: TcpStream, routes: HostRoutes) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = client.read(&mut buf).await?;
        if n == 0 || head.len() > 16 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let first = text.lines().next().unwrap_or_default();
    let target = match parse_connect(first) {
        Some((host, port)) => routes(&host, port),
        None => None,
    };
    let Some(target) = target else {
        client
            .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    let mut upstream = match TcpStream::connect(target).await {
        Ok(s) => s,
        Err(_) => {
            client
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                .await?;
            return Ok(());
        }
    };
    client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await?;
    // Bytes after the head (a client that pipelines its TLS hello) go upstream first.
    let end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(head.len(), |p| p + 4);
    if end < head.len() {
        upstream.write_all(&head[end..]).await?;
    }
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// `CONNECT host:port HTTP/1.1` → `(host, port)`.
fn parse_connect(line: &str) -> Option<(String, u16)> {
    let mut parts = line.split_whitespace();
    if !parts.next()?.eq_ignore_ascii_case("CONNECT") {
        return None;
    }
    let authority = parts.next()?;
    let (host, port) = authority.rsplit_once(':')?;
    Some((
        host.trim_matches(['[', ']']).to_ascii_lowercase(),
        port.parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_connect_lines() {
        assert_eq!(
            parse_connect("CONNECT Registry.cn-hangzhou.aliyuncs.com:443 HTTP/1.1"),
            Some(("registry.cn-hangzhou.aliyuncs.com".into(), 443))
        );
        assert_eq!(parse_connect("GET / HTTP/1.1"), None);
        assert_eq!(parse_connect("CONNECT nohost HTTP/1.1"), None);
    }

    #[tokio::test]
    async fn tunnels_known_hosts_and_refuses_others() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_addr = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = echo.accept().await.unwrap();
            let mut b = [0u8; 5];
            s.read_exact(&mut b).await.unwrap();
            s.write_all(&b).await.unwrap();
        });
        let routes: HostRoutes =
            Arc::new(move |host, _| host.ends_with(".aliyuncs.com").then_some(echo_addr));
        let proxy = HostProxy::start(routes).await.unwrap();

        let mut c = TcpStream::connect(proxy.addr).await.unwrap();
        c.write_all(b"CONNECT cr.cn-beijing.aliyuncs.com:443 HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let mut reply = [0u8; 39];
        c.read_exact(&mut reply).await.unwrap();
        assert!(reply.starts_with(b"HTTP/1.1 200"));
        c.write_all(b"hello").await.unwrap();
        let mut back = [0u8; 5];
        c.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"hello");

        let mut other = TcpStream::connect(proxy.addr).await.unwrap();
        other
            .write_all(b"CONNECT elsewhere.invalid:443 HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let mut reply = Vec::new();
        other.read_to_end(&mut reply).await.unwrap();
        assert!(reply.starts_with(b"HTTP/1.1 403"));
    }
}
