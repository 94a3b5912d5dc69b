// Command bench measures, in one run on one machine, what a signature costs
// at each layer: SoftHSM over PKCS#11, the HSM fake's REST API, and the full
// POST /api/signorders path through the handler; and the table calls the
// audit chain adds to a signature. It prints rates, latency
// percentiles and the ratios between the layers. `make bench` runs it.
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"keyserver/internal/localstack"
)

func main() {
	dir := flag.String("dir", "build/bench", "state directory (wiped first)")
	handler := flag.String("handler", "build/handler", "handler binary; empty runs it in process")
	n := flag.Int("n", 300, "signatures per measurement")
	module := flag.String("module", "build/libpkcs11ks.so", "the PKCS#11 module, for the openssl timing")
	runs := flag.Int("openssl-runs", 20, "openssl signatures per module")
	flag.Parse()
	if err := run(*dir, *handler, *module, *n, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(dir, handler, module string, n, opensslRuns int) error {
	ctx := context.Background()
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	st, err := localstack.Start(ctx, localstack.Options{
		Dir: dir, HandlerBinary: handler, HandlerOutput: io.Discard,
		Log: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		return err
	}
	defer st.Close()
	digest := sha256.Sum256([]byte("keyserver benchmark"))
	fmt.Printf("Keyserver signing benchmark: %d signatures per row, one machine, one run\n\n", n)
	fmt.Printf("%-44s %10s %10s %10s\n", "layer", "sign/s", "p50 ms", "p99 ms")
	for _, k := range []struct{ keyID, alg string }{{"key1", "RS256"}, {"key2", "ES256"}} {
		direct := measure(n, 1, func() error {
			_, err := st.HSM.SignDirect(ctx, k.keyID, k.alg, digest[:])
			return err
		})
		rest, err := restSigner(st, k.keyID, k.alg, digest[:])
		if err != nil {
			return err
		}
		viaREST := measure(n, 1, rest)
		print(k.keyID+" "+k.alg+" SoftHSM over PKCS#11", direct, direct)
		print(k.keyID+" "+k.alg+" HSM fake REST API", viaREST, direct)
		for _, clients := range []int{1, 8, 32} {
			sign, err := signOrderer(ctx, st, k.keyID, n, digest[:])
			if err != nil {
				return err
			}
			r := measure(n, clients, sign)
			print(fmt.Sprintf("%s %s /api/signorders, %d clients", k.keyID, k.alg, clients), r, direct)
		}
		fmt.Println()
	}
	fmt.Println("ratio = rate of the row / rate of SoftHSM over PKCS#11 for the same key")
	if err := auditCost(ctx, st, n); err != nil {
		return err
	}
	return opensslTimes(ctx, st, dir, module, opensslRuns)
}

func print(name string, r result, base result) {
	if r.err != nil {
		fmt.Printf("%-44s failed: %v\n", name, r.err)
		return
	}
	fmt.Printf("%-44s %10.1f %10.2f %10.2f   ratio %.3f\n", name, r.rate, ms(r.p50), ms(r.p99), r.rate/base.rate)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
