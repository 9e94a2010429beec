//! Row-major matrix products through the `gemm` crate (the one Burn's flex backend
//! multiplies with), on the calling thread: the callers share their work among the cores
//! themselves. Inference's CPU paths use it: the decoder's Winograd products and the
//! encoder's projection.

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
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            false,
            lhs.as_ptr(),
            1,
            lhs_rs as isize,
            rhs.as_ptr(),
            1,
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
