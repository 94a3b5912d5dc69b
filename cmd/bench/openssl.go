package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// opensslTimes compares the wall time of seed 001's `openssl dgst -sign`
// through the Keyserver module with the same command through SoftHSM's own
// module on the same HSM key, alternating the two, n times each.
func opensslTimes(ctx context.Context, st *localstack.Stack, dir, module string, n int) error {
	work := filepath.Join(dir, "openssl")
	if err := os.MkdirAll(work, 0o700); err != nil {
		return err
	}
	data := filepath.Join(work, "data.bin")
	if err := os.WriteFile(data, []byte("benchmark payload"), 0o600); err != nil {
		return err
	}
	token, err := st.Token(ctx, "orderer-client")
	if err != nil {
		return err
	}
	var op struct{ ID string }
	req := map[string]any{"validms": 600000, "description": "openssl timing run",
		"new-keyusagerestrictions": []map[string]any{{"keyid": "key1", "maxusagecount": n}}}
	if _, err := st.Call(ctx, "POST", "/api/operations", token, req, &op); err != nil {
		return err
	}
	ks, err := opensslCommand(work, "keyserver", module, "pkcs11:object=key1", data,
		"KSC_API_SERVER="+st.HandlerURL, "KSC_OPERATION_ID="+op.ID, "KSC_ID_TOKEN="+token,
		"KSC_OPERATION_DESCRIPTION=openssl timing run")
	if err != nil {
		return err
	}
	soft, err := opensslCommand(work, "softhsm", hsmfake.DefaultModulePath,
		"pkcs11:token="+hsmfake.TokenLabel+";object=key1;type=private;pin-value="+hsmfake.UserPIN, data,
		"SOFTHSM2_CONF="+filepath.Join(dir, "hsm", "softhsm2.conf"))
	if err != nil {
		return err
	}
	var tKS, tSoft []time.Duration
	for range n {
		for _, c := range []struct {
			run func() (time.Duration, error)
			out *[]time.Duration
		}{{ks, &tKS}, {soft, &tSoft}} {
			d, err := c.run()
			if err != nil {
				return err
			}
			*c.out = append(*c.out, d)
		}
	}
	mKS, mSoft := median(tKS), median(tSoft)
	fmt.Printf("\nopenssl dgst -sha256 -sign, key1 RSA-2048, %d runs each, alternating (median wall time):\n", n)
	fmt.Printf("  through SoftHSM's own PKCS#11 module   %8.1f ms\n", ms(mSoft))
	fmt.Printf("  through the Keyserver module            %8.1f ms   ratio %.2f\n", ms(mKS), float64(mKS)/float64(mSoft))
	return nil
}

// opensslCommand returns a function that runs one signature and times it.
func opensslCommand(work, name, module, uri, data string, env ...string) (func() (time.Duration, error), error) {
	conf := filepath.Join(work, name+".cnf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(engineConf, module)), 0o600); err != nil {
		return nil, err
	}
	sig := filepath.Join(work, name+".sig")
	return func() (time.Duration, error) {
		cmd := exec.Command("openssl", "dgst", "-engine", "pkcs11", "-keyform", "engine", "-sign", uri, "-sha256", "-out", sig, data)
		cmd.Env = append(append(os.Environ(), "OPENSSL_CONF="+conf), env...)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("openssl through %s: %v: %s", name, err, out)
		}
		return time.Since(start), nil
	}, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
