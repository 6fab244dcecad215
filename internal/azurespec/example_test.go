package azurespec_test

import (
	"log"
	"net/http"

	"github.com/marketbridge/marketbridge/internal/azurespec"
)

// The checker sits between the seller's Azure client and the emulator; a
// test would call t.Error (safe from several goroutines) where this logs.
func ExampleChecker_Transport() {
	dir, err := azurespec.Locate()
	if err != nil {
		log.Fatal(err)
	}
	checker, err := azurespec.LoadDir(dir)
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: checker.Transport(http.DefaultTransport, func(err error) {
		log.Print(err)
	})}
	// Give client to the seller's marketplace API client, with its base
	// URL at the emulator's .../azure/api.
	_ = client
}
