package azurespec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// The two documents, by their paths in microsoft/commercial-marketplace-openapi.
const (
	SaaSDocument     = "Microsoft.Marketplace.SaaS/2018-08-31/saasapi.v2.json"
	MeteringDocument = "Microsoft.Marketplace.Metering/2018-08-31/meteringapi.v1.json"
)

// DirEnv names the environment variable that points at a directory holding
// the documents (a checkout of microsoft/commercial-marketplace-openapi will
// do). Without it Locate looks for SharedDir above the working directory.
const DirEnv = "MARKETBRIDGE_AZURE_OPENAPI_DIR"

// SharedDir is where Locate expects a verbatim copy of Microsoft's repository
// in the shared folder that sits beside the project's checkout (as it does on
// developers' machines and in CI).
const SharedDir = "shared/openapi/microsoft-commercial-marketplace-openapi"

// Checker validates requests to and responses from the marketplace APIs. It
// holds no state beyond the loaded documents and is safe for concurrent use.
type Checker struct {
	apis []api
}

type api struct {
	doc    *openapi3.T
	router routers.Router
}

// Locate finds the directory holding the documents: DirEnv if set, else the
// nearest SharedDir in the working directory or one of its parents.
func Locate() (string, error) {
	if dir := os.Getenv(DirEnv); dir != "" {
		return dir, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("azurespec: find the OpenAPI documents: %w", err)
	}
	for dir := wd; ; {
		candidate := filepath.Join(dir, filepath.FromSlash(SharedDir))
		if _, err := os.Stat(filepath.Join(candidate, filepath.FromSlash(SaaSDocument))); err == nil {
			return candidate, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("azurespec: Microsoft's OpenAPI documents not found: set %s to a checkout of "+
				"microsoft/commercial-marketplace-openapi, or place one at %s beside the project (searched up from %s)",
				DirEnv, SharedDir, wd)
		}
		dir = parent
	}
}

// LoadDir reads SaaSDocument and MeteringDocument from dir and builds a
// Checker from them.
func LoadDir(dir string) (*Checker, error) {
	var docs [][]byte
	for _, name := range []string{SaaSDocument, MeteringDocument} {
		raw, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return nil, fmt.Errorf("azurespec: read OpenAPI document: %w", err)
		}
		docs = append(docs, raw)
	}
	return New(docs...)
}

// New builds a Checker from OpenAPI 3.0 documents whose servers end in /api,
// as Microsoft's do.
func New(docs ...[]byte) (*Checker, error) {
	if len(docs) == 0 {
		return nil, errors.New("azurespec: no OpenAPI documents given")
	}
	c := &Checker{}
	for i, raw := range docs {
		doc, err := openapi3.NewLoader().LoadFromData(raw)
		if err != nil {
			return nil, fmt.Errorf("azurespec: load OpenAPI document %d: %w", i+1, err)
		}
		tolerateScopelessOAuthFlows(doc)
		// Microsoft's server is https://marketplaceapi.microsoft.com/api; the
		// emulator runs elsewhere, under a prefix. Requests are routed by
		// the path after /api (see apiPath), so the router matches paths
		// alone.
		doc.Servers = nil
		router, err := legacy.NewRouter(doc) // validates the document
		if err != nil {
			return nil, fmt.Errorf("azurespec: OpenAPI document %d (%s): %w", i+1, title(doc), err)
		}
		c.apis = append(c.apis, api{doc: doc, router: router})
	}
	return c, nil
}

func title(doc *openapi3.T) string {
	if doc.Info != nil && doc.Info.Title != "" {
		return doc.Info.Title
	}
	return "untitled"
}

// Tolerance: both documents declare an OAuth2 clientCredentials flow without
// the "scopes" field that OpenAPI 3.0 requires, so kin-openapi refuses them
// as they are. The scopes play no part in checking a request (the bearer
// token is not validated here, see bearerPresent), so an empty map is filled
// in.
func tolerateScopelessOAuthFlows(doc *openapi3.T) {
	if doc.Components == nil {
		return
	}
	for _, ref := range doc.Components.SecuritySchemes {
		if ref == nil || ref.Value == nil || ref.Value.Flows == nil {
			continue
		}
		f := ref.Value.Flows
		for _, flow := range []*openapi3.OAuthFlow{f.Implicit, f.Password, f.ClientCredentials, f.AuthorizationCode} {
			if flow != nil && flow.Scopes == nil {
				flow.Scopes = map[string]string{}
			}
		}
	}
}

// Operations lists the operations the documents declare, as
// "operationId METHOD /path", sorted: for tests that want every operation
// exercised.
func (c *Checker) Operations() []string {
	var out []string
	for _, a := range c.apis {
		for path, item := range a.doc.Paths.Map() {
			for method, op := range item.Operations() {
				out = append(out, op.OperationID+" "+method+" "+path)
			}
		}
	}
	slices.Sort(out)
	return out
}
