package entra

import "net/http"

// routes is the stand-in's surface, relative to PublicURL's path. The token
// endpoints take every method so that a GET gets Entra's error, not the
// mux's 405.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.openIDConfig(false))
	mux.HandleFunc("GET /{tenant}/.well-known/openid-configuration", s.openIDConfig(true))
	mux.HandleFunc("/{tenant}/oauth2/v2.0/token", s.token(false))
	mux.HandleFunc("/{tenant}/oauth2/token", s.token(true))
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", s.keySet)
	mux.HandleFunc("GET /{tenant}/discovery/keys", s.keySet)
	mux.HandleFunc("/{tenant}/oauth2/v2.0/authorize", s.authorize)
	mux.HandleFunc("/{tenant}/oauth2/authorize", s.authorize)
	mux.HandleFunc("GET /emulator/v1/apps", s.listApps)
	mux.HandleFunc("PUT /emulator/v1/apps/{tenant}/{client}", s.putApp)
	mux.HandleFunc("DELETE /emulator/v1/apps/{tenant}/{client}", s.deleteApp)
	mux.HandleFunc("POST /emulator/v1/keys/rotate", s.rotate)
	return mux
}
