//! The vigild daemon as a library, so that tests can drive its parts.
