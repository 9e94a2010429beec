//! Entropy coding of integer latents: per-channel integer frequency tables and a range
//! coder (constriction's `RangeEncoder<u32, u64>`).
//!
//! Everything here is integer arithmetic once the tables exist, so the same symbols give
//! the same bytes on every platform (x86-64 and wasm alike): this is what the golden
//! bitstream test pins down.
//!
//! Layout: the symbols of a latent `[channels, height, width]` are coded channel by
//! channel, row by row, into one stream of little-endian 32-bit words. Each channel has
//! one table per context; the context of a symbol is a bucket of how large its
//! already-coded neighbours are (see `context`). With one context this is a plain
//! factorized coder.

use alloc::vec::Vec;
use core::borrow::Borrow;
use core::num::{NonZeroU32, NonZeroUsize};

use constriction::stream::model::{DecoderModel, EncoderModel, EntropyModel};
use constriction::stream::queue::{EncoderSituation, RangeCoderState, RangeDecoder, RangeEncoder};
use constriction::stream::{Decode, Encode};
use std::sync::OnceLock;

/// Bits of precision of the integer frequencies: every table sums to `1 << CDF_PRECISION`.
pub const CDF_PRECISION: usize = 16;
const TOTAL: u32 = 1 << CDF_PRECISION;

/// Top bits of a quantile that index [`Cdf::first`].
const BUCKET_BITS: usize = 8;

/// A table as the range coder sees it: cumulative frequencies, plus, for decoding, the
/// first symbol each 1/256 of the quantile range can hold. constriction's own categorical
/// model finds a symbol by binary search over the cumulative table (eight unpredictable
/// branches per symbol for 8-bit latents); here it is a lookup and a scan that is usually
/// zero or one step, as the coarse buckets are narrower than a likely symbol. The same
/// cumulative table means the same bits as before: only the search changed.
#[derive(Debug, Clone)]
struct Cdf {
    /// `cdf[i]` = sum of the frequencies of symbols before `i`, in 16 bits: exact below
    /// the last, and the last, `cdf[len]` = 2^16, stored as 0 (read the right ends of
    /// intervals through [`upper`]). Half the memory of 32 bits: an encode makes a
    /// thousand or more of these tables, fresh memory in a short process. Made from
    /// `source` when the table is first used, where it has one (see
    /// [`in_place`](Self::in_place)).
    cdf: OnceLock<Vec<u16>>,
    /// Checked 16-bit little-endian frequencies to make `cdf` from (a slice of the model
    /// file's bytes, shared with the model).
    source: Option<bytes::Bytes>,
    /// `first[j]` = the symbol whose interval holds quantile `j << (16 − BUCKET_BITS)`.
    /// Made when the table first decodes: encoding never reads it, and a model loads
    /// thousands of tables (a `walloc encode` builds none of these).
    first: OnceLock<Vec<u16>>,
}

impl Cdf {
    /// From frequencies, checked as [`SymbolTable::from_frequencies`] documents: each at
    /// least 1, at most 2^16 of them, summing to 2^16, at least two. The cumulative table
    /// is built as they are read (the per-symbol frequencies are its steps, so they are
    /// not kept apart).
    fn new(freqs: impl ExactSizeIterator<Item = u32>) -> Result<Self, EntropyError> {
        check_alphabet(freqs.len())?;
        let mut cdf = Vec::with_capacity(freqs.len() + 1);
        cdf.push(0u16);
        // At most 2^16 frequencies below 2^32 each: the sum fits in u64, and a zero
        // anywhere makes `smallest` zero.
        let (mut sum, mut smallest) = (0u64, u32::MAX);
        for f in freqs {
            sum += u64::from(f);
            smallest = smallest.min(f);
            // Truncated where the sum reaches 2^16: only the last, stored as 0, in a table
            // that the checks below accept.
            cdf.push(sum as u16);
        }
        check_mass(sum, smallest)?;
        Ok(Self {
            cdf: OnceLock::from(cdf),
            source: None,
            first: OnceLock::new(),
        })
    }

    /// [`new`](Self::new) from 16-bit little-endian frequencies that stay where they lie
    /// (in the model file's bytes), checked now (unless `Mass::Trusted`), with the
    /// cumulative table made on first use: a model holds thousands of tables, and an
    /// encode uses those of the latent channels it codes, on the threads that code them.
    /// Building all 2304 of image-q3's when the model loaded was the longest step before
    /// `walloc encode` could start its transform.
    fn in_place(freqs: bytes::Bytes, mass: Mass) -> Result<Self, EntropyError> {
        if !freqs.len().is_multiple_of(2) {
            return Err(EntropyError::BadTable(
                "frequencies of 16 bits have odd bytes",
            ));
        }
        check_alphabet(freqs.len() / 2)?;
        if mass == Mass::Checked {
            // 16-bit frequencies: the sum of at most 2^16 fits in u32.
            let (sum, smallest) =
                sixteen_bits(&freqs).fold((0u32, u32::MAX), |(sum, min), f| (sum + f, min.min(f)));
            check_mass(u64::from(sum), smallest)?;
        }
        Ok(Self {
            cdf: OnceLock::new(),
            source: Some(freqs),
            first: OnceLock::new(),
        })
    }

    /// The cumulative table, made now if it has not been.
    #[inline]
    fn cdf(&self) -> &[u16] {
        self.cdf.get_or_init(|| {
            let freqs = sixteen_bits(self.source.as_deref().unwrap_or_default());
            // One pass that writes without checking the capacity at each value (an
            // iterator of known length): `extend` of a `scan` checked it and stored the
            // length at every value, and an encode makes a thousand or more of these
            // tables, 0.3 M values. Checked frequencies, summing to 2^16: the last sum
            // wraps to 0, as `cdf` stores it.
            let mut sum = 0u16;
            let cdf: Vec<u16> = core::iter::once(0)
                .chain(freqs.map(|f| {
                    sum = sum.wrapping_add(f as u16);
                    sum
                }))
                .collect();
            cdf
        })
    }

    /// The bucket index: bucket j starts at quantile j·2^shift and belongs to the last
    /// symbol whose interval starts at or below it, found in one walk along buckets and
    /// symbols together.
    fn first(&self) -> &[u16] {
        self.first.get_or_init(|| {
            let cdf = self.cdf();
            let shift = CDF_PRECISION - BUCKET_BITS;
            let mut first = alloc::vec![0u16; 1 << BUCKET_BITS];
            let mut s = 0;
            for (j, f) in first.iter_mut().enumerate() {
                let q = (j as u32) << shift;
                // cdf[len] = 2^16 lies above every bucket start, so s stays below len.
                while upper(cdf[s + 1]) <= q {
                    s += 1;
                }
                *f = s as u16;
            }
            first
        })
    }

    /// Symbols in the table.
    fn len(&self) -> usize {
        self.cdf().len() - 1
    }

    /// The frequency of symbol index `i` (below [`len`](Self::len)).
    fn frequency(&self, i: usize) -> u32 {
        let cdf = self.cdf();
        step(cdf[i], cdf[i + 1])
    }
}

/// Refuses alphabets of `n` symbols from `min_symbol` that run past `i32::MAX`.
fn check_span(min_symbol: i32, n: usize) -> Result<(), EntropyError> {
    let last = i32::try_from(n.saturating_sub(1))
        .ok()
        .and_then(|k| min_symbol.checked_add(k));
    if last.is_none() {
        return Err(EntropyError::BadTable("alphabet overflows i32"));
    }
    Ok(())
}

/// Refuses alphabets a table cannot code: empty, one symbol, or more than 2^16.
fn check_alphabet(len: usize) -> Result<(), EntropyError> {
    if len == 0 {
        return Err(EntropyError::BadTable("empty alphabet"));
    }
    if len > TOTAL as usize {
        return Err(EntropyError::BadTable(
            "more symbols than the precision can hold",
        ));
    }
    // One symbol with all the mass has probability 2^16, which does not fit the coder's
    // nonzero 16-bit probabilities: such a channel carries no information anyway, but
    // the coder cannot express it. Export never produces it (alphabets have 2^b + 1
    // symbols).
    if len == 1 {
        return Err(EntropyError::BadTable(
            "a single-symbol alphabet cannot be range coded",
        ));
    }
    Ok(())
}

/// Refuses frequencies with a zero among them or not summing to 2^16.
/// Whether frequencies read in place are checked when their table is made
/// ([`SymbolTable::from_trusted_frequencies`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mass {
    Checked,
    Trusted,
}

fn check_mass(sum: u64, smallest: u32) -> Result<(), EntropyError> {
    if smallest == 0 {
        return Err(EntropyError::BadTable("a symbol has zero frequency"));
    }
    if sum != u64::from(TOTAL) {
        return Err(EntropyError::BadTable("frequencies do not sum to 2^16"));
    }
    Ok(())
}

/// The right end of an interval whose cumulative frequency [`Cdf`] stores in 16 bits:
/// 2^16 where it is stored as 0 (only the last is: every frequency is at least 1).
#[inline]
fn upper(stored: u16) -> u32 {
    u32::from(stored.wrapping_sub(1)) + 1
}

/// The frequency between two neighbouring cumulative frequencies as [`Cdf`] stores them:
/// every frequency lies in 1 ..= 2^16 − 1, so the 16-bit difference is exact, the last
/// (2^16 stored as 0) included.
#[inline]
fn step(left: u16, right: u16) -> u32 {
    u32::from(right.wrapping_sub(left))
}

/// 16-bit little-endian values (an odd last byte is ignored): how model files store
/// frequencies.
pub(crate) fn sixteen_bits(bytes: &[u8]) -> impl ExactSizeIterator<Item = u32> + '_ {
    bytes
        .chunks_exact(2)
        .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))
}

impl EntropyModel<CDF_PRECISION> for Cdf {
    type Symbol = usize;
    type Probability = u32;
}

impl EncoderModel<CDF_PRECISION> for Cdf {
    #[inline]
    fn left_cumulative_and_probability(
        &self,
        symbol: impl Borrow<usize>,
    ) -> Option<(u32, NonZeroU32)> {
        Cumulative(self.cdf()).left_cumulative_and_probability(symbol)
    }
}

/// A made cumulative table as the encoder reads it: what the coding loop holds for each
/// of a channel's contexts, so that a symbol is coded with no check that its table has
/// been made.
#[derive(Clone, Copy, Default)]
struct Cumulative<'a>(&'a [u16]);

impl EntropyModel<CDF_PRECISION> for Cumulative<'_> {
    type Symbol = usize;
    type Probability = u32;
}

impl EncoderModel<CDF_PRECISION> for Cumulative<'_> {
    #[inline]
    fn left_cumulative_and_probability(
        &self,
        symbol: impl Borrow<usize>,
    ) -> Option<(u32, NonZeroU32)> {
        let i = *symbol.borrow();
        let (left, right) = (*self.0.get(i)?, *self.0.get(i.checked_add(1)?)?);
        Some((u32::from(left), NonZeroU32::new(step(left, right))?))
    }
}

impl DecoderModel<CDF_PRECISION> for Cdf {
    /// constriction calls this only with `quantile < 2^16` (it reports a corrupt stream
    /// otherwise), so the bucket exists and the scan stops at the last symbol at the latest.
    #[inline]
    fn quantile_function(&self, quantile: u32) -> (usize, u32, NonZeroU32) {
        let mut s = usize::from(self.first()[(quantile >> (CDF_PRECISION - BUCKET_BITS)) as usize]);
        let cdf = self.cdf();
        while upper(cdf[s + 1]) <= quantile {
            s += 1;
        }
        let (left, right) = (cdf[s], cdf[s + 1]);
        (
            s,
            u32::from(left),
            NonZeroU32::new(step(left, right)).expect("table frequencies are nonzero"),
        )
    }
}

/// Why a table could not be built or a stream could not be coded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntropyError {
    #[error("symbol {symbol} in channel {channel} lies outside the table's range {min}..={max}")]
    SymbolOutOfRange {
        channel: usize,
        symbol: i32,
        min: i32,
        max: i32,
    },
    #[error("invalid symbol table: {0}")]
    BadTable(&'static str),
    #[error("{symbols} symbols do not fill {channels} channels of {per_channel} values")]
    ShapeMismatch {
        symbols: usize,
        channels: usize,
        per_channel: usize,
    },
    #[error("the compressed payload is corrupt ({0})")]
    CorruptPayload(&'static str),
}

/// The integer distribution of one latent channel over the contiguous alphabet
/// `min_symbol..=max_symbol`. Every symbol has a nonzero frequency, so any value the
/// companding can produce is codable.
#[derive(Debug, Clone)]
pub struct SymbolTable {
    min: i32,
    model: Cdf,
}

// The frequencies (the cumulative table's steps) alone decide equality; the bucket
// index is derived from them.
impl PartialEq for SymbolTable {
    fn eq(&self, other: &Self) -> bool {
        self.min == other.min && self.model.cdf() == other.model.cdf()
    }
}

impl Eq for SymbolTable {}

impl SymbolTable {
    /// A table from integer frequencies: each at least 1, summing to exactly
    /// `1 << CDF_PRECISION`, at least two of them.
    pub fn from_frequencies(min_symbol: i32, freqs: Vec<u32>) -> Result<Self, EntropyError> {
        Self::from_frequency_iter(min_symbol, freqs.into_iter())
    }

    /// [`from_frequencies`](Self::from_frequencies) from an iterator, such as the 16-bit
    /// frequencies of a model file read in place.
    pub fn from_frequency_iter(
        min_symbol: i32,
        freqs: impl ExactSizeIterator<Item = u32>,
    ) -> Result<Self, EntropyError> {
        check_span(min_symbol, freqs.len())?;
        Ok(Self {
            min: min_symbol,
            model: Cdf::new(freqs)?,
        })
    }

    /// [`from_frequencies`](Self::from_frequencies) from 16-bit little-endian frequencies
    /// compiled into the program, checked now and read when the table is first used (see
    /// `Cdf::in_place`).
    pub fn from_static_frequencies(
        min_symbol: i32,
        freqs: &'static [u8],
    ) -> Result<Self, EntropyError> {
        Self::from_shared_frequencies(min_symbol, bytes::Bytes::from_static(freqs))
    }

    /// [`from_static_frequencies`](Self::from_static_frequencies) without reading the
    /// frequencies until the table is first used: only their count is checked now. For
    /// the models compiled into a program, whose tests read every table with the checks
    /// (walloc's `shipped_models_carry_their_own_ids`). Checking image-q3's 2304 tables
    /// read all 1.2 MB of them, page faults included, on the thread that `walloc encode`'s
    /// transform waits for, though an encode uses a fraction of them. A table whose
    /// frequencies do not sum to 2^16 would code wrong bytes or fail to decode, never read
    /// out of bounds.
    pub fn from_trusted_frequencies(
        min_symbol: i32,
        freqs: &'static [u8],
    ) -> Result<Self, EntropyError> {
        Self::in_place(min_symbol, bytes::Bytes::from_static(freqs), Mass::Trusted)
    }

    /// [`from_static_frequencies`](Self::from_static_frequencies) from a slice of bytes
    /// the table shares with its model (a model file read for decoding in a browser).
    pub fn from_shared_frequencies(
        min_symbol: i32,
        freqs: bytes::Bytes,
    ) -> Result<Self, EntropyError> {
        Self::in_place(min_symbol, freqs, Mass::Checked)
    }

    fn in_place(min_symbol: i32, freqs: bytes::Bytes, mass: Mass) -> Result<Self, EntropyError> {
        check_span(min_symbol, freqs.len() / 2)?;
        Ok(Self {
            min: min_symbol,
            model: Cdf::in_place(freqs, mass)?,
        })
    }

    /// A table from float probabilities over `min_symbol..`, quantised deterministically:
    /// each symbol gets 1 plus its share of the remaining mass rounded down, and what is
    /// left goes one unit at a time to the largest fractional parts (ties to the lower
    /// symbol).
    pub fn from_probabilities(
        min_symbol: i32,
        probabilities: &[f64],
    ) -> Result<Self, EntropyError> {
        let k = probabilities.len();
        if k < 2 || k > TOTAL as usize {
            return Err(EntropyError::BadTable("alphabet size must be in 2..=2^16"));
        }
        if probabilities.iter().any(|p| !p.is_finite() || *p < 0.0) {
            return Err(EntropyError::BadTable(
                "probabilities must be finite and non-negative",
            ));
        }
        let sum: f64 = probabilities.iter().sum();
        let budget = f64::from(TOTAL - k as u32);
        let shares: Vec<f64> = if sum > 0.0 {
            probabilities.iter().map(|p| p / sum * budget).collect()
        } else {
            alloc::vec![budget / k as f64; k]
        };
        let mut freqs: Vec<u32> = shares.iter().map(|s| 1 + s.floor() as u32).collect();
        let assigned: u32 = freqs.iter().sum();
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&a, &b| {
            let (fa, fb) = (shares[a] - shares[a].floor(), shares[b] - shares[b].floor());
            fb.total_cmp(&fa).then(a.cmp(&b))
        });
        let left = TOTAL.saturating_sub(assigned) as usize;
        for &i in order.iter().cycle().take(left) {
            freqs[i] += 1;
        }
        Self::from_frequencies(min_symbol, freqs)
    }

    pub fn min_symbol(&self) -> i32 {
        self.min
    }

    pub fn max_symbol(&self) -> i32 {
        self.min + self.len() as i32 - 1
    }

    /// The integer frequencies, one per symbol from `min_symbol`: the cumulative table's
    /// steps, read in one pass (a frequency at a time, through the table's lazy cell,
    /// made a payload's length floor a millisecond of a decode, per stream).
    pub fn frequencies(&self) -> impl ExactSizeIterator<Item = u32> + '_ {
        self.model.cdf().windows(2).map(|w| step(w[0], w[1]))
    }

    pub fn len(&self) -> usize {
        self.model.len()
    }

    /// Never true: a table has at least two symbols.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Information content of `symbol` under this table, in bits (`None` outside the
    /// alphabet).
    pub fn bits(&self, symbol: i32) -> Option<f64> {
        let index = symbol.checked_sub(self.min)?;
        let index = usize::try_from(index).ok().filter(|&i| i < self.len())?;
        let f = self.model.frequency(index);
        Some(CDF_PRECISION as f64 - f64::from(f).log2())
    }

    fn index(&self, channel: usize, symbol: i32) -> Result<usize, EntropyError> {
        let index = i64::from(symbol) - i64::from(self.min);
        if index < 0 || index >= self.len() as i64 {
            return Err(EntropyError::SymbolOutOfRange {
                channel,
                symbol,
                min: self.min,
                max: self.max_symbol(),
            });
        }
        Ok(index as usize)
    }
}

/// Most context buckets a model may use per channel.
pub const MAX_CONTEXTS: usize = 16;
/// Context buckets of the models `walloc-train export` writes.
pub const DEFAULT_CONTEXTS: usize = 12;

/// The context of the symbol at (`row`, `col`) of one channel plane of width `width`, from
/// the magnitudes of its already-coded neighbours (`mags`, row-major; only positions
/// before (`row`, `col`) are read): s = 2(|left| + |up|) + |up-left| + |up-right| +
/// |left-left| + |up-up|, missing neighbours counting 0, and the bucket is the bit length
/// of s, capped at `contexts − 1`. A busy neighbourhood predicts a wide distribution: this
/// is what a factorized density cannot see, and it saves about a fifth of the rate on
/// photos. Part of the file format (docs/format.md): it must never change.
#[cfg(test)]
fn context(mags: &[u32], width: usize, row: usize, col: usize, contexts: usize) -> usize {
    let at = |r: usize, c: usize| mags[r * width + c];
    let mut s = 0u32;
    if col > 0 {
        s += 2 * at(row, col - 1);
        if col > 1 {
            s += at(row, col - 2);
        }
    }
    if row > 0 {
        s += 2 * at(row - 1, col);
        if col > 0 {
            s += at(row - 1, col - 1);
        }
        if col + 1 < width {
            s += at(row - 1, col + 1);
        }
        if row > 1 {
            s += at(row - 2, col);
        }
    }
    ((32 - s.leading_zeros()) as usize).min(contexts - 1)
}

/// The shape of a latent as the coder sees it: `channels` planes of `height × width`
/// symbols, each channel with `contexts` tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlaneShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub contexts: usize,
}

impl PlaneShape {
    /// Channels × height × width: the symbol count, or `CorruptPayload` where a header's
    /// shape overflows.
    pub(crate) fn values(&self) -> Result<usize, EntropyError> {
        self.channels
            .checked_mul(self.height)
            .and_then(|n| n.checked_mul(self.width))
            .ok_or(EntropyError::CorruptPayload("latent size overflows"))
    }

    /// Whether `tables` fit this shape: a context count in range, `contexts` tables per
    /// channel, a size that does not overflow.
    pub(crate) fn check(&self, tables: &[SymbolTable]) -> Result<(), EntropyError> {
        if !(1..=MAX_CONTEXTS).contains(&self.contexts) {
            return Err(EntropyError::BadTable("context count out of range"));
        }
        self.height
            .checked_mul(self.width)
            .ok_or(EntropyError::CorruptPayload("latent size overflows"))?;
        if self.channels.checked_mul(self.contexts) != Some(tables.len()) {
            return Err(EntropyError::BadTable(
                "table count is not channels × contexts",
            ));
        }
        Ok(())
    }

    /// Calls `f(channel, index, table)` for every symbol in coding order, with the table
    /// its context selects; `f` returns the symbol's magnitude, which later contexts read.
    fn walk<F>(&self, tables: &[SymbolTable], mut f: F) -> Result<(), EntropyError>
    where
        F: FnMut(usize, usize, &SymbolTable) -> Result<u32, EntropyError>,
    {
        self.check(tables)?;
        let k = self.contexts;
        walk_contexts(0..self.channels, self.height, self.width, k, |c, i, ctx| {
            f(c, i, &tables[c * k + ctx])
        })
    }
}

/// Calls `f(channel, index, context)` for every symbol of the planes `channels` (of
/// `height × width` each; `index` counts from channel 0's first symbol) in coding order
/// (channel by channel, rows top to bottom); `f` returns the symbol's magnitude, from
/// which the contexts of later symbols are computed. The one place the decoder and export
/// counting share, so they cannot disagree on a context (the encoder's whole-plane pass,
/// `plane_contexts`, is tested against it).
fn walk_contexts<F>(
    channels: impl IntoIterator<Item = usize>,
    height: usize,
    width: usize,
    contexts: usize,
    mut f: F,
) -> Result<(), EntropyError>
where
    F: FnMut(usize, usize, usize) -> Result<u32, EntropyError>,
{
    walk_coded(
        &mut (),
        channels,
        height,
        width,
        contexts,
        |_, _| Ok(None),
        |_, c, i, ctx| f(c, i, ctx),
    )
}

/// [`walk_contexts`] over the symbols a channel codes, with a `state` both callbacks get
/// (a decoder reads the flags and the symbols from one stream): `blocks(state, c)`, asked
/// first for each channel, gives its [`zero_block`] flags (`None`: every symbol is
/// coded), and the symbols of a block flagged all zero are skipped (they count as zeros in
/// the contexts of their neighbours).
fn walk_coded<S, F, B>(
    state: &mut S,
    channels: impl IntoIterator<Item = usize>,
    height: usize,
    width: usize,
    contexts: usize,
    mut blocks: B,
    mut f: F,
) -> Result<(), EntropyError>
where
    F: FnMut(&mut S, usize, usize, usize) -> Result<u32, EntropyError>,
    B: FnMut(&mut S, usize) -> Result<Option<Vec<bool>>, EntropyError>,
{
    let per_channel = height * width;
    // The magnitudes sit in a plane with two zero rows above, two zero columns to the left
    // and one to the right, so every neighbour `context` names exists and a missing one
    // reads 0: the same sums without a branch per neighbour. Only the current channel's
    // earlier positions are read, so the plane is reused from channel to channel.
    let pw = width + 3;
    let mut mags = alloc::vec![0u32; if contexts > 1 { (height + 2) * pw } else { 0 }];
    let last = contexts.saturating_sub(1);
    let (bh, bw) = zero_block(height);
    for c in channels {
        let start = c * per_channel;
        let flags = blocks(state, c)?;
        if contexts == 1 {
            for i in start..start + per_channel {
                let (row, col) = ((i - start) / width, (i - start) % width);
                if flags
                    .as_ref()
                    .is_none_or(|f| f[row / bh * width.div_ceil(bw) + col / bw])
                {
                    f(state, c, i, 0)?;
                }
            }
            continue;
        }
        for row in 0..height {
            let base = (row + 2) * pw + 2;
            let at = start + row * width;
            let Some(flags) = &flags else {
                for col in 0..width {
                    let p = base + col;
                    let ctx = bordered_context(&mags, p, pw, last);
                    mags[p] = f(state, c, at + col, ctx)?;
                }
                continue;
            };
            let flags = &flags[row / bh * width.div_ceil(bw)..];
            for col in 0..width {
                let p = base + col;
                mags[p] = if flags[col / bw] {
                    let ctx = bordered_context(&mags, p, pw, last);
                    f(state, c, at + col, ctx)?
                } else {
                    0
                };
            }
        }
    }
    Ok(())
}

/// Rows and columns of the blocks whose "not all zero" flags a version 3 stream codes
/// ahead of each channel's symbols (docs/format.md): 16 × 16 in an image's planes, 256
/// long in planes of one row (audio). At image level 3 the all-zero 16 × 16 blocks hold
/// 43% of the coded symbols of the valid photos, which cost 0.9% of the bits; the flags
/// cost as much, so the rate is unchanged and the coder takes 43% fewer steps. Smaller
/// blocks skip more and cost more (8 × 8: 63%, +1.4% rate; 4 × 4: 77%, +6%).
pub(crate) fn zero_block(height: usize) -> (usize, usize) {
    if height == 1 { (1, 256) } else { (16, 16) }
}

/// The fewest symbols a [`zero_block`] of a `height × width` plane holds (the last row and
/// column of blocks may be partial).
pub(crate) fn smallest_block(height: usize, width: usize) -> usize {
    let (bh, bw) = zero_block(height);
    let least = |n: usize, b: usize| if n.is_multiple_of(b) { b.min(n) } else { n % b };
    least(height, bh) * least(width, bw)
}

/// For each [`zero_block`] of a `height × width` plane, in row-major order, whether it
/// holds a nonzero symbol.
fn nonzero_blocks<S: Symbol>(plane: &[S], height: usize, width: usize) -> Vec<bool> {
    let (bh, bw) = zero_block(height);
    let across = width.div_ceil(bw);
    let mut flags = alloc::vec![false; height.div_ceil(bh) * across];
    for (row, values) in plane.chunks_exact(width).enumerate() {
        let flags = &mut flags[row / bh * across..][..across];
        for (flag, block) in flags.iter_mut().zip(values.chunks(bw)) {
            *flag |= S::any_nonzero(block);
        }
    }
    flags
}

/// The model of the next block flag of a channel after `seen` flags of which `nonzero`
/// were set: the set flag's probability is (nonzero + ½)/(seen + 1) (the
/// Krichevsky–Trofimov estimate) in 2^16ths, at least one 2^16th either way. Integers
/// only, so every platform codes the same bits.
#[derive(Clone, Copy)]
struct BlockFlag {
    /// The frequency of "all zero" (symbol 0); "not all zero" (1) has the rest.
    zero: u32,
}

impl BlockFlag {
    fn after(nonzero: u64, seen: u64) -> Self {
        let set = ((2 * nonzero + 1) << (CDF_PRECISION - 1)) / (seen + 1);
        let set = set.clamp(1, u64::from(TOTAL - 1)) as u32;
        Self { zero: TOTAL - set }
    }
}

impl EntropyModel<CDF_PRECISION> for BlockFlag {
    type Symbol = usize;
    type Probability = u32;
}

impl EncoderModel<CDF_PRECISION> for BlockFlag {
    #[inline]
    fn left_cumulative_and_probability(
        &self,
        symbol: impl Borrow<usize>,
    ) -> Option<(u32, NonZeroU32)> {
        match *symbol.borrow() {
            0 => Some((0, NonZeroU32::new(self.zero)?)),
            1 => Some((self.zero, NonZeroU32::new(TOTAL - self.zero)?)),
            _ => None,
        }
    }
}

impl DecoderModel<CDF_PRECISION> for BlockFlag {
    #[inline]
    fn quantile_function(&self, quantile: u32) -> (usize, u32, NonZeroU32) {
        // Both frequencies lie in 1..2^16 (`after`).
        let nonzero = |f| NonZeroU32::new(f).expect("block flag frequencies are nonzero");
        if quantile < self.zero {
            (0, 0, nonzero(self.zero))
        } else {
            (1, self.zero, nonzero(TOTAL - self.zero))
        }
    }
}

/// How a stream lays out each channel: version 1 and 2 code every symbol, version 3
/// first the channel's [`zero_block`] flags and then only the symbols of the blocks
/// flagged as not all zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Blocks {
    Every,
    Flagged,
}

fn check_count(symbols: usize, shape: &PlaneShape) -> Result<(), EntropyError> {
    let per_channel = shape.height.saturating_mul(shape.width);
    if shape.channels.checked_mul(per_channel) != Some(symbols) {
        return Err(EntropyError::ShapeMismatch {
            symbols,
            channels: shape.channels,
            per_channel,
        });
    }
    Ok(())
}

fn shape_1d(tables: &[SymbolTable], values_per_channel: usize) -> PlaneShape {
    PlaneShape {
        channels: tables.len(),
        height: 1,
        width: values_per_channel,
        contexts: 1,
    }
}

/// Range codes `symbols`, laid out as `[tables.len(), values_per_channel]`, channel `c`
/// with `tables[c]`: [`encode_planes`] with one context.
pub fn encode(
    symbols: &[i32],
    tables: &[SymbolTable],
    values_per_channel: usize,
) -> Result<Vec<u8>, EntropyError> {
    encode_planes(symbols, tables, &shape_1d(tables, values_per_channel))
}

/// Range codes `symbols` laid out as `[channels, height, width]`; `tables` holds
/// `contexts` tables per channel (channel-major), and each symbol is coded with the one
/// its neighbourhood selects.
pub fn encode_planes(
    symbols: &[i32],
    tables: &[SymbolTable],
    shape: &PlaneShape,
) -> Result<Vec<u8>, EntropyError> {
    check_count(symbols.len(), shape)?;
    shape.check(tables)?;
    let words = encode_channels(
        Symbols::Wide(symbols),
        tables,
        shape,
        0..shape.channels,
        Blocks::Every,
    )?;
    Ok(words_to_bytes(&words))
}

/// Little-endian bytes of payload words.
pub(crate) fn words_to_bytes(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// A latent's symbols, `[channels, height, width]`, as an encoder holds them: 32 bits
/// each, or one byte each where every symbol its model makes fits in one (8-bit
/// companding, every shipped image model), which is a quarter of the memory.
#[derive(Clone, Copy, Debug)]
pub enum Symbols<'a> {
    Wide(&'a [i32]),
    Bytes(&'a [i8]),
}

impl Symbols<'_> {
    /// How many symbols.
    pub fn len(&self) -> usize {
        match self {
            Self::Wide(s) => s.len(),
            Self::Bytes(s) => s.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Range codes the channels `coded` (ascending) of `symbols`, laid out and checked as
/// [`encode_planes`] requires, into one stream: the coder of format version 1's whole
/// payload and of each of versions 2 and 3's streams ([`Blocks`]).
pub(crate) fn encode_channels(
    symbols: Symbols,
    tables: &[SymbolTable],
    shape: &PlaneShape,
    coded: impl IntoIterator<Item = usize>,
    blocks: Blocks,
) -> Result<Vec<u32>, EntropyError> {
    // Every symbol is known before coding starts, so a channel's contexts are computed in
    // one pass of their own, and the coding loop only looks up and codes: the neighbour
    // sums no longer wait on the coder, nor the coder on them.
    let (per_channel, k) = (shape.height * shape.width, shape.contexts);
    let mut planes = PlaneCoder {
        encoder: RangeEncoder::new(),
        tables,
        shape,
        blocks,
        contexts: alloc::vec![0u8; per_channel],
        mags: alloc::vec![0u32; if k > 1 { (shape.height + 2) * (shape.width + 3) } else { 0 }],
        runs: Vec::new(),
    };
    for c in coded.into_iter().filter(|_| per_channel > 0) {
        let range = c * per_channel..(c + 1) * per_channel;
        match symbols {
            Symbols::Wide(s) => planes.code(c, &s[range]),
            Symbols::Bytes(s) => planes.code(c, &s[range]),
        }?;
    }
    planes
        .encoder
        .into_compressed()
        .map_err(|_| EntropyError::CorruptPayload("encoder backend failed"))
}

/// A symbol as the encoder holds it: 32 bits, or one byte where the model's symbols fit
/// ([`Symbols`]). The coder's passes read either as they are, with no copy widened.
pub(crate) trait Symbol: Copy + Into<i32> {
    /// Whether any of `block` is not 0.
    fn any_nonzero(block: &[Self]) -> bool;
}

impl Symbol for i8 {
    #[inline(always)]
    fn any_nonzero(block: &[i8]) -> bool {
        // A 16 × 16 zero block's row is one 128-bit word (a test and a branch), where a
        // loop over any length took 1.8% of an encode's samples.
        match <[i8; 16]>::try_from(block) {
            Ok(row) => u128::from_ne_bytes(row.map(|s| s as u8)) != 0,
            // OR-ed, not searched: a fold vectorises, an early exit does not.
            Err(_) => block.iter().fold(0, |any, &s| any | s) != 0,
        }
    }
}

impl Symbol for i32 {
    #[inline(always)]
    fn any_nonzero(block: &[i32]) -> bool {
        block.iter().fold(0, |any, &s| any | s) != 0
    }
}

/// [`encode_channels`]' coder, and what it keeps from plane to plane: each symbol's
/// context, the bordered magnitudes they are found from, and the runs of coded symbols.
struct PlaneCoder<'a> {
    encoder: RangeEncoder<u32, u64>,
    tables: &'a [SymbolTable],
    shape: &'a PlaneShape,
    blocks: Blocks,
    contexts: Vec<u8>,
    mags: Vec<u32>,
    runs: Vec<(usize, usize)>,
}

impl PlaneCoder<'_> {
    /// Codes channel `c`'s `plane`, with the channel's tables: its block flags where the
    /// format has them, then its symbols that are not in all-zero blocks.
    fn code<S: Symbol>(&mut self, c: usize, plane: &[S]) -> Result<(), EntropyError> {
        let Self {
            encoder,
            tables,
            shape,
            blocks,
            contexts,
            mags,
            runs,
        } = self;
        let (per_channel, k) = (plane.len(), shape.contexts);
        if k > 1 {
            plane_contexts(plane, shape.width, k, mags, contexts);
        }
        let tables = &tables[c * k..][..k];
        runs.clear();
        if *blocks == Blocks::Every {
            runs.extend(
                (0..per_channel)
                    .step_by(RUN)
                    .map(|s| (s, (s + RUN).min(per_channel))),
            );
        } else {
            let (height, width) = (shape.height, shape.width);
            let flags = nonzero_blocks(plane, height, width);
            let mut set = 0;
            for (seen, &flag) in flags.iter().enumerate() {
                code_flag(encoder, BlockFlag::after(set, seen as u64), flag)?;
                set += u64::from(flag);
            }
            // The coded symbols: each row's parts of the blocks whose flags are set.
            let (bh, bw) = zero_block(height);
            let across = width.div_ceil(bw);
            for row in 0..height {
                let flags = &flags[row / bh * across..][..across];
                for (b, _) in flags.iter().enumerate().filter(|&(_, &f)| f) {
                    let (start, end) =
                        (row * width + b * bw, row * width + (b * bw + bw).min(width));
                    runs.extend((start..end).step_by(RUN).map(|s| (s, (s + RUN).min(end))));
                }
            }
        }
        code_runs(encoder, plane, contexts, runs, tables, c)
    }
}

/// The most symbols [`code_runs`] takes in one run.
const RUN: usize = 64;

/// Codes the symbols of `plane` in `runs` (start, end; at most [`RUN`] each), each with
/// the table of its context (`contexts`, the same layout) among the channel's `tables`
/// (channel `c`, for errors).
///
/// A built-in model's tables are made on first use, and here a table is looked up only
/// where a symbol needs it ([`first_use`]): a 741×500 photo at the default quality uses
/// 40% of its coded channels' tables, so the others' cumulative sums (0.18 M) and fresh
/// memory (0.36 MB) are spared.
///
/// The range coder's step is written out here, on the parts of a [`Coder`] in locals,
/// and makes the same words as constriction's `RangeEncoder::encode_symbol` (tested
/// against it: `coder_makes_constrictions_words`). Through constriction's generic step
/// the coder's state went through memory for every symbol, behind the `&mut` that its
/// growing `Vec` needs, with the model's checks on the way: 14% of a whole `walloc
/// encode`'s CPU time, 11% now. constriction still decodes, and still seals the stream.
#[inline(never)]
fn code_runs<S: Symbol>(
    encoder: &mut RangeEncoder<u32, u64>,
    plane: &[S],
    contexts: &[u8],
    runs: &[(usize, usize)],
    tables: &[SymbolTable],
    c: usize,
) -> Result<(), EntropyError> {
    // (lowest symbol, cumulative table) of each context, empty until first used.
    let mut made = [(0, Cumulative::default()); MAX_CONTEXTS];
    let Coder {
        mut words,
        mut lower,
        mut range,
        mut held,
        mut first_held,
    } = Coder::from(core::mem::take(encoder));
    // Each run's words gather here and go to `words` after it: with `words.push` in the
    // loop, whose growth is a call, the compiler kept the coder's state on the stack.
    let mut out = [0u32; RUN];
    for &(start, end) in runs {
        let mut n = 0;
        for (&symbol, &ctx) in plane[start..end].iter().zip(&contexts[start..end]) {
            let symbol: i32 = symbol.into();
            let (min, Cumulative(cdf)) = made[usize::from(ctx)];
            // One check for both ends of the symbol's share (a symbol below the table's
            // lowest wraps to an index far past its end).
            let index = symbol.wrapping_sub(min) as u32 as usize;
            let (left, right) = match cdf.get(index..index.saturating_add(2)) {
                Some(&[left, right]) => (left, right),
                _ => first_use(&mut made, tables, c, ctx, symbol)?,
            };
            // The interval narrows to the symbol's share; once its width is below 2^32,
            // the lowest point's top word is settled and goes out, and both are widened
            // by a word. A word is held back instead while the interval still straddles
            // a multiple of 2^64 (a carry may yet add one to it), until a narrower
            // interval tells which side it ends on.
            let scale = range >> CDF_PRECISION;
            range = scale * u64::from(step(left, right));
            let next = lower.wrapping_add(scale * u64::from(left));
            if held != 0 && next.checked_add(range).is_some() {
                release(&mut words, &out[..n], first_held, held, next < lower);
                (n, held) = (0, 0);
            }
            lower = next;
            if range >> 32 == 0 {
                let word = (lower >> 32) as u32;
                (lower, range) = (lower << 32, range << 32);
                if held != 0 {
                    held += 1;
                } else if lower.checked_add(range).is_some() {
                    out[n] = word;
                    n += 1;
                } else {
                    (held, first_held) = (1, word);
                }
            }
        }
        put_out(&mut words, &out, n);
    }
    *encoder = Coder {
        words,
        lower,
        range,
        held,
        first_held,
    }
    .into_encoder()?;
    Ok(())
}

/// Appends a run's `n` words, the first `n` of `out`, to `words`.
///
/// A run puts out a word or two (5 841 words from 4 978 runs in a 741×500 encode): up to
/// four are copied as four, one move, where a copy of `n` was a call to the C library's
/// `memcpy`, whose static musl build starts `rep movsq` even for one word
/// (docs/performance.md, twentieth session).
#[inline(always)]
fn put_out(words: &mut Vec<u32>, out: &[u32; RUN], n: usize) {
    const FEW: usize = 4;
    if n <= FEW {
        words.reserve(FEW);
        let (len, few) = (words.len(), out.first_chunk::<FEW>().expect("RUN >= FEW"));
        // SAFETY: `reserve` made room for FEW words past `len`, of which the first `n`
        // become the vector's (the others are spare capacity, written but not owned).
        unsafe {
            words
                .as_mut_ptr()
                .add(len)
                .cast::<[u32; FEW]>()
                .write_unaligned(*few);
            words.set_len(len + n);
        }
    } else {
        words.extend_from_slice(&out[..n]);
    }
}

/// The cumulative frequencies of `symbol`'s share in the table of context `ctx` (of
/// channel `c`), where [`code_runs`] has not made that table yet: made now, and kept in
/// `made`. An error where the table was made and the symbol lies outside it.
#[cold]
#[inline(never)]
fn first_use<'a>(
    made: &mut [(i32, Cumulative<'a>); MAX_CONTEXTS],
    tables: &'a [SymbolTable],
    c: usize,
    ctx: u8,
    symbol: i32,
) -> Result<(u16, u16), EntropyError> {
    let (ctx, table) = (usize::from(ctx), &tables[usize::from(ctx)]);
    if made[ctx].1.0.is_empty() {
        made[ctx] = (table.min, Cumulative(table.model.cdf()));
    }
    let index = table.index(c, symbol)?;
    let cdf = made[ctx].1.0;
    Ok((cdf[index], cdf[index + 1]))
}

/// Writes out the words `before` the held ones, then the `held` words held back from
/// `first`, now that whether a carry reached them (`carried`) is known: `first + 1` then
/// zeros, or `first` then all ones.
#[cold]
#[inline(never)]
fn release(words: &mut Vec<u32>, before: &[u32], first: u32, held: usize, carried: bool) {
    words.extend_from_slice(before);
    let (first, rest) = if carried {
        (first.wrapping_add(1), 0)
    } else {
        (first, u32::MAX)
    };
    words.push(first);
    words.extend(core::iter::repeat_n(rest, held - 1));
}

/// constriction's range coder (`RangeEncoder<u32, u64>`, 16-bit frequencies) with its
/// state in plain integers, which a coding loop keeps in registers: the interval's
/// lowest point and its width, and the words held back while a carry may still reach
/// them (`held` of them, the first `first_held`; the others are all zeros or all ones,
/// whichever the carry makes them).
struct Coder {
    words: Vec<u32>,
    lower: u64,
    range: u64,
    held: usize,
    first_held: u32,
}

impl From<RangeEncoder<u32, u64>> for Coder {
    /// constriction's coder taken apart.
    fn from(encoder: RangeEncoder<u32, u64>) -> Self {
        let (words, state, situation) = encoder.into_raw_parts();
        let (held, first_held) = match situation {
            EncoderSituation::Normal => (0, 0),
            EncoderSituation::Inverted(n, first) => (n.get(), first),
        };
        let (lower, range) = (state.lower(), state.range().get());
        Coder {
            words,
            lower,
            range,
            held,
            first_held,
        }
    }
}

impl Coder {
    /// The coder as constriction's again; an error where a symbol had no share (a
    /// frequency of 0, which no valid table has) and emptied the range.
    fn into_encoder(self) -> Result<RangeEncoder<u32, u64>, EntropyError> {
        let state = RangeCoderState::new(self.lower, self.range)
            .map_err(|()| EntropyError::BadTable("symbol not codable"))?;
        let situation = match NonZeroUsize::new(self.held) {
            None => EncoderSituation::Normal,
            Some(n) => EncoderSituation::Inverted(n, self.first_held),
        };
        Ok(RangeEncoder::from_raw_parts(self.words, state, situation))
    }
}

fn code_flag(
    encoder: &mut RangeEncoder<u32, u64>,
    model: BlockFlag,
    flag: bool,
) -> Result<(), EntropyError> {
    encoder
        .encode_symbol(usize::from(flag), model)
        .map_err(|_| EntropyError::BadTable("block flag not codable"))
}

/// Decodes what [`encode_channels`] wrote for the channels `coded` (ascending, each at
/// least `first`) into `out`, the planes of channels `first..`; other planes are left as
/// they are. A corrupt stream gives wrong symbols or an error, never a panic. `cheapest`
/// is [`cheapest_bits`] of `tables`, for the floor on what block flags may claim.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decode_channels(
    words: Vec<u32>,
    tables: &[SymbolTable],
    shape: &PlaneShape,
    coded: impl IntoIterator<Item = usize>,
    first: usize,
    out: &mut [i32],
    blocks: Blocks,
    cheapest: f64,
) -> Result<(), EntropyError> {
    let bits = words.len() as f64 * 32.0;
    let mut decoder = RangeDecoder::<u32, u64, _>::from_compressed(words)
        .map_err(|_| EntropyError::CorruptPayload("cannot start the decoder"))?;
    let corrupt = |_| EntropyError::CorruptPayload("invalid range coder state");
    let (k, offset) = (shape.contexts, first * shape.height * shape.width);
    let (height, width) = (shape.height, shape.width);
    // The stream must hold the bits of the symbols its flags claim, as a version 2 stream
    // must for all its channels' symbols ([`min_payload_bits`]): so a few garbage words
    // cannot make the decoder walk a huge latent.
    let mut claimed = 0;
    let flags = |decoder: &mut RangeDecoder<u32, u64, _>, _| {
        if blocks == Blocks::Every {
            return Ok(None);
        }
        let (bh, bw) = zero_block(height);
        let across = width.div_ceil(bw);
        let n = height.div_ceil(bh) * across;
        let (mut flags, mut set) = (Vec::with_capacity(n), 0);
        for seen in 0..n {
            let flag = decoder
                .decode_symbol(BlockFlag::after(set, seen as u64))
                .map_err(corrupt)?;
            set += flag as u64;
            if flag == 1 {
                let (row, col) = (seen / across * bh, seen % across * bw);
                claimed += bh.min(height - row) * bw.min(width - col);
            }
            flags.push(flag == 1);
        }
        if bits < bits_at_least(cheapest, claimed) {
            return Err(EntropyError::CorruptPayload(
                "a stream is too short for the symbols its block flags claim",
            ));
        }
        Ok(Some(flags))
    };
    walk_coded(
        &mut decoder,
        coded,
        height,
        width,
        k,
        flags,
        |decoder, c, i, ctx| {
            let table = &tables[c * k + ctx];
            let index = decoder.decode_symbol(&table.model).map_err(corrupt)?;
            let symbol = table.min + index as i32;
            out[i - offset] = symbol;
            Ok(symbol.unsigned_abs())
        },
    )
}

crate::cores::wide_vectors! {
    /// The context of every symbol of one plane `width` wide, as [`walk_contexts`] finds
    /// them while coding, from the whole plane at once (what an encoder has): `mags` is
    /// scratch for the bordered magnitudes. The bit length is read off the sum's float
    /// exponent rather than counted with `leading_zeros`, which has no vector instruction
    /// before AVX-512: so a row's contexts are computed eight at a time.
    fn plane_contexts<S: Symbol>(plane: &[S], width: usize, contexts: usize, mags: &mut [u32], out: &mut [u8]) {
        let pw = width + 3;
        for (row, values) in plane.chunks_exact(width).enumerate() {
            let m = &mut mags[(row + 2) * pw + 2..][..width];
            for (m, &v) in m.iter_mut().zip(values) {
                *m = v.into().unsigned_abs();
            }
        }
        let last = (contexts - 1) as i32;
        for (row, ctx) in out.chunks_exact_mut(width).enumerate() {
            let p0 = (row + 2) * pw + 2;
            // The six neighbours of positions p0.. as slices, so the loop has no index
            // arithmetic left to keep it scalar.
            let left = &mags[p0 - 1..][..width];
            let left2 = &mags[p0 - 2..][..width];
            let up = &mags[p0 - pw..][..width];
            let up_left = &mags[p0 - pw - 1..][..width];
            let up_right = &mags[p0 - pw + 1..][..width];
            let up2 = &mags[p0 - 2 * pw..][..width];
            for (i, ctx) in ctx.iter_mut().enumerate() {
                let s = 2 * (left[i] + up[i]) + left2[i] + up_left[i] + up_right[i] + up2[i];
                *ctx = bit_length_capped(s, last);
            }
        }
    }
}

/// `min(bit length of s, last)` for `last` below 16, from the exponent of `s` as a float:
/// that field is the bit length + 126 where the conversion is exact (every s below 2^24,
/// which covers all uncapped answers), 0 for s = 0 (clamped to 0), and at least 2^8
/// where s reads as a negative i32 (clamped to `last`, as s ≥ 2^31 must be).
#[inline(always)]
fn bit_length_capped(s: u32, last: i32) -> u8 {
    let s = s as i32 as f32;
    ((s.to_bits() >> 23) as i32 - 126).clamp(0, last) as u8
}

/// The context of the symbol at `p` (the bit length of its weighted neighbour sum, as the
/// test-only `context` defines it, capped at `last`) in a magnitude plane `pw` values wide
/// with two zero rows above, two zero columns to the left and one to the right: the
/// layout of both the coding walk and the encoder's whole-plane pass.
#[inline(always)]
fn bordered_context(mags: &[u32], p: usize, pw: usize, last: usize) -> usize {
    let s = 2 * (mags[p - 1] + mags[p - pw])
        + mags[p - 2]
        + mags[p - pw - 1]
        + mags[p - pw + 1]
        + mags[p - 2 * pw];
    ((32 - s.leading_zeros()) as usize).min(last)
}

/// Decodes what [`encode`] wrote with the same tables and shape. A corrupt payload gives
/// wrong symbols or an error, never a panic; every decoded symbol lies in its table's
/// alphabet.
pub fn decode(
    payload: &[u8],
    tables: &[SymbolTable],
    values_per_channel: usize,
) -> Result<Vec<i32>, EntropyError> {
    decode_planes(payload, tables, &shape_1d(tables, values_per_channel))
}

/// Decodes what [`encode_planes`] wrote, under the same promises as [`decode`].
pub fn decode_planes(
    payload: &[u8],
    tables: &[SymbolTable],
    shape: &PlaneShape,
) -> Result<Vec<i32>, EntropyError> {
    let total = shape.values()?;
    if payload.len() % 4 != 0 {
        return Err(EntropyError::CorruptPayload(
            "length is not a whole number of 32-bit words",
        ));
    }
    shape.check(tables)?;
    if (payload.len() as f64) * 8.0 < min_payload_bits(tables, total) {
        return Err(EntropyError::CorruptPayload(
            "too short for the number of symbols the header claims",
        ));
    }
    let words = bytes_to_words(payload);
    let mut out = alloc::vec![0; total];
    decode_channels(
        words,
        tables,
        shape,
        0..shape.channels,
        0,
        &mut out,
        Blocks::Every,
        f64::INFINITY,
    )?;
    Ok(out)
}

/// Payload words from little-endian bytes (a whole number of them, checked by the caller).
pub(crate) fn bytes_to_words(payload: &[u8]) -> Vec<u32> {
    payload
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// A floor on the payload bits the encoder writes for `symbols` symbols coded with any of
/// `tables`, so that a few bytes cannot claim a latent of billions of symbols (and make
/// the decoder allocate for them and loop over them).
///
/// Coding a symbol of probability p = f / 2^16 scales the coder's 64-bit range by at most
/// p (the range becomes ⌊range / 2^16⌋ · f), and each 32-bit word written scales it back
/// up by 2^32; the range starts below 2^64 and never ends below 2^16. So the words written
/// carry at least (Σ −log2 p) − 48 bits, and every symbol costs at least the information
/// content of the most probable symbol of the most peaked table. Half of that bound, less
/// 64 bits, leaves a wide margin for rounding: real payloads are far above it, while a
/// claimed size a million times beyond the payload is refused.
pub(crate) fn min_payload_bits(tables: &[SymbolTable], symbols: usize) -> f64 {
    bits_at_least(cheapest_bits(tables), symbols)
}

/// The fewest bits any symbol costs under `tables` (infinite where there are none): what
/// [`min_payload_bits`] scales, worked out once per payload (every table made).
pub(crate) fn cheapest_bits(tables: &[SymbolTable]) -> f64 {
    tables
        .iter()
        .map(|t| {
            let most = t.frequencies().max().unwrap_or(TOTAL);
            CDF_PRECISION as f64 - f64::from(most).log2()
        })
        .fold(f64::INFINITY, f64::min)
}

/// [`min_payload_bits`] for symbols that each cost at least `cheapest` bits.
pub(crate) fn bits_at_least(cheapest: f64, symbols: usize) -> f64 {
    if !cheapest.is_finite() {
        return 0.0;
    }
    symbols as f64 * cheapest / 2.0 - 64.0
}

/// The information content of `symbols` under `tables`, in bits: what an ideal coder
/// would spend. The range coder stays within a fraction of a percent of it plus a few
/// words of flush.
pub fn ideal_bits(
    symbols: &[i32],
    tables: &[SymbolTable],
    values_per_channel: usize,
) -> Result<f64, EntropyError> {
    ideal_bits_planes(symbols, tables, &shape_1d(tables, values_per_channel))
}

/// [`ideal_bits`] for [`encode_planes`].
pub fn ideal_bits_planes(
    symbols: &[i32],
    tables: &[SymbolTable],
    shape: &PlaneShape,
) -> Result<f64, EntropyError> {
    check_count(symbols.len(), shape)?;
    let mut bits = 0.0;
    shape.walk(tables, |channel, i, table| {
        let symbol = symbols[i];
        let index = table.index(channel, symbol)?;
        bits += CDF_PRECISION as f64 - f64::from(table.model.frequency(index)).log2();
        Ok(symbol.unsigned_abs())
    })?;
    Ok(bits)
}

/// Symbol counts per (channel, context): what export turns into context tables. Counts are
/// gathered from the latents of the training data with the same contexts the coder uses.
#[derive(Clone, Debug)]
pub struct ContextCounts {
    pub channels: usize,
    pub contexts: usize,
    pub min_symbol: i32,
    pub alphabet: usize,
    /// `[channels][contexts][alphabet]`, flattened.
    pub counts: Vec<u64>,
}

impl ContextCounts {
    pub fn new(channels: usize, contexts: usize, min_symbol: i32, alphabet: usize) -> Self {
        Self {
            channels,
            contexts,
            min_symbol,
            alphabet,
            counts: alloc::vec![0; channels * contexts * alphabet],
        }
    }

    /// Adds the symbols of one latent `[channels, height, width]` (channel count a multiple
    /// of `self.channels`: groups share the counts, as they share the tables). Channels
    /// that are entirely zero are counted too, though format version 2 does not code
    /// them: left out, a channel that is zero in every training file gets only the
    /// density's prior, which prices a zero badly, and a channel with one nonzero symbol
    /// then costs kilobits (shipped levels refitted that way made the validation photos
    /// 2–22% larger).
    pub fn add(
        &mut self,
        symbols: &[i32],
        height: usize,
        width: usize,
    ) -> Result<(), EntropyError> {
        let per_channel = height * width;
        if per_channel == 0 || symbols.len() % (per_channel * self.channels) != 0 {
            return Err(EntropyError::ShapeMismatch {
                symbols: symbols.len(),
                channels: self.channels,
                per_channel,
            });
        }
        let (k, alphabet, min) = (self.contexts, self.alphabet, self.min_symbol);
        let counts = &mut self.counts;
        let groups = self.channels;
        walk_contexts(
            0..symbols.len() / per_channel,
            height,
            width,
            k,
            |c, i, ctx| {
                let symbol = symbols[i];
                let s = i64::from(symbol) - i64::from(min);
                if s < 0 || s >= alphabet as i64 {
                    return Err(EntropyError::SymbolOutOfRange {
                        channel: c,
                        symbol,
                        min,
                        max: min + alphabet as i32 - 1,
                    });
                }
                counts[((c % groups) * k + ctx) * alphabet + s as usize] += 1;
                Ok(symbol.unsigned_abs())
            },
        )
    }

    /// Tables `[channels][contexts]`: each context's counts mixed with `prior_weight`
    /// pseudo-counts spread as the channel's `prior` (the learned density), so a context
    /// the data rarely reached still gets a sensible table.
    pub fn tables(
        &self,
        priors: &[Vec<f64>],
        prior_weight: f64,
    ) -> Result<Vec<SymbolTable>, EntropyError> {
        if priors.len() != self.channels || priors.iter().any(|p| p.len() != self.alphabet) {
            return Err(EntropyError::BadTable("priors do not match the counts"));
        }
        let mut out = Vec::with_capacity(self.channels * self.contexts);
        for (c, prior) in priors.iter().enumerate() {
            let psum: f64 = prior.iter().sum::<f64>().max(1e-300);
            for k in 0..self.contexts {
                let at = (c * self.contexts + k) * self.alphabet;
                let counts = &self.counts[at..at + self.alphabet];
                let probs: Vec<f64> = counts
                    .iter()
                    .zip(prior)
                    .map(|(&n, &p)| n as f64 + prior_weight * p / psum)
                    .collect();
                out.push(SymbolTable::from_probabilities(self.min_symbol, &probs)?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn laplace_table(scale: f64, half: i32) -> SymbolTable {
        let probs: Vec<f64> = (-half..=half)
            .map(|s| (-(s as f64).abs() / scale).exp())
            .collect();
        SymbolTable::from_probabilities(-half, &probs).unwrap()
    }

    /// `bytes` leaked for the program's lifetime, as a built-in model's are.
    fn leaked(bytes: Vec<u8>) -> &'static [u8] {
        alloc::boxed::Box::leak(bytes.into_boxed_slice())
    }

    /// The coding loop's range coder ([`code_runs`]) makes constriction's words from any
    /// coder state, including those with words held back for a carry: from a fresh
    /// coder they come too seldom to test, so the states here are drawn at random, as
    /// are the symbols (tables from nearly certain to flat, symbols out to where a table
    /// gives them a frequency of 1).
    #[test]
    fn coder_makes_constrictions_words() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            // splitmix64
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let tables = [0.05, 0.7, 3.0, 40.0].map(|scale| laplace_table(scale, 127));
        let (mut held, mut carried) = (0, 0);
        for _ in 0..4000 {
            let lower = next();
            let range = next().max(1 << 32);
            let situation = match lower.checked_add(range) {
                Some(_) => EncoderSituation::Normal,
                None => {
                    let n = NonZeroUsize::new(1 + next() as usize % 3).unwrap();
                    EncoderSituation::Inverted(n, next() as u32)
                }
            };
            let words: Vec<u32> = (0..next() % 3).map(|_| next() as u32).collect();
            let state = RangeCoderState::new(lower, range).unwrap();
            let start = RangeEncoder::from_raw_parts(words, state, situation);
            let n = 1 + next() as usize % 80;
            let contexts: Vec<u8> = (0..n).map(|_| (next() % 4) as u8).collect();
            let plane: Vec<i32> = (0..n)
                .map(|_| {
                    // Mostly near 0, a few anywhere in −127..=127.
                    let r = next();
                    let s = if r % 8 == 0 {
                        (r >> 8) % 255
                    } else {
                        (r >> 8) % 5
                    };
                    s as i32 - if r % 8 == 0 { 127 } else { 2 }
                })
                .collect();
            let mut expected = start.clone();
            for (&symbol, &ctx) in plane.iter().zip(&contexts) {
                let table = &tables[usize::from(ctx)];
                let (before, _, was) = expected.clone().into_raw_parts();
                expected
                    .encode_symbol((symbol - table.min) as usize, &table.model)
                    .unwrap();
                let (after, _, now) = expected.clone().into_raw_parts();
                held += usize::from(now != EncoderSituation::Normal);
                if let (EncoderSituation::Inverted(_, first), EncoderSituation::Normal) = (was, now)
                {
                    carried += usize::from(after[before.len()] == first.wrapping_add(1));
                }
            }
            let mut ours = start;
            let runs: Vec<(usize, usize)> = (0..n)
                .step_by(RUN / 2)
                .map(|s| (s, (s + RUN / 2).min(n)))
                .collect();
            code_runs(&mut ours, &plane, &contexts, &runs, &tables, 0).unwrap();
            let (ours, expected) = (ours.into_raw_parts(), expected.into_raw_parts());
            assert_eq!(ours, expected);
            let seal = |(words, state, situation)| {
                RangeEncoder::from_raw_parts(words, state, situation)
                    .into_compressed()
                    .unwrap()
            };
            assert_eq!(seal(ours), seal(expected));
        }
        assert!(
            held > 1000 && carried > 0,
            "held back {held} times, carried {carried}"
        );
    }

    /// A table read in place from 16-bit frequencies is the table built from them at
    /// once, and codes and decodes the same bytes, whichever is used first.
    #[test]
    fn tables_read_in_place_code_as_built_ones() {
        let built = laplace_table(1.5, 127);
        let sixteen: Vec<u8> = built
            .frequencies()
            .flat_map(|f| u16::try_from(f).unwrap().to_le_bytes())
            .collect();
        let sixteen = leaked(sixteen);
        let symbols: Vec<i32> = (0..4000).map(|i| (i * 37 % 23) - 11).collect();
        let shape = shape_1d(core::slice::from_ref(&built), symbols.len());
        let bytes = encode_planes(&symbols, core::slice::from_ref(&built), &shape).unwrap();
        for in_place in [
            SymbolTable::from_static_frequencies(-127, sixteen).unwrap(),
            SymbolTable::from_trusted_frequencies(-127, sixteen).unwrap(),
        ] {
            assert!(
                in_place.model.cdf.get().is_none(),
                "made before its first use"
            );
            let tables = [in_place.clone()];
            assert_eq!(encode_planes(&symbols, &tables, &shape).unwrap(), bytes);
            assert_eq!(decode_planes(&bytes, &[in_place], &shape).unwrap(), symbols);
            assert_eq!(tables[0], built);
        }
    }

    /// In-place frequencies are checked when the table is made, as built ones are; trusted
    /// ones only for their count.
    #[test]
    fn bad_frequencies_in_place_are_refused_at_once() {
        let table = |freqs: &[u16]| {
            let bytes = freqs.iter().flat_map(|f| f.to_le_bytes()).collect();
            SymbolTable::from_static_frequencies(0, leaked(bytes))
        };
        assert!(table(&[1, u16::MAX]).is_ok());
        for (freqs, why) in [
            (&[][..], "empty alphabet"),
            (
                &[u16::MAX][..],
                "a single-symbol alphabet cannot be range coded",
            ),
            (&[0, u16::MAX, 1][..], "a symbol has zero frequency"),
            (&[1, 2, 3][..], "frequencies do not sum to 2^16"),
        ] {
            assert_eq!(table(freqs).unwrap_err(), EntropyError::BadTable(why));
        }
        // Sizes are checked even where the frequencies are trusted.
        for read in [
            SymbolTable::from_static_frequencies,
            SymbolTable::from_trusted_frequencies,
        ] {
            assert!(
                read(0, leaked(alloc::vec![1, 0, 255])).is_err(),
                "odd bytes"
            );
            assert_eq!(
                read(0, leaked(Vec::new())).unwrap_err(),
                EntropyError::BadTable("empty alphabet")
            );
            assert_eq!(
                read(i32::MAX, leaked(alloc::vec![1, 0, 255, 255])).unwrap_err(),
                EntropyError::BadTable("alphabet overflows i32")
            );
        }
    }

    /// Each coarse bucket starts in the interval of the symbol `first` names, for peaked,
    /// flat and two-symbol tables (intervals narrower and wider than a bucket).
    #[test]
    fn bucket_starts_name_the_symbol_holding_them() {
        let mut flat = alloc::vec![1u32; 1000];
        flat[0] += TOTAL - 1000;
        for t in [
            laplace_table(0.05, 127),
            laplace_table(2.0, 128),
            laplace_table(500.0, 1000),
            SymbolTable::from_frequencies(-500, flat).unwrap(),
            SymbolTable::from_frequencies(0, alloc::vec![1, TOTAL - 1]).unwrap(),
        ] {
            let cdf = t.model.cdf();
            for (j, &s) in t.model.first().iter().enumerate() {
                let q = (j as u32) << (CDF_PRECISION - BUCKET_BITS);
                let s = usize::from(s);
                let (left, right) = (u32::from(cdf[s]), upper(cdf[s + 1]));
                assert!(left <= q && q < right, "bucket {j}: symbol {s}");
            }
        }
    }

    #[test]
    fn quantised_tables_are_valid_and_follow_the_probabilities() {
        let t = laplace_table(2.0, 128);
        assert_eq!(t.len(), 257);
        let f: Vec<u32> = t.frequencies().collect();
        assert_eq!(f.iter().sum::<u32>(), TOTAL);
        assert!(f.iter().all(|&f| f >= 1));
        assert!(f[128] > f[127] && f[127] > f[120] && f[120] > f[0]);
        // Uniform and degenerate inputs are accepted too.
        assert!(SymbolTable::from_probabilities(0, &[0.0; 5]).is_ok());
        let peaked = SymbolTable::from_probabilities(0, &[0.0, 1.0, 0.0]).unwrap();
        assert_eq!(peaked.frequencies().collect::<Vec<_>>(), [1, TOTAL - 2, 1]);
    }

    /// The lookup model must be constriction's categorical model with a faster search:
    /// the same answer for every quantile and every symbol, on peaked, flat, two-symbol
    /// and very wide tables (the golden bitstreams check the whole coder).
    #[test]
    fn lookup_model_agrees_with_constrictions_categorical_model() {
        use constriction::stream::model::ContiguousCategoricalEntropyModel;
        let mut tables = vec![
            laplace_table(0.05, 128),
            laplace_table(2.0, 128),
            laplace_table(40.0, 8),
            SymbolTable::from_frequencies(-1, vec![1, TOTAL - 1]).unwrap(),
            SymbolTable::from_frequencies(0, vec![TOTAL - 1, 1]).unwrap(),
            SymbolTable::from_probabilities(0, &[0.0; 4000]).unwrap(),
        ];
        tables.push(SymbolTable::from_probabilities(0, &[0.0, 1.0, 0.0]).unwrap());
        for t in &tables {
            let reference =
                ContiguousCategoricalEntropyModel::<u32, Vec<u32>, CDF_PRECISION>::from_nonzero_fixed_point_probabilities(
                    t.frequencies(),
                    false,
                )
                .unwrap();
            for q in 0..TOTAL {
                assert_eq!(
                    t.model.quantile_function(q),
                    reference.quantile_function(q),
                    "quantile {q}"
                );
            }
            for i in 0..=t.len() {
                assert_eq!(
                    t.model.left_cumulative_and_probability(i),
                    reference.left_cumulative_and_probability(i)
                );
            }
        }
    }

    /// The coder's branch-free context walk gives the contexts of the reference
    /// definition (`context`), on planes with every size class of neighbourhood.
    #[test]
    fn context_walk_matches_the_reference_definition() {
        let mut seed = 0x2545_f491_u32;
        for (channels, height, width, contexts) in [
            (3, 7, 9, 12),
            (2, 1, 5, 12),
            (2, 6, 1, 4),
            (1, 2, 2, 16),
            (4, 5, 6, 2),
            // Rows of several eight-wide vectors and a remainder.
            (2, 4, 41, 12),
            (1, 3, 70, 16),
        ] {
            let n = channels * height * width;
            let mags: Vec<u32> = (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    // Mostly small, sometimes large, as real latents.
                    if seed % 97 == 0 {
                        seed % (1 << 20)
                    } else if seed % 7 == 0 {
                        seed % 300
                    } else {
                        seed % 4
                    }
                })
                .collect();
            let mut got = Vec::new();
            walk_contexts(0..channels, height, width, contexts, |_, i, ctx| {
                got.push(ctx);
                Ok(mags[i])
            })
            .unwrap();
            let mut want = Vec::new();
            for c in 0..channels {
                let plane = &mags[c * height * width..][..height * width];
                for row in 0..height {
                    for col in 0..width {
                        want.push(context(plane, width, row, col, contexts));
                    }
                }
            }
            assert_eq!(
                got, want,
                "{channels}×{height}×{width}, {contexts} contexts"
            );
            // The encoder's whole-plane pass gives the same contexts (signs do not count).
            let mut scratch = vec![0u32; (height + 2) * (width + 3)];
            let mut plane_ctx = vec![0u8; height * width];
            let mut whole = Vec::new();
            for c in 0..channels {
                let plane: Vec<i32> = mags[c * height * width..][..height * width]
                    .iter()
                    .enumerate()
                    .map(|(i, &m)| if i % 3 == 0 { -(m as i32) } else { m as i32 })
                    .collect();
                plane_contexts(&plane, width, contexts, &mut scratch, &mut plane_ctx);
                whole.extend(plane_ctx.iter().map(|&c| usize::from(c)));
            }
            assert_eq!(whole, want, "whole planes, {channels}×{height}×{width}");
        }
    }

    #[test]
    fn bad_tables_are_rejected() {
        assert!(SymbolTable::from_frequencies(0, vec![]).is_err());
        assert!(SymbolTable::from_frequencies(0, vec![TOTAL]).is_err());
        assert!(SymbolTable::from_frequencies(0, vec![0, TOTAL]).is_err());
        assert!(SymbolTable::from_frequencies(0, vec![1, 2]).is_err());
        assert!(SymbolTable::from_frequencies(i32::MAX, vec![TOTAL / 2, TOTAL / 2]).is_err());
        assert!(SymbolTable::from_probabilities(0, &[f64::NAN, 1.0]).is_err());
        assert!(SymbolTable::from_probabilities(0, &[1.0]).is_err());
    }

    #[test]
    fn out_of_range_symbols_and_shapes_are_errors() {
        let t = laplace_table(1.0, 4);
        // Just outside on either side, and the far ends of i32 (which the coding loop's
        // index must not wrap into range).
        for symbol in [5, -5, i32::MAX, i32::MIN] {
            assert_eq!(
                encode(&[0, symbol], &[t.clone()], 2),
                Err(EntropyError::SymbolOutOfRange {
                    channel: 0,
                    symbol,
                    min: -4,
                    max: 4
                })
            );
        }
        assert!(encode(&[-4, 4], &[t.clone()], 2).is_ok());
        assert!(matches!(
            encode(&[0, 1], &[t.clone()], 1),
            Err(EntropyError::ShapeMismatch { .. })
        ));
        assert!(decode(&[1, 2, 3], &[t], 1).is_err());
    }

    #[test]
    fn empty_latent_round_trips() {
        let t = laplace_table(1.0, 4);
        let bytes = encode(&[], &[t.clone(), t.clone()], 0).unwrap();
        assert_eq!(
            decode(&bytes, &[t.clone(), t], 0).unwrap(),
            Vec::<i32>::new()
        );
    }
}
