package web

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/marketbridge/marketbridge/internal/account"
	"github.com/marketbridge/marketbridge/internal/fault"
	"github.com/marketbridge/marketbridge/internal/money"
	"github.com/marketbridge/marketbridge/internal/org"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFS embed.FS

func staticFiles() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

var funcs = template.FuncMap{
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"roleLabel": func(r org.Role) string { return r.Label() },
	"roles":     func() []org.Role { return org.Roles },
	"field": func(f form, name, label, typ, autocomplete string) fieldView {
		return fieldView{Form: f, Name: name, Label: label, Type: typ, Autocomplete: autocomplete}
	},
	"options": func(f form, name, label string, opts []account.Option) selectView {
		return selectView{Form: f, Name: name, Label: label, Options: opts}
	},
	"freshSecret": func(noun, name, secret string) freshSecretView {
		return freshSecretView{Noun: noun, Name: name, Secret: secret}
	},
	"linkify":    linkify,
	"signInWith": func(v signInView, next string) signInLinks { return signInLinks{signInView: v, Next: next} },
	"dollars":    func(micros int64) string { return money.Micros(micros).String() },
	"cents":      func(c int64) string { return money.Cents(c).String() },
	"grouped":    money.Grouped,
}

// selectView is one labelled select box, for the "select" template.
type selectView struct {
	Form        form
	Name, Label string
	Options     []account.Option
}

// fieldView is one labelled input with its error, for the "input" template.
// freshSecretView is a key or token just created: its secret, shown on
// the first view only (see freshKeys), or only its name after that.
type freshSecretView struct {
	Noun, Name, Secret string
}

type fieldView struct {
	Form                            form
	Name, Label, Type, Autocomplete string
}

var urlRE = regexp.MustCompile(`https?://[^\s<>"]+`)

// linkify escapes plain text and makes its URLs clickable, for showing mail
// bodies in the dev mailbox.
func linkify(text string) template.HTML {
	escaped := template.HTMLEscapeString(text)
	return template.HTML(urlRE.ReplaceAllStringFunc(escaped, func(u string) string {
		return `<a href="` + u + `">` + u + `</a>`
	}))
}

// parsePages parses each page template together with the layout, so that
// every page is rendered inside the same header and navigation.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		base := path.Base(name)
		if base == "layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", name)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", base, err)
		}
		pages[strings.TrimSuffix(base, ".html")] = t
	}
	return pages, nil
}

// form carries what a person typed and what is wrong with it, so that a
// refused form comes back filled in with each error next to its field.
type form struct {
	Values url.Values
	Errors map[string]string
	Error  string // about the form as a whole
}

func (f form) Get(field string) string { return f.Values.Get(field) }

func formFrom(r *http.Request, err error) form {
	f := form{Values: r.PostForm, Errors: fault.Fields(err)}
	if err != nil && len(f.Errors) == 0 {
		f.Error = fault.Message(err)
	}
	return f
}

// view is what every page template gets.
type view struct {
	Title      string
	User       *account.User
	Orgs       []org.Org // for the switcher
	Org        *org.Org  // the organization the page is about, if any
	Flash      string
	Form       form
	Data       any
	DevMailbox bool
	// DevWebhooks shows the link to the demo's webhook inbox.
	DevWebhooks bool
	Path        string
	SignIn      signInView
}

// render writes a page with status. Rendering into a buffer first means a
// template error becomes a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	t, ok := s.pages[name]
	if !ok {
		s.logger.ErrorContext(r.Context(), "no such template", "template", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if u := userFrom(r.Context()); u != nil && v.User == nil {
		v.User = &u.User
		v.Orgs = u.orgs
	}
	v.DevMailbox = s.cfg.Mailbox != nil
	v.SignIn = signInView{Local: !s.cfg.LocalAccountsOff}
	if s.cfg.OIDC != nil {
		v.SignIn.Provider = s.cfg.OIDCName
	}
	v.DevWebhooks = s.cfg.WebhookInbox != nil
	v.Path = r.URL.Path
	if v.Flash == "" {
		v.Flash = s.takeFlash(w, r)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		s.logger.ErrorContext(r.Context(), "render page", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	buf.WriteTo(w)
}

// statusOf is the one place where a kind of failure becomes an HTTP status.
func statusOf(err error) int {
	switch fault.KindOf(err) {
	case fault.KindInvalid:
		return http.StatusUnprocessableEntity
	case fault.KindNotFound:
		return http.StatusNotFound
	case fault.KindForbidden:
		return http.StatusForbidden
	case fault.KindConflict:
		return http.StatusConflict
	case fault.KindUnauthenticated:
		return http.StatusUnauthorized
	case fault.KindRateLimited:
		return http.StatusTooManyRequests
	case fault.KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// fail renders the error page for err, logging it when it is ours.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	if status == http.StatusInternalServerError {
		s.logger.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "err", err, "request_id", requestID(r.Context()))
	}
	title := map[int]string{
		http.StatusNotFound:        "Not found",
		http.StatusForbidden:       "Not allowed",
		http.StatusTooManyRequests: "Too many attempts",
	}[status]
	if title == "" {
		title = "Something went wrong"
	}
	s.render(w, r, status, "error", view{Title: title, Data: errorView{Message: fault.Message(err), RequestID: requestID(r.Context())}})
}

type errorView struct {
	Message   string
	RequestID string
}

// handlerFunc is a handler that may fail; page turns it into an
// http.Handler that renders failures in one way.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) page(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &pageWriter{ResponseWriter: rw, secure: s.secureCookie}
		if err := s.loadUser(w, r, &r); err != nil {
			s.fail(w, r, err)
			return
		}
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

// pageWriter is the http.ResponseWriter every page handler gets: it holds
// the outcome the handler leaves for the page it redirects to (setFlash),
// until seeOther sends it on its way.
type pageWriter struct {
	http.ResponseWriter
	secure bool
	flash  string
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *pageWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// seeOther redirects after a successful POST, so that reloading the next
// page does not repeat the action. An outcome the handler left with
// setFlash goes with this redirect and no other (see outcomeParam).
func seeOther(w http.ResponseWriter, r *http.Request, to string) error {
	if pw, ok := w.(*pageWriter); ok {
		to = pw.carryOutcome(r, to)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// An outcome ("Invitation sent", "X is now billed through AWS Marketplace")
// travels to the page it belongs to as a cookie of its own, mb_flash_<id>,
// whose random id rides in that page's address (?outcome=<id>). One cookie
// shared by every tab was overwritten or taken by another tab of the same
// browser (R6: two tabs confirming one purchase, #11). The id alone shows
// nothing: only the browser that holds the cookie sees the message, once.
const (
	outcomeParam  = "outcome"
	outcomeCookie = "mb_flash_"
	outcomeMaxAge = 60 // seconds: the redirect follows at once
)

var outcomeIDRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

// setFlash leaves a one-line message for the page the handler redirects to
// next with seeOther.
func (s *Server) setFlash(w http.ResponseWriter, msg string) {
	if pw, ok := w.(*pageWriter); ok {
		pw.flash = msg
		return
	}
	// Every handler that redirects runs inside page; reaching here is a bug.
	s.logger.Error("outcome dropped: not a page handler", "message", msg)
}

// carryOutcome returns to with the id of the outcome this request leaves,
// whose cookie it sets; or, when a page passes the browser on without
// showing its outcome (a log-in, "/" choosing the organization), with the id
// it came with.
func (w *pageWriter) carryOutcome(r *http.Request, to string) string {
	id := ""
	if w.flash != "" {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return to // no message rather than a shared one
		}
		id = hex.EncodeToString(b[:])
		http.SetCookie(w, &http.Cookie{Name: outcomeCookie + id, Value: url.QueryEscape(w.flash), Path: "/", MaxAge: outcomeMaxAge,
			HttpOnly: true, Secure: w.secure, SameSite: http.SameSiteLaxMode})
		w.flash = ""
	} else if in := r.URL.Query().Get(outcomeParam); outcomeIDRE.MatchString(in) {
		if _, err := r.Cookie(outcomeCookie + in); err == nil {
			id = in
		}
	}
	if id == "" {
		return to
	}
	u, err := url.Parse(to)
	if err != nil {
		return to
	}
	// Appended, so that the rest of the address reads as it did.
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += outcomeParam + "=" + id
	return u.String()
}

// takeFlash is the outcome left for this page: the message of the cookie
// named by the address's outcome id, which it spends.
func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request) string {
	id := r.URL.Query().Get(outcomeParam)
	if !outcomeIDRE.MatchString(id) {
		return ""
	}
	c, err := r.Cookie(outcomeCookie + id)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: outcomeCookie + id, Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secureCookie, SameSite: http.SameSiteLaxMode})
	msg, err := url.QueryUnescape(c.Value)
	if err != nil {
		return ""
	}
	return msg
}

// safeNext keeps a post-log-in destination only when it is a path on this
// site, so that a crafted link cannot send people elsewhere. Browsers drop
// tabs and newlines and read backslashes as slashes, so "/\tevil" or "/\\evil"
// would leave the site: any control character or backslash disqualifies.
func safeNext(next string) string {
	// Not UTF-8: no console path, and text PostgreSQL refuses to store
	// (a sign-in keeps next in the database).
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || !utf8.ValidString(next) {
		return ""
	}
	for _, c := range next {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return ""
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	return next
}

var errNotFound = fault.New(fault.KindNotFound, "There is nothing at this address.")

// crossOriginDenied answers a state-changing request from another site.
func (s *Server) crossOriginDenied(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, fault.New(fault.KindForbidden, "This form was sent from another site, so it was refused. Go back, reload the page and try again."))
}

// withSecurityHeaders sets the headers every page should carry.
func (s *Server) withSecurityHeaders(next http.Handler) http.Handler {
	// Forms may lead to https sites (AWS's pages). Log-out and linking are
	// forms that redirect to the sign-in provider, which browsers check
	// against form-action too: a plain-http provider (on loopback, as in
	// tests) is named.
	formAction := "'self' https:"
	if s.cfg.OIDC != nil {
		if u, err := url.Parse(s.cfg.OIDC.Issuer()); err == nil && u.Scheme == "http" {
			formAction += " http://" + u.Host
		}
	}
	csp := "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action " + formAction + "; frame-ancestors 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", csp)
		next.ServeHTTP(w, r)
	})
}
