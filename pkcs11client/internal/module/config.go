package module

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"keyserver/internal/ksc"
)

// Config is what the module reads from the environment.
type Config struct {
	APIServer   *url.URL
	OperationID string
	Description string
	Token       string // KSC_ID_TOKEN, used when TokenFile is empty
	TokenFile   string // KSC_ID_TOKEN_FILE, re-read when the token expires
	Timeout     time.Duration
	Debug       bool
}

// LoadConfig reads the KSC_* variables through getenv, parsed as the ks CLI
// parses them (package ksc). The error names the variable at fault.
// KSC_OPERATION_ID is checked only when signing.
func LoadConfig(getenv func(string) string) (*Config, error) {
	c := &Config{
		OperationID: strings.TrimSpace(getenv("KSC_OPERATION_ID")),
		Description: getenv("KSC_OPERATION_DESCRIPTION"),
		Token:       strings.TrimSpace(getenv("KSC_ID_TOKEN")),
		TokenFile:   strings.TrimSpace(getenv("KSC_ID_TOKEN_FILE")),
		Debug:       isTrue(getenv("KSC_DEBUG")),
	}
	u, err := ksc.APIServerFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	c.APIServer = u
	if c.Token == "" && c.TokenFile == "" {
		return nil, fmt.Errorf("%s", ksc.NoTokenMessage)
	}
	if c.Timeout, err = ksc.TimeoutFromEnv(getenv); err != nil {
		return nil, err
	}
	return c, nil
}

func isTrue(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "0", "false", "no", "off":
		return false
	}
	return true
}
