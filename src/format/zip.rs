//! Just enough of the zip format to find a PyTorch checkpoint's `data.pkl` by range: the local
//! header at offset 0 (torch writes `data.pkl` first, stored, often with sizes deferred to a data
//! descriptor), and the end-of-central-directory records (ZIP64 included) as the fallback. Every
//! offset and size is checked against the file size.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZipError {
    #[error("not a zip local file header at byte {0}")]
    NotLocalHeader(u64),
    #[error("no end-of-central-directory record in the last bytes of the file")]
    NoEocd,
    #[error("the central directory ({offset} + {size} bytes) runs past the {file_size}-byte file")]
    CdPastEnd { offset: u64, size: u64, file_size: u64 },
    #[error("the ZIP64 end record at {offset} lies past the {file_size}-byte file")]
    Zip64PastEnd { offset: u64, file_size: u64 },
    #[error("a multi-disk zip (or a corrupt end record): its disk numbers or entry counts disagree")]
    Multidisk,
    #[error("the end record declares {declared} entries, more than its {size}-byte central directory can hold")]
    EntryCount { declared: u64, size: u64 },
    #[error("malformed ZIP64 end record")]
    BadZip64,
    #[error("malformed central directory entry")]
    BadCdEntry,
    #[error("no {0} entry in the central directory")]
    NoEntry(String),
    #[error("{name} is compressed (method {method}); PyTorch writes it stored")]
    Compressed { name: String, method: u16 },
    #[error("{name} at {offset} + {size} bytes runs past the {file_size}-byte file")]
    EntryPastEnd { name: String, offset: u64, size: u64, file_size: u64 },
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A local file header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalEntry {
    pub name: String,
    pub method: u16,
    /// Offset of the entry's data, relative to the header's start.
    pub data_start: u64,
    /// Stored size when the header carries it (not deferred to a data descriptor).
    pub size: Option<u64>,
}

/// Parses the local file header at the start of `b` (`offset` names it in errors).
pub fn local_entry(b: &[u8], offset: u64) -> Result<LocalEntry, ZipError> {
    let bad = ZipError::NotLocalHeader(offset);
    if b.get(..4) != Some(b"PK\x03\x04") {
        return Err(bad);
    }
    let flags = u16_at(b, 6).ok_or(bad.clone())?;
    let method = u16_at(b, 8).ok_or(bad.clone())?;
    let size32 = u32_at(b, 18).ok_or(bad.clone())?;
    let name_len = u16_at(b, 26).ok_or(bad.clone())? as usize;
    let extra_len = u16_at(b, 28).ok_or(bad.clone())? as usize;
    let name = b.get(30..30 + name_len).ok_or(bad.clone())?;
    let name = String::from_utf8_lossy(name).into_owned();
    let extra = b.get(30 + name_len..30 + name_len + extra_len).unwrap_or(&[]);
    let size = if flags & 0x08 != 0 {
        None
    } else if size32 == u32::MAX {
        zip64_field(extra, 8) // ZIP64 extra: uncompressed then compressed size
    } else {
        Some(u64::from(size32))
    };
    Ok(LocalEntry { name, method, data_start: (30 + name_len + extra_len) as u64, size })
}

/// The `index`-th 8-byte value of the ZIP64 extended information extra field.
fn zip64_field(extra: &[u8], skip: usize) -> Option<u64> {
    let mut at = 0;
    while at + 4 <= extra.len() {
        let id = u16_at(extra, at)?;
        let len = u16_at(extra, at + 2)? as usize;
        if id == 0x0001 {
            return u64_at(extra, at + 4 + skip);
        }
        at += 4 + len;
    }
    None
}

/// Where the central directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CdLocation {
    pub offset: u64,
    pub size: u64,
    /// The number of entries the end record declares.
    pub entries: u64,
}

/// What the end of the file says: the central directory, or the offset of a ZIP64 end record to
/// read next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eocd {
    Cd(CdLocation),
    Zip64At(u64),
}

/// Finds the end-of-central-directory record in `tail`, the last bytes of a `file_size`-byte file.
/// With a ZIP64 locator before it, the ZIP64 record is the one read (as miniz reads it).
pub fn eocd(tail: &[u8], file_size: u64) -> Result<Eocd, ZipError> {
    let at = tail.windows(4).rposition(|w| w == b"PK\x05\x06").ok_or(ZipError::NoEocd)?;
    if at >= 20 && tail.get(at - 20..at - 16) == Some(b"PK\x06\x07") {
        let z64 = u64_at(tail, at - 20 + 8).ok_or(ZipError::BadZip64)?;
        if z64 >= file_size {
            return Err(ZipError::Zip64PastEnd { offset: z64, file_size });
        }
        if u32_at(tail, at - 20 + 16) != Some(1) {
            return Err(ZipError::Multidisk); // the locator's total number of disks
        }
        return Ok(Eocd::Zip64At(z64));
    }
    eocd32(tail, file_size)
}

/// The plain end-of-central-directory record in `tail`, ignoring any ZIP64 locator (what a reader
/// falls back to when the ZIP64 record is not well formed).
pub fn eocd32(tail: &[u8], file_size: u64) -> Result<Eocd, ZipError> {
    let at = tail.windows(4).rposition(|w| w == b"PK\x05\x06").ok_or(ZipError::NoEocd)?;
    let field = |o: usize| u16_at(tail, at + o).ok_or(ZipError::NoEocd);
    let (disk, cd_disk, on_disk, total) = (field(4)?, field(6)?, field(8)?, field(10)?);
    if disk != 0 || cd_disk != 0 || on_disk != total {
        return Err(ZipError::Multidisk);
    }
    let size = u32_at(tail, at + 12).ok_or(ZipError::NoEocd)?;
    let offset = u32_at(tail, at + 16).ok_or(ZipError::NoEocd)?;
    check_cd(u64::from(offset), u64::from(size), u64::from(total), file_size).map(Eocd::Cd)
}

/// Parses a ZIP64 end-of-central-directory record.
pub fn zip64_eocd(b: &[u8], file_size: u64) -> Result<CdLocation, ZipError> {
    if b.get(..4) != Some(b"PK\x06\x06") {
        return Err(ZipError::BadZip64);
    }
    let disk = u32_at(b, 16).ok_or(ZipError::BadZip64)?;
    let cd_disk = u32_at(b, 20).ok_or(ZipError::BadZip64)?;
    let on_disk = u64_at(b, 24).ok_or(ZipError::BadZip64)?;
    let total = u64_at(b, 32).ok_or(ZipError::BadZip64)?;
    if disk != 0 || cd_disk != 0 || on_disk != total {
        return Err(ZipError::Multidisk);
    }
    let size = u64_at(b, 40).ok_or(ZipError::BadZip64)?;
    let offset = u64_at(b, 48).ok_or(ZipError::BadZip64)?;
    check_cd(offset, size, total, file_size)
}

fn check_cd(offset: u64, size: u64, entries: u64, file_size: u64) -> Result<CdLocation, ZipError> {
    if offset.checked_add(size).is_none_or(|end| end > file_size) {
        return Err(ZipError::CdPastEnd { offset, size, file_size });
    }
    Ok(CdLocation { offset, size, entries })
}

/// A central directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdEntry {
    pub name: String,
    pub method: u16,
    pub size: u64,
    pub local_offset: u64,
    pub crc32: u32,
    /// Marked a directory (a name ending in `/`, or the MS-DOS directory attribute).
    pub is_dir: bool,
}

/// The CRC-32 (IEEE, as zip uses it) of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    !data.iter().fold(!0u32, |c, b| TABLE[((c ^ u32::from(*b)) & 0xff) as usize] ^ (c >> 8))
}

/// The `count` entries a central directory declares, each well formed with its data inside the
/// file (bytes after them are ignored, as miniz, torch's zip reader, ignores them).
pub fn entries(cd: &[u8], count: u64, file_size: u64) -> Result<Vec<CdEntry>, ZipError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    for _ in 0..count {
        let (entry, next) = entry_at(cd, at, file_size)?;
        out.push(entry);
        at = next;
    }
    Ok(out)
}

/// The entry at `at` and the offset of the next.
fn entry_at(cd: &[u8], at: usize, file_size: u64) -> Result<(CdEntry, usize), ZipError> {
    if cd.get(at..at + 4) != Some(b"PK\x01\x02") {
        return Err(ZipError::BadCdEntry);
    }
    let method = u16_at(cd, at + 10).ok_or(ZipError::BadCdEntry)?;
    let crc32 = u32_at(cd, at + 16).ok_or(ZipError::BadCdEntry)?;
    let size32 = u32_at(cd, at + 20).ok_or(ZipError::BadCdEntry)?;
    let usize32 = u32_at(cd, at + 24).ok_or(ZipError::BadCdEntry)?;
    let name_len = u16_at(cd, at + 28).ok_or(ZipError::BadCdEntry)? as usize;
    let extra_len = u16_at(cd, at + 30).ok_or(ZipError::BadCdEntry)? as usize;
    let comment_len = u16_at(cd, at + 32).ok_or(ZipError::BadCdEntry)? as usize;
    let disk_start = u16_at(cd, at + 34).ok_or(ZipError::BadCdEntry)?;
    let external = u32_at(cd, at + 38).ok_or(ZipError::BadCdEntry)?;
    let local32 = u32_at(cd, at + 42).ok_or(ZipError::BadCdEntry)?;
    if disk_start > 1 {
        return Err(ZipError::Multidisk);
    }
    let name = cd.get(at + 46..at + 46 + name_len).ok_or(ZipError::BadCdEntry)?;
    let extra = cd.get(at + 46 + name_len..at + 46 + name_len + extra_len).ok_or(ZipError::BadCdEntry)?;
    let next = at + 46 + name_len + extra_len + comment_len;
    if next > cd.len() {
        return Err(ZipError::BadCdEntry);
    }
    // ZIP64 extra holds, in order, only the fields that overflowed.
    let mut skip = 0;
    let mut next64 = || {
        let v = zip64_field(extra, skip);
        skip += 8;
        v
    };
    let usize64 = if usize32 == u32::MAX { next64().ok_or(ZipError::BadCdEntry)? } else { u64::from(usize32) };
    let size = if size32 == u32::MAX { next64().ok_or(ZipError::BadCdEntry)? } else { u64::from(size32) };
    let local_offset = if local32 == u32::MAX { next64().ok_or(ZipError::BadCdEntry)? } else { u64::from(local32) };
    let name = String::from_utf8_lossy(name).into_owned();
    if method == 0 && usize64 != size {
        return Err(ZipError::BadCdEntry);
    }
    if local_offset.checked_add(size).is_none_or(|end| end > file_size) {
        return Err(ZipError::EntryPastEnd { name, offset: local_offset, size, file_size });
    }
    let is_dir = name.ends_with('/') || external & 0x10 != 0;
    Ok((CdEntry { name, method, size, local_offset, crc32, is_dir }, next))
}

/// Finds the first entry whose name ends with `suffix` in central directory bytes.
pub fn find_entry(cd: &[u8], suffix: &str, file_size: u64) -> Result<CdEntry, ZipError> {
    let mut at = 0usize;
    while at + 46 <= cd.len() {
        let (entry, next) = entry_at(cd, at, file_size)?;
        if entry.name.ends_with(suffix) {
            return Ok(entry);
        }
        at = next;
    }
    Err(ZipError::NoEntry(suffix.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eocd_lies_are_caught() {
        let mut tail = vec![0u8; 10];
        tail.extend_from_slice(b"PK\x05\x06");
        tail.extend_from_slice(&[0; 8]);
        tail.extend_from_slice(&500u32.to_le_bytes()); // cd size
        tail.extend_from_slice(&900u32.to_le_bytes()); // cd offset
        tail.extend_from_slice(&[0, 0]);
        assert!(matches!(eocd(&tail, 1000), Err(ZipError::CdPastEnd { .. })));
        assert_eq!(eocd(&tail, 2000), Ok(Eocd::Cd(CdLocation { offset: 900, size: 500, entries: 0 })));
        assert_eq!(eocd(b"no record here", 14), Err(ZipError::NoEocd));
    }

    #[test]
    fn zip64_locator_past_the_end_is_an_error() {
        let mut tail = b"PK\x06\x07".to_vec();
        tail.extend_from_slice(&[0; 4]);
        tail.extend_from_slice(&(1u64 << 60).to_le_bytes());
        tail.extend_from_slice(&[0; 4]);
        tail.extend_from_slice(b"PK\x05\x06");
        tail.extend_from_slice(&[0xff; 16]);
        tail.extend_from_slice(&[0, 0]);
        assert!(matches!(eocd(&tail, 4096), Err(ZipError::Zip64PastEnd { .. })));
    }

    #[test]
    fn local_header_and_cd_entry() {
        assert_eq!(local_entry(b"nope", 0), Err(ZipError::NotLocalHeader(0)));
        let mut cd = b"PK\x01\x02".to_vec();
        cd.extend_from_slice(&[0; 6]);
        cd.extend_from_slice(&0u16.to_le_bytes()); // method
        cd.extend_from_slice(&[0; 8]);
        cd.extend_from_slice(&100u32.to_le_bytes()); // compressed
        cd.extend_from_slice(&100u32.to_le_bytes()); // uncompressed
        cd.extend_from_slice(&16u16.to_le_bytes()); // name len
        cd.extend_from_slice(&[0; 12]);
        cd.extend_from_slice(&5000u32.to_le_bytes()); // local offset
        cd.extend_from_slice(b"archive/data.pkl");
        assert_eq!(cd.len(), 46 + 16);
        let e = find_entry(&cd, "data.pkl", 10_000).unwrap();
        assert_eq!((e.name.as_str(), e.size, e.local_offset), ("archive/data.pkl", 100, 5000));
        assert!(matches!(find_entry(&cd, "data.pkl", 5050), Err(ZipError::EntryPastEnd { .. })));
        assert_eq!(entries(&cd, 1, 10_000).unwrap().len(), 1);
        assert_eq!(entries(&cd[..50], 1, 10_000), Err(ZipError::BadCdEntry));
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(find_entry(&cd, "other.pkl", 10_000), Err(ZipError::NoEntry("other.pkl".into())));
    }
}
