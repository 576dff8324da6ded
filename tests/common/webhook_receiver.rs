//! A real webhook receiver (`tests/support/webhook_receiver.py`, run by
//! [`super::python::python`]) on a random port, checking each delivery's signature with the
//! `standardwebhooks` package and recording it in a temporary folder; it can be told to answer
//! the next requests with an error status, and is killed when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

/// One request as the receiver got it.
#[derive(Debug, Clone, Deserialize)]
pub struct Delivered {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: String,
    /// `webhook-signature`.
    pub signature: String,
    /// Indices of the secrets the signature verifies with (none: forged or wrong).
    pub verified: Vec<usize>,
    /// The status it was refused with, if it was.
    pub refused: Option<u16>,
    /// The JSON body.
    pub body: Value,
}

impl Delivered {
    /// The event's type (`review.opened`…).
    pub fn kind(&self) -> &str {
        self.body["type"].as_str().unwrap_or("")
    }
}

/// A running receiver.
pub struct WebhookReceiver {
    /// Its port.
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    _tmp: tempfile::TempDir,
}

impl WebhookReceiver {
    /// Starts a receiver that accepts everything (204).
    pub fn start() -> WebhookReceiver {
        let tmp = tempfile::TempDir::new().expect("tempdir");
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let mut r = WebhookReceiver {
            port,
            dir: tmp.path().to_path_buf(),
            child: None,
            _tmp: tmp,
        };
        r.launch();
        r
    }

    /// Where to subscribe it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn launch(&mut self) {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/webhook_receiver.py"
        );
        let log = std::fs::File::create(self.dir.join("log")).expect("log");
        let python = super::python::python();
        let child = Command::new(&python)
            .arg(script)
            .args(["--port", &self.port.to_string(), "--dir"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (Python with standardwebhooks: scripts/test.sh installs it in .venv/)",
                    python.display()
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "the webhook receiver exited ({status}): {}",
                    std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the webhook receiver did not start on port {}", self.port);
    }

    /// The secrets signatures are checked against, in order (as the API handed them out).
    pub fn trust(&self, secrets: &[&str]) {
        std::fs::write(self.dir.join("secrets"), secrets.join("\n")).expect("secrets");
    }

    /// Answers the next `count` requests with `status` (and `Retry-After`, if given).
    pub fn refuse_next(&self, status: u16, count: u32, retry_after: Option<u32>) {
        let extra = retry_after.map(|s| format!(" {s}")).unwrap_or_default();
        std::fs::write(self.dir.join("control"), format!("{status} {count}{extra}"))
            .expect("control");
    }

    /// Every request so far, in order of arrival.
    pub fn requests(&self) -> Vec<Delivered> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.join("received"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "json"));
        files.sort();
        files
            .iter()
            .map(|p| {
                serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json")
            })
            .collect()
    }

    /// The requests it accepted, in order.
    pub fn accepted(&self) -> Vec<Delivered> {
        self.requests()
            .into_iter()
            .filter(|d| d.refused.is_none())
            .collect()
    }

    /// Waits until it accepted at least `count` requests, and returns them.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Delivered> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.accepted();
            if got.len() >= count {
                return got;
            }
            if Instant::now() > deadline {
                panic!(
                    "{count} delivery(ies) expected within {within:?}, {} accepted: {:?}",
                    got.len(),
                    got.iter().map(|d| d.kind().to_owned()).collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills it, like a crash: connections are refused until [`WebhookReceiver::restart`].
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and folder.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.kill();
    }
}
