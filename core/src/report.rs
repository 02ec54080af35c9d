//! The one channel from the library to whoever runs it: progress and warnings. The library never
//! prints; the command layer (`bins/cli`) implements [`Reporter`] for text and `--json` output,
//! and tests implement it to collect what was said.

use std::sync::Mutex;

/// Where an operation says what it is doing. Results are not reported here: every operation
/// returns a typed report.
pub trait Reporter: Sync {
    /// A step of a long operation (`dev/web: terraform init + plan`).
    fn progress(&self, message: &str);
    /// Something the user should know that does not stop the operation.
    fn warning(&self, message: &str);
}

/// Keeps everything said, in order (`"progress: ..."`, `"warning: ..."`); for tests.
#[derive(Debug, Default)]
pub struct Collect(pub Mutex<Vec<String>>);

impl Collect {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Reporter for Collect {
    fn progress(&self, message: &str) {
        if let Ok(mut l) = self.0.lock() {
            l.push(format!("progress: {message}"));
        }
    }
    fn warning(&self, message: &str) {
        if let Ok(mut l) = self.0.lock() {
            l.push(format!("warning: {message}"));
        }
    }
}

/// Keeps what is said to replay it later in one piece: work done in parallel (one `Deferred` per
/// item) reports in the items' order, whichever thread finished first.
#[derive(Debug, Default)]
pub struct Deferred(Mutex<Vec<(bool, String)>>);

impl Deferred {
    /// Says everything kept to `to`, in the order it was said here.
    pub fn replay(self, to: &dyn Reporter) {
        for (warning, message) in self.0.into_inner().unwrap_or_else(|e| e.into_inner()) {
            if warning {
                to.warning(&message);
            } else {
                to.progress(&message);
            }
        }
    }
}

impl Reporter for Deferred {
    fn progress(&self, message: &str) {
        if let Ok(mut l) = self.0.lock() {
            l.push((false, message.to_owned()));
        }
    }
    fn warning(&self, message: &str) {
        if let Ok(mut l) = self.0.lock() {
            l.push((true, message.to_owned()));
        }
    }
}
