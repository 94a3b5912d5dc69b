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
	// Each operation goes through every window in turn, so that the windows
	// share the machine's ups and downs.
	var early, late, refused, fill window
	fillClients := &costRun{pid: c.pid, tables: c.tables, clients: 8}
	for _, id := range ids {
		for _, step := range []struct {
			w    *window
			run  *costRun
			n    int
			done bool
		}{{&early, c, first, false}, {&fill, fillClients, uses - 2*first, false}, {&late, c, first, false}, {&refused, c, first, true}} {
			if err := step.run.add(step.w, step.n, p.order(id, "key1", digest, step.done)); err != nil {
				return err
			}
		}
	}
	fmt.Printf("\nCost of a request: key1 RSA-2048, %d clients, %d operations of %d uses, %d requests per row.\n", c.clients, ops, uses, early.n)
	fmt.Println("Handler CPU from /proc/<pid>/stat of the handler process (the HSM fake and Azurite run in other")
	fmt.Println("processes); table calls and rows read counted by a proxy in front of Azurite.")
	fmt.Printf("\n%-34s %12s %12s %12s %10s\n", "per request", "CPU ms", "table calls", "rows read", "req/s")
	row := func(name string, w window) {
		fmt.Printf("%-34s %12.3f %12.2f %12.2f %10.1f\n", name, w.cpuMS(), w.per(w.traffic.calls), w.per(w.traffic.rows), w.rate())
	}
	row(fmt.Sprintf("signature, uses 0-%d", first), early)
	row(fmt.Sprintf("signature, uses %d-%d", uses-first, uses), late)
	row("refusal, every use spent", refused)
	both := window{n: early.n + late.n, elapsed: early.elapsed + late.elapsed, cpu: early.cpu + late.cpu,
		traffic: tableTraffic{early.traffic.calls + late.traffic.calls, early.traffic.reads + late.traffic.reads, early.traffic.rows + late.traffic.rows}}
	row("signature, both windows", both)
	ratio := func(name string, a, b window) {
		fmt.Printf("%-34s %12.2f %12.2f %12.2f %10.2f\n", name, a.cpuMS()/b.cpuMS(), a.per(a.traffic.calls)/b.per(b.traffic.calls), ratioOf(a.per(a.traffic.rows), b.per(b.traffic.rows)), a.rate()/b.rate())
	}
	fmt.Println("ratios")
	ratio(fmt.Sprintf("  uses %d-%d / uses 0-%d", uses-first, uses, first), late, early)
	ratio("  refusal / signature", refused, both)
	return nil
}

func ratioOf(a, b float64) float64 {
	if b == 0 {
		if a == 0 {
			return 1
		}
		return a / 1e-9
	}
	return a / b
}
