// Package harness tests the built PKCS#11 module as a host would: it builds
// the shared library, loads it with github.com/miekg/pkcs11 against a fake
// Keyserver, and makes the raw calls miekg/pkcs11 cannot (NULL arguments,
// fork) through the small cgo helper in this file.
package harness

/*
#cgo CFLAGS: -I/usr/include/p11-kit-1
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR fl;

static int h_load(const char *path) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) return -1;
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR) = (CK_RV (*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(h, "C_GetFunctionList");
	if (get == NULL) return -2;
	if (get(NULL) != CKR_ARGUMENTS_BAD) return -3;
	return get(&fl) == CKR_OK ? 0 : -4;
}

typedef struct { CK_UTF8CHAR *name; CK_VOID_PTR list; CK_FLAGS flags; } h_interface;

// h_raw_cases runs calls with bad arguments on an initialised module and
// stores their return values in out (at least 16 entries).
static int h_raw_cases(CK_RV *out) {
	CK_SESSION_HANDLE s;
	CK_ULONG n = 0;
	CK_BYTE data[4] = {1, 2, 3, 4};
	CK_ATTRIBUTE attr = {CKA_LABEL, NULL, 0};
	CK_C_INITIALIZE_ARGS args;
	int i = 0;
	if (fl->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK) return -1;
	out[i++] = fl->C_GetInfo(NULL);
	out[i++] = fl->C_GetSlotList(CK_TRUE, NULL, NULL);
	out[i++] = fl->C_GetTokenInfo(1, NULL);
	out[i++] = fl->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, NULL);
	out[i++] = fl->C_GetAttributeValue(s, 1, NULL, 1);
	out[i++] = fl->C_FindObjectsInit(s, NULL, 1);
	out[i++] = fl->C_FindObjects(s, NULL, 1, &n);
	out[i++] = fl->C_Sign(s, data, sizeof data, NULL, NULL);
	out[i++] = fl->C_Finalize((CK_VOID_PTR)&n);
	memset(&args, 0, sizeof args);
	args.pReserved = &n;
	out[i++] = fl->C_Initialize(&args);
	memset(&args, 0, sizeof args);
	args.CreateMutex = (CK_CREATEMUTEX)1;
	out[i++] = fl->C_Initialize(&args);
	out[i++] = fl->C_Initialize(NULL);
	out[i++] = fl->C_GetMechanismInfo(1, CKM_ECDSA, NULL);
	out[i++] = fl->C_GetSessionInfo(s, NULL);
	out[i++] = fl->C_SignInit(s, NULL, 1);
	out[i++] = fl->C_EncryptInit(s, NULL, 1);
	out[i++] = fl->C_GetAttributeValue(s, 1, &attr, 1) == CKR_OK && attr.ulValueLen == 4 ? CKR_OK : CKR_GENERAL_ERROR;
	fl->C_CloseSession(s);
	return i;
}

// h_get_interface checks that C_GetInterface hands out the same function list.
static CK_RV h_get_interface(void *lib) {
	CK_RV (*get)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, h_interface **, CK_FLAGS) =
		(CK_RV (*)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, h_interface **, CK_FLAGS))dlsym(lib, "C_GetInterface");
	h_interface *ifc = NULL;
	if (get == NULL) return CKR_FUNCTION_NOT_SUPPORTED;
	CK_RV rv = get((CK_UTF8CHAR_PTR)"PKCS 11", NULL, &ifc, 0);
	if (rv != CKR_OK) return rv;
	return ifc->list == (void *)fl && strcmp((char *)ifc->name, "PKCS 11") == 0 ? CKR_OK : CKR_GENERAL_ERROR;
}

static CK_RV h_interface_of(const char *path) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	return h == NULL ? CKR_GENERAL_ERROR : h_get_interface(h);
}

// h_fork_child forks; the child calls C_Initialize and C_GetInfo and exits 0
// when they refuse cleanly. Returns the child's exit status or -1.
static int h_fork_child(void) {
	pid_t pid = fork();
	if (pid < 0) return -1;
	if (pid == 0) {
		CK_INFO info;
		CK_RV a = fl->C_Initialize(NULL);
		CK_RV b = fl->C_GetInfo(&info);
		_exit(a == CKR_GENERAL_ERROR && b == CKR_CRYPTOKI_NOT_INITIALIZED ? 0 : 1);
	}
	int status = 0;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
	return WEXITSTATUS(status);
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Load opens the module at path for the raw calls.
func Load(path string) error {
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	if rc := C.h_load(cs); rc != 0 {
		return fmt.Errorf("loading %s for raw calls: step %d failed", path, int(rc))
	}
	return nil
}

// RawCase is one raw call and its return value.
type RawCase struct {
	Name string
	Got  uint
}

var rawCaseNames = []string{
	"C_GetInfo(NULL)", "C_GetSlotList(NULL count)", "C_GetTokenInfo(NULL)", "C_OpenSession(NULL handle)",
	"C_GetAttributeValue(NULL template)", "C_FindObjectsInit(NULL template)", "C_FindObjects(NULL handles)",
	"C_Sign(NULL length)", "C_Finalize(non-NULL reserved)", "C_Initialize(non-NULL reserved)",
	"C_Initialize(one mutex callback)", "C_Initialize twice", "C_GetMechanismInfo(NULL)",
	"C_GetSessionInfo(NULL)", "C_SignInit(NULL mechanism) cancels", "C_EncryptInit", "C_GetAttributeValue(length query)",
}

// RawCases runs the raw calls on an initialised module.
func RawCases() ([]RawCase, error) {
	var out [32]C.CK_RV
	n := int(C.h_raw_cases(&out[0]))
	if n != len(rawCaseNames) {
		return nil, fmt.Errorf("raw calls ran %d cases, want %d", n, len(rawCaseNames))
	}
	cases := make([]RawCase, n)
	for i := range cases {
		cases[i] = RawCase{Name: rawCaseNames[i], Got: uint(out[i])}
	}
	return cases, nil
}

// InterfaceMatches reports C_GetInterface's result: CKR_OK when it returns
// the module's own function list under the name "PKCS 11".
func InterfaceMatches(path string) uint {
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	return uint(C.h_interface_of(cs))
}

// ForkChild forks; the child tries the module and exits 0 when it refuses
// cleanly. It returns the child's exit status.
func ForkChild() int { return int(C.h_fork_child()) }
