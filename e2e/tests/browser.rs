//! The web UI in Debian's headless Chromium against a real console.

use certfleet_e2e::Console;
use certfleet_e2e::browser::Browser;

#[test]
fn the_page_hydrates_and_reacts_to_a_click() -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let console = Console::start(&temp.path().join("console"))?;
    let browser = Browser::start(1280, 800, true)?;
    browser.goto(&format!("https://{}/", console.api))?;
    browser.wait_hydrated()?;
    browser.click("#hydration-probe")?;
    browser.wait_text("#hydration-probe", "Clicked 1 times")?;
    browser.screenshot("hydration")?;
    Ok(())
}
