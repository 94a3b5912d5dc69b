package ksc

import (
	"testing"
	"time"
)

func TestParseAPIServer(t *testing.T) {
	cases := []struct {
		raw string
		ok  bool
	}{
		{"https://keyserver.example.com", true},
		{"https://keyserver.example.com:8200/", true},
		{"http://localhost:7071", true},
		{"http://127.0.0.1:7071", true},
		{"http://127.5.6.7", true},
		{"http://[::1]:8080", true},
		{"http://keyserver.example.com", false},
		{"http://10.0.0.1", false},
		{"http://localhost.example.com", false},
		{"ftp://localhost", false},
		{"keyserver.example.com", false},
		{"https://user:pw@keyserver.example.com", false},
	}
	for _, c := range cases {
		_, err := ParseAPIServer(c.raw)
		if (err == nil) != c.ok {
			t.Errorf("ParseAPIServer(%q) error = %v, want ok=%v", c.raw, err, c.ok)
		}
	}
}

func TestParseTimeout(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", DefaultTimeout, true},
		{"15s", 15 * time.Second, true},
		{"15", 15 * time.Second, true},
		{"1.5", 1500 * time.Millisecond, true},
		{"2m", 2 * time.Minute, true},
		{"0", 0, false},
		{"-3s", 0, false},
		{"soon", 0, false},
	}
	for _, c := range cases {
		got, err := ParseTimeout(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseTimeout(%q) = %v, %v; want %v, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}
