package ciplatform

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDetectAndRunKeys(t *testing.T) {
	cases := []struct {
		env  map[string]string
		name string
		key  string
	}{
		{map[string]string{}, "", ""},
		{map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "octo/fw", "GITHUB_RUN_ID": "9", "GITHUB_RUN_ATTEMPT": "2", "GITHUB_JOB": "sign"},
			"GitHub Actions", "github:octo/fw:9:2:sign"},
		{map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "octo/fw", "GITHUB_RUN_ID": "9", "GITHUB_JOB": "sign"}, "GitHub Actions", ""},
		{map[string]string{"GITLAB_CI": "true", "CI_PROJECT_PATH": "group/fw", "CI_PIPELINE_ID": "77", "CI_JOB_ID": "1234"}, "GitLab CI", "gitlab:group/fw:77:1234"},
		{map[string]string{"TF_BUILD": "True", "SYSTEM_COLLECTIONID": "c0", "BUILD_BUILDID": "5", "SYSTEM_JOBID": "j-1", "SYSTEM_JOBATTEMPT": "1"}, "Azure Pipelines", "azure:c0:5:j-1:1"},
	}
	for _, c := range cases {
		p := Detect(envOf(c.env), http.DefaultClient)
		if c.name == "" {
			if p != nil {
				t.Errorf("Detect(%v) = %s, want none", c.env, p.Name())
			}
			continue
		}
		if p == nil || p.Name() != c.name || p.RunKey() != c.key {
			t.Errorf("Detect(%v) = %v, want %s with run key %q", c.env, p, c.name, c.key)
		}
	}
}

func TestPlatformEndpointsMustBeHTTPS(t *testing.T) {
	p := Detect(envOf(map[string]string{"GITHUB_ACTIONS": "true", "ACTIONS_ID_TOKEN_REQUEST_URL": "http://token.example.com/x",
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"}), http.DefaultClient)
	if _, err := p.Token(context.Background(), "aud"); err == nil || !strings.Contains(err.Error(), "https") {
		t.Fatalf("Token over plain http to a remote host = %v, want a refusal", err)
	}
	a := Detect(envOf(map[string]string{"TF_BUILD": "True", "KSC_AZURE_CLIENT_ID": "c", "KSC_AZURE_TENANT_ID": "t", "KSC_AZURE_SERVICE_CONNECTION_ID": "s",
		"SYSTEM_OIDCREQUESTURI": "https://dev.azure.com/org/_apis/x"}), http.DefaultClient)
	if _, err := a.Token(context.Background(), "aud"); err == nil || !strings.Contains(err.Error(), "SYSTEM_ACCESSTOKEN") {
		t.Fatalf("Token without SYSTEM_ACCESSTOKEN = %v, want it named", err)
	}
}
