// Package browsertest runs headless Chromium for tests and drives it with
// chromedp. Each [New] is one person: a browser of its own with a fresh
// profile, so cookies and sessions never leak between the people of a test.
//
// Chromium is found through $MARKETBRIDGE_TEST_CHROMIUM or as "chromium" on
// the PATH. Without it a test is skipped, except when $CI is set: there a
// missing browser fails the test, so that CI never passes by skipping. When a
// test fails, each browser leaves a screenshot, the page's HTML and its own
// log in $MARKETBRIDGE_TEST_ARTIFACTS, or in a temporary folder named in the
// test log.
package browsertest
