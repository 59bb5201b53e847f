//! How both stores keep a finished run (issue 17: 5.2 KB per finished run before, under 2 KB
//! asked): its record and its log each as bytes, compressed on their own (raw deflate).
//!
//! A finished run does not change in the ordinary course: what still touches it is its log
//! (the run's last state, a notification delivered or not) and, rarely, its record (`resume
//! --retry-step` of a failed run). Either is written again whole when that happens, so the
//! packed forms are only a way of storing: reading gives back exactly what was written.
//!
//! - A packed record is one byte [`RECORD`], its length unpacked, and then the deflated record
//!   in binary: strings with their length first, numbers as LEB128, times as nanoseconds after
//!   the time before (zigzag, the first since the epoch), in the order the compact JSON form
//!   keeps them. Its id, plan and target are not in it: they are the row's own columns, which
//!   every write of a record sets. Reading it needs no JSON parser, which is what `runs
//!   --format json` spent most of its time on.
//! - A packed log is one byte [`LOG`], its length unpacked, and then the deflated events in
//!   their stored columns
//!   (see [`super::compact`]): sequence after the one before, time in microseconds after the
//!   one before (zigzag), kind as its code (0: its text follows), detail as stored.
//!
//! Nothing is shared between runs: each run is compressed alone.

use chrono::{DateTime, Utc};

use super::compact::StoredKind;
use super::record::{Intent, RemoteIds, RunRecord, RunState, StepRecord, StepState};
use crate::adapter::AdapterKind;

/// The first byte of a packed record.
pub(crate) const RECORD: u8 = 2;

/// The first byte of a packed log.
pub(crate) const LOG: u8 = 3;

/// Deflate's level: the best compression, as a run is packed once when it ends.
const LEVEL: u8 = 9;

/// Bodies shorter than this are stored as one uncompressed deflate block. Setting up deflate
/// clears 300 KB of tables, which costs more than the rest of such a run's write; on a run
/// rejected at preflight (a 460-byte record, a 147-byte log) it saved 150 and 1 bytes. A run
/// that did its work packs to more than this and is compressed.
const STORED_BELOW: usize = 512;

/// The most an unpacked record or log may take (a damaged one must not fill memory).
const LIMIT: usize = 64 << 20;

/// A step's state code, as the compact JSON form has them.
const PENDING: u8 = 0;
const RUNNING: u8 = 1;
const SUCCEEDED: u8 = 2;
const FAILED: u8 = 3;
const SKIPPED: u8 = 4;

/// An event as both stores keep it, with its time since the epoch (microseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredEvent {
    pub sequence: i64,
    pub at: i64,
    pub kind: StoredKind,
    pub detail: String,
}

/// A log row as the events table holds it: sequence, time as the difference from the event
/// before, kind and detail.
pub(crate) type LooseEvent = (i64, i64, StoredKind, String);

/// The archived `events` followed by the `loose` ones (their times added up from the last
/// archived one), and the sequence and time of the last: what a finished run's archive holds
/// once its loose events join it.
pub(crate) fn join(
    mut events: Vec<StoredEvent>,
    loose: Vec<LooseEvent>,
) -> (Vec<StoredEvent>, (i64, i64)) {
    let mut at = events.last().map_or(0, |event| event.at);
    for (sequence, delta, kind, detail) in loose {
        at = at.wrapping_add(delta);
        events.push(StoredEvent {
            sequence,
            at,
            kind,
            detail,
        });
    }
    let last = events
        .last()
        .map_or((0, 0), |event| (event.sequence, event.at));
    (events, last)
}

/// How a body longer than [`STORED_BELOW`] is compressed.
#[derive(Clone, Copy)]
enum Codes {
    /// Deflate's fixed Huffman codes (RFC 1951 3.2.6). A record is read by every `runs`
    /// listing, and a block with its own codes starts with them, coded, to be read first: over
    /// 10,001 records, 145 M of `runs --format json`'s 1.17 G instructions went on that, 51 M
    /// with the fixed codes (`miniz_oxide` builds the same lookup tables for either). On the
    /// weekly example's 993-byte record the fixed codes cost 4 bytes more.
    Fixed,
    /// Codes made for the body: a log is read one run at a time, and its own codes save an
    /// eighth (the weekly example's 2,250-byte log: 941 bytes against 1,068).
    Own,
}

fn deflate(form: u8, body: &[u8], codes: Codes) -> Vec<u8> {
    let mut header = Writer::new();
    header.bytes.push(form);
    header.length(body.len());
    let mut packed = header.bytes;
    if body.len() < STORED_BELOW {
        // One final stored block (RFC 1951 3.2.4): its header bits, then LEN and its complement.
        let length = u16::try_from(body.len()).expect("a stored body is under 512 bytes");
        packed.push(0b001);
        packed.extend_from_slice(&length.to_le_bytes());
        packed.extend_from_slice(&(!length).to_le_bytes());
        packed.extend_from_slice(body);
    } else {
        compress(&mut packed, body, codes);
    }
    packed
}

/// Appends `body` deflated (raw, without a zlib wrapper) to `packed`.
fn compress(packed: &mut Vec<u8>, body: &[u8], codes: Codes) {
    use miniz_oxide::deflate::core::{
        CompressionStrategy, CompressorOxide, TDEFLFlush, TDEFLStatus, compress_to_output,
        create_comp_flags_from_zip_params,
    };
    let strategy = match codes {
        Codes::Fixed => CompressionStrategy::Fixed,
        Codes::Own => CompressionStrategy::Default,
    };
    // Window bits 0: no zlib header or checksum.
    let flags = create_comp_flags_from_zip_params(LEVEL.into(), 0, strategy as i32);
    let mut compressor = CompressorOxide::new(flags);
    let (status, read) = compress_to_output(&mut compressor, body, TDEFLFlush::Finish, |out| {
        packed.extend_from_slice(out);
        true
    });
    // Compressing into a growing vector has no way to fail.
    assert!(
        status == TDEFLStatus::Done && read == body.len(),
        "deflate stopped early ({status:?}, {read} of {} bytes)",
        body.len()
    );
}

std::thread_local! {
    /// Each thread's decompressor, used again for every record: a new one is 11 KB to clear.
    static DECOMPRESSOR: std::cell::RefCell<Box<miniz_oxide::inflate::core::DecompressorOxide>> =
        std::cell::RefCell::new(Box::default());
}

fn inflate(form: u8, what: &str, packed: &[u8]) -> Result<Vec<u8>, String> {
    use miniz_oxide::inflate::TINFLStatus;
    use miniz_oxide::inflate::core::{decompress, inflate_flags};
    let mut header = Reader::new(packed);
    match header.byte("form") {
        Ok(first) if first == form => {}
        Ok(first) => {
            return Err(format!(
                "the packed {what}'s form {first} is not known to this version"
            ));
        }
        Err(_) => return Err(format!("the packed {what} is empty")),
    }
    let length: usize = header
        .unsigned("length")
        .map_err(|error| format!("the packed {what}: {error}"))?;
    if length > LIMIT {
        return Err(format!("the packed {what} says it is {length} bytes"));
    }
    let mut body = vec![0; length];
    // What this crate writes (stored blocks and the fixed codes) is read without miniz_oxide;
    // the rest, and whatever is damaged, by it.
    if super::fixed::inflate(&packed[header.at..], &mut body).is_some() {
        return Ok(body);
    }
    let (status, _, written) = DECOMPRESSOR.with_borrow_mut(|decompressor| {
        decompressor.init();
        decompress(
            decompressor,
            &packed[header.at..],
            &mut body,
            0,
            inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
        )
    });
    if status != TINFLStatus::Done || written != length {
        return Err(format!(
            "the packed {what} cannot be unpacked ({status:?}, {written} of {length} bytes)"
        ));
    }
    Ok(body)
}

/// Writes numbers, strings and times in the packed forms.
struct Writer {
    bytes: Vec<u8>,
    previous: i128,
}

impl Writer {
    fn new() -> Self {
        Self {
            bytes: Vec::with_capacity(1024),
            previous: 0,
        }
    }

    fn number(&mut self, mut value: u128) {
        loop {
            let low = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                self.bytes.push(low);
                return;
            }
            self.bytes.push(low | 0x80);
        }
    }

    fn signed(&mut self, value: i128) {
        self.number(((value << 1) ^ (value >> 127)).cast_unsigned());
    }

    fn length(&mut self, length: usize) {
        self.number(length as u128);
    }

    fn text(&mut self, text: &str) {
        self.length(text.len());
        self.bytes.extend_from_slice(text.as_bytes());
    }

    /// An optional string: its length plus one, 0 for none.
    fn optional(&mut self, text: Option<&str>) {
        match text {
            None => self.number(0),
            Some(text) => {
                self.length(text.len() + 1);
                self.bytes.extend_from_slice(text.as_bytes());
            }
        }
    }

    fn time(&mut self, at: DateTime<Utc>) {
        let nanos = nanos(at);
        self.signed(nanos - self.previous);
        self.previous = nanos;
    }
}

/// A time as nanoseconds since the epoch (as the compact JSON form keeps it: a leap second's
/// extra nanoseconds run into the next second).
fn nanos(at: DateTime<Utc>) -> i128 {
    i128::from(at.timestamp()) * 1_000_000_000 + i128::from(at.timestamp_subsec_nanos())
}

/// Reads what [`Writer`] wrote; every error says what was being read.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    previous: i128,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            at: 0,
            previous: 0,
        }
    }

    fn is_done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn byte(&mut self, what: &str) -> Result<u8, String> {
        let byte = *self
            .bytes
            .get(self.at)
            .ok_or_else(|| format!("it ends before its {what}"))?;
        self.at += 1;
        Ok(byte)
    }

    fn number(&mut self, what: &str) -> Result<u128, String> {
        // Most numbers are one byte.
        if let Some(byte) = self.bytes.get(self.at).filter(|byte| **byte < 0x80) {
            self.at += 1;
            return Ok(u128::from(*byte));
        }
        let mut value = 0_u128;
        for shift in (0..128).step_by(7) {
            let byte = self.byte(what)?;
            value |= u128::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(format!("its {what} is too long a number"))
    }

    fn unsigned<T: TryFrom<u128>>(&mut self, what: &str) -> Result<T, String> {
        T::try_from(self.number(what)?).map_err(|_| format!("its {what} is out of range"))
    }

    fn signed(&mut self, what: &str) -> Result<i128, String> {
        let value = self.number(what)?;
        Ok((value >> 1).cast_signed() ^ -(value & 1).cast_signed())
    }

    fn bytes(&mut self, length: usize, what: &str) -> Result<String, String> {
        let end = self
            .at
            .checked_add(length)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| format!("it ends inside its {what}"))?;
        let text = std::str::from_utf8(&self.bytes[self.at..end])
            .map_err(|_| format!("its {what} is not UTF-8"))?
            .to_owned();
        self.at = end;
        Ok(text)
    }

    fn text(&mut self, what: &str) -> Result<String, String> {
        let length = self.unsigned(what)?;
        self.bytes(length, what)
    }

    fn optional(&mut self, what: &str) -> Result<Option<String>, String> {
        match self.unsigned::<usize>(what)? {
            0 => Ok(None),
            length => self.bytes(length - 1, what).map(Some),
        }
    }

    fn time(&mut self, what: &str) -> Result<DateTime<Utc>, String> {
        let nanos = self
            .previous
            .checked_add(self.signed(what)?)
            .ok_or_else(|| format!("its {what} is out of range"))?;
        self.previous = nanos;
        // Most times are between 1677 and 2262, where nanoseconds fit an i64 (cheaper to split).
        if let Ok(nanos) = i64::try_from(nanos) {
            return Ok(DateTime::from_timestamp_nanos(nanos));
        }
        i64::try_from(nanos.div_euclid(1_000_000_000))
            .ok()
            .and_then(|seconds| {
                let rest = u32::try_from(nanos.rem_euclid(1_000_000_000)).ok()?;
                DateTime::from_timestamp(seconds, rest)
            })
            .ok_or_else(|| format!("its {what} is out of range"))
    }
}

/// The run state's code and the texts it carries.
fn put_state(writer: &mut Writer, state: &RunState) {
    let (code, texts): (u8, [Option<&str>; 2]) = match state {
        RunState::Submitted => (0, [None, None]),
        RunState::Accepted => (1, [None, None]),
        RunState::Running => (2, [None, None]),
        RunState::AwaitingApproval { step } => (3, [Some(step), None]),
        RunState::NeedsAttention { step, reason } => (4, [Some(step), Some(reason)]),
        RunState::Succeeded => (5, [None, None]),
        RunState::Failed { error } => (6, [Some(error), None]),
        RunState::Rejected { reason } => (7, [Some(reason), None]),
        RunState::Canceled => (8, [None, None]),
    };
    writer.bytes.push(code);
    for text in texts.into_iter().flatten() {
        writer.text(text);
    }
}

fn get_state(reader: &mut Reader<'_>) -> Result<RunState, String> {
    Ok(match reader.byte("state")? {
        0 => RunState::Submitted,
        1 => RunState::Accepted,
        2 => RunState::Running,
        3 => RunState::AwaitingApproval {
            step: reader.text("state's step")?,
        },
        4 => RunState::NeedsAttention {
            step: reader.text("state's step")?,
            reason: reader.text("state's reason")?,
        },
        5 => RunState::Succeeded,
        6 => RunState::Failed {
            error: reader.text("state's error")?,
        },
        7 => RunState::Rejected {
            reason: reader.text("state's reason")?,
        },
        8 => RunState::Canceled,
        other => return Err(format!("its state {other} is not known to this version")),
    })
}

fn put_step(writer: &mut Writer, step: &StepRecord) {
    let (code, started, finished, text) = match &step.state {
        StepState::Pending => (PENDING, None, None, None),
        StepState::Running { started } => (RUNNING, Some(*started), None, None),
        StepState::Succeeded { started, finished } => {
            (SUCCEEDED, Some(*started), Some(*finished), None)
        }
        StepState::Failed {
            started,
            finished,
            error,
        } => (
            FAILED,
            Some(*started),
            Some(*finished),
            Some(error.as_str()),
        ),
        StepState::Skipped { reason } => (SKIPPED, None, None, Some(reason.as_str())),
    };
    writer.text(&step.id);
    writer.bytes.push(code);
    // In the order they usually come: the intent is recorded as the step starts.
    if let Some(started) = started {
        writer.time(started);
    }
    match &step.intent {
        None => writer.number(0),
        Some(intent) => {
            writer.number(1);
            writer.text(&intent.call);
            writer.time(intent.at);
            writer.optional(intent.unanswered.as_deref());
        }
    }
    if let Some(finished) = finished {
        writer.time(finished);
    }
    if let Some(text) = text {
        writer.text(text);
    }
    let remote = &step.remote;
    writer.optional(remote.activity.as_deref());
    writer.optional(remote.asset.as_deref());
    writer.length(remote.blocks.len());
    for block in &remote.blocks {
        writer.text(block);
    }
    writer.optional(remote.file.as_deref());
    writer.number(step.polls.into());
}

fn get_step(reader: &mut Reader<'_>) -> Result<StepRecord, String> {
    let id = reader.text("step's id")?;
    let code = reader.byte("step's state")?;
    let started = match code {
        RUNNING | SUCCEEDED | FAILED => Some(reader.time("step's start")?),
        _ => None,
    };
    let intent = match reader.number("step's intent")? {
        0 => None,
        1 => Some(Intent {
            call: reader.text("intent's call")?,
            at: reader.time("intent's time")?,
            unanswered: reader.optional("intent's lost answer")?,
        }),
        other => return Err(format!("step `{id}` has an unknown intent mark {other}")),
    };
    let finished = match code {
        SUCCEEDED | FAILED => Some(reader.time("step's end")?),
        _ => None,
    };
    let start = || started.ok_or_else(|| format!("step `{id}` lacks its start"));
    let end = || finished.ok_or_else(|| format!("step `{id}` lacks its end"));
    let state = match code {
        PENDING => StepState::Pending,
        RUNNING => StepState::Running { started: start()? },
        SUCCEEDED => StepState::Succeeded {
            started: start()?,
            finished: end()?,
        },
        FAILED => StepState::Failed {
            started: start()?,
            finished: end()?,
            error: reader.text("step's error")?,
        },
        SKIPPED => StepState::Skipped {
            reason: reader.text("step's reason")?,
        },
        other => return Err(format!("step `{id}` has an unknown state {other}")),
    };
    let activity = reader.optional("step's activity")?;
    let asset = reader.optional("step's asset")?;
    let count: usize = reader.unsigned("step's blocks")?;
    let blocks = (0..count)
        .map(|_| reader.text("step's block"))
        .collect::<Result<Vec<_>, _>>()?;
    let file = reader.optional("step's file")?;
    Ok(StepRecord {
        polls: reader.unsigned("step's polls")?,
        id,
        state,
        remote: RemoteIds {
            activity,
            asset,
            blocks,
            file,
        },
        intent,
    })
}

/// A run record packed (see the module's documentation).
pub(crate) fn pack_run(run: &RunRecord) -> Vec<u8> {
    let mut writer = Writer::new();
    writer.text(&run.file);
    put_state(&mut writer, &run.state);
    writer.time(run.created);
    writer.time(run.updated);
    writer.time(run.window_start);
    writer.time(run.window_end);
    match run.point_in_time {
        None => writer.number(0),
        Some(at) => {
            writer.number(1);
            writer.time(at);
        }
    }
    writer.optional(run.target_id.as_deref());
    writer.optional(run.source_id.as_deref());
    writer.optional(run.adapter.map(AdapterKind::name));
    writer.optional(run.reason.as_deref());
    writer.number(run.version.into());
    writer.length(run.steps.len());
    for step in &run.steps {
        put_step(&mut writer, step);
    }
    deflate(RECORD, &writer.bytes, Codes::Fixed)
}

/// The columns of a run's row that its packed record leaves out.
#[derive(Debug)]
pub(crate) struct Columns {
    pub id: String,
    pub plan: String,
    pub target: String,
}

/// A run record from its packed form and the columns it leaves out (its fence is not in it:
/// see [`super::decode_run`]).
pub(crate) fn unpack_run(packed: &[u8], columns: Columns) -> Result<RunRecord, String> {
    let Columns { id, plan, target } = columns;
    let body = inflate(RECORD, "record", packed)?;
    let mut reader = Reader::new(&body);
    let file = reader.text("file")?;
    let state = get_state(&mut reader)?;
    let created = reader.time("creation")?;
    let updated = reader.time("last change")?;
    let window_start = reader.time("window's start")?;
    let window_end = reader.time("window's end")?;
    let point_in_time = match reader.number("point in time")? {
        0 => None,
        1 => Some(reader.time("point in time")?),
        other => return Err(format!("its point in time has an unknown mark {other}")),
    };
    let target_id = reader.optional("target's id")?;
    let source_id = reader.optional("source's id")?;
    let adapter = reader
        .optional("adapter")?
        .map(|name| {
            AdapterKind::from_name(&name)
                .ok_or_else(|| format!("its adapter `{name}` is not known to this version"))
        })
        .transpose()?;
    let reason = reader.optional("reason")?;
    let version = reader.unsigned("version")?;
    let count: usize = reader.unsigned("steps")?;
    let steps = (0..count)
        .map(|_| get_step(&mut reader))
        .collect::<Result<Vec<_>, _>>()?;
    if !reader.is_done() {
        return Err("it goes on after its last step".into());
    }
    Ok(RunRecord {
        id,
        plan,
        file,
        target,
        state,
        window_start,
        window_end,
        point_in_time,
        target_id,
        source_id,
        adapter,
        reason,
        steps,
        created,
        updated,
        version,
        fence: 0,
    })
}

/// Events packed, oldest first (see the module's documentation).
pub(crate) fn pack_events(events: &[StoredEvent]) -> Vec<u8> {
    let mut writer = Writer::new();
    let (mut sequence, mut at) = (0_i64, 0_i64);
    for event in events {
        writer.signed(i128::from(event.sequence) - i128::from(sequence));
        writer.signed(i128::from(event.at) - i128::from(at));
        (sequence, at) = (event.sequence, event.at);
        match &event.kind {
            StoredKind::Code(code) => writer.signed(i128::from(*code)),
            StoredKind::Text(text) => {
                writer.signed(0);
                writer.text(text);
            }
        }
        writer.text(&event.detail);
    }
    deflate(LOG, &writer.bytes, Codes::Own)
}

/// Events from their packed form, oldest first.
pub(crate) fn unpack_events(packed: &[u8]) -> Result<Vec<StoredEvent>, String> {
    let body = inflate(LOG, "log", packed)?;
    let mut reader = Reader::new(&body);
    let mut events = Vec::new();
    let (mut sequence, mut at) = (0_i64, 0_i64);
    let out_of_range = |what: &str| format!("an event's {what} is out of range");
    while !reader.is_done() {
        sequence = i64::try_from(i128::from(sequence) + reader.signed("event's sequence")?)
            .map_err(|_| out_of_range("sequence"))?;
        at = i64::try_from(i128::from(at) + reader.signed("event's time")?)
            .map_err(|_| out_of_range("time"))?;
        let kind = match reader.signed("event's kind")? {
            0 => StoredKind::Text(reader.text("event's kind")?),
            code => StoredKind::Code(i64::try_from(code).map_err(|_| out_of_range("kind"))?),
        };
        events.push(StoredEvent {
            sequence,
            at,
            kind,
            detail: reader.text("event's detail")?,
        });
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(run: &RunRecord) -> Columns {
        Columns {
            id: run.id.clone(),
            plan: run.plan.clone(),
            target: run.target.clone(),
        }
    }

    #[test]
    fn a_record_reads_back_exactly() {
        for run in super::super::compact::sample_runs() {
            let packed = pack_run(&run);
            assert_eq!(unpack_run(&packed, columns(&run)), Ok(run));
        }
    }

    #[test]
    fn a_log_reads_back_exactly() {
        let events = vec![
            StoredEvent {
                sequence: 1,
                at: 1_796_145_479_427_290,
                kind: StoredKind::Code(1),
                detail: r#"{"message":"submitted"}"#.into(),
            },
            StoredEvent {
                sequence: 2,
                at: 1_796_145_479_427_290,
                kind: StoredKind::Text("a-kind-of-later".into()),
                detail: "[0,\"preflight\"]".into(),
            },
            StoredEvent {
                sequence: 7,
                at: -5,
                kind: StoredKind::Code(i64::MAX),
                detail: String::new(),
            },
            StoredEvent {
                sequence: i64::MAX,
                at: i64::MIN,
                kind: StoredKind::Code(-3),
                detail: "é".into(),
            },
        ];
        assert_eq!(unpack_events(&pack_events(&events)), Ok(events));
        assert_eq!(unpack_events(&pack_events(&[])), Ok(Vec::new()));
    }

    #[test]
    fn short_bodies_are_stored_and_long_ones_compressed_and_both_read_back() {
        for codes in [Codes::Fixed, Codes::Own] {
            for length in [0, 1, 146, STORED_BELOW - 1, STORED_BELOW, 4096] {
                let body: Vec<u8> = (0..length).map(|at| b"refresh"[at % 7]).collect();
                let packed = deflate(LOG, &body, codes);
                let header = 1 + if length < 128 { 1 } else { 2 };
                // The first block's type, bits 1 and 2 of its first byte (RFC 1951 3.2.3).
                let block = packed[header] >> 1 & 0b11;
                if length < STORED_BELOW {
                    assert_eq!(
                        packed.len(),
                        header + 5 + length,
                        "{length} bytes are stored"
                    );
                    assert_eq!(block, 0b00, "{length} bytes are stored");
                } else {
                    assert!(
                        packed.len() < header + length / 2,
                        "{length} bytes are compressed"
                    );
                    let fixed = matches!(codes, Codes::Fixed);
                    assert_eq!(block, if fixed { 0b01 } else { 0b10 }, "{length} bytes");
                }
                assert_eq!(inflate(LOG, "log", &packed), Ok(body), "{length} bytes");
            }
        }
        // A stored block whose length and complement disagree is damage, not a panic.
        let mut packed = deflate(LOG, b"three", Codes::Own);
        packed[4] ^= 1;
        assert!(inflate(LOG, "log", &packed).is_err());
    }

    #[test]
    fn a_damaged_form_is_an_error_not_a_panic() {
        let run = super::super::compact::sample_runs().remove(0);
        let packed = pack_run(&run);
        let body = inflate(RECORD, "record", &packed).expect("inflates");
        let unpack = |packed: &[u8]| unpack_run(packed, columns(&run));
        for end in 0..body.len() {
            let cut = deflate(RECORD, &body[..end], Codes::Fixed);
            assert!(unpack(&cut).is_err(), "cut at {end}");
        }
        let mut longer = body.clone();
        longer.push(0);
        assert!(unpack(&deflate(RECORD, &longer, Codes::Fixed)).is_err());
        assert!(unpack(&[]).is_err());
        assert!(unpack(&[RECORD, 1, 2, 3]).is_err());
        assert!(unpack(&[RECORD, 0xff, 0xff, 0xff, 0xff, 0x7f]).is_err());
        assert!(unpack(&deflate(LOG, &body, Codes::Own)).is_err());
        // A length that does not match what unpacks.
        let mut wrong = packed.clone();
        wrong[1] = wrong[1].wrapping_add(1);
        assert!(unpack(&wrong).is_err());
        assert!(unpack_events(&deflate(LOG, &[0x80], Codes::Own)).is_err());
        assert!(unpack_events(&deflate(LOG, &[0xff; 40], Codes::Own)).is_err());
    }
}
