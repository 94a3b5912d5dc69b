package main

import (
	"context"
	"fmt"
	"time"
)

// costRun measures what one request costs the handler: its CPU, its table
// calls and rows read, and the rate, in windows of requests.
type costRun struct {
	pid     int
	tables  *tableCounter
	clients int
}

// window is the sum of the measured parts of one kind of request.
type window struct {
	n       int
	elapsed time.Duration
	cpu     time.Duration
	traffic tableTraffic
}

func (w window) rate() float64 { return float64(w.n) / w.elapsed.Seconds() }
func (w window) cpuMS() float64 {
	return float64(w.cpu.Microseconds()) / 1000 / float64(w.n)
}
func (w window) per(v int64) float64 { return float64(v) / float64(w.n) }

// add runs op n times over c.clients clients and adds it to w.
func (c *costRun) add(w *window, n int, op func() error) error {
	cpu0, err := procCPU(c.pid)
	if err != nil {
		return err
	}
	t0 := c.tables.snapshot()
	start := time.Now()
	r := measure(n, c.clients, op)
	elapsed := time.Since(start)
	cpu1, err := procCPU(c.pid)
	if err != nil {
		return err
	}
	if r.err != nil {
		return r.err
	}
	w.n += n
	w.elapsed += elapsed
	w.cpu += cpu1 - cpu0
	tr := c.tables.snapshot().minus(t0)
	w.traffic = tableTraffic{w.traffic.calls + tr.calls, w.traffic.reads + tr.reads, w.traffic.rows + tr.rows}
	return nil
}

// costOfASignature opens ops operations of uses uses on key1 and measures
// signatures at usage counts 0 to first and uses-first to uses, then
// refusals once every use is spent.
func costOfASignature(ctx context.Context, p *pipeline, c *costRun, ops, uses, first int, digest []byte) error {
	ids := make([]string, ops)
	for i := range ids {
		id, err := p.open(ctx, "key1", uses, "benchmark: cost of a signature")
		if err != nil {
			return err
		}
		ids[i] = id
	}
	// The measured windows run back to back, each late window and refusal
	// window of one operation right after the early window of the next, so
	// that they share the machine's ups and downs; each operation is filled
	// to its last window, unmeasured, in between.
	var early, late, refused, fill window
	fillClients := &costRun{pid: c.pid, tables: c.tables, clients: 8}
	type step struct {
		w         *window
		run       *costRun
		id        string
		n         int
		exhausted bool
	}
	for i := 0; i <= len(ids); i++ {
		var steps []step
		if i < len(ids) {
			steps = append(steps, step{&early, c, ids[i], first, false})
		}
		if i > 0 {
			steps = append(steps, step{&late, c, ids[i-1], first, false}, step{&refused, c, ids[i-1], first, true})
		}
		if i < len(ids) {
			steps = append(steps, step{&fill, fillClients, ids[i], uses - 2*first, false})
		}
		for _, st := range steps {
			if err := st.run.add(st.w, st.n, p.order(st.id, "key1", digest, st.exhausted)); err != nil {
				return err
			}
		}
	}
	printCost(c.clients, ops, uses, first, early, late, refused)
	return nil
}

func (w window) plus(o window) window {
	return window{n: w.n + o.n, elapsed: w.elapsed + o.elapsed, cpu: w.cpu + o.cpu,
		traffic: tableTraffic{w.traffic.calls + o.traffic.calls, w.traffic.reads + o.traffic.reads, w.traffic.rows + o.traffic.rows}}
}

func printCost(clients, ops, uses, first int, early, late, refused window) {
	fmt.Printf("\nCost of a request: key1 RSA-2048, %d clients, %d operations of %d uses, %d requests per row.\n", clients, ops, uses, early.n)
	fmt.Println("Handler CPU from /proc/<pid>/stat of the handler process (the HSM fake and Azurite run in other")
	fmt.Println("processes); table calls (reads and writes) and rows read counted by a proxy in front of Azurite.")
	fmt.Printf("\n%-34s %12s %12s %12s %10s\n", "per request", "CPU ms", "table calls", "rows read", "req/s")
	row := func(name string, w window) {
		fmt.Printf("%-34s %12.3f %12.2f %12.2f %10.1f\n", name, w.cpuMS(), w.per(w.traffic.calls), w.per(w.traffic.rows), w.rate())
	}
	both := early.plus(late)
	row(fmt.Sprintf("signature, uses 0-%d", first), early)
	row(fmt.Sprintf("signature, uses %d-%d", uses-first, uses), late)
	row("signature, both windows", both)
	row("refusal, every use spent", refused)
	ratio := func(name string, a, b window) {
		fmt.Printf("%-34s %12.2f %12.2f %12s %10.2f\n", name, a.cpuMS()/b.cpuMS(), a.per(a.traffic.calls)/b.per(b.traffic.calls),
			ratioOf(a.per(a.traffic.rows), b.per(b.traffic.rows)), a.rate()/b.rate())
	}
	fmt.Println("ratios")
	ratio(fmt.Sprintf("  uses %d-%d / uses 0-%d", uses-first, uses, first), late, early)
	ratio("  refusal / signature", refused, both)
	fmt.Println("targets: CPU per signature at most 0.5 ms; late / early within 0.90-1.10; refusal / signature at most 1 (CPU)")
}

// ratioOf is a / b, or "-" when b is too small for a ratio to mean anything.
func ratioOf(a, b float64) string {
	if b < 0.1 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}
