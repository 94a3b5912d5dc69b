// Command bench measures, in one run on one machine, what a signature costs:
// at each layer (SoftHSM over PKCS#11, the HSM fake's REST API, POST
// /api/signorders through the handler); per request in handler CPU, table
// calls and rows read, early and late in a long operation and for refusals;
// what the audit chain adds to a signature's table calls; and openssl
// through the PKCS#11 module against SoftHSM's own module. It
// prints rates, latency percentiles and ratios. `make bench` runs it.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"keyserver/internal/azurite"
	"keyserver/internal/localstack"
)

type options struct {
	dir, handler, module string
	n, opensslRuns       int
	ops, uses, window    int
	clients              int
	sections             string
	upkeep               time.Duration
	gomaxprocs           string
}

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", "build/bench", "state directory (wiped first)")
	flag.StringVar(&o.handler, "handler", "build/handler", "handler binary (its CPU is read from /proc)")
	flag.IntVar(&o.n, "n", 300, "signatures per row of the layer table")
	flag.StringVar(&o.module, "module", "build/libpkcs11ks.so", "the PKCS#11 module, for the openssl timing")
	flag.IntVar(&o.opensslRuns, "openssl-runs", 20, "openssl signatures per module")
	flag.IntVar(&o.ops, "ops", 10, "operations measured for the cost of a request")
	flag.IntVar(&o.uses, "uses", 1000, "uses of each of those operations")
	flag.IntVar(&o.window, "window", 100, "signatures per operation in each measured window")
	flag.IntVar(&o.clients, "clients", 4, "concurrent clients for the cost of a request")
	flag.StringVar(&o.sections, "sections", "layers,cost,procs,audit,openssl", "which parts to run")
	flag.StringVar(&o.gomaxprocs, "gomaxprocs", "1", "GOMAXPROCS of the handler, as infra/main.bicep sets it (one per whole core; the default 2048 MB instance has one); empty: Go's default")
	flag.DurationVar(&o.upkeep, "upkeep", localstack.DefaultUpkeepInterval, "how often the local timer runs upkeep (audit sealing included); negative: never")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx := context.Background()
	if o.handler == "" {
		return errors.New("-handler is required: the handler's CPU is read from its process")
	}
	if o.uses < 2*o.window {
		return fmt.Errorf("-uses %d must be at least twice -window %d", o.uses, o.window)
	}
	if err := os.RemoveAll(o.dir); err != nil {
		return err
	}
	azuritePort, err := freePort()
	if err != nil {
		return err
	}
	tables, proxyURL, err := startTableCounter(fmt.Sprintf("http://127.0.0.1:%d", azuritePort))
	if err != nil {
		return err
	}
	logs := &serverLog{}
	st, err := localstack.Start(ctx, localstack.Options{
		Dir: o.dir, HandlerBinary: o.handler, HandlerOutput: logs, AzuritePort: azuritePort, UpkeepInterval: o.upkeep,
		TableEndpoint:   proxyURL + "/" + azurite.AccountName,
		HandlerSettings: map[string]string{"GOMAXPROCS": o.gomaxprocs},
		Log:             slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		return err
	}
	defer st.Close()
	p, err := newPipeline(ctx, st)
	if err != nil {
		return err
	}
	digest := sha256.Sum256([]byte("keyserver benchmark"))
	fmt.Printf("Keyserver signing benchmark, one machine, one run (%s), load average %s\n", time.Now().UTC().Format(time.RFC3339), loadAverage())
	if o.upkeep < 0 {
		fmt.Println("upkeep (and so audit sealing) idle during this run (-upkeep)")
	}
	fmt.Printf("handler GOMAXPROCS=%q (-gomaxprocs; infra/main.bicep sets the instance's whole cores: 1 on the default 2048 MB)\n", o.gomaxprocs)
	sections := strings.Split(o.sections, ",")
	if slices.Contains(sections, "layers") {
		if err := layers(ctx, st, p, o.n, digest[:]); err != nil {
			return err
		}
	}
	if slices.Contains(sections, "cost") {
		c := &costRun{pid: st.HandlerPID(), tables: tables, clients: o.clients}
		if err := costOfASignature(ctx, p, c, o.ops, o.uses, o.window, digest[:]); err != nil {
			return err
		}
	}
	if slices.Contains(sections, "procs") {
		if err := procsCost(ctx, st, p, tables, o, digest[:]); err != nil {
			return err
		}
	}
	if slices.Contains(sections, "audit") {
		if err := auditCost(ctx, st, o.n); err != nil {
			return err
		}
	}
	if slices.Contains(sections, "openssl") {
		direct := fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;TableEndpoint=http://127.0.0.1:%d/%s;",
			azurite.AccountName, azurite.AccountKey, azuritePort, azurite.AccountName)
		return opensslTimes(ctx, st, p, o.handler, direct, o.dir, o.module, o.opensslRuns)
	}
	return nil
}

// layers compares signing rates at each layer, for an RSA and an EC key.
func layers(ctx context.Context, st *localstack.Stack, p *pipeline, n int, digest []byte) error {
	fmt.Printf("\nSigning at each layer, %d signatures per row\n", n)
	fmt.Printf("%-44s %10s %10s %10s\n", "layer", "sign/s", "p50 ms", "p99 ms")
	for _, k := range []struct{ keyID, alg string }{{"key1", "RS256"}, {"key2", "ES256"}} {
		direct := measure(n, 1, func() error {
			_, err := st.HSM.SignDirect(ctx, k.keyID, k.alg, digest)
			return err
		})
		rest, err := restSigner(st, k.keyID, k.alg, digest)
		if err != nil {
			return err
		}
		viaREST := measure(n, 1, rest)
		print(k.keyID+" "+k.alg+" SoftHSM over PKCS#11", direct, direct)
		print(k.keyID+" "+k.alg+" HSM fake REST API", viaREST, direct)
		for _, clients := range []int{1, 8, 32} {
			id, err := p.open(ctx, k.keyID, n, "benchmark run")
			if err != nil {
				return err
			}
			r := measure(n, clients, p.order(id, k.keyID, digest, false))
			print(fmt.Sprintf("%s %s /api/signorders, %d clients", k.keyID, k.alg, clients), r, direct)
		}
		fmt.Println()
	}
	fmt.Println("ratio = rate of the row / rate of SoftHSM over PKCS#11 for the same key")
	return nil
}

func print(name string, r result, base result) {
	if r.err != nil {
		fmt.Printf("%-44s failed: %v\n", name, r.err)
		return
	}
	fmt.Printf("%-44s %10.1f %10.2f %10.2f   ratio %.3f\n", name, r.rate, ms(r.p50), ms(r.p99), r.rate/base.rate)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// loadAverage is the 1, 5 and 15 minute load averages of the machine.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
