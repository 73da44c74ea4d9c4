//! Writes small PDFs for tests, examples and synthetic catalogs.
