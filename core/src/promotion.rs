//! Promotion order (being written: issue 5).

use crate::error::Result;
use crate::guard::GuardContext;

/// Promotion guard (being written).
pub fn enforce(_ctx: &GuardContext<'_>) -> Result<Vec<String>> {
    Ok(Vec::new())
}
