//! Splits compound figures into panels.
