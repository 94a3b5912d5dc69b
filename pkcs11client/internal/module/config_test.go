package module

import (
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigNamesTheMissingVariable(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"KSC_ID_TOKEN": "t"}, "KSC_API_SERVER"},
		{map[string]string{"KSC_API_SERVER": "https://ks.example.com"}, "KSC_ID_TOKEN"},
		{map[string]string{"KSC_API_SERVER": "http://ks.example.com", "KSC_ID_TOKEN": "t"}, "https"},
		{map[string]string{"KSC_API_SERVER": "https://ks.example.com", "KSC_ID_TOKEN": "t", "KSC_HTTP_CLIENT_TIMEOUT": "x"}, "KSC_HTTP_CLIENT_TIMEOUT"},
	}
	for _, c := range cases {
		_, err := LoadConfig(envOf(c.env))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("LoadConfig(%v) error = %v, want it to mention %s", c.env, err, c.want)
		}
	}
	cfg, err := LoadConfig(envOf(map[string]string{"KSC_API_SERVER": "https://ks.example.com/", "KSC_ID_TOKEN_FILE": "/tmp/x",
		"KSC_OPERATION_ID": "op", "KSC_HTTP_CLIENT_TIMEOUT": "15s", "KSC_DEBUG": "1"}))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if cfg.APIServer.String() != "https://ks.example.com" || cfg.Timeout != 15*time.Second || !cfg.Debug || cfg.OperationID != "op" {
		t.Fatalf("LoadConfig = %+v", cfg)
	}
}
