//go:build !unix

// Package browsertest drives a real headless Chromium for tests; it needs
// a Unix system (to end chromedriver with the browsers it started).
package browsertest
