package buyer

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/market"
)

//go:embed templates/*.html
var templateFS embed.FS

// templates holds one parsed set per page, each with the shared layout.
type templates struct {
	pages map[string]*template.Template
}

var funcs = template.FuncMap{
	"dollars": dollars,
	"date": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return v.UTC().Format("Jan 2, 2006")
		case *time.Time:
			if v == nil {
				return "—"
			}
			return v.UTC().Format("Jan 2, 2006")
		}
		return ""
	},
	"datetime": func(t time.Time) string { return t.UTC().Format("Jan 2, 2006 15:04 UTC") },
	"times":    times,
	"pricing": func(m market.PricingModel) string {
		switch m {
		case market.PricingSubscription:
			return "SaaS subscription (pay as you go)"
		case market.PricingContract:
			return "SaaS contract"
		}
		return "SaaS contract with consumption pricing"
	},
}

// dollars shows micro-dollars as US dollars, with cents always and finer
// digits only when the price has them ($0.01, $1,000.00, $0.0025, -$0.50).
func dollars(m market.Micros) string { return dollarsOf(big.NewInt(int64(m))) }

// times is the price of q units, written as dollars; in big integers, so
// that no quantity wraps the product.
func times(p market.Micros, q int64) string {
	return dollarsOf(new(big.Int).Mul(big.NewInt(int64(p)), big.NewInt(q)))
}

// dollarsOf writes micros micro-dollars; it works on the magnitude, so that
// every int64 (math.MinInt64 too) has a sign in front and none inside.
func dollarsOf(micros *big.Int) string {
	sign := ""
	if micros.Sign() < 0 {
		sign = "-"
	}
	whole, frac := new(big.Int).QuoRem(new(big.Int).Abs(micros), big.NewInt(1_000_000), new(big.Int))
	fs := strings.TrimRight(fmt.Sprintf("%06d", frac.Int64()), "0")
	for len(fs) < 2 {
		fs += "0"
	}
	ws := whole.String()
	for i := len(ws) - 3; i > 0; i -= 3 {
		ws = ws[:i] + "," + ws[i:]
	}
	return sign + "$" + ws + "." + fs
}

func parseTemplates() *templates {
	t := &templates{pages: map[string]*template.Template{}}
	names, err := templateFS.ReadDir("templates")
	if err != nil {
		panic(fmt.Sprintf("buyer templates: %v", err)) // embedded at build time
	}
	for _, n := range names {
		if n.Name() == "layout.html" {
			continue
		}
		page := strings.TrimSuffix(n.Name(), ".html")
		t.pages[page] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+n.Name()))
	}
	return t
}

// view is what every page gets: the acting account and the switcher's list.
type view struct {
	Title    string
	Account  *market.Account
	Accounts []market.Account
	Path     string
	Notice   string
	Data     any
}

func (p *Pages) render(w http.ResponseWriter, r *http.Request, status int, page, title string, data any) {
	v := view{Title: title, Accounts: p.m.Accounts(), Path: r.URL.RequestURI(), Notice: r.URL.Query().Get("notice"), Data: data}
	if a, ok := p.current(r); ok {
		v.Account = &a
	}
	var buf bytes.Buffer
	if err := p.tmpl.pages[page].Execute(&buf, v); err != nil {
		p.log.Error("render buyer page", "page", page, "err", err)
		http.Error(w, "The page could not be rendered.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes()) //nolint:errcheck // the browser went away
}

type failure struct {
	Heading string
	Message string
	Status  int
}

// fail is the one place an outcome becomes an error page.
func (p *Pages) fail(w http.ResponseWriter, r *http.Request, err error) {
	f := failure{Heading: "Something went wrong", Message: "The emulator hit an internal error; see its log.", Status: http.StatusInternalServerError}
	var me *market.Error
	if errors.As(err, &me) {
		f.Message = me.Message
		switch me.Kind {
		case market.KindInvalid:
			f.Heading, f.Status = "Check your entries", http.StatusBadRequest
		case market.KindNotFound:
			f.Heading, f.Status = "Not found", http.StatusNotFound
		case market.KindConflict:
			f.Heading, f.Status = "This can't be done now", http.StatusConflict
		case market.KindForbidden:
			f.Heading, f.Status = "You don't have permission", http.StatusForbidden
		}
	} else {
		p.log.Error("buyer page", "path", r.URL.Path, "err", err)
	}
	p.render(w, r, f.Status, "error", f.Heading, f)
}

func redirect(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}
