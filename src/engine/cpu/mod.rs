//! The CPU reference backend (in progress).
