package azuritetests

import (
	"testing"

	"keyserver/internal/keyserver/storetest"
)

// TestTablestoreContract holds the Table Storage adapter to the same store
// contract as the in-memory fake of the domain tests
// (internal/keyserver/memstore_contract_test.go), each subtest on tables of its own.
func TestTablestoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Stores {
		s := mustTablestore(t)
		return storetest.Stores{Ops: s, Keys: s, Subjects: s, Audit: s, Policies: s}
	})
}
