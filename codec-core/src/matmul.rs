//! Matrix products through the `gemm` crate (the one Burn's flex backend multiplies
//! with), on the calling thread: the callers share their work among the cores
//! themselves. Inference's CPU paths use it: the decoder's Winograd products and its
//! skip on a dense latent (read from planes, [`strided`]), and the encoder's projection.

/// `dst = lhs · rhs` for `lhs` m × k and `rhs` k × n, every matrix row-major with its
/// rows `*_rs` values apart (columns adjacent). Panics if a matrix does not lie within
/// its slice, so the unsafe call below never reads or writes outside them.
#[inline]
pub(crate) fn product(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    dst_rs: usize,
    lhs: &[f32],
    lhs_rs: usize,
    rhs: &[f32],
    rhs_rs: usize,
) {
    let fits = |len: usize, rows: usize, cols: usize, rs: usize| {
        rows == 0 || cols == 0 || (cols <= rs && (rows - 1) * rs + cols <= len)
    };
    assert!(
        fits(dst.len(), m, n, dst_rs)
            && fits(lhs.len(), m, k, lhs_rs)
            && fits(rhs.len(), k, n, rhs_rs),
        "matrix outside its slice"
    );
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: each matrix, with the shape and strides given, lies within its slice
    // (asserted above); `dst` is borrowed mutably, so nothing else reads it meanwhile.
    unsafe {
        strided(
            (m, n, k),
            (dst.as_mut_ptr(), dst_rs, 1),
            (lhs.as_ptr(), lhs_rs, 1),
            (rhs.as_ptr(), rhs_rs, 1),
        )
    }
}

/// `dst = lhs · rhs` for `lhs` m × k and `rhs` k × n, each matrix given as (first value,
/// row stride, column stride).
///
/// # Safety
/// Each matrix lies, with its shape and strides, in memory valid for it (`dst` for
/// writes), and no other thread writes `lhs` or `rhs`, or reads or writes `dst`, meanwhile.
#[inline]
pub(crate) unsafe fn strided(
    (m, n, k): (usize, usize, usize),
    (dst, dst_rs, dst_cs): (*mut f32, usize, usize),
    (lhs, lhs_rs, lhs_cs): (*const f32, usize, usize),
    (rhs, rhs_rs, rhs_cs): (*const f32, usize, usize),
) {
    // SAFETY: as the caller promises.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_cs as isize,
            dst_rs as isize,
            false,
            lhs,
            lhs_cs as isize,
            lhs_rs as isize,
            rhs,
            rhs_cs as isize,
            rhs_rs as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}
