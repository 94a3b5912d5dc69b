package module

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds one HTTP request when KSC_HTTP_CLIENT_TIMEOUT is unset.
const DefaultTimeout = 10 * time.Second

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

// LoadConfig reads the KSC_* variables through getenv. The error names the
// variable at fault. KSC_OPERATION_ID is checked only when signing.
func LoadConfig(getenv func(string) string) (*Config, error) {
	c := &Config{
		OperationID: strings.TrimSpace(getenv("KSC_OPERATION_ID")),
		Description: getenv("KSC_OPERATION_DESCRIPTION"),
		Token:       strings.TrimSpace(getenv("KSC_ID_TOKEN")),
		TokenFile:   strings.TrimSpace(getenv("KSC_ID_TOKEN_FILE")),
		Debug:       isTrue(getenv("KSC_DEBUG")),
	}
	raw := strings.TrimSpace(getenv("KSC_API_SERVER"))
	if raw == "" {
		return nil, fmt.Errorf("KSC_API_SERVER is not set; set it to the Keyserver URL, e.g. https://keyserver.example.com")
	}
	u, err := ParseAPIServer(raw)
	if err != nil {
		return nil, err
	}
	c.APIServer = u
	if c.Token == "" && c.TokenFile == "" {
		return nil, fmt.Errorf("neither KSC_ID_TOKEN nor KSC_ID_TOKEN_FILE is set; set one to the bearer token (or a file holding it)")
	}
	c.Timeout, err = ParseTimeout(getenv("KSC_HTTP_CLIENT_TIMEOUT"))
	if err != nil {
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

// ParseAPIServer accepts https URLs, and http only for loopback hosts.
func ParseAPIServer(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("KSC_API_SERVER %q is not a URL like https://keyserver.example.com", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopback(u.Hostname()) {
			return nil, fmt.Errorf("KSC_API_SERVER %q must use https (plain http is allowed only for localhost)", raw)
		}
	default:
		return nil, fmt.Errorf("KSC_API_SERVER %q must start with https://", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("KSC_API_SERVER %q must not carry credentials, a query or a fragment", raw)
	}
	return u, nil
}

// IsLoopback reports whether host is localhost, in 127.0.0.0/8 or ::1.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseTimeout reads a Go duration ("15s") or plain seconds ("15"); empty
// gives DefaultTimeout.
func ParseTimeout(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return DefaultTimeout, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		secs, err2 := strconv.ParseFloat(s, 64)
		if err2 != nil {
			return 0, fmt.Errorf("KSC_HTTP_CLIENT_TIMEOUT %q is neither a duration like 15s nor a number of seconds", s)
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d <= 0 {
		return 0, fmt.Errorf("KSC_HTTP_CLIENT_TIMEOUT %q must be positive", s)
	}
	return d, nil
}
