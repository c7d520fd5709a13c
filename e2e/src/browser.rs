//! Debian's headless Chromium driven through Debian's chromedriver (WebDriver), never a
//! downloaded browser. Calls are blocking so tests read top to bottom.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub struct Browser {
    driver: Child,
    client: Option<Client>,
    runtime: tokio::runtime::Runtime,
    _profile: tempfile::TempDir,
}

/// Browser tests take turns: several Chromiums plus consoles at once overload a 2-core
/// machine and turn waits into flaky timeouts.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where screenshots go: `<target>/screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let target = exe
        .ancestors()
        .nth(3)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("screenshots")
}

impl Browser {
    pub fn available() -> bool {
        std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists()
    }

    /// Starts chromedriver and a headless Chromium window of `width`×`height`. With
    /// `javascript` false the page is seen as a browser without JavaScript sees it.
    pub fn start(width: u32, height: u32, javascript: bool) -> Result<Self> {
        if !Self::available() {
            bail!(
                "{CHROMIUM} or {CHROMEDRIVER} is missing: apt-get install chromium chromium-driver"
            );
        }
        let port = crate::free_port()?;
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start chromedriver")?;
        crate::wait_for("chromedriver", Duration::from_secs(15), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        })?;
        let profile = tempfile::tempdir()?;
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if !javascript {
            args.push("--blink-settings=scriptEnabled=false".into());
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": CHROMIUM, "args": args }),
        );
        // The console's certificate comes from its own CA, which this profile does not know.
        capabilities.insert("acceptInsecureCerts".into(), serde_json::Value::Bool(true));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = runtime
            .block_on(
                ClientBuilder::new(HttpConnector::new())
                    .capabilities(capabilities)
                    .connect(&format!("http://127.0.0.1:{port}")),
            )
            .context("cannot start a Chromium session")?;
        Ok(Browser {
            driver,
            client: Some(client),
            runtime,
            _profile: profile,
        })
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("a live session")
    }

    /// Waits up to 15 s for `css` to match an element.
    async fn element(&self, css: &str) -> Result<fantoccini::elements::Element> {
        self.client()
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("no element {css}"))
    }

    pub fn goto(&self, url: &str) -> Result<()> {
        self.runtime.block_on(self.client().goto(url))?;
        Ok(())
    }

    pub fn url(&self) -> Result<String> {
        Ok(self
            .runtime
            .block_on(self.client().current_url())?
            .to_string())
    }

    /// Waits until `css` matches an element, then returns its text.
    pub fn text(&self, css: &str) -> Result<String> {
        self.runtime.block_on(async {
            let element = self.element(css).await?;
            Ok(element.text().await?)
        })
    }

    /// Waits until the element `css` contains `needle`.
    pub fn wait_text(&self, css: &str, needle: &str) -> Result<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.text(css).unwrap_or_default();
            if text.contains(needle) {
                return Ok(text);
            }
            if std::time::Instant::now() > deadline {
                bail!("{css} never contained {needle:?}; last text: {text:?}");
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    pub fn exists(&self, css: &str) -> Result<bool> {
        Ok(self
            .runtime
            .block_on(self.client().find_all(Locator::Css(css)))?
            .into_iter()
            .next()
            .is_some())
    }

    pub fn click(&self, css: &str) -> Result<()> {
        self.runtime.block_on(async {
            let element = self.element(css).await?;
            element.click().await?;
            anyhow::Ok(())
        })
    }

    pub fn fill(&self, css: &str, value: &str) -> Result<()> {
        self.runtime.block_on(async {
            let element = self.element(css).await?;
            element.clear().await?;
            element.send_keys(value).await?;
            anyhow::Ok(())
        })
    }

    pub fn select(&self, css: &str, value: &str) -> Result<()> {
        self.runtime.block_on(async {
            let element = self.element(css).await?;
            element.select_by_value(value).await?;
            anyhow::Ok(())
        })
    }

    /// Runs JavaScript in the page and returns its JSON result.
    pub fn script(&self, js: &str) -> Result<serde_json::Value> {
        Ok(self.runtime.block_on(self.client().execute(js, vec![]))?)
    }

    /// The visible text of the page, for error messages.
    pub fn page_text(&self) -> String {
        self.script("return document.body ? document.body.innerText : '';")
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Saves a PNG of the window under `<target>/screenshots/<name>.png`.
    pub fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let png = self.runtime.block_on(self.client().screenshot())?;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Waits until the page's wasm has hydrated (the app sets `data-hydrated` on `<body>`).
    pub fn wait_hydrated(&self) -> Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let done = self
                .script("return document.body.dataset.hydrated === 'true';")?
                .as_bool()
                .unwrap_or(false);
            if done {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(anyhow!(
                    "the page never hydrated (is the wasm built and served?)"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(client.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
