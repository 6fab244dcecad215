package buyer

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

// templates holds one parsed set per page, each with the shared layout.
type templates struct {
	pages map[string]*template.Template
}

var funcs = template.FuncMap{
	"dollars": dollars,
	"date":    date,
	"term":    termName,
	"choice":  choiceOf,
	// seg is an id as one path segment: a product or order id with "/",
	// "?" or "#" in it still names one page.
	"seg": url.PathEscape,
	// dict passes several values to a shared template.
	"dict": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, errors.New("dict wants pairs")
		}
		m := make(map[string]any, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return nil, fmt.Errorf("dict key %v is not a string", kv[i])
			}
			m[k] = kv[i+1]
		}
		return m, nil
	},
}

func parseTemplates() *templates {
	t := &templates{pages: map[string]*template.Template{}}
	names, err := templateFS.ReadDir("templates")
	if err != nil {
		panic(fmt.Sprintf("google buyer templates: %v", err)) // embedded at build time
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
// only when the amount has them ($0.01, $1,250.00, $0.0025). The magnitude
// is taken as uint64, so the most negative amount keeps its sign.
func dollars(v Micros) string {
	mag, sign := uint64(v), ""
	if v < 0 {
		mag, sign = -mag, "-"
	}
	whole := strconv.FormatUint(mag/1_000_000, 10)
	var b strings.Builder
	for i := range len(whole) {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(whole[i])
	}
	frac := strings.TrimRight(fmt.Sprintf("%06d", mag%1_000_000), "0")
	frac += "00"[min(len(frac), 2):]
	return sign + "$" + b.String() + "." + frac
}

// date is how the console writes a day; "—" when there is none.
func date(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("Jan 2, 2006")
}

// termName words an offer's ISO 8601 duration ("P1Y" → "1 year").
func termName(d string) string {
	if len(d) < 3 || d[0] != 'P' {
		if d == "" {
			return "month to month"
		}
		return d
	}
	n, err := strconv.Atoi(d[1 : len(d)-1])
	if err != nil || n <= 0 {
		return d
	}
	unit := map[byte]string{'Y': "year", 'M': "month", 'W': "week", 'D': "day"}[d[len(d)-1]]
	if unit == "" {
		return d
	}
	if n > 1 {
		unit += "s"
	}
	return strconv.Itoa(n) + " " + unit
}

// view is what every page gets.
type view struct {
	Title   string
	Base    string // the prefix: links are {{.Base}}/...
	Session *session
	Path    string // this page, relative to the prefix
	Notice  string
	CSRF    string // the token every form to these pages carries
	Data    any
}

func (p *Pages) render(w http.ResponseWriter, r *http.Request, status int, page, title string, data any) {
	v := view{Title: title, Base: p.base, Path: r.URL.Path, Data: data}
	if s, ok := p.current(r); ok {
		v.Session = &s
	}
	if n, ok := notices[r.URL.Query().Get("done")]; ok && r.Method == http.MethodGet {
		v.Notice = n
		if strings.Contains(n, "{company}") {
			v.Notice = strings.ReplaceAll(n, "{company}", p.company(r))
		}
	}
	if nonce := p.nonce(w, r); nonce != "" {
		v.CSRF = csrfToken(p.csrfKey, nonce)
	}
	var buf bytes.Buffer
	if err := p.tmpl.pages[page].Execute(&buf, v); err != nil {
		p.log.Error("render google buyer page", "page", page, "err", err)
		http.Error(w, "The page could not be rendered; see the emulator's log.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes()) //nolint:errcheck // the browser went away
}

// settings is the vendor's frontend integration, with a neutral name
// when the vendor has none, so no button reads "Register with ".
func (p *Pages) settings(ctx context.Context) (BuyerSettings, error) {
	s, err := p.m.Settings(ctx)
	if strings.TrimSpace(s.Company) == "" {
		s.Company = "the vendor"
	}
	return s, err
}

// company is the vendor's name for a notice; a neutral word if the
// settings cannot be read, since a notice is no reason to fail a page.
func (p *Pages) company(r *http.Request) string {
	s, _ := p.settings(r.Context())
	return s.Company
}

// lowerFirst puts a state's words inside a sentence ("Active" → "active"),
// leaving the rest (month names) as it is.
func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}

// notices are the messages a redirect may ask the next page to show, by
// code, so that no text from the URL reaches the page.
var notices = map[string]string{
	"signed-in":      "You are signed in. Pick a product to buy, or see your orders.",
	"signed-out":     "You are signed out.",
	"ordered":        "Your order request has been sent to {company}. To finish, select Register with {company}: you create or link your account on their site, and they approve your order.",
	"plan-requested": "Plan change requested. {company} has been told and has to approve it; until then your order keeps its current plan.",
	"cancelled":      "Your order is cancelled. It runs until the end of its term, and you can revert the cancellation until then.",
	"withdrawn":      "Your order is cancelled. It had not started, so nothing runs on and nothing is charged.",
	"reverted":       "The cancellation was reverted: your order continues and renews as before.",
}

// failure is an error page: what happened and what to do next.
type failure struct {
	Heading  string
	Message  string
	Next     string
	NextURL  string
	NextText string
}

// fail is the one place an error becomes a page. The market's *Error shows
// its message; anything else is logged and shown as a generic failure,
// never as a trace.
func (p *Pages) fail(w http.ResponseWriter, r *http.Request, err error) {
	f := failure{Heading: "Something went wrong", Message: "The emulator hit an internal error; its log has the details.",
		Next: "Try again, or restart the emulator if it keeps happening.", NextURL: p.path("/"), NextText: "Back to Marketplace"}
	status := http.StatusInternalServerError
	var me *Error
	if errors.As(err, &me) {
		f.Message, status = me.Message, me.Kind.httpStatus()
		switch me.Kind {
		case KindInvalid:
			f.Heading, f.Next = "Check your choices", "Go back, correct what the message names, and submit again."
		case KindNotFound:
			f.Heading, f.Next = "Not found", "Check that you are signed in with the billing account that holds it, or start again from your orders."
			f.NextURL, f.NextText = p.path("/orders"), "Your orders"
		case KindConflict:
			f.Heading, f.Next = "This can't be done now", "Read the message, wait or change what it names, and try again."
			f.NextURL, f.NextText = p.path("/orders"), "Your orders"
		case KindUnavailable:
			f.Heading, f.Next = "Try again later", "Nothing was changed. Wait a moment and try again."
		}
		if me.Err != nil {
			p.log.Info("google buyer page refused", "method", r.Method, "path", r.URL.Path, "err", me)
		}
	} else {
		p.log.Error("google buyer page", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	p.render(w, r, status, "error", f.Heading, f)
}

// refuse answers a form the pages did not hand out (403).
func (p *Pages) refuse(w http.ResponseWriter, r *http.Request, msg, next string) {
	p.render(w, r, http.StatusForbidden, "error", "Request refused", failure{
		Heading: "Request refused", Message: msg, Next: next, NextURL: p.path("/"), NextText: "Back to Marketplace",
	})
}

// crossSite answers a POST that came from another site.
func (p *Pages) crossSite(w http.ResponseWriter, r *http.Request) {
	p.log.Warn("google buyer pages refused a cross-site request", "path", r.URL.Path, "origin", r.Header.Get("Origin"))
	p.refuse(w, r, "This form was sent from another site, so nothing was changed.", "Open the Marketplace pages directly and use their buttons.")
}

// seeOther sends the browser to one of the pages after a POST.
func (p *Pages) seeOther(w http.ResponseWriter, r *http.Request, rel, done string) {
	to := p.path(rel)
	if done != "" {
		to += "?done=" + done
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// invalid is a 400 for input the pages themselves refused.
func invalid(err error) error { return &Error{Kind: KindInvalid, Message: sentence(err)} }

// sentence is an error's text with a capital and a full stop.
func sentence(err error) string {
	msg := err.Error()
	if msg == "" {
		return msg
	}
	msg = strings.ToUpper(msg[:1]) + msg[1:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// sentences words every field error of a form at once, nil ones skipped.
func sentences(errs ...error) string {
	var msgs []string
	for _, e := range errs {
		if e != nil {
			msgs = append(msgs, sentence(e))
		}
	}
	return strings.Join(msgs, " ")
}
