//! `.wl` parsing: any bytes give a header and file or a typed error, never a panic or an
//! allocation beyond the limits; whatever parses writes back to exactly the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use walloc_core::container::{self, FormatError, Limits};

fn check(data: &[u8], limits: &Limits) -> Result<(), FormatError> {
    let header = container::read_header(data, limits);
    let file = container::read(data, limits)?;
    assert_eq!(
        header.as_ref(),
        Ok(&file.header),
        "read and read_header disagree"
    );
    let again = file.to_bytes().expect("a file that reads also writes");
    assert_eq!(again, data, "read then write changed the bytes");
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    for limits in [Limits::default(), walloc_fuzz::limits()] {
        if let Err(FormatError::Crc { .. }) = check(data, &limits) {
            // Past the checksum too: the same bytes with a correct CRC.
            let mut fixed = data.to_vec();
            if walloc_fuzz::fix_up(&mut fixed, None) {
                let _ = check(&fixed, &limits);
            }
        }
    }
});
