//! Where the bytes of assets go: the emulator's own blob endpoints (Put Blob, Put Block, Put
//! Block List and Get Blob on files in a directory), or Azurite, a real implementation of the
//! Azure Blob protocol, reached with SAS URLs signed like Azure's.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Bytes;
use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use http_body::Frame;

/// The container the emulator keeps packages in (with a random suffix on Azure).
pub const CONTAINER: &str = "packages";

/// The SAS version the emulator signs with (supported by every Azurite release).
const SAS_VERSION: &str = "2019-02-02";

/// Azurite's well-known development account key.
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Where SAS locations point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobEndpoint {
    /// The emulator's own `/blob/…` endpoints.
    Local,
    /// An Azure Blob service such as Azurite: `http://127.0.0.1:10000/devstoreaccount1`.
    Azure {
        url: String,
        account: String,
        key: String,
    },
}

impl BlobEndpoint {
    /// An Azure Blob service from its account URL (the account is the last path segment, as
    /// Azurite's URLs have it) and the account key (Azurite's when not given).
    pub fn azure(url: &str, key: Option<&str>) -> Result<Self, String> {
        let url = url.trim_end_matches('/');
        let account = url
            .rsplit('/')
            .next()
            .filter(|account| !account.is_empty() && !account.contains(':'))
            .ok_or_else(|| {
                format!("`{url}`: expected an account URL such as http://127.0.0.1:10000/devstoreaccount1")
            })?;
        let key = key.unwrap_or(AZURITE_KEY);
        base64::engine::general_purpose::STANDARD
            .decode(key)
            .map_err(|_| "the blob account key is not base64".to_owned())?;
        Ok(Self::Azure {
            url: url.to_owned(),
            account: account.to_owned(),
            key: key.to_owned(),
        })
    }
}

/// A directory removed when the emulator stops.
#[derive(Debug)]
pub struct OwnedDir(PathBuf);

impl Drop for OwnedDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes the blob directories of emulators that were killed before they could remove their
/// own (`refreshctl-emulator-PID-N` whose process is gone). Only where `/proc` tells which
/// processes live; a directory that cannot be read or removed is left as it is.
fn sweep_abandoned(temp: &Path) {
    let proc = Path::new("/proc/self");
    if !proc.exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix("refreshctl-emulator-"))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

pub enum Blobs {
    Local {
        dir: PathBuf,
        _owned: Option<OwnedDir>,
    },
    Azure {
        client: reqwest::Client,
        url: String,
        account: String,
        key: Vec<u8>,
        /// One container per emulator, so emulators sharing a blob service never collide.
        container: String,
    },
}

impl Blobs {
    pub async fn new(endpoint: &BlobEndpoint, dir: Option<PathBuf>) -> Result<Self, String> {
        match endpoint {
            BlobEndpoint::Local => {
                let (dir, owned) = if let Some(dir) = dir {
                    (dir, None)
                } else {
                    static NEXT: std::sync::atomic::AtomicU32 =
                        std::sync::atomic::AtomicU32::new(0);
                    let dir = std::env::temp_dir().join(format!(
                        "refreshctl-emulator-{}-{}",
                        std::process::id(),
                        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    ));
                    sweep_abandoned(&std::env::temp_dir());
                    (dir.clone(), Some(OwnedDir(dir)))
                };
                std::fs::create_dir_all(&dir)
                    .map_err(|error| format!("cannot create `{}`: {error}", dir.display()))?;
                Ok(Self::Local { dir, _owned: owned })
            }
            BlobEndpoint::Azure { url, account, key } => {
                let blobs = Self::Azure {
                    client: reqwest::Client::builder()
                        .connect_timeout(std::time::Duration::from_secs(5))
                        .build()
                        .map_err(|error| error.to_string())?,
                    url: url.clone(),
                    account: account.clone(),
                    key: base64::engine::general_purpose::STANDARD
                        .decode(key)
                        .map_err(|error| error.to_string())?,
                    container: {
                        let mut bytes = [0_u8; 6];
                        aws_lc_rs::rand::fill(&mut bytes)
                            .map_err(|_| "no randomness for the container name".to_owned())?;
                        bytes
                            .iter()
                            .fold(format!("{CONTAINER}-"), |mut name, byte| {
                                use std::fmt::Write as _;
                                let _ = write!(name, "{byte:02x}");
                                name
                            })
                    },
                };
                blobs.create_container().await?;
                Ok(blobs)
            }
        }
    }

    /// Where a client puts (`write`) or gets an asset's bytes: a SAS URL valid for a day.
    pub fn location(
        &self,
        base: &str,
        local_key: &[u8],
        asset: &str,
        write: bool,
        now: DateTime<Utc>,
    ) -> String {
        let permissions = if write { "rcw" } else { "r" };
        let expiry = (now + TimeDelta::days(1))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        match self {
            Self::Local { .. } => {
                let signature = local_signature(local_key, asset, permissions, &expiry);
                format!(
                    "{base}/blob/{CONTAINER}/{asset}?sv={SAS_VERSION}&sr=b&sp={permissions}&se={expiry}&sig={signature}"
                )
            }
            Self::Azure {
                url,
                account,
                key,
                container,
                ..
            } => {
                let resource = format!("/blob/{account}/{container}/{asset}");
                let to_sign = format!(
                    "{permissions}\n\n{expiry}\n{resource}\n\n\n\n{SAS_VERSION}\nb\n\n\n\n\n\n"
                );
                format!(
                    "{url}/{container}/{asset}?sv={SAS_VERSION}&sr=b&sp={permissions}&se={}&sig={}",
                    encode(&expiry),
                    encode(&sign(key, &to_sign))
                )
            }
        }
    }

    /// An account SAS for the emulator's own requests to an Azure Blob service.
    fn account_sas(account: &str, key: &[u8]) -> String {
        let expiry = (Utc::now() + TimeDelta::hours(1))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let to_sign = format!("{account}\nrwdlac\nb\nsco\n\n{expiry}\n\n\n{SAS_VERSION}\n");
        format!(
            "sv={SAS_VERSION}&ss=b&srt=sco&sp=rwdlac&se={}&sig={}",
            encode(&expiry),
            encode(&sign(key, &to_sign))
        )
    }

    async fn create_container(&self) -> Result<(), String> {
        let Self::Azure {
            client,
            url,
            account,
            key,
            container,
        } = self
        else {
            return Ok(());
        };
        let sas = Self::account_sas(account, key);
        let response = client
            .put(format!("{url}/{container}?restype=container&{sas}"))
            .header("x-ms-version", SAS_VERSION)
            .header("content-length", "0")
            .send()
            .await
            .map_err(|error| format!("the blob service at {url} cannot be reached: {error}"))?;
        match response.status().as_u16() {
            201 | 409 => Ok(()),
            status => Err(format!(
                "the blob service at {url} refused to create the container: HTTP {status}: {}",
                response.text().await.unwrap_or_default()
            )),
        }
    }

    /// Publishes a shared asset's content: `size` bytes of a fixed pattern.
    pub async fn publish_pattern(&self, asset: &str, size: u64) -> Result<(), String> {
        match self {
            Self::Local { dir, .. } => {
                let path = dir.join(asset);
                let write = || -> std::io::Result<()> {
                    std::fs::create_dir_all(&path)?;
                    let mut file =
                        std::io::BufWriter::new(std::fs::File::create(path.join("blob"))?);
                    let chunk = vec![0x5a_u8; 64 * 1024];
                    let mut left = size;
                    while left > 0 {
                        let length =
                            usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
                        file.write_all(&chunk[..length])?;
                        left -= length as u64;
                    }
                    file.flush()?;
                    std::fs::write(path.join("list"), "blob\n")
                };
                write().map_err(|error| format!("cannot write a shared asset: {error}"))
            }
            Self::Azure {
                client,
                url,
                account,
                key,
                container,
            } => {
                let body = vec![0x5a_u8; usize::try_from(size).unwrap_or(0)];
                let sas = Self::account_sas(account, key);
                let response = client
                    .put(format!("{url}/{container}/{asset}?{sas}"))
                    .header("x-ms-version", SAS_VERSION)
                    .header("x-ms-blob-type", "BlockBlob")
                    .body(body)
                    .send()
                    .await
                    .map_err(|error| error.to_string())?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(format!(
                        "the blob service refused the shared asset: HTTP {}",
                        response.status()
                    ))
                }
            }
        }
    }

    /// The size of the committed blob and its block ids, where the blob service holds it.
    pub async fn committed(&self, asset: &str) -> Result<Option<(u64, Vec<String>)>, String> {
        match self {
            Self::Local { dir, .. } => {
                let path = dir.join(asset);
                let Ok(list) = std::fs::read_to_string(path.join("list")) else {
                    return Ok(None);
                };
                let mut size = 0;
                let mut blocks = Vec::new();
                for name in list.lines() {
                    size += std::fs::metadata(path.join(name))
                        .map_err(|error| error.to_string())?
                        .len();
                    blocks.push(name.to_owned());
                }
                Ok(Some((size, blocks)))
            }
            Self::Azure {
                client,
                url,
                account,
                key,
                container,
            } => {
                let sas = Self::account_sas(account, key);
                let response = client
                    .get(format!(
                        "{url}/{container}/{asset}?comp=blocklist&blocklisttype=committed&{sas}"
                    ))
                    .header("x-ms-version", SAS_VERSION)
                    .send()
                    .await
                    .map_err(|error| error.to_string())?;
                let status = response.status();
                if status.as_u16() == 404 {
                    return Ok(None);
                }
                let text = response.text().await.map_err(|error| error.to_string())?;
                if !status.is_success() {
                    return Err(format!(
                        "the blob service answered HTTP {status} to Get Block List: {text}"
                    ));
                }
                let names = tag_values(&text, "Name");
                if names.is_empty() {
                    // One Put Blob: a committed blob without blocks, whose size only its
                    // properties tell.
                    let size = self.blob_length(asset).await?;
                    return Ok(size.map(|size| (size, names)));
                }
                let size = tag_values(&text, "Size")
                    .iter()
                    .filter_map(|size| size.parse::<u64>().ok())
                    .sum();
                Ok(Some((size, names)))
            }
        }
    }

    /// The length of a committed blob on the Azure Blob service (Get Blob Properties), `None`
    /// when there is none.
    async fn blob_length(&self, asset: &str) -> Result<Option<u64>, String> {
        let Self::Azure {
            client,
            url,
            account,
            key,
            container,
        } = self
        else {
            return Ok(None);
        };
        let sas = Self::account_sas(account, key);
        let response = client
            .head(format!("{url}/{container}/{asset}?{sas}"))
            .header("x-ms-version", SAS_VERSION)
            .send()
            .await
            .map_err(|error| error.to_string())?;
        match response.status().as_u16() {
            404 => Ok(None),
            200 => response
                .headers()
                .get(reqwest::header::CONTENT_LENGTH)
                .and_then(|value| value.to_str().ok()?.parse().ok())
                .map(Some)
                .ok_or_else(|| "the blob service gave no Content-Length".to_owned()),
            status => Err(format!(
                "the blob service answered HTTP {status} to Get Blob Properties"
            )),
        }
    }

    /// The directory of the emulator's own blobs.
    pub fn local_dir(&self) -> Option<&Path> {
        match self {
            Self::Local { dir, .. } => Some(dir),
            Self::Azure { .. } => None,
        }
    }
}

/// The values of `<tag>…</tag>` in a small XML answer.
fn tag_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(value, _)| value.to_owned()))
        .collect()
}

fn sign(key: &[u8], text: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    base64::engine::general_purpose::STANDARD
        .encode(aws_lc_rs::hmac::sign(&key, text.as_bytes()).as_ref())
}

/// The signature of the emulator's own SAS URLs.
pub fn local_signature(key: &[u8], asset: &str, permissions: &str, expiry: &str) -> String {
    let signature = sign(key, &format!("{asset}\n{permissions}\n{expiry}"));
    encode(&signature)
}

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The name a block's file has: the block id in hex (block ids are base64 and may hold `/`).
pub fn block_file(block: &str) -> String {
    use std::fmt::Write as _;
    block
        .bytes()
        .fold(String::from("block-"), |mut name, byte| {
            let _ = write!(name, "{byte:02x}");
            name
        })
}

/// A response body that streams files one after the other, in 256 KiB reads, so a large blob
/// is never held in memory; optionally only a range of their bytes.
pub struct FilesBody {
    files: std::collections::VecDeque<PathBuf>,
    current: Option<std::fs::File>,
    buffer: Vec<u8>,
    /// Bytes still to pass over before the range starts.
    skip: u64,
    /// Bytes of the range still to send.
    left: u64,
}

impl FilesBody {
    /// `length` bytes from `start` of the files taken as one.
    #[must_use]
    pub fn range(files: Vec<PathBuf>, start: u64, length: u64) -> Self {
        Self {
            files: files.into(),
            current: None,
            buffer: vec![0; 256 * 1024],
            skip: start,
            left: length,
        }
    }
}

impl http_body::Body for FilesBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        use std::io::Seek as _;
        let this = self.get_mut();
        loop {
            if this.left == 0 {
                return Poll::Ready(None);
            }
            if this.current.is_none() {
                let Some(path) = this.files.pop_front() else {
                    return Poll::Ready(None);
                };
                let opened = std::fs::File::open(&path).and_then(|mut file| {
                    // A range that starts past this file skips it whole.
                    let length = file.metadata()?.len();
                    if this.skip >= length {
                        this.skip -= length;
                        return Ok(None);
                    }
                    file.seek(std::io::SeekFrom::Start(this.skip))?;
                    this.skip = 0;
                    Ok(Some(file))
                });
                match opened {
                    Ok(file) => this.current = file,
                    Err(error) => return Poll::Ready(Some(Err(error))),
                }
                continue;
            }
            let Some(file) = this.current.as_mut() else {
                continue;
            };
            let wanted = usize::try_from(this.left)
                .unwrap_or(usize::MAX)
                .min(this.buffer.len());
            match file.read(&mut this.buffer[..wanted]) {
                Ok(0) => this.current = None,
                Ok(read) => {
                    this.left -= read as u64;
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(
                        &this.buffer[..read],
                    )))));
                }
                Err(error) => return Poll::Ready(Some(Err(error))),
            }
        }
    }
}

/// A body that fails at once: hyper then drops the connection without a complete answer.
pub struct BrokenBody;

impl http_body::Body for BrokenBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "fault injected: connection dropped",
        ))))
    }
}

/// A JSON object of `left` bytes in all (`{"Padding":"xxx…"}`), made as it is sent.
pub struct PaddingBody {
    left: u64,
    started: bool,
}

impl PaddingBody {
    #[must_use]
    pub fn new(bytes: u64) -> Self {
        Self {
            left: bytes.max(16),
            started: false,
        }
    }
}

impl http_body::Body for PaddingBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        const OPEN: &[u8] = b"{\"Padding\":\"";
        const CLOSE: &[u8] = b"\"}";
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let chunk = if self.started {
            let room = self.left - CLOSE.len() as u64;
            if room == 0 {
                self.left = 0;
                Bytes::from_static(CLOSE)
            } else {
                let length = room.min(64 * 1024);
                self.left -= length;
                Bytes::from(vec![b'x'; usize::try_from(length).unwrap_or(0)])
            }
        } else {
            self.started = true;
            self.left -= OPEN.len() as u64;
            Bytes::from_static(OPEN)
        };
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }
}

#[cfg(test)]
mod tests {
    use super::sweep_abandoned;

    #[test]
    fn the_directories_of_killed_emulators_are_swept_and_live_ones_kept() {
        if !std::path::Path::new("/proc/self").exists() {
            eprintln!("skipped: no /proc to tell which processes live");
            return;
        }
        let temp = tempfile::tempdir().expect("temp");
        // No process has this id (above any pid_max), one is this process, one is init.
        let dead = temp.path().join("refreshctl-emulator-4000000000-0");
        let ours = temp
            .path()
            .join(format!("refreshctl-emulator-{}-3", std::process::id()));
        let init = temp.path().join("refreshctl-emulator-1-0");
        let unrelated = temp.path().join("refreshctl-emulator-notes");
        for dir in [&dead, &ours, &init, &unrelated] {
            std::fs::create_dir_all(dir.join("blobs")).expect("dir");
        }
        sweep_abandoned(temp.path());
        assert!(!dead.exists(), "a dead emulator's directory is left");
        for kept in [&ours, &init, &unrelated] {
            assert!(kept.exists(), "{} was removed", kept.display());
        }
    }
}
