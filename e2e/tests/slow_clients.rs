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
