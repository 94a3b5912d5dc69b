package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"
)

// serverLog receives the handler's log lines and keeps the duration of each
// request it answered, so that the server's share of a client's time can be
// told apart.
type serverLog struct {
	mu       sync.Mutex
	partial  []byte
	requests []served
}

type served struct {
	method, path string
	duration     time.Duration
	// a signature's steps: reserving its use, the HSM, completing the use
	reserve, hsm, complete time.Duration
}

func (l *serverLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		var line struct {
			Level, Msg, Method, Path string
			DurationMS               float64 `json:"duration_ms"`
			ReserveMS                float64 `json:"reserve_ms"`
			HSMMS                    float64 `json:"hsm_ms"`
			CompleteMS               float64 `json:"complete_ms"`
		}
		if json.Unmarshal(l.partial[:i], &line) == nil && line.Msg == "request" {
			l.requests = append(l.requests, served{line.Method, line.Path, fromMS(line.DurationMS), fromMS(line.ReserveMS), fromMS(line.HSMMS), fromMS(line.CompleteMS)})
		}
		if line.Level == "WARN" || line.Level == "ERROR" { // shown: a figure beside one is suspect
			fmt.Fprintf(os.Stderr, "handler: %.300s\n", l.partial[:i])
		}
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

// mark returns how many requests were logged so far.
func (l *serverLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.requests)
}

// through waits up to a second for a request to path to be logged after
// mark and returns the requests logged after mark.
func (l *serverLog) through(mark int, path string) []served {
	deadline := time.Now().Add(time.Second)
	for {
		l.mu.Lock()
		got := append([]served(nil), l.requests[mark:]...)
		l.mu.Unlock()
		if slices.ContainsFunc(got, func(s served) bool { return s.path == path }) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func fromMS(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
