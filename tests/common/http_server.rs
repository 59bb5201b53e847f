//! A real HTTP/1.1 server on loopback for notification tests: it records every request's path
//! and body, and answers the first `failures` requests with 500, the rest with 200.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

pub struct Server {
    pub url: String,
    pub requests: Arc<Mutex<Vec<(String, String)>>>,
}

impl Server {
    pub fn start(failures: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        std::thread::spawn(move || {
            let mut served = 0;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                recorded
                    .lock()
                    .expect("lock")
                    .push((path, String::from_utf8_lossy(&body).into_owned()));
                let status = if served < failures {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                served += 1;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Self { url, requests }
    }

    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.requests
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, body)| serde_json::from_str(body).expect("a JSON body"))
            .collect()
    }
}
