package localstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// timer stands in for the upkeep function's timer trigger: it invokes the
// handler's /upkeep as the Functions host does, with a timer payload.
type timer struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// DefaultUpkeepInterval is how often the local stack runs upkeep; the timer
// in Azure runs it every minute.
const DefaultUpkeepInterval = 5 * time.Second

func startTimer(handlerURL string, every time.Duration, log *slog.Logger) *timer {
	if every == 0 {
		every = DefaultUpkeepInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &timer{cancel: cancel, done: make(chan struct{})}
	if every < 0 {
		close(t.done)
		return t
	}
	go func() {
		defer close(t.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		var last time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				if err := InvokeUpkeep(ctx, handlerURL, last, now); err != nil && ctx.Err() == nil {
					log.Warn("local timer: upkeep failed", "err", err)
				}
				last = now
			}
		}
	}()
	return t
}

func (t *timer) stop() {
	if t == nil {
		return
	}
	t.cancel()
	<-t.done
}

// InvokeUpkeep calls the handler's upkeep function once, with the body the
// Functions host sends for a timer trigger.
func InvokeUpkeep(ctx context.Context, handlerURL string, last, now time.Time) error {
	status := any(nil)
	if !last.IsZero() {
		status = map[string]string{"Last": last.UTC().Format(time.RFC3339Nano), "Next": now.UTC().Format(time.RFC3339Nano),
			"LastUpdated": last.UTC().Format(time.RFC3339Nano)}
	}
	body, _ := json.Marshal(map[string]any{
		"Data": map[string]any{"timer": map[string]any{"Schedule": map[string]bool{"AdjustForDST": true},
			"ScheduleStatus": status, "IsPastDue": false}},
		"Metadata": map[string]any{"sys": map[string]string{"MethodName": "upkeep", "UtcNow": now.UTC().Format(time.RFC3339Nano)}},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, handlerURL+"/upkeep", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct{ Logs []string }
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("upkeep answered %s: %v", resp.Status, out.Logs)
	}
	return nil
}
