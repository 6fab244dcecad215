package buyer

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/azure/market"
)

//go:embed templates/*.html
var templateFS embed.FS

// templates holds one parsed set per page, each with the shared layout.
type templates struct {
	pages map[string]*template.Template
}

var funcs = template.FuncMap{
	"dollars":  dollars,
	"cents":    cents,
	"termName": termName,
	"per":      termPer,
	"count":    func(n int64) string { return groupDigits(strconv.FormatInt(n, 10)) },
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("Jan 2, 2006")
	},
	"datetime": func(t time.Time) string { return t.UTC().Format("Jan 2, 2006 15:04 UTC") },
	"status":   statusClass,
}

func parseTemplates() *templates {
	t := &templates{pages: map[string]*template.Template{}}
	names, err := templateFS.ReadDir("templates")
	if err != nil {
		panic(fmt.Sprintf("azure buyer templates: %v", err)) // embedded at build time
	}
	for _, n := range names {
		if n.Name() == "layout.html" {
			continue
		}
		page := strings.TrimSuffix(n.Name(), ".html")
		t.pages[page] = template.Must(template.New("layout.html").Funcs(funcs).
			ParseFS(templateFS, "templates/layout.html", "templates/"+n.Name()))
	}
	return t
}

// dollars writes micro-dollars as US dollars: cents always, finer digits
// only when the amount has them ($0.01, $1,000.00, $0.0025, -$0.50). The
// magnitude is taken as uint64, so math.MinInt64 has a sign too.
func dollars(v market.Micros) string {
	n := int64(v)
	mag := uint64(n)
	sign := ""
	if n < 0 {
		mag, sign = -mag, "-"
	}
	frac := strings.TrimRight(fmt.Sprintf("%06d", mag%1_000_000), "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return sign + "$" + groupDigits(strconv.FormatUint(mag/1_000_000, 10)) + "." + frac
}

// cents writes an invoice amount in cents as US dollars; no
// multiplication, so no amount overflows on the way.
func cents(c int64) string {
	mag := uint64(c)
	sign := ""
	if c < 0 {
		mag, sign = -mag, "-"
	}
	return fmt.Sprintf("%s$%s.%02d", sign, groupDigits(strconv.FormatUint(mag/100, 10)), mag%100)
}

// groupDigits puts thousands separators into a run of digits.
func groupDigits(d string) string {
	neg := strings.HasPrefix(d, "-")
	d = strings.TrimPrefix(d, "-")
	var b strings.Builder
	for i, c := range d {
		if i > 0 && (len(d)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// termName is how the portal names a billing term.
func termName(unit string) string {
	switch unit {
	case "P1M":
		return "1 month"
	case "P1Y":
		return "1 year"
	}
	if len(unit) == 3 && unit[0] == 'P' && unit[2] == 'Y' {
		return unit[1:2] + " years"
	}
	return unit
}

// termPer is the "per ..." of a price for a term.
func termPer(unit string) string {
	switch unit {
	case "P1M":
		return "month"
	case "P1Y":
		return "year"
	}
	return termName(unit)
}

func statusClass(s string) string {
	switch s {
	case market.StatusSubscribed:
		return "ok"
	case market.StatusPending:
		return "pending"
	case market.StatusSuspended:
		return "warn"
	}
	return "ended"
}

// view is what every page gets.
type view struct {
	Title  string
	Base   string // the prefix: links are {{.Base}}/...
	Buyer  *buyer
	Path   string // this page, for forms that come back to it
	Notice string
	Data   any
}

func (p *Pages) render(w http.ResponseWriter, r *http.Request, status int, page, title string, data any) {
	v := view{Title: title, Base: p.base, Path: r.URL.Path, Notice: notices[r.URL.Query().Get("done")], Data: data}
	if b, ok := p.current(r); ok {
		v.Buyer = &b
	}
	var buf bytes.Buffer
	if err := p.tmpl.pages[page].Execute(&buf, v); err != nil {
		p.log.Error("render azure buyer page", "page", page, "err", err)
		http.Error(w, "The page could not be rendered; see the emulator's log.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes()) //nolint:errcheck // the browser went away
}

// notices are the messages a redirect may ask the next page to show, by
// code, so that no text from the URL reaches the page.
var notices = map[string]string{
	"signed-in":      "You are signed in. Pick an offer to buy, or see your SaaS subscriptions.",
	"purchased":      "Thank you for your purchase. Your SaaS subscription waits for you to configure your account with the publisher: select Configure account now.",
	"plan-requested": "Plan change requested. Microsoft has told the publisher; the change completes when the publisher acknowledges it.",
	"qty-requested":  "Quantity change requested. Microsoft has told the publisher; the change completes when the publisher acknowledges it.",
	"auto-renew-on":  "Auto-renew is on: the subscription renews at the end of its term.",
	"auto-renew-off": "Auto-renew is off: the subscription is cancelled at the end of its term.",
	"cancelled":      "Your SaaS subscription was cancelled. The publisher has been told.",
	"suspended":      "Emulator: the payment failed. The subscription is Suspended and the publisher has been told.",
	"reinstated":     "Emulator: the payment was received. Microsoft has told the publisher; the subscription is Subscribed again when the publisher acknowledges the reinstatement.",
	"renewed":        "Emulator: the subscription was renewed; a new term started and the publisher has been told.",
	"signed-out":     "You are signed out.",
}

// failure is an error page: what happened and what to do next.
type failure struct {
	Heading  string
	Message  string
	Next     string // what to do
	NextURL  string
	NextText string
}

// fail is the one place an error becomes a page. Market outcomes show
// their message; anything else is logged and shown as a generic failure,
// never as a trace.
func (p *Pages) fail(w http.ResponseWriter, r *http.Request, err error) {
	f := failure{Heading: "Something went wrong", Message: "The emulator hit an internal error; its log has the details.",
		Next: "Try again, or restart the emulator if it keeps happening.", NextURL: p.path("/"), NextText: "Back to the marketplace"}
	status := http.StatusInternalServerError
	var me *market.Error
	if errors.As(err, &me) {
		f.Message = me.Message
		status = me.Kind.HTTPStatus()
		switch me.Kind {
		case market.KindInvalid:
			f.Heading = "Check your choices"
			f.Next = "Go back, correct what the message names, and submit again."
		case market.KindNotFound:
			f.Heading = "Not found"
			f.Next = "Check that you are signed in as the tenant that holds it, or start again from your subscriptions."
			f.NextURL, f.NextText = p.path("/subscriptions"), "Your SaaS subscriptions"
		case market.KindConflict:
			f.Heading = "This can't be done now"
			f.Next = "Read the message, fix what it names (for example with the emulator's control API), and try again."
		case market.KindForbidden:
			f.Heading = "Not allowed"
			f.Next = "Sign in as the tenant that holds it."
		}
	} else {
		p.log.Error("azure buyer page", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	p.render(w, r, status, "error", f.Heading, f)
}

// invalid is a 400 page for input the pages themselves refused.
func invalid(err error) error {
	msg := err.Error()
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:] + "."
	}
	return &market.Error{Kind: market.KindInvalid, Code: market.CodeBadArgument, Message: msg}
}

// crossSite answers a POST that came from another site.
func (p *Pages) crossSite(w http.ResponseWriter, r *http.Request) {
	p.log.Warn("azure buyer pages refused a cross-site request", "path", r.URL.Path, "origin", r.Header.Get("Origin"))
	p.render(w, r, http.StatusForbidden, "error", "Request refused", failure{
		Heading:  "Request refused",
		Message:  "This form was sent from another site, so nothing was changed.",
		Next:     "Open the marketplace pages directly and use their buttons.",
		NextURL:  p.path("/"),
		NextText: "Back to the marketplace",
	})
}

// seeOther sends the browser to one of the pages after a POST.
func (p *Pages) seeOther(w http.ResponseWriter, r *http.Request, rel, done string) {
	to := p.path(rel)
	if done != "" {
		to += "?done=" + done
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}
