//! Certification of component packages (being written: issue 4).

use crate::error::Result;
use crate::guard::GuardContext;

/// Certification guard (being written).
pub fn enforce(_ctx: &GuardContext<'_>) -> Result<Vec<String>> {
    Ok(Vec::new())
}
