//! Fault rules (filled in below).
