package emulator

import (
	"net/http"
	"time"

	"github.com/marketbridge/marketbridge/internal/emulator/awsapi"
	"github.com/marketbridge/marketbridge/internal/emulator/buyer"
	"github.com/marketbridge/marketbridge/internal/emulator/control"
)

// routes is the emulator's whole surface.
func (e *Emulator) routes(now func() time.Time) http.Handler {
	mux := http.NewServeMux()
	api := awsapi.New(e.market, now, e.log)
	mux.Handle("POST /{$}", api)                                                   // AWS JSON 1.1
	mux.HandleFunc("POST /service/{service}/operation/{operation}", api.ServeCBOR) // Smithy RPC v2 CBOR
	mux.Handle("GET /{$}", http.RedirectHandler("/buyer/", http.StatusFound))
	mux.Handle("/emulator/v1/", control.New(e.market, e.log))
	mux.Handle("/buyer/", buyer.New(e.market, e.log))
	mux.HandleFunc("GET /sns/{$}", e.snsAction)
	mux.HandleFunc("GET /sns/SimpleNotificationService-emulator.pem", e.signingCert)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n")) //nolint:errcheck // the client went away
	})
	return mux
}
