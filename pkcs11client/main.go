// Command pkcs11client is the Keyserver PKCS#11 module, built as a C shared
// library (see build.sh). This package is the thin cgo layer: it converts
// Cryptoki arguments and hands them to internal/module. The function list
// and the exported C_* symbols live in pkcs11.c.
package main

/*
#cgo CFLAGS: -I/usr/include/p11-kit-1 -std=gnu11
#include <stdlib.h>
#include <p11-kit/pkcs11.h>
*/
import "C"

import (
	"fmt"
	"os"
	"sync"
	"unsafe"

	"keyserver/pkcs11client/internal/module"
)

// The module's encoding of CK_ULONG assumes LP64.
var _ [unsafe.Sizeof(C.CK_ULONG(0)) - 8]struct{}
var _ [8 - unsafe.Sizeof(C.CK_ULONG(0))]struct{}

func main() {}

var (
	stateMu sync.RWMutex
	mod     *module.Module
)

// current returns the initialised module, or nil.
func current() *module.Module {
	stateMu.RLock()
	defer stateMu.RUnlock()
	return mod
}

// guard turns a panic into CKR_GENERAL_ERROR; the host must never crash.
func guard(rv *C.CK_RV) {
	if r := recover(); r != nil {
		_, _ = os.Stderr.WriteString(fmt.Sprintf("libpkcs11ks: internal error: %v\n", r))
		*rv = C.CK_RV(module.CKR_GENERAL_ERROR)
	}
}

// cGetenv reads the live C environment, which the host may have changed
// after the Go runtime started.
func cGetenv(name string) string {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	v := C.getenv(cs)
	if v == nil {
		return ""
	}
	return C.GoString(v)
}

// setPadded fills a blank-padded Cryptoki string field.
func setPadded(dst []C.CK_UTF8CHAR, s string) {
	for i := range dst {
		if i < len(s) {
			dst[i] = C.CK_UTF8CHAR(s[i])
		} else {
			dst[i] = ' '
		}
	}
}

// bytesOf views n bytes of C memory at p; nil when p is NULL.
func bytesOf(p C.CK_BYTE_PTR, n C.CK_ULONG) []byte {
	if p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}

func rv(r module.RV) C.CK_RV { return C.CK_RV(r) }
