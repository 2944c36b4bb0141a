//! A streaming writer of NumPy `.npy` files (format 1.0, little-endian float32), readable
//! by `numpy.load`. The shape is fixed up front; rows are appended as they are computed,
//! into a temporary file renamed on [`NpyWriter::finish`].

use std::path::Path;

use crate::data::AtomicFile;
use crate::error::{Error, Result};

/// Writes one float32 array of a known shape, row block by row block.
pub struct NpyWriter {
    file: AtomicFile,
    remaining: usize,
}

/// The `.npy` header for a C-order float32 array of `shape`, padded to 64 bytes.
pub fn header(shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Magic (6) + version (2) + length (2) + dict + newline, a multiple of 64.
    let unpadded = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

impl NpyWriter {
    /// Starts `path` holding an array of `shape`.
    pub fn create(path: &Path, shape: &[usize]) -> Result<Self> {
        let mut file = AtomicFile::create(path)?;
        file.write(&header(shape))?;
        Ok(NpyWriter {
            file,
            remaining: shape.iter().product(),
        })
    }

    /// Appends values in C order.
    pub fn write(&mut self, values: &[f32]) -> Result<()> {
        if values.len() > self.remaining {
            return Err(Error::Invalid(format!(
                "{}: more values than its shape holds",
                self.file.path().display()
            )));
        }
        self.remaining -= values.len();
        self.file.write(bytemuck::cast_slice(values))
    }

    /// Checks that the array is complete and moves it into place.
    pub fn finish(self) -> Result<()> {
        if self.remaining != 0 {
            return Err(Error::Invalid(format!(
                "{}: {} values missing",
                self.file.path().display(),
                self.remaining
            )));
        }
        self.file.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_aligned_and_describes_the_shape() {
        let h = header(&[3, 4]);
        assert_eq!(h.len() % 64, 0);
        let text = String::from_utf8_lossy(&h[10..]);
        assert!(text.contains("'shape': (3, 4)"), "{text}");
        assert!(header(&[5]).windows(4).any(|w| w == b"(5,)"));
    }
}
