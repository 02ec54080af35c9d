//! Deployment lifecycle: tag, rollback, destroy (being written: issue 5).
