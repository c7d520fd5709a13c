//! ACME HTTP-01 answered on this host: while a challenge is under way, a listener on
//! `acme_http_listen` (port 80 by default) serves each token's key authorization at
//! `/.well-known/acme-challenge/<token>` and nothing else; it closes when the last token
//! ends or expires. The private key is not involved: a key authorization is public.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};

/// The default listener: the CA connects to port 80 of the name.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 80);
/// A token is served at most this long.
const TOKEN_LIFE: Duration = Duration::from_secs(600);
const PREFIX: &str = "/.well-known/acme-challenge/";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0:?} is not an ACME challenge token (base64url, 16 to 128 characters)")]
    Token(String),
    #[error("the key authorization is not this token's (token.thumbprint)")]
    KeyAuthorization,
    #[error(
        "cannot listen on {address} for the ACME HTTP-01 challenge: {source}; free the port \
         (an Apache endpoint's own Apache answers when it holds it; another web server does \
         not), or set acme_http_listen in agent.toml, or use dns-01 for this host's group"
    )]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
}

fn base64url(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[derive(Debug, Default)]
struct State {
    tokens: HashMap<String, (String, Instant)>,
    listening: Option<SocketAddr>,
}

/// The tokens being answered, and the listener while there are any.
#[derive(Debug, Clone, Default)]
pub struct Challenges {
    state: Arc<Mutex<State>>,
}

impl Challenges {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serves `key_authorization` for `token` from now on, listening on `listen` if no
    /// listener runs yet.
    pub async fn serve(
        &self,
        listen: SocketAddr,
        token: &str,
        key_authorization: &str,
    ) -> Result<SocketAddr, Error> {
        if !(16..=128).contains(&token.len()) || !base64url(token) {
            return Err(Error::Token(token.to_owned()));
        }
        match key_authorization.split_once('.') {
            Some((t, thumbprint))
                if t == token && !thumbprint.is_empty() && base64url(thumbprint) => {}
            _ => return Err(Error::KeyAuthorization),
        }
        if let Some(address) = self.lock().listening {
            self.add(token, key_authorization);
            return Ok(address);
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| Error::Listen {
                address: listen,
                source,
            })?;
        let address = listener.local_addr().unwrap_or(listen);
        {
            let mut state = self.lock();
            state.listening = Some(address);
        }
        self.add(token, key_authorization);
        tracing::info!(%address, "answering ACME HTTP-01 challenges");
        tokio::spawn(self.clone().run(listener));
        Ok(address)
    }

    fn add(&self, token: &str, key_authorization: &str) {
        self.lock().tokens.insert(
            token.to_owned(),
            (key_authorization.to_owned(), Instant::now() + TOKEN_LIFE),
        );
    }

    /// Stops serving `token`; the listener closes with the last one.
    pub fn end(&self, token: &str) {
        self.lock().tokens.remove(token);
    }

    /// The key authorization for a request path, while its token lives.
    fn answer(&self, path: &str) -> Option<String> {
        let token = path.strip_prefix(PREFIX)?;
        let state = self.lock();
        let (answer, until) = state.tokens.get(token)?;
        (Instant::now() < *until).then(|| answer.clone())
    }

    /// `true` when no token is left (expired ones are dropped).
    fn idle(&self) -> bool {
        let mut state = self.lock();
        let now = Instant::now();
        state.tokens.retain(|_, (_, until)| now < *until);
        if state.tokens.is_empty() {
            state.listening = None;
            true
        } else {
            false
        }
    }

    async fn run(self, listener: tokio::net::TcpListener) {
        // One clock for the whole listener: connections arriving more often than it ticks
        // must not keep it from noticing that no token is left.
        let mut check = tokio::time::interval(Duration::from_millis(500));
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let this = self.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                            let answer = this.answer(request.uri().path());
                            async move {
                                let response = match answer {
                                    Some(text) => Response::builder()
                                        .header("content-type", "application/octet-stream")
                                        .body(Full::new(Bytes::from(text))),
                                    None => Response::builder()
                                        .status(StatusCode::NOT_FOUND)
                                        .body(Full::new(Bytes::new())),
                                };
                                response.map_err(std::io::Error::other)
                            }
                        });
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let _ = tokio::time::timeout(
                            Duration::from_secs(30),
                            hyper::server::conn::http1::Builder::new().serve_connection(io, service),
                        )
                        .await;
                    });
                }
                _ = check.tick() => {
                    if self.idle() {
                        tracing::info!("no ACME challenge left; the HTTP-01 listener closed");
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const TOKEN: &str = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";

    async fn get(address: SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await
            .expect("write");
        let mut text = String::new();
        stream.read_to_string(&mut text).await.expect("read");
        text
    }

    #[tokio::test]
    async fn a_token_is_served_until_it_ends_then_the_listener_closes() {
        let challenges = Challenges::default();
        let key_auth = format!("{TOKEN}.thumbprint_1");
        let address = challenges
            .serve("127.0.0.1:0".parse().expect("addr"), TOKEN, &key_auth)
            .await
            .expect("serving");
        let answer = get(address, &format!("{PREFIX}{TOKEN}")).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with(&key_auth), "{answer}");
        let other = get(address, &format!("{PREFIX}somethingelse0000")).await;
        assert!(other.starts_with("HTTP/1.1 404"), "{other}");
        let elsewhere = get(address, "/").await;
        assert!(elsewhere.starts_with("HTTP/1.1 404"), "{elsewhere}");
        challenges.end(TOKEN);
        // Knocking every 100 ms (as a CA's retries or a monitor would) does not keep it open.
        let mut closed = false;
        for _ in 0..20 {
            if tokio::net::TcpStream::connect(address).await.is_err() {
                closed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(closed, "the listener closed with its last token");
    }

    #[tokio::test]
    async fn a_bad_token_or_key_authorization_is_refused_and_a_taken_port_named() {
        let challenges = Challenges::default();
        let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        assert!(matches!(
            challenges
                .serve(any, "../../etc/passwd-xxxxxxxx", "x.y")
                .await,
            Err(Error::Token(_))
        ));
        assert!(matches!(
            challenges.serve(any, TOKEN, "othertoken.thumb").await,
            Err(Error::KeyAuthorization)
        ));
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let err = challenges
            .serve(
                taken.local_addr().expect("addr"),
                TOKEN,
                &format!("{TOKEN}.t"),
            )
            .await
            .expect_err("taken");
        assert!(err.to_string().contains("acme_http_listen"), "{err}");
    }
}
