package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The environment variables the package reads.
const (
	EnvChromium  = "MARKETBRIDGE_TEST_CHROMIUM"  // the Chromium binary; else "chromium" on the PATH
	EnvArtifacts = "MARKETBRIDGE_TEST_ARTIFACTS" // where failed tests leave screenshots; else a temporary folder
)

// The timeouts are generous on purpose: they turn a hang (an element that
// never appears, a page that never loads) into a failure that names the
// step, and never measure speed.
const (
	// LaunchTimeout bounds Chromium's start.
	LaunchTimeout = 30 * time.Second
	// StepTimeout bounds one step: a navigation, a click and the page it
	// loads, a query that waits for an element.
	StepTimeout = 30 * time.Second
	// Budget bounds everything one browser does in a test. A hang ends at
	// StepTimeout; this only stops a test that goes on and on, so it leaves
	// room for a machine busy with other suites, where a 90 s budget ended
	// walks of a dozen pages that were slow, not stuck.
	Budget = 5 * time.Minute
)

// Browser is one person's headless Chromium with a single tab. Its methods
// stop the test with t.Fatal when a step fails, so a test reads as the list
// of things the person does.
type Browser struct {
	t        testing.TB
	name     string
	ctx      context.Context // the tab; lives until the test's cleanup
	deadline time.Time
	log      *lockedBuffer

	mu         sync.Mutex
	exceptions []string
}

// New starts a browser for t, with a profile of its own in t.TempDir(), and
// closes it when the test ends. name says who the browser is ("admin",
// "developer") in failure messages and artifact names.
//
// When the test fails, or a page threw an uncaught JavaScript exception
// (which fails the test), the browser saves a screenshot, the page's HTML
// and its log first.
func New(t testing.TB, name string) *Browser {
	t.Helper()
	execPath := chromiumPath(t)
	b := &Browser{t: t, name: name, log: &lockedBuffer{limit: 1 << 20}, deadline: time.Now().Add(Budget)}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(t.TempDir()), // a fresh profile: a different person
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root, where the sandbox cannot start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(b.log),
	)
	// The browser outlives t.Context(), which ends before cleanups run, so
	// that a failed test can still take its screenshot.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx,
		chromedp.WithLogf(b.log.printf), chromedp.WithErrorf(b.log.printf))
	b.ctx = ctx
	// Cleanups run last-registered first: the browser has saved its
	// artifacts before it closes, and it has exited before t.TempDir()
	// removes its profile.
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})

	// The first action starts Chromium and binds it to the context it runs
	// on, so it runs on the tab's context, which has no deadline; the wait
	// for it is bounded here instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("%s: start Chromium (%s): %v\n%s", name, execPath, err, b.log.String())
		}
	case <-time.After(LaunchTimeout):
		cancelTab()
		t.Fatalf("%s: Chromium (%s) did not start within %s\n%s", name, execPath, LaunchTimeout, b.log.String())
	}
	if err := chromedp.Listen(ctx, b.recordException); err != nil {
		t.Fatalf("%s: listen to the page: %v", name, err)
	}
	t.Cleanup(b.finish)
	return b
}

// chromiumPath finds the browser, or skips the test (fails it on CI) when
// there is none.
func chromiumPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvChromium); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			t.Fatalf("%s=%s: %v", EnvChromium, p, err)
		}
		return path
	}
	path, err := exec.LookPath("chromium")
	if err == nil {
		return path
	}
	msg := "browser tests need Chromium: install it (apt-get install chromium) or set " + EnvChromium + " to its path"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "; CI is set, so the suite fails rather than skip")
	}
	t.Skip(msg)
	return ""
}

// SetViewport lays pages out at width × height CSS pixels from now on, as a
// window or a phone of that size would (reflow checks: 320 px is WCAG 2.1's
// narrowest). The browser starts at 1280 × 900.
func (b *Browser) SetViewport(width, height int) {
	b.t.Helper()
	run(b, fmt.Sprintf("set the viewport to %d×%d", width, height), chromedp.EmulateViewport(int64(width), int64(height)))
}

// ExtendBudget gives a test that walks through many pages more time than
// Budget in all.
func (b *Browser) ExtendBudget(d time.Duration) { b.deadline = b.deadline.Add(d) }

// Context is the tab's context, for chromedp actions the methods do not
// cover. It has no deadline: bound each use yourself.
func (b *Browser) Context() context.Context { return b.ctx }

// Visit loads url and returns the HTTP status of the page it ends on, after
// redirects.
func (b *Browser) Visit(url string) int {
	b.t.Helper()
	resp := run(b, "visit "+url, chromedp.NavigateResponse(url))
	return int(resp.Status)
}

// Click clicks the first element that matches the CSS selector, a link or a
// submit button, waits for the page it loads and returns that page's HTTP
// status, after redirects.
func (b *Browser) Click(css string) int {
	b.t.Helper()
	return b.waitPage("click "+css, chromedp.Click(chromedp.CSS(css)))
}

// Fill replaces the value of the text field that matches the CSS selector
// by typing text into it.
func (b *Browser) Fill(css, text string) {
	b.t.Helper()
	clear := chromedp.Evaluate[chromedp.Void](fmt.Sprintf("document.querySelector(%s).value = ''", jsString(css)))
	run(b, fmt.Sprintf("fill %s with %q", css, text), chromedp.Steps(
		chromedp.WaitVisible(chromedp.CSS(css)),
		clear,
		chromedp.SendKeys(chromedp.CSS(css), text),
	))
}

// Select chooses the option whose value is value in the select box that
// matches the CSS selector; the page sees the input and change events a
// person's choice fires.
func (b *Browser) Select(css, value string) {
	b.t.Helper()
	run(b, fmt.Sprintf("select %q in %s", value, css), selectOption(css, value))
}

// SelectAndWait is Select on a select box whose change loads another page,
// such as one that submits its form on change. It returns the new page's
// HTTP status.
func (b *Browser) SelectAndWait(css, value string) int {
	b.t.Helper()
	return b.waitPage(fmt.Sprintf("select %q in %s", value, css), selectOption(css, value))
}

// Text is the visible text of the first element that matches the CSS
// selector, once there is one, with surrounding space trimmed.
func (b *Browser) Text(css string) string {
	b.t.Helper()
	return strings.TrimSpace(run(b, "read the text of "+css, chromedp.Text(chromedp.CSS(css))))
}

// Value is the current value of the form field that matches the CSS
// selector, once there is one.
func (b *Browser) Value(css string) string {
	b.t.Helper()
	return run(b, "read the value of "+css, chromedp.Value(chromedp.CSS(css)))
}

// Has reports whether an element matches the CSS selector now, without
// waiting for one to appear.
func (b *Browser) Has(css string) bool {
	b.t.Helper()
	return Eval[bool](b, fmt.Sprintf("document.querySelector(%s) !== null", jsString(css)))
}

// Visible reports whether an element matches the CSS selector now and is
// rendered (not hidden, not display:none).
func (b *Browser) Visible(css string) bool {
	b.t.Helper()
	return Eval[bool](b, fmt.Sprintf("(e => e !== null && e.checkVisibility())(document.querySelector(%s))", jsString(css)))
}

// URL is the address of the page the browser is on.
func (b *Browser) URL() *url.URL {
	b.t.Helper()
	loc := run(b, "read the location", chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil {
		b.t.Fatalf("%s: location %q: %v", b.name, loc, err)
	}
	return u
}

// Eval evaluates a JavaScript expression in the page and decodes its value
// into a T.
func Eval[T any](b *Browser, expression string) T {
	b.t.Helper()
	return run(b, "evaluate "+expression, chromedp.Evaluate[T](expression))
}

// waitPage runs step, which makes the page load another, and returns the
// new page's status.
func (b *Browser) waitPage(what string, step chromedp.Action[chromedp.Void]) int {
	b.t.Helper()
	resp := run(b, what, func(ctx context.Context, t *chromedp.Target) (int64, error) {
		resp, err := chromedp.RunResponse(ctx, step)
		if err != nil {
			return 0, err
		}
		if resp == nil {
			return 0, fmt.Errorf("no page loaded")
		}
		return resp.Status, nil
	})
	return int(resp)
}

// run runs one step within StepTimeout and the browser's Budget, and stops
// the test when it fails.
func run[T any](b *Browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	deadline := time.Now().Add(StepTimeout)
	if b.deadline.Before(deadline) {
		deadline = b.deadline
	}
	ctx, cancel := context.WithDeadline(b.ctx, deadline)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, what, err)
	}
	return v
}

// selectOption sets a select box as a person's choice does, and fails when
// the box or the option does not exist, rather than leave the box empty.
func selectOption(css, value string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`((sel, value) => {
  const box = document.querySelector(sel);
  if (box === null) return "no element matches " + sel;
  if (![...box.options].some(o => o.value === value)) return "it has no option " + value;
  box.value = value;
  box.dispatchEvent(new Event("input", {bubbles: true}));
  box.dispatchEvent(new Event("change", {bubbles: true}));
  return "";
})(%s, %s)`, jsString(css), jsString(value))
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := chromedp.WaitReady(chromedp.CSS(css))(ctx, t); err != nil {
			return err
		}
		problem, err := chromedp.Evaluate[string](js)(ctx, t)
		if err != nil {
			return err
		}
		if problem != "" {
			return fmt.Errorf("%s", problem)
		}
		return nil
	})
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// recordException runs in the tab's event loop: it only takes note.
func (b *Browser) recordException(ev any) {
	e, ok := ev.(*runtime.EventExceptionThrown)
	if !ok || e.ExceptionDetails == nil {
		return
	}
	d := e.ExceptionDetails
	text := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		text += " " + d.Exception.Description
	}
	b.mu.Lock()
	b.exceptions = append(b.exceptions, fmt.Sprintf("%s:%d: %s", d.URL, d.LineNumber+1, text))
	b.mu.Unlock()
}

// finish fails the test on uncaught page exceptions, and saves what the
// browser shows when the test failed.
func (b *Browser) finish() {
	b.mu.Lock()
	exceptions := b.exceptions
	b.mu.Unlock()
	if len(exceptions) > 0 {
		b.t.Errorf("%s: the pages threw uncaught JavaScript exceptions:\n%s", b.name, strings.Join(exceptions, "\n"))
	}
	if b.t.Failed() {
		b.saveArtifacts()
	}
}

func (b *Browser) saveArtifacts() {
	dir := os.Getenv(EnvArtifacts)
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.t.Logf("%s: no artifacts: %v", b.name, err)
			return
		}
	} else {
		// Not t.TempDir(): that is removed when the test ends, before
		// anyone could look.
		var err error
		if dir, err = os.MkdirTemp("", "marketbridge-browsertest-"); err != nil {
			b.t.Logf("%s: no artifacts: %v", b.name, err)
			return
		}
	}
	base := filepath.Join(dir, fileName(b.t.Name()+"-"+b.name))
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		_ = os.WriteFile(base+".png", png, 0o644)
	}
	if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err == nil {
		_ = os.WriteFile(base+".html", []byte(html), 0o644)
	}
	_ = os.WriteFile(base+"-chromium.log", []byte(b.log.String()), 0o644)
	b.t.Logf("%s was on %s; its screenshot, HTML and log are in %s.*", b.name, loc, base)
}

// fileName makes a test name safe as a file name.
func fileName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}

// lockedBuffer collects Chromium's output and chromedp's log lines, which
// arrive from other goroutines, up to limit bytes.
type lockedBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	limit int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.limit - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *lockedBuffer) printf(format string, args ...any) {
	fmt.Fprintf(l, format+"\n", args...)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
