//! The Windows agent under Wine: a fresh prefix per test (`wineboot -i`), the one shim Wine
//! 8.0 needs (`ProcessPrng`, built here with MinGW from `e2e/wine/`), a persistent
//! wineserver for the test's duration, and the shipped `certfleet-agent.exe` (`--profile
//! agent`) that `scripts/test.sh` builds before the tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, bail};

/// A Wine prefix with the agent's Windows binary ready to run.
pub struct Wine {
    wine64: PathBuf,
    wineserver: PathBuf,
    pub prefix: PathBuf,
    pub exe: PathBuf,
    calls: std::sync::atomic::AtomicUsize,
}

fn find(name: &str) -> Option<PathBuf> {
    let debian = Path::new("/usr/lib/wine").join(name);
    if debian.exists() {
        return Some(debian);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.exists())
    })
}

/// `target/x86_64-pc-windows-gnu/agent/certfleet-agent.exe` beside this test's target: the
/// agent as shipped (`--profile agent`).
pub fn windows_agent() -> PathBuf {
    if let Some(path) = std::env::var_os("CERTFLEET_WINDOWS_AGENT") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target
    let target = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .expect("target directory");
    target.join("x86_64-pc-windows-gnu/agent/certfleet-agent.exe")
}

/// A Linux path as Wine's Z: drive shows it to Windows programs.
pub fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

impl Wine {
    /// `None` when wine64 or the Windows agent is missing and `CI` is not set (the test then
    /// says why and passes); with `CI` set, a missing piece fails the test.
    pub fn prepare(dir: &Path) -> Result<Option<Wine>> {
        let exe = windows_agent();
        let found = match (find("wine64"), find("wineserver")) {
            (Some(wine64), Some(wineserver)) if exe.exists() => Some((wine64, wineserver)),
            _ => None,
        };
        let Some((wine64, wineserver)) = found else {
            let why = format!(
                "the Wine lane needs Debian's wine64 and {} (scripts/test.sh builds it)",
                exe.display()
            );
            if std::env::var_os("CI").is_some() {
                bail!("{why}");
            }
            eprintln!("skipped: {why}");
            return Ok(None);
        };
        let prefix = dir.join("prefix");
        let wine = Wine {
            wine64,
            wineserver,
            prefix,
            exe,
            calls: Default::default(),
        };
        wine.boot()?;
        Ok(Some(wine))
    }

    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .stdin(Stdio::null());
        command
    }

    fn boot(&self) -> Result<()> {
        std::fs::create_dir_all(&self.prefix)?;
        // The services wineboot starts inherit its output: a file, not a pipe, or reading
        // the pipe would wait for them to end.
        let log = self.prefix.with_extension("wineboot.log");
        let status = self
            .command(&self.wine64)
            .args(["wineboot", "-i"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .status()
            .context("cannot run wineboot")?;
        if !status.success() {
            bail!(
                "wineboot -i failed: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        // The prefix is made by wineboot alone (a wineserver started on an empty prefix
        // makes Wine initialise it twice, with two service managers that disagree). Then a
        // wineserver that outlives its processes: services do not keep one alive. Its output
        // goes nowhere, so no pipe of the test's stays open behind it.
        let quiet = |args: &[&str]| {
            self.command(&self.wineserver)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
        };
        quiet(&["-w"]).context("cannot wait for wineserver")?;
        let status = quiet(&["-p900"]).context("cannot start wineserver")?;
        if !status.success() {
            bail!("wineserver -p failed ({status})");
        }
        self.install_shim()
    }

    /// Wine 8.0 has no `ProcessPrng`; Windows 10+ has. A three-line DLL forwards it to
    /// `RtlGenRandom`.
    fn install_shim(&self) -> Result<()> {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("wine");
        let dll = self
            .prefix
            .join("drive_c/windows/system32/bcryptprimitives.dll");
        let out = Command::new("x86_64-w64-mingw32-gcc")
            .args(["-shared", "-O2", "-o"])
            .arg(&dll)
            .arg(source.join("bcryptprimitives.c"))
            .arg(source.join("bcryptprimitives.def"))
            .arg("-ladvapi32")
            .output()
            .context("cannot run x86_64-w64-mingw32-gcc (apt-get install gcc-mingw-w64-x86-64)")?;
        if !out.status.success() {
            bail!(
                "building the ProcessPrng shim failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Builds the idle service (`e2e/wine/idle-service.c`: runs until told to stop) into
    /// `C:\certfleet-test\idle-service.exe` and returns its Windows path.
    pub fn idle_service(&self) -> Result<String> {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("wine/idle-service.c");
        let exe = self.drive_c("C:\\certfleet-test\\idle-service.exe");
        std::fs::create_dir_all(exe.parent().unwrap_or(&self.prefix))?;
        let out = Command::new("x86_64-w64-mingw32-gcc")
            .args(["-O2", "-o"])
            .arg(&exe)
            .arg(&source)
            .arg("-ladvapi32")
            .output()
            .context("cannot run x86_64-w64-mingw32-gcc (apt-get install gcc-mingw-w64-x86-64)")?;
        if !out.status.success() {
            bail!(
                "building the idle service failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok("C:\\certfleet-test\\idle-service.exe".into())
    }

    /// Runs a Windows program of the prefix (`sc`, `cmd`) and waits for it; output through
    /// files, as for the agent.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<Output> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let out_path = self.prefix.with_extension(format!("run{n}.out"));
        let err_path = self.prefix.with_extension(format!("run{n}.err"));
        let status = self
            .command(&self.wine64)
            .arg(program)
            .args(args)
            .stdout(std::fs::File::create(&out_path)?)
            .stderr(std::fs::File::create(&err_path)?)
            .status()
            .with_context(|| format!("cannot run {program} under Wine"))?;
        Ok(Output {
            status,
            stdout: std::fs::read(&out_path)?,
            stderr: std::fs::read(&err_path)?,
        })
    }

    /// Runs `certfleet-agent.exe ARGS` and waits for it. Its output goes through files: a
    /// Wine process it starts (services.exe on first use) inherits the handles and outlives
    /// it, so reading a pipe to its end would wait for that.
    pub fn agent(&self, args: &[&str], env: &[(&str, &str)]) -> Result<Output> {
        let n = self
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (out_path, err_path) = (
            self.prefix.with_extension(format!("{n}.out")),
            self.prefix.with_extension(format!("{n}.err")),
        );
        let status = self
            .command(&self.wine64)
            .arg(&self.exe)
            .args(args)
            .envs(env.iter().copied())
            .stdout(std::fs::File::create(&out_path)?)
            .stderr(std::fs::File::create(&err_path)?)
            .status()
            .context("cannot run the agent under wine64")?;
        Ok(Output {
            status,
            stdout: std::fs::read(&out_path)?,
            stderr: std::fs::read(&err_path)?,
        })
    }

    /// A path inside the prefix's C: drive, as Linux sees it.
    pub fn drive_c(&self, windows_path: &str) -> PathBuf {
        let relative = windows_path
            .trim_start_matches("C:")
            .trim_start_matches(['\\', '/'])
            .replace('\\', "/");
        self.prefix.join("drive_c").join(relative)
    }
}

impl Drop for Wine {
    fn drop(&mut self) {
        // Ends the prefix's wineserver and every Wine process of it (services included).
        let _ = self
            .command(&self.wineserver)
            .arg("-k")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self
            .command(&self.wineserver)
            .arg("-w")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
