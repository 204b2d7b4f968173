//! Runs `warden serve` as a child process and the client commands against it, and the
//! one way these tests wait for something that happens on its own ([`eventually`],
//! [`poll_until`]).

use std::fmt::Debug;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const WARDEN: &str = env!("CARGO_BIN_EXE_warden");

/// How long [`eventually`] waits before it fails a test: far longer than anything takes on
/// a loaded machine, so reaching it means the condition will not come.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// How often a condition is looked at again.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// Runs `probe` until `holds` accepts what it returned, and returns that value; once
/// `within` has passed without it, returns the last value seen as the error. The thread
/// sleeps [`POLL_EVERY`] between two looks (these tests are synchronous: they block
/// their own thread, no runtime's). For waits that end in the caller's own way; tests
/// use [`eventually`].
pub fn poll_until<T>(
    within: Duration,
    mut probe: impl FnMut() -> T,
    mut holds: impl FnMut(&T) -> bool,
) -> Result<T, T> {
    let deadline = Instant::now() + within;
    loop {
        let seen = probe();
        if holds(&seen) {
            return Ok(seen);
        }
        if Instant::now() >= deadline {
            return Err(seen);
        }
        std::thread::sleep(POLL_EVERY);
    }
}

/// Waits until `holds` accepts what `probe` returns, and returns that value; fails the test
/// after [`PATIENCE`], naming `what` was awaited and the last value seen. The wait for
/// something the server or another process does on its own time.
pub fn eventually<T: Debug>(
    what: &str,
    probe: impl FnMut() -> T,
    holds: impl FnMut(&T) -> bool,
) -> T {
    match poll_until(PATIENCE, probe, holds) {
        Ok(value) => value,
        Err(last) => panic!("waited {PATIENCE:?} for {what}; last seen: {last:#?}"),
    }
}

/// A running server.
pub struct Server {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    /// The threads reading the two streams; each ends when the process's end of its pipe
    /// closes.
    readers: Vec<JoinHandle<()>>,
    pub url: String,
    pub dir: PathBuf,
}

/// Collects a child's stream into a shared string on a thread of its own, which ends at
/// the end of the stream.
fn collect(stream: impl Read + Send + 'static) -> (Arc<Mutex<String>>, JoinHandle<()>) {
    let buf = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&buf);
    let reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            sink.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
    (buf, reader)
}

/// A bare `warden` command with a clean environment for the client.
pub fn warden(dir: &Path) -> Command {
    let mut cmd = Command::new(WARDEN);
    cmd.current_dir(dir)
        .env_remove("WARDEN_ADDR")
        .env_remove("WARDEN_TOKEN")
        .env_remove("WARDEN_CA_CERT")
        .env("WARDEN_CONFIG_DIR", dir.join("client"))
        .env("NO_COLOR", "1");
    cmd
}

impl Server {
    /// Starts `warden serve ARGS` in `dir` and waits until it listens.
    pub fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = warden(dir);
        cmd.arg("serve")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start warden serve");
        let (stdout, out_reader) = collect(child.stdout.take().unwrap());
        let (stderr, err_reader) = collect(child.stderr.take().unwrap());
        let started = poll_until(
            Duration::from_secs(60),
            || {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "warden serve exited with {status}\nstdout:\n{}\nstderr:\n{}",
                        stdout.lock().unwrap(),
                        stderr.lock().unwrap()
                    );
                }
                stdout
                    .lock()
                    .unwrap()
                    .lines()
                    .find_map(|l| l.split("listening on ").nth(1).map(|u| u.trim().to_owned()))
            },
            Option::is_some,
        );
        let Ok(Some(url)) = started else {
            panic!(
                "warden serve did not start within 60 s:\n{}",
                stderr.lock().unwrap()
            );
        };
        Self {
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
            url,
            dir: dir.to_owned(),
        }
    }

    /// What the server wrote to standard output so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// What the server logged so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The initial administrator password printed at first start.
    pub fn admin_password(&self) -> String {
        self.stdout()
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("password:")
                    .map(|p| p.trim().to_owned())
            })
            .expect("initial password printed")
    }

    /// Runs a client command against this server.
    pub fn client(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = warden(&self.dir);
        cmd.env("WARDEN_ADDR", &self.url)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    }

    /// Runs a client command that must succeed; returns its standard output.
    pub fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.client(args, stdin);
        assert!(
            out.status.success(),
            "warden {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Stops the server with SIGTERM and waits for it; returns its exit status.
    pub fn stop(mut self) -> (std::process::ExitStatus, String, String) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let status = eventually(
            "warden serve to stop on SIGTERM",
            || self.child.try_wait().unwrap(),
            Option::is_some,
        )
        .unwrap();
        // Everything it wrote is read once both streams have ended.
        let readers = std::mem::take(&mut self.readers);
        eventually(
            "the server's output streams to end",
            || readers.iter().filter(|r| !r.is_finished()).count(),
            |running| *running == 0,
        );
        for reader in readers {
            reader.join().unwrap();
        }
        (status, self.stdout(), self.stderr())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a configuration file in `dir` and returns its path.
pub fn config_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("warden.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A configuration on SQLite in `dir`, listening on a free loopback port.
pub fn sqlite_config(dir: &Path, extra: &str) -> PathBuf {
    config_file(
        dir,
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[storage]\ndata_dir = \"{}\"\n\n{extra}",
            dir.join("data").display()
        ),
    )
}
