/*
 * p11time times the steps of one signature through a PKCS#11 module, in the
 * order openssl's pkcs11 engine takes them, and prints five numbers in
 * microseconds: load (dlopen, C_GetFunctionList), initialise (C_Initialize),
 * token (C_GetSlotList with a token present, C_GetTokenInfo), find (open a
 * session, log in when a PIN is given, find the private key by label) and
 * sign (C_SignInit and C_Sign with CKM_SHA256_RSA_PKCS).
 *
 * usage: p11time MODULE LABEL [PIN]
 * cmd/bench compiles and runs it; it is not part of the product.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <p11-kit/pkcs11.h>

static double now_us(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int fail(const char *what, CK_RV rv) {
	fprintf(stderr, "p11time: %s: CKR 0x%lx\n", what, (unsigned long)rv);
	return 1;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: p11time MODULE LABEL [PIN]\n");
		return 2;
	}
	double t[6];
	CK_RV rv;
	t[0] = now_us();
	void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "p11time: %s\n", dlerror());
		return 1;
	}
	CK_C_GetFunctionList getList = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
	CK_FUNCTION_LIST_PTR f;
	if (!getList || (rv = getList(&f)) != CKR_OK)
		return fail("C_GetFunctionList", getList ? rv : CKR_GENERAL_ERROR);
	t[1] = now_us();
	CK_C_INITIALIZE_ARGS args = {0};
	args.flags = CKF_OS_LOCKING_OK;
	if ((rv = f->C_Initialize(&args)) != CKR_OK)
		return fail("C_Initialize", rv);
	t[2] = now_us();
	CK_SLOT_ID slots[16];
	CK_ULONG nslots = 16;
	CK_TOKEN_INFO info;
	if ((rv = f->C_GetSlotList(CK_TRUE, slots, &nslots)) != CKR_OK || nslots == 0)
		return fail("C_GetSlotList", rv ? rv : CKR_TOKEN_NOT_PRESENT);
	if ((rv = f->C_GetTokenInfo(slots[0], &info)) != CKR_OK)
		return fail("C_GetTokenInfo", rv);
	t[3] = now_us();
	CK_SESSION_HANDLE s;
	if ((rv = f->C_OpenSession(slots[0], CKF_SERIAL_SESSION, NULL, NULL, &s)) != CKR_OK)
		return fail("C_OpenSession", rv);
	if (argc > 3 && (rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)argv[3], strlen(argv[3]))) != CKR_OK)
		return fail("C_Login", rv);
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, argv[2], strlen(argv[2])}};
	CK_OBJECT_HANDLE key;
	CK_ULONG found = 0;
	if ((rv = f->C_FindObjectsInit(s, tmpl, 2)) != CKR_OK || (rv = f->C_FindObjects(s, &key, 1, &found)) != CKR_OK)
		return fail("C_FindObjects", rv);
	f->C_FindObjectsFinal(s);
	if (found != 1)
		return fail("finding the key", CKR_KEY_HANDLE_INVALID);
	t[4] = now_us();
	CK_MECHANISM mech = {CKM_SHA256_RSA_PKCS, NULL, 0};
	CK_BYTE data[] = "benchmark payload", sig[1024];
	CK_ULONG siglen = sizeof sig;
	if ((rv = f->C_SignInit(s, &mech, key)) != CKR_OK || (rv = f->C_Sign(s, data, sizeof data - 1, sig, &siglen)) != CKR_OK)
		return fail("C_Sign", rv);
	t[5] = now_us();
	f->C_CloseSession(s);
	f->C_Finalize(NULL);
	printf("%.0f %.0f %.0f %.0f %.0f\n", t[1] - t[0], t[2] - t[1], t[3] - t[2], t[4] - t[3], t[5] - t[4]);
	return 0;
}
