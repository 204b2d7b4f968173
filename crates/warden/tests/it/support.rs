//! Runs `warden serve` as a child process and the client commands against it.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const WARDEN: &str = env!("CARGO_BIN_EXE_warden");

/// A running server.
pub struct Server {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    pub url: String,
    pub dir: PathBuf,
}

/// Collects a child's stream into a shared string on a thread of its own.
fn collect(stream: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&buf);
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            sink.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
    buf
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
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            if let Some(url) = stdout
                .lock()
                .unwrap()
                .lines()
                .find_map(|l| l.split("listening on ").nth(1).map(|u| u.trim().to_owned()))
            {
                break url;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "warden serve exited with {status}\nstdout:\n{}\nstderr:\n{}",
                    stdout.lock().unwrap(),
                    stderr.lock().unwrap()
                );
            }
            assert!(
                Instant::now() < deadline,
                "warden serve did not start:\n{}",
                stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Self {
            child,
            stdout,
            stderr,
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
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "warden serve did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        // Let the reader threads drain.
        std::thread::sleep(Duration::from_millis(100));
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
