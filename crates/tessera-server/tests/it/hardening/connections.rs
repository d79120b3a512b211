//! Item 5: slow clients held connections for ever (no header-read or idle deadline, no cap on
//! connections), so a thousand of them trickling a byte every few seconds stopped the server
//! accepting. These tests run a real listener on 127.0.0.1.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use tessera_server::ServerConfig;

struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn running(change: impl FnOnce(&mut ServerConfig)) -> Running {
    let dir = crate::support::private_dir();
    let mut cfg = crate::support::config(dir.path());
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    change(&mut cfg);
    let prepared = tessera_server::prepare(cfg).await.unwrap();
    let addr = prepared.listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(tessera_server::serve_until(prepared, async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop: Some(stop),
        _dir: dir,
    }
}

/// Whether the server closes `stream` within `within` (reading whatever it sends first).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

async fn health(stream: &mut TcpStream) -> Option<String> {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .ok()?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_millis(800), stream.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Item 5: a client that trickles its headers a line at a time is cut off at the header
/// deadline.
#[tokio::test]
async fn item_05_slow_headers_are_cut_off() {
    let server = running(|c| c.http.header_read_timeout_seconds = 1).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let started = Instant::now();
    let trickle = async {
        for i in 0..20 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if slow
                .write_all(format!("x-slow-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(4), trickle).await.ok();
    assert!(closed_within(&mut slow, Duration::from_secs(1)).await);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "closed at the deadline, not later"
    );
}

/// Item 5: a kept-alive connection that sends nothing more is closed at the idle deadline.
#[tokio::test]
async fn item_05_idle_connections_are_closed() {
    let server = running(|c| c.http.idle_timeout_seconds = 1).await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let answer = health(&mut idle).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let started = Instant::now();
    assert!(closed_within(&mut idle, Duration::from_secs(3)).await);
    assert!(started.elapsed() >= Duration::from_millis(900));
}

/// Item 5: at the connection cap the server stops taking connections (they wait in the
/// backlog) until one closes; slow clients at the cap are cut off at their deadline, and a
/// well-behaved client is served then.
#[tokio::test]
async fn item_05_the_connection_cap_holds_and_slow_clients_do_not_keep_it() {
    let server = running(|c| {
        c.http.max_connections = 3;
        c.http.header_read_timeout_seconds = 1;
    })
    .await;
    let mut slow = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nx-slow: ").await.unwrap();
        slow.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut waiting = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let answer = loop {
        if let Some(answer) = health(&mut waiting).await {
            break answer;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "never served");
        // The request is written; wait for its answer.
        let mut buf = vec![0u8; 4096];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(3), waiting.read(&mut buf)).await {
            break String::from_utf8_lossy(&buf[..n]).into_owned();
        }
    };
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "it waited for a slot ({:?})",
        started.elapsed()
    );
    for mut s in slow {
        assert!(closed_within(&mut s, Duration::from_secs(1)).await);
    }
}

/// Item 5: a request body that stops arriving is answered at the body deadline.
#[tokio::test]
async fn item_05_a_stalled_body_is_answered_at_its_deadline() {
    let server = running(|c| c.http.body_read_timeout_seconds = 1).await;
    let mut stalled = TcpStream::connect(server.addr).await.unwrap();
    stalled
        .write_all(
            b"POST /token HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\ngrant_type",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(4), stalled.read(&mut buf))
        .await
        .expect("answered or closed within the deadline")
        .unwrap_or(0);
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || answer.starts_with("HTTP/1.1 4"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(900));
}
