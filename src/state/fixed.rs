//! A reader of the deflate streams (RFC 1951) that packed records are: stored blocks and
//! blocks with the fixed Huffman codes (3.2.6), whose tables are built here once, at compile
//! time. `miniz_oxide` builds its lookup tables again for every fixed block it reads: over
//! 10,001 records that was 238 M of `runs --format json`'s 1.02 G instructions.
//!
//! Anything else (a block with its own codes, as a log has, or a damaged stream) is not read
//! here: [`inflate`] says so, and `miniz_oxide` reads it or says what is wrong with it.

/// A table entry: the symbol in the low 9 bits, the length of its code above them.
const SYMBOL_BITS: u32 = 9;

/// The literal/length symbol of every 9 bits a fixed code can start with, as they are read
/// (the first bit of the code lowest), with the length of its code.
const FIXED_LITERAL_LENGTH_CODES: [u16; 512] = literal_length_table();

/// The first length of each length symbol from 257, and its extra bits (RFC 1951 3.2.5).
const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];

/// The first distance of each distance symbol, and its extra bits.
const DISTANCE_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DISTANCE_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

const END_OF_BLOCK: u16 = 256;

/// The most bits a length and its distance take: a length code (8 bits: the 9-bit codes are
/// literals) and its 5 extra bits, a distance code (5) and its 13 extra bits.
const LONGEST_MATCH_BITS: u32 = 8 + 5 + 5 + 13;

/// Every fixed literal/length code (RFC 1951 3.2.6), reversed into the order its bits are
/// read, and repeated for every value of the bits after it up to 9.
const fn literal_length_table() -> [u16; 512] {
    let mut table = [0; 512];
    let mut symbol: u16 = 0;
    while symbol < 288 {
        let (length, code) = match symbol {
            0..=143 => (8, 0x30 + symbol),
            144..=255 => (9, 0x190 + symbol - 144),
            256..=279 => (7, symbol - 256),
            _ => (8, 0xc0 + symbol - 280),
        };
        let first = reversed(code, length);
        let mut index = first;
        while index < 512 {
            table[index as usize] = symbol | (length << SYMBOL_BITS);
            index += 1 << length;
        }
        symbol += 1;
    }
    table
}

/// `code`'s lowest `length` bits in the opposite order.
const fn reversed(code: u16, length: u16) -> u16 {
    let mut out = 0;
    let mut bit = 0;
    while bit < length {
        out |= ((code >> bit) & 1) << (length - 1 - bit);
        bit += 1;
    }
    out
}

/// The bits of a stream, lowest first, at most 63 of them ahead; above those it holds zeros.
struct Bits<'a> {
    input: &'a [u8],
    /// How many bytes of the input are in (or have been through) the buffer.
    taken: usize,
    buffer: u64,
    count: u32,
}

impl<'a> Bits<'a> {
    fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            taken: 0,
            buffer: 0,
            count: 0,
        }
    }

    /// Takes in whole bytes while they fit.
    fn refill(&mut self) {
        if let Some(word) = self
            .input
            .get(self.taken..)
            .and_then(<[u8]>::first_chunk::<8>)
        {
            let word = u64::from_le_bytes(*word);
            let bytes = (63 - self.count) / 8;
            self.buffer |= word << self.count;
            self.count += bytes * 8;
            self.taken += bytes as usize;
            self.buffer &= (1 << self.count) - 1;
        } else {
            while self.count <= 55 {
                let Some(&byte) = self.input.get(self.taken) else {
                    break;
                };
                self.buffer |= u64::from(byte) << self.count;
                self.count += 8;
                self.taken += 1;
            }
        }
    }

    /// The next `count` bits (at most 16), or `None` when the stream ends first.
    #[expect(clippy::cast_possible_truncation, reason = "at most 16 bits are taken")]
    fn take(&mut self, count: u32) -> Option<u16> {
        if self.count < count {
            self.refill();
            if self.count < count {
                return None;
            }
        }
        let bits = (self.buffer & ((1 << count) - 1)) as u16;
        self.consume(count);
        Some(bits)
    }

    fn consume(&mut self, count: u32) {
        self.buffer >>= count;
        self.count -= count;
    }

    /// Drops the bits up to the next whole byte (a stored block starts there).
    fn skip_to_byte(&mut self) {
        self.consume(self.count % 8);
    }
}

/// Inflates `input` into `out`, which it must fill exactly (what is after the last block is
/// not looked at). `None`, with `out` written in part, when a block has its own codes or the
/// stream is not whole and sound.
pub(super) fn inflate(input: &[u8], out: &mut [u8]) -> Option<()> {
    let mut bits = Bits::new(input);
    let mut at = 0;
    loop {
        let header = bits.take(3)?;
        match header >> 1 {
            0b00 => at = stored(&mut bits, out, at)?,
            0b01 => at = fixed(&mut bits, out, at)?,
            _ => return None,
        }
        if header & 1 == 1 {
            break;
        }
    }
    (at == out.len()).then_some(())
}

/// A stored block (RFC 1951 3.2.4) into `out` from `at`; where its bytes end.
fn stored(bits: &mut Bits<'_>, out: &mut [u8], mut at: usize) -> Option<usize> {
    bits.skip_to_byte();
    let length = bits.take(16)?;
    if length != !bits.take(16)? {
        return None;
    }
    let end = at
        .checked_add(usize::from(length))
        .filter(|end| *end <= out.len())?;
    // Whole bytes already taken in come first, then the rest straight from the input.
    while at < end && bits.count >= 8 {
        out[at] = bits.take(8)?.to_le_bytes()[0];
        at += 1;
    }
    let rest = end - at;
    out[at..end].copy_from_slice(bits.input.get(bits.taken..bits.taken + rest)?);
    bits.taken += rest;
    Some(end)
}

/// A block with the fixed codes into `out` from `at`; where its bytes end.
fn fixed(bits: &mut Bits<'_>, out: &mut [u8], mut at: usize) -> Option<usize> {
    loop {
        if bits.count < LONGEST_MATCH_BITS {
            bits.refill();
        }
        let entry = FIXED_LITERAL_LENGTH_CODES[(bits.buffer & 0x1ff) as usize];
        let code_length = u32::from(entry >> SYMBOL_BITS);
        if code_length > bits.count {
            return None;
        }
        bits.consume(code_length);
        let symbol = entry & 0x1ff;
        if let Ok(literal) = u8::try_from(symbol) {
            *out.get_mut(at)? = literal;
            at += 1;
            continue;
        }
        if symbol == END_OF_BLOCK {
            return Some(at);
        }
        let index = usize::from(symbol - 257);
        let length_extra = *LENGTH_EXTRA.get(index)?;
        let length =
            usize::from(LENGTH_BASE[index]) + usize::from(bits.take(u32::from(length_extra))?);
        // Distance codes are five bits, read first bit first.
        let code = usize::from(reversed(bits.take(5)?, 5));
        let distance_extra = *DISTANCE_EXTRA.get(code)?;
        let distance =
            usize::from(DISTANCE_BASE[code]) + usize::from(bits.take(u32::from(distance_extra))?);
        if distance > at || length > out.len() - at {
            return None;
        }
        let from = at - distance;
        if distance >= length {
            out.copy_within(from..from + length, at);
        } else {
            for offset in 0..length {
                out[at + offset] = out[from + offset];
            }
        }
        at += length;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `body` deflated by `miniz_oxide` with the fixed codes or its own (raw deflate).
    fn deflated(body: &[u8], fixed: bool) -> Vec<u8> {
        use miniz_oxide::deflate::core::{
            CompressionStrategy, CompressorOxide, TDEFLFlush, create_comp_flags_from_zip_params,
        };
        let strategy = if fixed {
            CompressionStrategy::Fixed
        } else {
            CompressionStrategy::Default
        };
        let mut compressor =
            CompressorOxide::new(create_comp_flags_from_zip_params(9, 0, strategy as i32));
        let mut packed = Vec::new();
        miniz_oxide::deflate::core::compress_to_output(
            &mut compressor,
            body,
            TDEFLFlush::Finish,
            |out| {
                packed.extend_from_slice(out);
                true
            },
        );
        packed
    }

    /// What `miniz_oxide` reads of `input` when it fills exactly `length` bytes.
    fn miniz(input: &[u8], length: usize) -> Option<Vec<u8>> {
        let body = miniz_oxide::inflate::decompress_to_vec(input).ok()?;
        (body.len() == length).then_some(body)
    }

    /// Bodies of every kind a record is: text with repeats near and far, runs of one byte,
    /// bytes of every value, and nothing.
    fn bodies() -> Vec<Vec<u8>> {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut noise = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut bodies = vec![Vec::new(), vec![7], vec![0; 300], vec![0xff; 40_000]];
        bodies.push((0..=255).collect());
        for length in [10, 100, 1_000, 5_000, 70_000] {
            let words = [
                &b"refresh "[..],
                b"prod ",
                b"2026-12-01T12:00:00Z ",
                b"\x00\x81\xfe",
            ];
            let mut body = Vec::new();
            while body.len() < length {
                let pick = noise();
                if pick % 5 == 0 {
                    body.push(pick.to_le_bytes()[0]);
                } else {
                    body.extend_from_slice(words[(pick >> 8) as usize % words.len()]);
                }
            }
            bodies.push(body);
        }
        bodies
    }

    #[test]
    fn the_table_holds_every_fixed_code() {
        // Symbol 0 is 00110000, read from its first bit: 0b00001100.
        assert_eq!(FIXED_LITERAL_LENGTH_CODES[0b0000_1100], 8 << SYMBOL_BITS);
        // Symbol 256 is 0000000 (seven bits): every index with its low seven bits clear.
        assert_eq!(FIXED_LITERAL_LENGTH_CODES[0], 256 | (7 << SYMBOL_BITS));
        assert_eq!(
            FIXED_LITERAL_LENGTH_CODES[0b1_1000_0000],
            256 | (7 << SYMBOL_BITS)
        );
        // Symbol 255 is 111111111.
        assert_eq!(FIXED_LITERAL_LENGTH_CODES[0x1ff], 255 | (9 << SYMBOL_BITS));
        let mut seen = [false; 288];
        for entry in FIXED_LITERAL_LENGTH_CODES {
            seen[usize::from(entry & 0x1ff)] = true;
        }
        assert!(seen.iter().all(|seen| *seen), "every symbol has a code");
        // An entry of no bits would be read again and again without taking any.
        assert!(
            FIXED_LITERAL_LENGTH_CODES
                .iter()
                .all(|entry| (7..=9).contains(&(entry >> SYMBOL_BITS)))
        );
    }

    #[test]
    fn reads_what_miniz_oxide_writes_with_the_fixed_codes() {
        for body in bodies() {
            let packed = deflated(&body, true);
            let mut out = vec![0; body.len()];
            assert_eq!(inflate(&packed, &mut out), Some(()), "{} bytes", body.len());
            assert_eq!(out, body, "{} bytes", body.len());
        }
    }

    #[test]
    fn reads_stored_blocks_and_leaves_a_block_with_its_own_codes_alone() {
        // A stored block of three bytes, then a final fixed block with nothing in it.
        let stored = [0b000, 3, 0, 0xfc, 0xff, b'a', b'b', b'c', 0b011, 0];
        let mut out = [0; 3];
        assert_eq!(inflate(&stored, &mut out), Some(()));
        assert_eq!(&out, b"abc");
        let mut damaged = stored;
        damaged[3] ^= 1;
        assert_eq!(inflate(&damaged, &mut out), None, "LEN and NLEN disagree");
        for body in bodies().into_iter().filter(|body| body.len() > 1_000) {
            let own = deflated(&body, false);
            assert_eq!(
                own[0] >> 1 & 0b11,
                0b10,
                "miniz gave the block its own codes"
            );
            assert_eq!(inflate(&own, &mut vec![0; body.len()]), None);
        }
    }

    #[test]
    fn a_damaged_stream_is_refused_or_read_as_miniz_oxide_reads_it() {
        let mut read = 0;
        for body in bodies().into_iter().filter(|body| body.len() <= 5_000) {
            let packed = deflated(&body, true);
            let mut check = |input: &[u8], length: usize, what: &str| {
                let mut out = vec![0; length];
                if inflate(input, &mut out).is_some() {
                    assert_eq!(Some(out), miniz(input, length), "{what}");
                    read += 1;
                }
            };
            for end in 0..packed.len() {
                check(&packed[..end], body.len(), &format!("cut at {end}"));
            }
            for bit in (0..packed.len() * 8).step_by(3) {
                let mut flipped = packed.clone();
                flipped[bit / 8] ^= 1 << (bit % 8);
                check(&flipped, body.len(), &format!("bit {bit} flipped"));
            }
            check(&packed, body.len() + 1, "a length too long");
            if !body.is_empty() {
                check(&packed, body.len() - 1, "a length too short");
            }
        }
        // A flipped bit of a literal's code mostly makes another literal: read, as miniz reads
        // it.
        assert!(read > 1_000, "{read} damaged streams were read");
    }
}
