package kscli

import (
	"context"
	"crypto"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"keyserver/internal/ksc"
)

const signHelp = `Usage: ks sign --key KEYID [--hash sha256|sha384|sha512] [--parallel N]
               [--json] [--skip-signed] [--description TEXT] FILE...

Signs each FILE under the approved operation KSC_OPERATION_ID and writes
FILE.sig: the same bytes as

  openssl dgst -sha256 -sign KEY -out FILE.sig FILE

(PKCS#1 v1.5 for RSA keys, a DER ECDSA signature for EC keys), so that
openssl dgst -verify, ks verify and any other tool check it. Files are hashed
here and never leave the agent; only their digests are sent. Each signature
is checked against the key's certificate before it is written. ks stops at the
first refusal and prints the Keyserver's reason; the signatures made before it
are kept.

Options:
  --key KEYID        the key to sign with (required)
  --hash NAME        sha256 (default), sha384 or sha512
  --parallel N       signatures in flight at once (default 4, at most 32)
  --json             print a manifest on stdout: the operation, key, hash and,
                     per file, its digest and signature file
  --skip-signed      leave files alone whose FILE.sig already verifies, so a
                     re-run spends no uses on them
  --description TEXT sent with each signature; default KSC_OPERATION_DESCRIPTION
  --operation ID     the operation; default KSC_OPERATION_ID

Environment: KSC_API_SERVER, KSC_OPERATION_ID, KSC_ID_TOKEN or
KSC_ID_TOKEN_FILE (or the CI platform's token, see ks token --help),
KSC_HTTP_CLIENT_TIMEOUT.

Exit codes: 0 all signed, 2 bad usage or unreadable file, 3 operation
rejected or cancelled, 4 operation expired, 7 token missing or refused,
8 key or operation unknown or not allowed, 9 not approved yet or uses spent,
10 Keyserver unreachable or busy, 1 anything else.
`

// manifestEntry is one signed file in the --json manifest.
type manifestEntry struct {
	File      string `json:"file"`
	Digest    string `json:"digest"`
	Key       string `json:"key"`
	Signature string `json:"signature"`
	Skipped   bool   `json:"skipped,omitempty"`
}

type manifest struct {
	Operation string          `json:"operation"`
	Key       string          `json:"key"`
	Hash      string          `json:"hash"`
	Files     []manifestEntry `json:"files"`
}

type signJob struct {
	keyID, opID, description string
	pub                      crypto.PublicKey
	hash                     crypto.Hash
	client                   *ksc.Client
}

func runSign(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("sign")
	keyID := fs.String("key", "", "")
	hashFlag := fs.String("hash", "sha256", "")
	parallel := fs.Int("parallel", 4, "")
	asJSON := fs.Bool("json", false, "")
	skipSigned := fs.Bool("skip-signed", false, "")
	description := fs.String("description", env.Getenv("KSC_OPERATION_DESCRIPTION"), "")
	opFlag := fs.String("operation", strings.TrimSpace(env.Getenv("KSC_OPERATION_ID")), "")
	files, err := parse(env, fs, signHelp, args)
	if err != nil {
		return err
	}
	h, err := parseHash(*hashFlag)
	switch {
	case err != nil:
		return err
	case *keyID == "":
		return fail(ExitUsage, "name the key with --key KEYID; see ks sign --help")
	case *opFlag == "":
		return fail(ExitUsage, "set KSC_OPERATION_ID (or --operation) to the approved operation")
	case len(files) == 0:
		return fail(ExitUsage, "name the files to sign; see ks sign --help")
	case *parallel < 1 || *parallel > 32:
		return fail(ExitUsage, "--parallel must be from 1 to 32")
	}
	s, err := newSession(env, "", true)
	if err != nil {
		return err
	}
	job := &signJob{keyID: *keyID, opID: *opFlag, description: *description, hash: h, client: s.client}
	if job.pub, err = keyOf(ctx, s.client, *keyID); err != nil {
		return err
	}
	entries := make([]manifestEntry, len(files))
	digests := make([][]byte, len(files))
	for i, f := range files {
		if digests[i], err = hashFile(f, h); err != nil {
			return err
		}
		entries[i] = manifestEntry{File: f, Digest: hex.EncodeToString(digests[i]), Key: *keyID, Signature: f + ".sig"}
		entries[i].Skipped = *skipSigned && verifyFile(job.pub, h, f) == nil
	}
	if err := job.signAll(ctx, env, entries, digests, *parallel); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(manifest{Operation: job.opID, Key: *keyID, Hash: hashName(h), Files: entries})
	}
	return nil
}

// keyOf reads a key's certificate and returns its public key.
func keyOf(ctx context.Context, c *ksc.Client, keyID string) (crypto.PublicKey, error) {
	k, err := c.Key(ctx, keyID)
	if err != nil {
		return nil, explain(err, "reading key "+keyID)
	}
	return certificateKey(k.Certificate, "the certificate of key "+keyID)
}

// signAll signs the entries not skipped, at most parallel at once, and
// starts no new signature after the first failure.
func (j *signJob) signAll(ctx context.Context, env *Env, entries []manifestEntry, digests [][]byte, parallel int) error {
	var (
		mu     sync.Mutex
		first  error
		signed int
		wg     sync.WaitGroup
	)
	sem := make(chan struct{}, parallel)
	for i := range entries {
		if entries[i].Skipped {
			fmt.Fprintf(env.Stderr, "ks sign: %s.sig already verifies; skipped\n", entries[i].File)
			continue
		}
		sem <- struct{}{}
		mu.Lock()
		stop := first != nil
		mu.Unlock()
		if stop {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := j.signOne(ctx, &entries[i], digests[i])
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			if err == nil {
				signed++
				fmt.Fprintf(env.Stderr, "ks sign: signed %s (%s %s) -> %s\n", entries[i].File, hashName(j.hash), entries[i].Digest[:16], entries[i].Signature)
			}
		}()
	}
	wg.Wait()
	if first != nil {
		ee := explain(first, "signing")
		return fail(ee.code, "%s (%d of %d files signed before it)", ee.msg, signed, len(entries))
	}
	return nil
}

func (j *signJob) signOne(ctx context.Context, e *manifestEntry, digest []byte) error {
	desc := filepath.Base(e.File)
	if j.description != "" {
		desc += ": " + j.description
	}
	sig, err := j.client.Sign(ctx, signOrder(j.opID, j.keyID, j.pub, j.hash, digest, desc))
	if err != nil {
		return explain(err, "signing "+e.File)
	}
	if sig, err = canonical(j.pub, j.hash, digest, sig); err != nil {
		return fail(ExitError, "signing %s: the Keyserver's answer is wrong: %v", e.File, err)
	}
	if err := writeAtomically(e.Signature, sig); err != nil {
		return fail(ExitError, "writing %s: %v", e.Signature, err)
	}
	return nil
}
