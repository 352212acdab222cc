//! Checked arithmetic on sizes derived from a config: an overflow (or a division by zero) is an
//! [`ArchError::Overflow`], never a wrap or a panic. The `arch` module denies unchecked integer
//! arithmetic (`clippy::arithmetic_side_effects`), so every product of config values goes through
//! these.

use super::ArchError;

pub trait Checked: Sized {
    fn times(self, rhs: u64) -> Result<u64, ArchError>;
    fn plus(self, rhs: u64) -> Result<u64, ArchError>;
    fn minus(self, rhs: u64) -> Result<u64, ArchError>;
    /// Floor division.
    fn over(self, rhs: u64) -> Result<u64, ArchError>;
    /// Ceiling division.
    fn over_ceil(self, rhs: u64) -> Result<u64, ArchError>;
    /// Remainder.
    fn modulo(self, rhs: u64) -> Result<u64, ArchError>;
}

impl Checked for u64 {
    fn times(self, rhs: u64) -> Result<u64, ArchError> {
        self.checked_mul(rhs).ok_or(ArchError::Overflow)
    }
    fn plus(self, rhs: u64) -> Result<u64, ArchError> {
        self.checked_add(rhs).ok_or(ArchError::Overflow)
    }
    fn minus(self, rhs: u64) -> Result<u64, ArchError> {
        self.checked_sub(rhs).ok_or(ArchError::Overflow)
    }
    fn over(self, rhs: u64) -> Result<u64, ArchError> {
        self.checked_div(rhs).ok_or(ArchError::Overflow)
    }
    fn over_ceil(self, rhs: u64) -> Result<u64, ArchError> {
        if rhs == 0 {
            return Err(ArchError::Overflow);
        }
        Ok(self.div_ceil(rhs))
    }
    fn modulo(self, rhs: u64) -> Result<u64, ArchError> {
        self.checked_rem(rhs).ok_or(ArchError::Overflow)
    }
}

/// The sum of `terms`, checked.
pub fn sum(terms: impl IntoIterator<Item = u64>) -> Result<u64, ArchError> {
    terms.into_iter().try_fold(0u64, |acc, t| acc.plus(t))
}

/// The product of `factors`, checked.
pub fn product(factors: impl IntoIterator<Item = u64>) -> Result<u64, ArchError> {
    factors.into_iter().try_fold(1u64, |acc, f| acc.times(f))
}
