//! `refreshctl emulator` as a separate process on a free loopback port, for tests that run the
//! real binary against it; killed when dropped.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Child, Command, Stdio};

use refreshctl::emulator::RequestRecord;
use refreshctl::sim::Lcs;

pub struct EmulatorProcess {
    child: Child,
    pub url: String,
}

impl EmulatorProcess {
    /// Starts the emulator with these extra arguments (after `--listen 127.0.0.1:0`).
    pub fn start(args: &[&str]) -> Self {
        Self::start_with_env(args, &[])
    }

    /// Starts the emulator with these extra arguments and environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_refreshctl"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .envs(env.iter().copied())
            .args(["emulator", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the emulator starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut first = String::new();
        let mut reader = BufReader::new(stdout);
        reader
            .read_line(&mut first)
            .expect("the emulator says where it listens");
        // The rest of what it prints is drained, so it never writes to a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let url = first
            .trim()
            .rsplit(' ')
            .next()
            .filter(|url| url.starts_with("http://"))
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .to_owned();
        Self { child, url }
    }

    /// The `LCS_*` variables that point the lcs adapter at this emulator.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LCS_API_URL", self.url.clone()),
            ("LCS_AUTH_URL", format!("{}/common/oauth2/token", self.url)),
            (
                "LCS_CLIENT_ID",
                "00000000-0000-0000-0000-00000000c11e".into(),
            ),
            ("LCS_USERNAME", "ops@contoso.com".into()),
            ("LCS_PASSWORD", "emulator".into()),
        ]
    }

    fn get(&self, path: &str) -> String {
        let address = self.url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).expect("connect");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )
        .expect("request");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .expect("a body")
    }

    /// Scripts faults (`/_emulator/faults`): JSON rules as `refreshctl::emulator::FaultRule`.
    pub fn script_faults(&self, rules: &serde_json::Value) {
        let status = self.post("/_emulator/faults", rules);
        assert!(status.starts_with("HTTP/1.1 204"), "{status}");
    }

    /// Posts a JSON body to a control endpoint (`/_emulator/faults`); returns the status line.
    pub fn post(&self, path: &str, body: &serde_json::Value) -> String {
        let address = self.url.trim_start_matches("http://");
        let body = body.to_string();
        let mut stream = std::net::TcpStream::connect(address).expect("connect");
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("request");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        answer.lines().next().unwrap_or_default().to_owned()
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        serde_json::from_str(&self.get("/_emulator/requests")).expect("the request log")
    }

    pub fn model(&self) -> Lcs {
        serde_json::from_str(&self.get("/_emulator/model")).expect("the model")
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Killed, the emulator cannot remove its blob directory (a shared asset of 28 MB) as it
        // does when it stops; a test run would leave hundreds of them in the temp directory.
        let prefix = format!("refreshctl-emulator-{}-", self.child.id());
        let temp = std::env::temp_dir();
        for entry in std::fs::read_dir(&temp).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}
