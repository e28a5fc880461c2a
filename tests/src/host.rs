//! The real `sspr-local` binary as a child process on a data file
//! (`DIR/sspr.sqlite`, its outbox in `DIR/outbox`, its output appended to
//! `DIR/sspr-local.log`): for the tests that kill it or stop it and start it
//! again on the same file.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary `name` of this workspace, next to the running test's own
/// executable (it runs from `target/<profile>/deps`); a missing one fails the
/// test with `how_to_build` in the message.
pub fn built_binary(name: &str, how_to_build: &str) -> PathBuf {
    let bin = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join(name)))
        .unwrap_or_else(|| PathBuf::from(format!("target/debug/{name}")));
    assert!(
        bin.is_file(),
        "{} is missing: build it first with {how_to_build}",
        bin.display()
    );
    bin
}

/// A loopback port nothing listens on (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// What `sspr-local` wrote to `DIR/sspr-local.log` so far.
pub fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("sspr-local.log")).unwrap_or_default()
}

/// A running `sspr-local --data DIR/sspr.sqlite`; dropping it kills it.
pub struct LocalProcess {
    child: Child,
    pub url: String,
}

impl Drop for LocalProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LocalProcess {
    /// Start `bin` on `dir` with the outbox mailer and `env` added, and wait
    /// for its first answer (a minute at most; a process that exits first
    /// fails the test with its log). Returns the time from the start to
    /// that answer as well.
    pub async fn start(bin: &Path, dir: &Path, env: &[(&str, &str)]) -> (Self, Duration) {
        let port = free_port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("sspr-local.log"))
            .expect("log file");
        let started = Instant::now();
        let child = Command::new(bin)
            .arg("--data")
            .arg(dir.join("sspr.sqlite"))
            .env("SSPR_ADDR", format!("127.0.0.1:{port}"))
            .env("SSPR_OUTBOX_DIR", dir.join("outbox"))
            .env("SSPR_MAIL", "outbox")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("sspr-local starts");
        let mut host = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        loop {
            let up = http
                .get(format!("{}/.well-known/jwks.json", host.url))
                .timeout(Duration::from_millis(500))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if up {
                return (host, started.elapsed());
            }
            if let Some(status) = host.exited() {
                panic!("sspr-local exited with {status}; its log:\n{}", log_of(dir));
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "sspr-local did not answer in a minute"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Whether the process has exited (on its own: nothing else ends it).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// `kill -9`.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    /// Stop it as an operator does (Ctrl-C), so the file may be opened.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `method path` with `body` (as JSON, but on a GET) and `bearer`:
    /// the status and the JSON answer (`null` for none).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut req = reqwest::Client::new().request(method.clone(), format!("{}{path}", self.url));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        if method != reqwest::Method::GET {
            req = req.json(&body);
        }
        let r = req.send().await.expect("an answer");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}
