package googleid

import "net/http"

// routes is the stand-in's surface, relative to PublicURL's path. The
// robot metadata routes serve any account the stand-in knows: the
// marketplace's partner robot, and the service accounts it issued keys for
// (their key files' client_x509_cert_url). The token endpoint takes every
// method so that a GET gets Google's error, not the mux's 405.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /robot/v1/metadata/x509/{email}", s.x509Map)
	mux.HandleFunc("GET /robot/v1/metadata/jwk/{email}", s.robotJWKS)
	mux.HandleFunc("GET /oauth2/v3/certs", s.oidcJWKS)
	mux.HandleFunc("GET /.well-known/openid-configuration", s.openIDConfig)
	mux.HandleFunc("/token", s.token)
	return mux
}
