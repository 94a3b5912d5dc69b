package main

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"keyserver/internal/hsmfake"
	"keyserver/internal/localstack"
)

const engineConf = `openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = /usr/lib/x86_64-linux-gnu/engines-3/libpkcs11.so
MODULE_PATH = %s
init = 0
`

//go:embed p11time/p11time.c
var p11timeSource []byte

// p11Steps names the numbers p11time prints.
var p11Steps = []string{"dlopen, C_GetFunctionList", "C_Initialize", "C_GetSlotList, C_GetTokenInfo", "C_OpenSession, C_FindObjects", "C_SignInit, C_Sign"}

// moduleRun is one way of signing through a module: openssl or p11time.
type moduleRun struct {
	name string
	cmd  func() *exec.Cmd
}

// opensslTimes compares the wall time of seed 001's `openssl dgst -sign`
// through the Keyserver module with the same command through SoftHSM's own
// module on the same HSM key, alternating the two, n times each, and times
// the steps of one signature through each module with p11time. The module
// talks to a handler process of its own that reaches Azurite directly, as a
// deployed handler reaches Table Storage: not through the proxy that counts
// the other sections' table calls, a hop of the benchmark's own. The
// handler's time for each request is read from its log.
func opensslTimes(ctx context.Context, st *localstack.Stack, p *pipeline, handler, tables, dir, module string, n int) error {
	logs := &serverLog{}
	url, stop, err := st.StartHandlerWith(ctx, handler, logs, map[string]string{"KEYSERVER_TABLES_CONNECTION_STRING": tables})
	if err != nil {
		return err
	}
	defer stop()
	work := filepath.Join(dir, "openssl")
	if err := os.MkdirAll(work, 0o700); err != nil {
		return err
	}
	data := filepath.Join(work, "data.bin")
	if err := os.WriteFile(data, []byte("benchmark payload"), 0o600); err != nil {
		return err
	}
	p11time := filepath.Join(work, "p11time")
	if err := buildP11time(work, p11time); err != nil {
		return err
	}
	opID, err := p.open(ctx, "key1", 2*n, "openssl timing run")
	if err != nil {
		return err
	}
	ksEnv := []string{"KSC_API_SERVER=" + url, "KSC_OPERATION_ID=" + opID, "KSC_ID_TOKEN=" + p.token, "KSC_OPERATION_DESCRIPTION=openssl timing run"}
	softEnv := []string{"SOFTHSM2_CONF=" + filepath.Join(dir, "hsm", "softhsm2.conf")}
	softURI := "pkcs11:token=" + hsmfake.TokenLabel + ";object=key1;type=private;pin-value=" + hsmfake.UserPIN
	runs := []moduleRun{
		{"ks openssl", opensslCommand(work, "keyserver", module, "pkcs11:object=key1", data, ksEnv)},
		{"soft openssl", opensslCommand(work, "softhsm", hsmfake.DefaultModulePath, softURI, data, softEnv)},
		{"ks p11time", envCommand(ksEnv, p11time, module, "key1")},
		{"soft p11time", envCommand(softEnv, p11time, hsmfake.DefaultModulePath, "key1", hsmfake.UserPIN)},
	}
	wall := map[string][]time.Duration{}
	steps := map[string][][]time.Duration{}
	server := map[string][]time.Duration{} // per request path, Keyserver runs only
	for range n {
		for _, r := range runs {
			mark := logs.mark()
			start := time.Now()
			out, err := r.cmd().CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s: %v: %s", r.name, err, out)
			}
			wall[r.name] = append(wall[r.name], time.Since(start))
			if strings.HasSuffix(r.name, "p11time") {
				s, err := parseSteps(out)
				if err != nil {
					return fmt.Errorf("%s: %v", r.name, err)
				}
				steps[r.name] = append(steps[r.name], s)
			}
			if strings.HasPrefix(r.name, "ks") {
				var total time.Duration
				for _, req := range logs.through(mark, "/api/signorders") {
					server[r.name+" "+req.method+" "+req.path] = append(server[r.name+" "+req.method+" "+req.path], req.duration)
					total += req.duration
					if req.path == "/api/signorders" {
						for step, d := range map[string]time.Duration{"reserve": req.reserve, "hsm": req.hsm, "complete": req.complete, "rest": req.duration - req.reserve - req.hsm - req.complete} {
							server[r.name+" sign "+step] = append(server[r.name+" sign "+step], d)
						}
					}
				}
				server[r.name] = append(server[r.name], total)
			}
		}
	}
	printOpenSSL(n, wall, server)
	printSteps(n, steps, server)
	return nil
}

func printOpenSSL(n int, wall, server map[string][]time.Duration) {
	ks, soft, srv := median(wall["ks openssl"]), median(wall["soft openssl"]), median(server["ks openssl"])
	fmt.Printf("\nopenssl dgst -sha256 -sign, key1 RSA-2048, %d runs each, alternating (median wall time);\n", n)
	fmt.Println("the module's handler reaches Azurite directly (no counting proxy)")
	fmt.Printf("  %-52s %8.2f ms\n", "through SoftHSM's own PKCS#11 module", ms(soft))
	fmt.Printf("  %-52s %8.2f ms   ratio %.2f\n", "through the Keyserver module", ms(ks), float64(ks)/float64(soft))
	fmt.Printf("  %-52s %8.2f ms\n", "  of which the handler answering (from its log)", ms(srv))
	for _, path := range []string{"GET /api/keys", "POST /api/signorders"} {
		if d := server["ks openssl "+path]; len(d) > 0 {
			fmt.Printf("  %-52s %8.2f ms   %d of %d runs\n", "    "+path, ms(median(d)), len(d), n)
		}
	}
	for _, step := range []struct{ key, name string }{{"reserve", "reserving the use (one transaction)"}, {"hsm", "the HSM signing, and checking the signature"},
		{"complete", "completing the use (one transaction)"}, {"rest", "the rest (token, checks, JSON, log)"}} {
		if d := server["ks openssl sign "+step.key]; len(d) > 0 {
			fmt.Printf("  %-52s %8.2f ms\n", "      "+step.name, ms(median(d)))
		}
	}
	fmt.Printf("  %-52s %8.2f ms   ratio %.2f\n", "  without the handler's time", ms(ks-srv), float64(ks-srv)/float64(soft))
}

func printSteps(n int, steps map[string][][]time.Duration, server map[string][]time.Duration) {
	fmt.Printf("\nOne signature step by step (p11time, the calls openssl's engine makes), median of %d, ms\n", n)
	fmt.Printf("  %-34s %12s %12s\n", "step", "Keyserver", "SoftHSM")
	ks, soft := steps["ks p11time"], steps["soft p11time"]
	var tks, tsoft time.Duration
	for i, name := range p11Steps {
		a, b := median(column(ks, i)), median(column(soft, i))
		tks, tsoft = tks+a, tsoft+b
		fmt.Printf("  %-34s %12.2f %12.2f\n", name, ms(a), ms(b))
	}
	fmt.Printf("  %-34s %12.2f %12.2f\n", "total", ms(tks), ms(tsoft))
	for _, path := range []string{"GET /api/keys", "POST /api/signorders"} {
		if d := server["ks p11time "+path]; len(d) > 0 {
			fmt.Printf("  %-34s %12.2f   (handler time, %d of %d runs)\n", "  "+path, ms(median(d)), len(d), n)
		}
	}
}

// opensslCommand returns a function that makes the command of one signature.
func opensslCommand(work, name, module, uri, data string, env []string) func() *exec.Cmd {
	conf := filepath.Join(work, name+".cnf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(engineConf, module)), 0o600); err != nil {
		panic(err)
	}
	sig := filepath.Join(work, name+".sig")
	return envCommand(append(env, "OPENSSL_CONF="+conf), "openssl", "dgst", "-engine", "pkcs11", "-keyform", "engine", "-sign", uri, "-sha256", "-out", sig, data)
}

func envCommand(env []string, name string, args ...string) func() *exec.Cmd {
	return func() *exec.Cmd {
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), env...)
		return cmd
	}
}

func buildP11time(work, out string) error {
	src := filepath.Join(work, "p11time.c")
	if err := os.WriteFile(src, p11timeSource, 0o600); err != nil {
		return err
	}
	if b, err := exec.Command("cc", "-O2", "-I/usr/include/p11-kit-1", "-o", out, src, "-ldl").CombinedOutput(); err != nil {
		return fmt.Errorf("compiling p11time: %v: %s", err, b)
	}
	return nil
}

func parseSteps(out []byte) ([]time.Duration, error) {
	f := strings.Fields(string(out))
	if len(f) != len(p11Steps) {
		return nil, fmt.Errorf("p11time printed %q", out)
	}
	s := make([]time.Duration, len(f))
	for i, v := range f {
		us, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("p11time printed %q", out)
		}
		s[i] = time.Duration(us * float64(time.Microsecond))
	}
	return s, nil
}

func column(rows [][]time.Duration, i int) []time.Duration {
	c := make([]time.Duration, len(rows))
	for j, r := range rows {
		c[j] = r[i]
	}
	return c
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
