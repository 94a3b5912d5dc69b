// Package azuritetests holds integration and end-to-end tests that run
// against a real Azurite, the HSM fake and the real tools.
package azuritetests

import (
	"context"
	"fmt"
	"os"
	"testing"

	"keyserver/internal/azurite"
)

// azuriteConn is the connection string of the Azurite that TestMain starts
// for the whole test binary. Tests keep apart by using their own table prefix.
var azuriteConn string

func TestMain(m *testing.M) {
	os.Exit(runWithAzurite(m))
}

func runWithAzurite(m *testing.M) int {
	dir, err := os.MkdirTemp("", "azurite-tests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating Azurite data directory:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	srv, err := azurite.Start(context.Background(), dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting Azurite:", err)
		return 1
	}
	defer srv.Stop()
	azuriteConn = srv.ConnectionString()
	defer stopStack()
	return m.Run()
}
