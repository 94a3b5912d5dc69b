package module

// InitArgs is what C_Initialize was given, reduced to what is checked.
type InitArgs struct {
	Present         bool // pInitArgs was not NULL
	Mutexes         int  // how many of the four mutex callbacks are set
	Flags           uint
	ReservedNotNull bool
}

// C_Initialize flags.
const (
	CKF_LIBRARY_CANT_CREATE_OS_THREADS = 0x1
	CKF_OS_LOCKING_OK                  = 0x2
)

// CheckInitArgs applies the rules of C_Initialize. The module always locks
// with Go's own primitives (native OS threads and futexes). Mutex callbacks
// given without CKF_OS_LOCKING_OK are accepted but not called: p11-kit (and
// so p11tool/GnuTLS) passes them that way, and a Go library cannot run on an
// application's own threading model anyway.
//
// CKF_LIBRARY_CANT_CREATE_OS_THREADS is accepted too: GnuTLS (p11tool) sets
// it on every module it loads, and the Go runtime's threads are started by
// the runtime when the library is loaded, not by C_Initialize. Refusing it
// with CKR_NEED_TO_CREATE_THREADS would make p11tool unusable.
func CheckInitArgs(a InitArgs) RV {
	if !a.Present {
		return CKR_OK
	}
	if a.ReservedNotNull {
		return CKR_ARGUMENTS_BAD
	}
	if a.Mutexes != 0 && a.Mutexes != 4 {
		return CKR_ARGUMENTS_BAD
	}
	return CKR_OK
}
