//! A real SMTP server (Python's aiosmtpd, `tests/support/smtp_server.py`, run by
//! [`super::python::python`]) on a random port, recording what it receives in a temporary folder;
//! it can be told to refuse the next messages with a 4xx or 5xx reply, and is killed when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// One message as the server received it, headers decoded.
#[derive(Debug, Clone, Deserialize)]
pub struct Received {
    /// Envelope sender.
    pub mail_from: String,
    /// Envelope recipients.
    pub rcpt_tos: Vec<String>,
    /// `From` header.
    pub from: String,
    /// `To` header.
    pub to: String,
    /// `Subject` header, decoded.
    pub subject: String,
    /// `Message-ID` header.
    pub message_id: String,
    /// Plain-text body.
    pub text: String,
    /// HTML alternative.
    pub html: String,
}

/// A running SMTP server.
pub struct SmtpServer {
    /// Its port.
    pub port: u16,
    /// Its folder (`received/`, `control`, `log`).
    pub dir: PathBuf,
    child: Option<Child>,
    _tmp: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl SmtpServer {
    /// Starts a server that accepts everything.
    pub fn start() -> SmtpServer {
        let tmp = tempfile::TempDir::new().expect("tempdir");
        let mut s = SmtpServer {
            port: free_port(),
            dir: tmp.path().to_path_buf(),
            child: None,
            _tmp: tmp,
        };
        s.launch();
        s
    }

    /// lettre's URL for it (plain SMTP, as for a local relay).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn launch(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_server.py");
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
                    "{}: {e} (Python with aiosmtpd: scripts/test.sh installs it in .venv/)",
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
                    "the SMTP server exited ({status}): {}",
                    std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the SMTP server did not start on port {}", self.port);
    }

    /// Refuses the next `count` messages with `code` (451: temporary, 550: permanent).
    pub fn refuse_next(&self, code: u16, count: u32) {
        std::fs::write(self.dir.join("control"), format!("{code} {count}")).expect("control");
    }

    /// Everything received so far, in order of arrival.
    pub fn received(&self) -> Vec<Received> {
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

    /// Waits until at least `count` messages arrived matching `filter`, and returns those.
    pub async fn wait_for(
        &self,
        count: usize,
        within: Duration,
        filter: impl Fn(&Received) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got: Vec<Received> = self.received().into_iter().filter(&filter).collect();
            if got.len() >= count {
                return got;
            }
            if Instant::now() > deadline {
                panic!(
                    "{} message(s) expected within {within:?}, {} received: {:#?}",
                    count,
                    got.len(),
                    self.received()
                        .iter()
                        .map(|r| (&r.rcpt_tos, &r.subject))
                        .collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the server, like a crash: connections are refused until [`SmtpServer::restart`].
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

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.kill();
    }
}
