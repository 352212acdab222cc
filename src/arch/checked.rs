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

/// Python's `int(n * factor)` for a config's float factor (an MLP ratio, a multiplier): `n` is at
/// most 2^40 here, so the product is exact enough and the truncation matches; a result past 2^53
/// or not finite is an overflow.
pub fn scale(n: u64, factor: f64) -> Result<u64, ArchError> {
    #[allow(clippy::cast_precision_loss)]
    let product = n as f64 * factor;
    if !product.is_finite() || !(0.0..9_007_199_254_740_992.0).contains(&product) {
        return Err(ArchError::Overflow);
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(product as u64)
}
