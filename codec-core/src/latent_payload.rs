//! The payload of `.wl` format versions 2 and 3: which latent channels are all zero, and
//! the others range coded in a few independent streams (docs/format.md, "Payload");
//! version 3 also flags each coded channel's all-zero blocks and skips their symbols
//! ([`entropy::zero_block`]).
//!
//! Why: at the shipped image levels a third to two thirds of the latent's symbols lie in
//! channels that are entirely zero, and version 1 coded every one of them, one symbol at
//! a time, on one core. A bit per channel skips them; independent streams of whole
//! channels let the encoder and the decoder code on every core. Within a stream the coder
//! is version 1's ([`entropy::encode_channels`]): the same tables and contexts, so a
//! coded channel costs the same bits.
//!
//! ```text
//! zero map    ceil(C / 32) words: bit c % 32 of word c / 32 set = channel c is all zero
//! S           1 word, the number of streams, 1 ≤ S ≤ max(C, 1)
//! directory   S × (first channel, words): stream 0 starts at channel 0, the first
//!             channels increase strictly and stay below C
//! streams     their words back to back; the counts add up to the rest of the payload
//! ```
//!
//! Stream i codes the channels `first_i..first_(i+1)` (the last one up to C) that the map
//! does not mark, in order. A stream without such a channel has no words.

use alloc::vec::Vec;

use crate::container::FORMAT_VERSION;
use crate::container::WlFile;
use crate::cores;
use crate::entropy::{self, Blocks, EntropyError, PlaneShape, SymbolTable, Symbols};

/// Most streams a payload may have: the encoder writes at most [`MAX_ENCODER_STREAMS`],
/// and a reader needs a bound before it trusts a count.
const MAX_STREAMS: usize = 1 << 16;
/// Streams the encoder writes at most: enough for the cores of a workstation.
pub const MAX_ENCODER_STREAMS: usize = 16;
/// Coded symbols per stream the encoder aims at (at least): below this a second stream's
/// few bytes of flush and directory would buy little time.
const SYMBOLS_PER_STREAM: usize = 1 << 17;

/// How many streams the encoder writes for `coded` symbols outside all-zero channels: a
/// power of two (so two or four cores share them evenly), one per 2^17 symbols, at most
/// [`MAX_ENCODER_STREAMS`]. It depends only on the latent, never on the machine, so the
/// same image gives the same bytes everywhere.
pub fn streams_for(coded: usize) -> usize {
    let wanted = (coded / SYMBOLS_PER_STREAM).clamp(1, MAX_ENCODER_STREAMS);
    1 << wanted.ilog2()
}

/// Each channel's coding work, estimated in one pass over `symbols`
/// (`[channels, height, width]`): 0 for an all-zero channel (not coded), otherwise its
/// share of symbols in nonzero runs of 256 (which version 3 codes block by block) plus an
/// eighth of the plane (its context and flag passes, which read it whole). An eighth
/// since the nineteenth session's coding loop (a quarter before): with a quarter, the
/// first of a 741×500 photo's two streams ended 0.09 ms after the second at the default
/// quality and 0.21 ms after at quality 4, with an eighth 0.01 ms before and 0.09 after.
/// Integers only: the streams it splits are part of the bytes, which must not depend on
/// the machine.
fn channel_work(symbols: Symbols, shape: &PlaneShape) -> Vec<u64> {
    let mut work = vec![0; shape.channels];
    let per_channel = shape.height * shape.width;
    if per_channel == 0 {
        return work;
    }
    // Shared out among the cores by channels, where it is worth it (≈ 0.05 ms for a
    // 741×500 photo's 1.1 M symbols on one).
    cores::in_parts_of_work(&mut work, 1, symbols.len(), |first, part| {
        let channels = first..first + part.len();
        let range = channels.start * per_channel..channels.end * per_channel;
        match symbols {
            Symbols::Wide(s) => work_of(&s[range], per_channel, part),
            Symbols::Bytes(s) => work_of(&s[range], per_channel, part),
        }
    });
    work
}

/// [`channel_work`] of the whole planes of `per_channel` symbols (of either width) that
/// `symbols` holds, into `work`, a value per plane.
fn work_of<S: entropy::Symbol>(symbols: &[S], per_channel: usize, work: &mut [u64]) {
    for (plane, work) in symbols.chunks_exact(per_channel).zip(work) {
        // A block at a time, OR-ed, which vectorises, where `all` went a value at a
        // time: a photo has dozens of all-zero planes, read whole.
        let busy: usize = plane
            .chunks(256)
            .filter(|block| S::any_nonzero(block))
            .map(<[S]>::len)
            .sum();
        *work = if busy == 0 {
            0
        } else {
            (busy + per_channel / 8) as u64
        };
    }
}

/// The first of each of `s` streams among `coded`'s indices (0 for the first), so that
/// each stream's channels carry about `1/s` of the `work`. The coded channels differ
/// tenfold in how many symbols they code: equal counts of channels left one core coding
/// for 1.6 times as long as the other (the motorcycle photo at level 3). Each stream gets
/// at least one channel (`s` at most `coded.len()`).
fn stream_starts(coded: &[usize], work: &[u64], s: usize) -> Vec<usize> {
    let total: u64 = coded.iter().map(|&c| work[c]).sum();
    let mut starts = vec![0];
    let mut done = 0u64;
    for (i, &c) in coded.iter().enumerate() {
        let stream = starts.len() as u64;
        // Stream `stream` opens at the first channel whose middle lies past the stream's
        // share of the work (the nearest boundary: equal channels split into equal
        // counts), or where the streams left would otherwise run out of channels.
        let due = (2 * done + work[c]) * s as u64 >= 2 * stream * total;
        if i > 0 && starts.len() < s && (due || coded.len() - i == s - starts.len()) {
            starts.push(i);
        }
        done += work[c];
    }
    starts
}

/// Codes `symbols` (`[channels, height, width]`, `contexts` tables per channel as
/// [`entropy::encode_planes`] takes them) as a payload of the version encoders write, in
/// [`streams_for`] streams. Natively the streams are coded in parallel; the bytes do not
/// depend on it.
pub fn encode(
    symbols: &[i32],
    tables: &[SymbolTable],
    shape: &PlaneShape,
) -> Result<Vec<u8>, EntropyError> {
    encode_with_streams(symbols, tables, shape, None)
}

/// [`encode`] of symbols as an encoder holds them, in bytes or 32 bits ([`Symbols`]):
/// the same payload for the same values.
pub fn encode_symbols(
    symbols: Symbols,
    tables: &[SymbolTable],
    shape: &PlaneShape,
) -> Result<Vec<u8>, EntropyError> {
    encode_any(symbols, tables, shape, None, FORMAT_VERSION)
}

/// [`encode_version`] of the format version encoders write ([`FORMAT_VERSION`]).
pub fn encode_with_streams(
    symbols: &[i32],
    tables: &[SymbolTable],
    shape: &PlaneShape,
    streams: Option<usize>,
) -> Result<Vec<u8>, EntropyError> {
    encode_version(symbols, tables, shape, streams, FORMAT_VERSION)
}

/// [`encode`] with at most `streams` streams instead of [`streams_for`]'s count (fewer
/// when fewer channels carry anything), as format `version` (2 or 3) lays out a channel
/// ([`Blocks`]): for tests and golden files, which need several streams from small
/// latents, and version 2 payloads. Every such payload is valid.
pub fn encode_version(
    symbols: &[i32],
    tables: &[SymbolTable],
    shape: &PlaneShape,
    streams: Option<usize>,
    version: u16,
) -> Result<Vec<u8>, EntropyError> {
    encode_any(Symbols::Wide(symbols), tables, shape, streams, version)
}

/// [`encode_version`] of [`Symbols`] of either width.
fn encode_any(
    symbols: Symbols,
    tables: &[SymbolTable],
    shape: &PlaneShape,
    streams: Option<usize>,
    version: u16,
) -> Result<Vec<u8>, EntropyError> {
    let blocks = blocks_of(version)?;
    let per_channel = shape.height.saturating_mul(shape.width);
    if shape.channels.checked_mul(per_channel) != Some(symbols.len()) {
        return Err(EntropyError::ShapeMismatch {
            symbols: symbols.len(),
            channels: shape.channels,
            per_channel,
        });
    }
    // Before any thread indexes the tables.
    shape.check(tables)?;
    if shape.channels > u32::MAX as usize {
        return Err(EntropyError::BadTable(
            "more channels than a payload can name",
        ));
    }
    let work = channel_work(symbols, shape);
    let coded: Vec<usize> = (0..shape.channels).filter(|&c| work[c] != 0).collect();
    let streams = streams.unwrap_or_else(|| streams_for(coded.len() * per_channel));
    if streams == 0 || streams > MAX_STREAMS {
        return Err(EntropyError::BadTable("stream count out of range"));
    }
    let s = streams.min(coded.len()).max(1);
    // Stream i codes `coded[starts[i]..starts[i + 1]]`; its range starts at its first
    // coded channel (stream 0 at channel 0).
    let mut starts = stream_starts(&coded, &work, s);
    let firsts: Vec<usize> = starts
        .iter()
        .map(|&i| if i == 0 { 0 } else { coded[i] })
        .collect();
    starts.push(coded.len());
    let parts: Vec<&[usize]> = starts.windows(2).map(|w| &coded[w[0]..w[1]]).collect();
    let mut words: Vec<Result<Vec<u32>, EntropyError>> = (0..s).map(|_| Ok(Vec::new())).collect();
    let threads = cores::threads_for(symbols.len()).min(s);
    let jobs = split_evenly(parts.into_iter().zip(words.iter_mut()).collect(), threads);
    cores::each_part(jobs, |_, job| {
        for (channels, out) in job {
            if !channels.is_empty() {
                let channels = channels.iter().copied();
                *out = entropy::encode_channels(symbols, tables, shape, channels, blocks);
            }
        }
    });

    let mut payload = Vec::new();
    for chunk in work.chunks(32) {
        let bits = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &w)| acc | (u32::from(w == 0) << i));
        payload.push(bits);
    }
    payload.push(s as u32);
    let words = words.into_iter().collect::<Result<Vec<_>, _>>()?;
    for (first, w) in firsts.iter().zip(&words) {
        payload.push(*first as u32);
        payload
            .push(u32::try_from(w.len()).map_err(|_| EntropyError::BadTable("stream too long"))?);
    }
    for w in &words {
        payload.extend_from_slice(w);
    }
    Ok(entropy::words_to_bytes(&payload))
}

/// `items` in `parts` consecutive groups of nearly equal length.
fn split_evenly<T>(items: Vec<T>, parts: usize) -> Vec<Vec<T>> {
    let (n, parts) = (items.len(), parts.max(1));
    let mut groups: Vec<Vec<T>> = (0..parts).map(|_| Vec::new()).collect();
    for (i, item) in items.into_iter().enumerate() {
        groups[i * parts / n.max(1)].push(item);
    }
    groups
}

/// One stream as the directory describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stream {
    /// The channels `first..end` it covers (the ones the map marks are not coded).
    pub first: usize,
    pub end: usize,
    /// How many channels of that range it codes.
    pub coded: usize,
    /// Its range-coded words.
    pub words: Vec<u32>,
}

/// What a version 2 or 3 payload's map and directory say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The zero-channel map as stored: bit c % 32 of word c / 32.
    map: Vec<u32>,
    pub streams: Vec<Stream>,
}

impl Layout {
    /// Whether latent channel `c` is all zero (and so not coded).
    pub fn is_zero(&self, c: usize) -> bool {
        self.map[c / 32] >> (c % 32) & 1 == 1
    }

    /// How many channels are all zero.
    pub fn zero_channels(&self) -> usize {
        self.map.iter().map(|w| w.count_ones() as usize).sum()
    }
}

/// Reads the zero-channel map and the stream directory of a version 2 or 3 payload for a
/// latent of `channels` channels, checking every rule of docs/format.md but not the
/// streams' contents: what `walloc info` shows, and the first step of [`decode`].
pub fn layout(payload: &[u8], channels: usize) -> Result<Layout, EntropyError> {
    let corrupt = EntropyError::CorruptPayload;
    if payload.len() % 4 != 0 {
        return Err(corrupt("length is not a whole number of 32-bit words"));
    }
    let words = entropy::bytes_to_words(payload);
    let map_words = channels.div_ceil(32);
    let mut rest = words.as_slice();
    let mut take = |n: usize, what: &'static str| -> Result<&[u32], EntropyError> {
        if rest.len() < n {
            return Err(corrupt(what));
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let map = take(map_words, "truncated in the zero-channel map")?.to_vec();
    if channels % 32 != 0 && map[map_words - 1] >> (channels % 32) != 0 {
        return Err(corrupt(
            "the zero-channel map marks channels beyond the latent",
        ));
    }
    let mut layout = Layout {
        map,
        streams: Vec::new(),
    };
    let s = take(1, "truncated before the stream count")?[0] as usize;
    if s == 0 || s > channels.max(1) || s > MAX_STREAMS {
        return Err(corrupt("stream count out of range"));
    }
    let directory = take(2 * s, "truncated in the stream directory")?.to_vec();
    for i in 0..s {
        let first = directory[2 * i] as usize;
        let end = match directory.get(2 * i + 2) {
            Some(&next) => next as usize,
            None => channels,
        };
        if (i == 0 && first != 0) || first >= end.max(1) || end > channels {
            return Err(corrupt("stream channel ranges out of order"));
        }
        let len = directory[2 * i + 1] as usize;
        let stream = take(len, "shorter than its stream directory says")?;
        let coded = (first..end).filter(|&c| !layout.is_zero(c)).count();
        if coded == 0 && len > 0 {
            return Err(corrupt("a stream without coded channels has words"));
        }
        layout.streams.push(Stream {
            first,
            end,
            coded,
            words: stream.to_vec(),
        });
    }
    if !rest.is_empty() {
        return Err(corrupt("longer than its stream directory says"));
    }
    Ok(layout)
}

/// The [`layout`] of a file's payload: `None` for version 1 files (no map, one stream)
/// and for payloads whose map or directory is malformed (decoding says why).
pub fn file_layout(file: &WlFile) -> Option<Layout> {
    if file.header.version < 2 {
        return None;
    }
    layout(&file.payload, file.header.latent_shape[0] as usize).ok()
}

/// [`decode_version`] of a payload of the format version encoders write.
pub fn decode(
    payload: &[u8],
    tables: &[SymbolTable],
    shape: &PlaneShape,
) -> Result<Vec<i32>, EntropyError> {
    decode_version(payload, tables, shape, FORMAT_VERSION)
}

/// How format `version` lays out a coded channel: version 2 codes every symbol, version 3
/// flags blocks first ([`Blocks`]).
fn blocks_of(version: u16) -> Result<Blocks, EntropyError> {
    match version {
        2 => Ok(Blocks::Every),
        3 => Ok(Blocks::Flagged),
        _ => Err(EntropyError::BadTable("no such payload version")),
    }
}

/// Decodes a version 2 or 3 payload written for `shape` with `tables`. A corrupt payload
/// (a malformed map or directory, streams too short for their symbols, a broken range
/// coder state) gives wrong symbols or [`EntropyError::CorruptPayload`], never a panic.
pub fn decode_version(
    payload: &[u8],
    tables: &[SymbolTable],
    shape: &PlaneShape,
    version: u16,
) -> Result<Vec<i32>, EntropyError> {
    let blocks = blocks_of(version)?;
    let total = shape.values()?;
    shape.check(tables)?;
    let mut layout = layout(payload, shape.channels)?;
    let streams = core::mem::take(&mut layout.streams);
    let layout = &layout;
    let per_channel = shape.height * shape.width;
    // A coded channel codes at least its smallest block's symbols where blocks are flagged.
    let least = match blocks {
        Blocks::Every => per_channel,
        Blocks::Flagged => entropy::smallest_block(shape.height, shape.width),
    };
    let cheapest = entropy::cheapest_bits(tables);
    for stream in &streams {
        let bits = stream.words.len() as f64 * 32.0;
        if bits < entropy::bits_at_least(cheapest, stream.coded * least) {
            return Err(EntropyError::CorruptPayload(
                "a stream is too short for the number of symbols the header claims",
            ));
        }
    }

    let mut out = alloc::vec![0i32; total];
    let s = streams.len();
    let mut jobs = Vec::with_capacity(s);
    let mut left = out.as_mut_slice();
    for stream in streams {
        let (region, tail) = left.split_at_mut((stream.end - stream.first) * per_channel);
        left = tail;
        jobs.push((stream, region, Ok(())));
    }
    let threads = cores::threads_for(total).min(s);
    let mut jobs = split_evenly(jobs, threads);
    cores::each_part(jobs.iter_mut(), |_, group| {
        for (stream, region, result) in group.iter_mut() {
            if stream.coded > 0 {
                let (first, end) = (stream.first, stream.end);
                let coded = (first..end).filter(|&c| !layout.is_zero(c));
                let words = core::mem::take(&mut stream.words);
                *result = entropy::decode_channels(
                    words, tables, shape, coded, first, region, blocks, cheapest,
                );
            }
        }
    });
    for (_, _, result) in jobs.into_iter().flatten() {
        result?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_counts_are_powers_of_two_within_bounds() {
        assert_eq!(streams_for(0), 1);
        assert_eq!(streams_for(SYMBOLS_PER_STREAM - 1), 1);
        assert_eq!(streams_for(2 * SYMBOLS_PER_STREAM), 2);
        assert_eq!(streams_for(3 * SYMBOLS_PER_STREAM), 2);
        assert_eq!(streams_for(5 * SYMBOLS_PER_STREAM), 4);
        assert_eq!(streams_for(usize::MAX), MAX_ENCODER_STREAMS);
    }

    #[test]
    fn groups_are_consecutive_and_even() {
        let groups = split_evenly((0..7).collect(), 2);
        assert_eq!(groups, [vec![0, 1, 2, 3], vec![4, 5, 6]]);
        assert_eq!(split_evenly((0..2).collect::<Vec<_>>(), 1), [vec![0, 1]]);
    }
}
