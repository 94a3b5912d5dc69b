package azuritetests

import (
	"net/http"
	"testing"

	"keyserver/internal/hsmfake"
	"keyserver/internal/keyserver"
)

// TestSignHSMFaults injects failures into the HSM fake's sign operation.
// Faults apply to every key, so this test does not run in parallel.
func TestSignHSMFaults(t *testing.T) {
	st := mustStack(t)
	keyID, token := mustSigningKey(t, hsmfake.KeySpec{Name: "fault", Kty: "EC-HSM", Crv: "P-256"}, 0)
	cases := []struct {
		name   string
		fault  hsmfake.Fault
		status int
		code   string
	}{
		// Counts outlast the Key Vault client's retries.
		{"throttled", hsmfake.Fault{Op: "sign", Status: http.StatusTooManyRequests, Count: 20}, http.StatusTooManyRequests, keyserver.ERATELIMITED},
		{"failing", hsmfake.Fault{Op: "sign", Status: http.StatusInternalServerError, Count: 20}, http.StatusServiceUnavailable, keyserver.EUNAVAILABLE},
		{"unavailable", hsmfake.Fault{Op: "sign", Status: http.StatusServiceUnavailable, Count: 20}, http.StatusServiceUnavailable, keyserver.EUNAVAILABLE},
		{"hanging past the sign timeout", hsmfake.Fault{Op: "sign", Hang: true, Count: 20}, http.StatusServiceUnavailable, keyserver.EUNAVAILABLE},
	}
	op := mustOpenOp(t, token, 600000, map[string]int{keyID: len(cases)})
	t.Cleanup(st.HSM.ClearFaults)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st.HSM.ClearFaults()
			if err := st.HSM.InjectFault(tc.fault); err != nil {
				t.Fatalf("injecting fault: %v", err)
			}
			o, _ := ecOrder(op.ID, keyID, "faulty build "+tc.name)
			a := mustDo(t, "POST", "/api/signorders", token, o)
			st.HSM.ClearFaults()
			a.mustRefuse(t, tc.status, tc.code)
			mustUsage(t, token, op.ID, map[string]int{keyID: i})
			mustSign(t, token, o)
			mustUsage(t, token, op.ID, map[string]int{keyID: i + 1})
		})
	}
}
