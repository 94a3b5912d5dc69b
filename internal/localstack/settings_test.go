package localstack

import (
	"maps"
	"slices"
	"testing"
	"time"

	"keyserver/internal/app"
)

// TestHandlerEnvIsDeclared checks that the local stack sets exactly the
// settings app.Settings marks Local, and that the handler accepts them.
func TestHandlerEnvIsDeclared(t *testing.T) {
	st := &Stack{AuthURL: "http://localhost:8300", CAFile: "/state/hsm/ca.pem"}
	env := st.handlerEnv(7071, "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;", "a-header-made-at-start", 10*time.Second)
	var want []string
	for _, s := range app.Settings {
		if s.Local {
			want = append(want, s.Name)
		}
	}
	slices.Sort(want)
	if got := slices.Sorted(maps.Keys(env)); !slices.Equal(got, want) {
		t.Errorf("the local stack sets %v for the handler, want the settings app.Settings marks Local: %v", got, want)
	}
	if _, err := app.ConfigFromEnv(func(k string) string { return env[k] }); err != nil {
		t.Errorf("the handler refuses the local stack's settings: %v", err)
	}
}
