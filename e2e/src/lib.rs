//! Whole-system tests: real console, agent, Apache, headless Chromium and SMTP processes on
//! loopback. The tests live in `e2e/tests/`; this library will hold their shared harness.
