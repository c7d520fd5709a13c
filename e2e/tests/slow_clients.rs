//! Network clients that never finish: a console process, 200 TLS connections that send half
//! a request header and stop, and the console closing them after its header timeout while
//! a real client keeps getting answers.

use std::time::{Duration, Instant};

use certfleet_e2e::Console;
use certfleet_e2e::api::{Api, runtime, tls_config, tls_connect};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn half_sent_headers_are_dropped_after_the_timeout_while_real_clients_get_in() -> anyhow::Result<()>
{
    let temp = tempfile::tempdir()?;
    let console = Console::start(&temp.path().join("console"))?;
    let api = Api::admin(&console)?;
    let config = tls_config(&console.ca_pem()?, None)?;
    let address = console.api;
    let rt = runtime();
    let started = Instant::now();
    let slow = rt.block_on(async {
        let mut open = Vec::new();
        for _ in 0..200 {
            let mut tls = tls_connect(address, config.clone()).await?;
            tls.write_all(b"GET /api/v1/me HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
                .await?;
            tls.flush().await?;
            open.push(tls);
        }
        anyhow::Ok(open)
    })?;
    // A real client is answered while the 200 hang.
    let me = api.get("/api/v1/me")?;
    assert_eq!(me.status, 200, "{:?}", me.body);
    // Each half-sent request is closed by the console: its read ends (0 bytes or an error).
    // All watched at once, against one deadline.
    let closed = rt.block_on(async {
        let reads = slow.into_iter().map(|mut tls| async move {
            let mut buf = [0u8; 256];
            // Ended by the console: 0 bytes, an error, or (some servers) a 408 first.
            tokio::time::timeout(Duration::from_secs(20), tls.read(&mut buf))
                .await
                .is_ok()
        });
        futures_util::future::join_all(reads)
            .await
            .into_iter()
            .filter(|closed| *closed)
            .count()
    });
    assert_eq!(closed, 200, "every half-sent request was dropped");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(9),
        "not before the header timeout: {took:?}"
    );
    assert!(took < Duration::from_secs(25), "soon after it: {took:?}");
    Ok(())
}

/// One keep-alive request on `tls`; true when a response came back.
async fn ask(tls: &mut (impl AsyncReadExt + AsyncWriteExt + Unpin)) -> anyhow::Result<bool> {
    tls.write_all(b"GET /api/v1/me HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await?;
    tls.flush().await?;
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await??;
    Ok(n > 0 && buf.starts_with(b"HTTP/1.1 "))
}

#[test]
fn an_idle_kept_alive_connection_is_closed_and_a_busy_one_kept() -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    // The limit is 60 s by default; 3 s here so the test need not wait a minute.
    let console = Console::start_with_env(
        &temp.path().join("console"),
        &[("CERTFLEET_API_IDLE_SECS", "3")],
    )?;
    let config = tls_config(&console.ca_pem()?, None)?;
    let address = console.api;
    runtime().block_on(async {
        let mut idle = tls_connect(address, config.clone()).await?;
        let mut busy = tls_connect(address, config.clone()).await?;
        assert!(ask(&mut idle).await?, "answered");
        let started = Instant::now();
        // The busy one asks every second for six seconds, and is answered each time.
        for _ in 0..6 {
            assert!(ask(&mut busy).await?, "a connection in use is kept");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        // The idle one was closed by the console after its quiet time: its read ends.
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf)).await?;
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "closed, not answered: {read:?}"
        );
        assert!(started.elapsed() >= Duration::from_secs(3));
        anyhow::Ok(())
    })
}
