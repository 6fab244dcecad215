package emulator_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// outcome records how a test helper ended a test, without ending this one.
type outcome struct {
	testing.TB
	fatal, skip string
}

func (o *outcome) Helper() {}
func (o *outcome) Fatal(args ...any) {
	o.fatal = fmt.Sprint(args...)
	runtime.Goexit()
}
func (o *outcome) Fatalf(format string, args ...any) {
	o.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (o *outcome) Skip(args ...any) {
	o.skip = fmt.Sprint(args...)
	runtime.Goexit()
}

// Without Chromium the buyer pages' browser test fails in CI, whatever $CI
// says, and is skipped with a message elsewhere, as the seller's browser
// suites do (#11).
func TestChromiumPath_AbsentFailsInAnyCI(t *testing.T) {
	for _, tc := range []struct {
		ci       string
		wantFail bool
	}{
		{"true", true}, {"1", true}, {"yes", true}, {"", false},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("PATH", t.TempDir()) // no chromium here
			t.Setenv("MARKETBRIDGE_TEST_CHROMIUM", "")
			t.Setenv("CI", tc.ci)
			o := &outcome{TB: t}
			var path string
			done := make(chan struct{})
			go func() { // Fatal and Skip end this goroutine, as they end a test's
				defer close(done)
				path = chromiumPath(o)
			}()
			<-done
			if path != "" {
				t.Fatalf("found Chromium at %s in an empty PATH", path)
			}
			switch {
			case tc.wantFail && o.fatal == "":
				t.Errorf("CI=%q without Chromium: not failed (skip %q)", tc.ci, o.skip)
			case !tc.wantFail && (o.fatal != "" || !strings.Contains(o.skip, "Chromium")):
				t.Errorf("without CI and Chromium: fatal %q, skip %q; want a skip that says why", o.fatal, o.skip)
			}
		})
	}
}
