//! The emulator's own Azure Blob endpoints, as far as the Azure Storage SDKs and `AzCopy` use
//! them on one block blob: Put Blob, Put Block, Put Block List, Get Blob (whole or a `Range`),
//! Get Blob Properties (HEAD) and Get Block List, with the headers their clients read (`ETag`,
//! `Last-Modified`, `x-ms-blob-type`, `x-ms-request-id`, `x-ms-version`, `x-ms-error-code`) and
//! `If-None-Match: *` refusing to overwrite. Each blob is a directory: its blocks as files, the
//! committed list in `list`, its content type in `content-type`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::blob::{self, FilesBody};
use super::{Emulator, lock};
use crate::lcs;

type Shared = State<Arc<Emulator>>;
type Params = Query<HashMap<String, String>>;

/// The service version the endpoints answer as, unless the client names one.
const SERVICE_VERSION: &str = "2021-08-06";

/// The committed list of a blob that was stored by one Put Blob (no blocks).
const WHOLE_BLOB: &str = "blob";

pub async fn put(
    State(emulator): Shared,
    UrlPath((_container, asset)): UrlPath<(String, String)>,
    Query(params): Params,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let response = put_blob(&emulator, &asset, &params, &headers, body).await;
    stamp(response, &headers)
}

pub async fn get(
    State(emulator): Shared,
    UrlPath((_container, asset)): UrlPath<(String, String)>,
    Query(params): Params,
    headers: HeaderMap,
    method: Method,
) -> Response {
    let response = get_blob(&emulator, &asset, &params, &headers, &method);
    stamp(response, &headers)
}

/// The headers every answer of the Blob service carries.
fn stamp(mut response: Response, request: &HeaderMap) -> Response {
    let version = request
        .get("x-ms-version")
        .cloned()
        .unwrap_or(HeaderValue::from_static(SERVICE_VERSION));
    let headers = response.headers_mut();
    headers.insert("x-ms-version", version);
    if let Ok(id) = HeaderValue::from_str(&request_id()) {
        headers.insert("x-ms-request-id", id);
    }
    if let Some(client) = request.get("x-ms-client-request-id") {
        headers.insert("x-ms-client-request-id", client.clone());
    }
    response
}

/// A GUID for `x-ms-request-id`.
fn request_id() -> String {
    let mut bytes = [0_u8; 16];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    let hex = bytes.iter().fold(String::new(), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    });
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/xml".to_owned()),
            (header::HeaderName::from_static("x-ms-error-code"), code.to_owned()),
        ],
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        ),
    )
        .into_response()
}

fn forbidden() -> Response {
    error(
        StatusCode::FORBIDDEN,
        "AuthenticationFailed",
        "Server failed to authenticate the request.",
    )
}

fn internal(problem: &impl ToString) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        &problem.to_string(),
    )
}

/// Checks the SAS of a request to the emulator's own blob endpoint.
fn sas_allows(
    emulator: &Emulator,
    asset: &str,
    params: &HashMap<String, String>,
    permission: char,
) -> bool {
    let (Some(permissions), Some(expiry), Some(signature)) =
        (params.get("sp"), params.get("se"), params.get("sig"))
    else {
        return false;
    };
    let expected = blob::local_signature(&emulator.key, asset, permissions, expiry);
    let decoded = percent_encoding::percent_decode_str(&expected).decode_utf8_lossy();
    let fresh = lcs::parse_time(expiry).is_some_and(|expiry| expiry > emulator.wall_now());
    fresh && permissions.contains(permission) && (signature == &expected || *signature == decoded)
}

async fn put_blob(
    emulator: &Emulator,
    asset: &str,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    if !sas_allows(emulator, asset, params, 'w') {
        return forbidden();
    }
    let Some(dir) = emulator.blobs.local_dir().map(|dir| dir.join(asset)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Err(problem) = std::fs::create_dir_all(&dir) {
        return internal(&problem);
    }
    let now = emulator.model_now();
    let committing = !matches!(params.get("comp").map(String::as_str), Some("block"));
    if committing
        && headers
            .get(header::IF_NONE_MATCH)
            .is_some_and(|value| value.as_bytes() == b"*")
        && dir.join("list").exists()
    {
        return error(
            StatusCode::CONFLICT,
            "BlobAlreadyExists",
            "The specified blob already exists.",
        );
    }
    match params.get("comp").map(String::as_str) {
        Some("block") => {
            let Some(block) = params.get("blockid").cloned() else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidQueryParameterValue",
                    "blockid is missing",
                );
            };
            let size = match read_body_to(body, &dir.join(blob::block_file(&block))).await {
                Ok(size) => size,
                Err(problem) => return error(StatusCode::BAD_REQUEST, "InvalidInput", &problem),
            };
            match lock(&emulator.model).put_block(asset, &block, size, now) {
                Ok(()) => StatusCode::CREATED.into_response(),
                Err(problem) => error(
                    StatusCode::CONFLICT,
                    "InvalidBlobOrBlock",
                    &problem.to_string(),
                ),
            }
        }
        Some("blocklist") => {
            let text = match read_body_text(body).await {
                Ok(text) => text,
                Err(problem) => return error(StatusCode::BAD_REQUEST, "InvalidInput", &problem),
            };
            let ids = block_ids(&text);
            let files: Vec<String> = ids.iter().map(|id| blob::block_file(id)).collect();
            if let Some(missing) = files.iter().position(|file| !dir.join(file).exists()) {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidBlockList",
                    &format!("block {} was not uploaded", ids[missing]),
                );
            }
            if let Err(problem) = lock(&emulator.model).put_block_list(asset, &ids, now) {
                return error(
                    StatusCode::CONFLICT,
                    "InvalidBlockList",
                    &problem.to_string(),
                );
            }
            commit(&dir, &files, content_type(headers, false))
        }
        None if headers
            .get("x-ms-blob-type")
            .is_some_and(|kind| kind.as_bytes().eq_ignore_ascii_case(b"BlockBlob")) =>
        {
            let size = match read_body_to(body, &dir.join(WHOLE_BLOB)).await {
                Ok(size) => size,
                Err(problem) => return error(StatusCode::BAD_REQUEST, "InvalidInput", &problem),
            };
            let mut model = lock(&emulator.model);
            let stored = model
                .put_block(asset, WHOLE_BLOB, size, now)
                .and_then(|()| model.put_block_list(asset, &[WHOLE_BLOB.to_owned()], now));
            drop(model);
            match stored {
                Ok(()) => commit(&dir, &[WHOLE_BLOB.to_owned()], content_type(headers, true)),
                Err(problem) => error(
                    StatusCode::CONFLICT,
                    "InvalidBlobOrBlock",
                    &problem.to_string(),
                ),
            }
        }
        _ => error(
            StatusCode::BAD_REQUEST,
            "MissingRequiredHeader",
            "x-ms-blob-type is required",
        ),
    }
}

/// The content type a commit stores: `x-ms-blob-content-type`, or for a Put Blob its own
/// `Content-Type`.
fn content_type(headers: &HeaderMap, whole: bool) -> String {
    headers
        .get("x-ms-blob-content-type")
        .or_else(|| whole.then(|| headers.get(header::CONTENT_TYPE)).flatten())
        .and_then(|value| value.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned()
}

/// Writes the committed list (and the content type) and answers with the new blob's `ETag` and
/// `Last-Modified`.
fn commit(dir: &Path, files: &[String], content_type: String) -> Response {
    let written = std::fs::write(dir.join("content-type"), content_type)
        .and_then(|()| std::fs::write(dir.join("list"), files.join("\n") + "\n"));
    if let Err(problem) = written {
        return internal(&problem);
    }
    match Properties::of(dir) {
        Some(properties) => {
            let mut response = StatusCode::CREATED.into_response();
            properties.describe(response.headers_mut(), false);
            response
        }
        None => internal(&"the committed blob cannot be read back"),
    }
}

/// What Get Blob Properties tells of a committed blob.
struct Properties {
    files: Vec<PathBuf>,
    length: u64,
    modified: SystemTime,
    content_type: String,
}

impl Properties {
    fn of(dir: &Path) -> Option<Self> {
        let list = std::fs::read_to_string(dir.join("list")).ok()?;
        let modified = std::fs::metadata(dir.join("list")).ok()?.modified().ok()?;
        let files: Vec<PathBuf> = list.lines().map(|name| dir.join(name)).collect();
        let length = files
            .iter()
            .filter_map(|file| std::fs::metadata(file).ok())
            .map(|metadata| metadata.len())
            .sum();
        let content_type = std::fs::read_to_string(dir.join("content-type"))
            .unwrap_or_else(|_| "application/octet-stream".to_owned());
        Some(Self {
            files,
            length,
            modified,
            content_type,
        })
    }

    /// A strong `ETag` that changes with every commit.
    fn etag(&self) -> String {
        let nanos = self
            .modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        format!("\"0x{:X}\"", nanos ^ u128::from(self.length))
    }

    fn describe(&self, headers: &mut HeaderMap, content: bool) {
        let modified: DateTime<Utc> = self.modified.into();
        let values = [
            (header::ETAG, self.etag()),
            (
                header::LAST_MODIFIED,
                modified.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            ),
        ];
        for (name, value) in values {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        if content {
            let values = [
                (header::CONTENT_TYPE, self.content_type.clone()),
                (header::ACCEPT_RANGES, "bytes".to_owned()),
                (
                    header::HeaderName::from_static("x-ms-blob-type"),
                    "BlockBlob".to_owned(),
                ),
            ];
            for (name, value) in values {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            }
        }
    }
}

fn get_blob(
    emulator: &Emulator,
    asset: &str,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    method: &Method,
) -> Response {
    if !sas_allows(emulator, asset, params, 'r') {
        return forbidden();
    }
    let Some(dir) = emulator.blobs.local_dir().map(|dir| dir.join(asset)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if params.get("comp").map(String::as_str) == Some("blocklist") {
        return block_list(&dir, params.get("blocklisttype").map(String::as_str));
    }
    let Some(properties) = Properties::of(&dir) else {
        return error(
            StatusCode::NOT_FOUND,
            "BlobNotFound",
            "The specified blob does not exist.",
        );
    };
    let requested = headers
        .get("x-ms-range")
        .or_else(|| headers.get(header::RANGE))
        .and_then(|value| value.to_str().ok());
    let range = match requested.map(|text| parse_range(text, properties.length)) {
        None => None,
        Some(Ok(range)) => Some(range),
        Some(Err(())) => {
            let mut response = error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The range specified is invalid for the current size of the resource.",
            );
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{}", properties.length)) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return response;
        }
    };
    let (status, start, length) = match range {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        None => (StatusCode::OK, 0, properties.length),
    };
    let body = if *method == Method::HEAD {
        Body::empty()
    } else {
        Body::new(FilesBody::range(properties.files.clone(), start, length))
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    properties.describe(headers, true);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Some((start, end)) = range
        && let Ok(value) =
            HeaderValue::from_str(&format!("bytes {start}-{end}/{}", properties.length))
    {
        headers.insert(header::CONTENT_RANGE, value);
    }
    response
}

/// `bytes=START-END`, `bytes=START-` or `bytes=-SUFFIX` over `total` bytes, as an inclusive
/// range; an end past the blob is cut to it. `Err` when nothing of it lies in the blob.
fn parse_range(text: &str, total: u64) -> Result<(u64, u64), ()> {
    let spec = text.trim().strip_prefix("bytes=").ok_or(())?;
    let (first, last) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (first.trim(), last.trim()) {
        ("", suffix) => {
            let suffix: u64 = suffix.parse().map_err(|_| ())?;
            if suffix == 0 {
                return Err(());
            }
            (
                total.saturating_sub(suffix),
                total.checked_sub(1).ok_or(())?,
            )
        }
        (start, "") => (
            start.parse().map_err(|_| ())?,
            total.checked_sub(1).ok_or(())?,
        ),
        (start, end) => {
            let start: u64 = start.parse().map_err(|_| ())?;
            let end: u64 = end.parse().map_err(|_| ())?;
            (start, end.min(total.checked_sub(1).ok_or(())?))
        }
    };
    if start >= total || start > end {
        return Err(());
    }
    Ok((start, end))
}

/// Get Block List: the committed blocks (in order) and the uncommitted ones, with sizes.
fn block_list(dir: &Path, which: Option<&str>) -> Response {
    let committed_files: Vec<String> = std::fs::read_to_string(dir.join("list"))
        .map(|list| list.lines().map(str::to_owned).collect())
        .unwrap_or_default();
    let size = |file: &str| std::fs::metadata(dir.join(file)).map_or(0, |meta| meta.len());
    let committed: Vec<(String, u64)> = committed_files
        .iter()
        .filter_map(|file| Some((block_id(file)?, size(file))))
        .collect();
    let mut uncommitted: Vec<(String, u64)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.file_name().into_string().ok())
                .filter(|file| !committed_files.contains(file))
                .filter_map(|file| Some((block_id(&file)?, size(&file))))
                .collect()
        })
        .unwrap_or_default();
    uncommitted.sort();
    if committed_files.is_empty() && uncommitted.is_empty() {
        return error(
            StatusCode::NOT_FOUND,
            "BlobNotFound",
            "The specified blob does not exist.",
        );
    }
    let section = |tag: &str, blocks: &[(String, u64)]| {
        let inner = blocks.iter().fold(String::new(), |mut inner, (id, size)| {
            let _ = write!(inner, "<Block><Name>{id}</Name><Size>{size}</Size></Block>");
            inner
        });
        format!("<{tag}>{inner}</{tag}>")
    };
    let (with_committed, with_uncommitted) = match which.unwrap_or("committed") {
        "all" => (true, true),
        "uncommitted" => (false, true),
        _ => (true, false),
    };
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
    if with_committed {
        xml.push_str(&section("CommittedBlocks", &committed));
    }
    if with_uncommitted {
        xml.push_str(&section("UncommittedBlocks", &uncommitted));
    }
    xml.push_str("</BlockList>");
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/xml")],
        xml,
    )
        .into_response();
    if let Some(properties) = Properties::of(dir) {
        properties.describe(response.headers_mut(), false);
    }
    response
}

/// The block id a block's file was named after (the inverse of [`blob::block_file`]).
fn block_id(file: &str) -> Option<String> {
    let hex = file.strip_prefix("block-")?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(hex.get(index..index + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

async fn read_body_to(mut body: Body, path: &Path) -> Result<u64, String> {
    use http_body::Body as _;
    use std::io::Write as _;
    let partial = path.with_extension("part");
    let mut file = std::fs::File::create(&partial).map_err(|problem| problem.to_string())?;
    let mut size = 0;
    loop {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    file.write_all(&data)
                        .map_err(|problem| problem.to_string())?;
                    size += data.len() as u64;
                }
            }
            Some(Err(problem)) => {
                let _ = std::fs::remove_file(&partial);
                return Err(problem.to_string());
            }
        }
    }
    std::fs::rename(&partial, path).map_err(|problem| problem.to_string())?;
    Ok(size)
}

async fn read_body_text(body: Body) -> Result<String, String> {
    let bytes = axum::body::to_bytes(body, 4 * 1024 * 1024)
        .await
        .map_err(|problem| problem.to_string())?;
    String::from_utf8(bytes.to_vec()).map_err(|_| "the block list is not UTF-8".to_owned())
}

fn block_ids(xml: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('>') else { break };
        let tag = &after[..end];
        rest = &after[end + 1..];
        if matches!(tag, "Latest" | "Committed" | "Uncommitted")
            && let Some(close) = rest.find("</")
        {
            ids.push(rest[..close].trim().to_owned());
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_lists_from_clients() {
        assert_eq!(
            block_ids(
                "<?xml version=\"1.0\"?><BlockList><Latest>AA==</Latest><Uncommitted>AQ==</Uncommitted></BlockList>"
            ),
            ["AA==", "AQ=="]
        );
        assert_eq!(
            block_id(&blob::block_file("AAAx/w==")).as_deref(),
            Some("AAAx/w==")
        );
        assert_eq!(block_id("blob"), None);
    }

    #[test]
    fn ranges_as_azure_reads_them() {
        for (text, total, expected) in [
            ("bytes=0-99", 1000, Ok((0, 99))),
            ("bytes=990-1200", 1000, Ok((990, 999))),
            ("bytes=500-", 1000, Ok((500, 999))),
            ("bytes=-100", 1000, Ok((900, 999))),
            ("bytes=-5000", 1000, Ok((0, 999))),
            ("bytes=1000-1001", 1000, Err(())),
            ("bytes=5-4", 1000, Err(())),
            ("bytes=0-0", 0, Err(())),
            ("items=0-1", 1000, Err(())),
            ("bytes=a-b", 1000, Err(())),
            ("bytes=-0", 1000, Err(())),
        ] {
            assert_eq!(parse_range(text, total), expected, "{text} of {total}");
        }
    }
}
