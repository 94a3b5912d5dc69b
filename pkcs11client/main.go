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

// withModule runs f on the initialised module. It answers
// CKR_CRYPTOKI_NOT_INITIALIZED when there is none and guards against panics.
func withModule(f func(m *module.Module) module.RV) (r C.CK_RV) {
	defer guard(&r)
	m := current()
	if m == nil {
		return rv(module.CKR_CRYPTOKI_NOT_INITIALIZED)
	}
	return rv(f(m))
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

// putList answers a Cryptoki list query with the caller's array dst of
// *pulCount elements: a NULL dst asks only for the length, and too small an
// array gets the length and CKR_BUFFER_TOO_SMALL.
func putList[E ~uint64](items []uint, dst *E, pulCount C.CK_ULONG_PTR) module.RV {
	n := C.CK_ULONG(len(items))
	switch {
	case dst == nil:
	case *pulCount < n:
		*pulCount = n
		return module.CKR_BUFFER_TOO_SMALL
	default:
		copyOut(dst, items)
	}
	*pulCount = n
	return module.CKR_OK
}

// copyOut writes items into the C array at dst, which has room for them.
func copyOut[E ~uint64](dst *E, items []uint) {
	out := unsafe.Slice(dst, len(items))
	for i, v := range items {
		out[i] = E(v)
	}
}

func rv(r module.RV) C.CK_RV { return C.CK_RV(r) }
