package keyserver_test

import (
	"crypto"
	"testing"

	"keyserver/internal/keyserver/memhsm"
)

func mustTestKey(tb testing.TB, name string) crypto.Signer {
	tb.Helper()
	k, ok := memhsm.TestKeys()[name]
	if !ok {
		tb.Fatalf("no test key %q", name)
	}
	return k
}
