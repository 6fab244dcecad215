package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

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
	"linkify": linkify,
	"dollars": func(micros int64) string { return money.Micros(micros).String() },
	"cents":   func(c int64) string { return money.Cents(c).String() },
}

// selectView is one labelled select box, for the "select" template.
type selectView struct {
	Form        form
	Name, Label string
	Options     []account.Option
}

// fieldView is one labelled input with its error, for the "input" template.
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
	Path       string
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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.loadUser(w, r, &r); err != nil {
			s.fail(w, r, err)
			return
		}
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

// seeOther redirects after a successful POST, so that reloading the next
// page does not repeat the action.
func seeOther(w http.ResponseWriter, r *http.Request, to string) error {
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

const flashCookie = "mb_flash"

// setFlash leaves a one-line message for the next page, as a short-lived
// cookie, so that it survives the redirect after a POST.
func (s *Server) setFlash(w http.ResponseWriter, msg string) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: url.QueryEscape(msg), Path: "/", MaxAge: 60,
		HttpOnly: true, Secure: s.secureCookie, SameSite: http.SameSiteLaxMode})
}

func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secureCookie, SameSite: http.SameSiteLaxMode})
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
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self' https:; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}
