package kscli

import (
	"context"
	"crypto"
	"fmt"
	"os"
	"strings"
)

const verifyHelp = `Usage: ks verify (--key KEYID | --cert FILE) [--hash sha256|sha384|sha512] FILE...

Verifies each FILE.sig against FILE with the key's certificate, as

  openssl dgst -sha256 -verify PUBKEY -signature FILE.sig FILE

does, and prints "FILE: Verified OK" for each. With --key the certificate
comes from the Keyserver (GET /api/keys/KEYID); with --cert from a PEM file,
without any call (offline).

Options:
  --key KEYID   verify with this key's certificate from the Keyserver
  --cert FILE   verify with this PEM certificate
  --hash NAME   the hash the files were signed with: sha256 (default),
                sha384 or sha512

Environment (with --key): KSC_API_SERVER, KSC_ID_TOKEN or KSC_ID_TOKEN_FILE
(or the CI platform's token), KSC_HTTP_CLIENT_TIMEOUT.

Exit codes: 0 every signature verifies, 6 one does not, 2 bad usage or
unreadable file, 7 token missing or refused, 8 key unknown or not allowed,
10 Keyserver unreachable, 1 anything else.
`

const certHelp = `Usage: ks cert KEYID

Prints the certificate of KEYID, from GET /api/keys/KEYID, as PEM on stdout:

  ks cert key1 > key1.pem
  openssl x509 -in key1.pem -pubkey -noout > key1.pub.pem

Environment: KSC_API_SERVER, KSC_ID_TOKEN or KSC_ID_TOKEN_FILE (or the CI
platform's token), KSC_HTTP_CLIENT_TIMEOUT.

Exit codes: 0 printed, 2 bad usage, 7 token missing or refused, 8 key unknown
or not allowed, 10 Keyserver unreachable, 1 anything else.
`

func runVerify(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("verify")
	keyID := fs.String("key", "", "")
	certFile := fs.String("cert", "", "")
	hashFlag := fs.String("hash", "sha256", "")
	files, err := parse(env, fs, verifyHelp, args)
	if err != nil {
		return err
	}
	h, err := parseHash(*hashFlag)
	switch {
	case err != nil:
		return err
	case (*keyID == "") == (*certFile == ""):
		return fail(ExitUsage, "name the key with --key KEYID or its certificate with --cert FILE (one of them); see ks verify --help")
	case len(files) == 0:
		return fail(ExitUsage, "name the files to verify; see ks verify --help")
	}
	pub, err := verificationKey(ctx, env, *keyID, *certFile)
	if err != nil {
		return err
	}
	return verifyAll(env, pub, h, files)
}

func verificationKey(ctx context.Context, env *Env, keyID, certFile string) (crypto.PublicKey, error) {
	if certFile != "" {
		b, err := os.ReadFile(certFile)
		if err != nil {
			return nil, fail(ExitUsage, "cannot read the certificate %s: %v", certFile, err)
		}
		return certificateKey(string(b), certFile)
	}
	s, err := newSession(env, "", true)
	if err != nil {
		return nil, err
	}
	return keyOf(ctx, s.client, keyID)
}

// verifyAll checks every file and reports each; the first failure decides the exit code.
func verifyAll(env *Env, pub crypto.PublicKey, h crypto.Hash, files []string) error {
	var first error
	bad := 0
	for _, f := range files {
		if err := verifyFile(pub, h, f); err != nil {
			bad++
			if first == nil {
				first = err
			} else {
				fmt.Fprintf(env.Stderr, "ks verify: %v\n", err)
			}
			continue
		}
		fmt.Fprintf(env.Stdout, "%s: Verified OK\n", f)
	}
	if first != nil {
		ee := first.(*exitError)
		return fail(ee.code, "%s (%d of %d files failed)", ee.msg, bad, len(files))
	}
	return nil
}

func runCert(ctx context.Context, env *Env, args []string) error {
	rest, err := parse(env, newFlags("cert"), certHelp, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fail(ExitUsage, "name one key: ks cert KEYID")
	}
	s, err := newSession(env, "", true)
	if err != nil {
		return err
	}
	k, err := s.client.Key(ctx, rest[0])
	if err != nil {
		return explain(err, "reading key "+rest[0])
	}
	if _, err := certificateKey(k.Certificate, "the certificate of key "+rest[0]); err != nil {
		return err
	}
	fmt.Fprint(env.Stdout, strings.TrimRight(k.Certificate, "\n")+"\n")
	return nil
}
