package main

/*
#include <p11-kit/pkcs11.h>
*/
import "C"

import "keyserver/pkcs11client/internal/module"

//export ksSignInit
func ksSignInit(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hKey C.CK_OBJECT_HANDLE) C.CK_RV {
	return withModule(func(m *module.Module) module.RV {
		if pMechanism == nil {
			return m.SignCancel(uint(hSession))
		}
		if pMechanism.pParameter == nil && pMechanism.ulParameterLen != 0 {
			return module.CKR_ARGUMENTS_BAD
		}
		var param []byte
		if pMechanism.pParameter != nil {
			param = C.GoBytes(pMechanism.pParameter, C.int(pMechanism.ulParameterLen))
		}
		return m.SignInit(uint(hSession), uint(pMechanism.mechanism), param, uint(hKey))
	})
}

//export ksSign
func ksSign(hSession C.CK_SESSION_HANDLE, pData C.CK_BYTE_PTR, ulDataLen C.CK_ULONG, pSignature C.CK_BYTE_PTR, pulSignatureLen C.CK_ULONG_PTR) C.CK_RV {
	return withModule(func(m *module.Module) module.RV {
		if pulSignatureLen == nil || (pData == nil && ulDataLen != 0) {
			return module.CKR_ARGUMENTS_BAD
		}
		data := append([]byte{}, bytesOf(pData, ulDataLen)...)
		n, code := m.Sign(uint(hSession), data, bytesOf(pSignature, *pulSignatureLen), pSignature != nil)
		return setLen(pulSignatureLen, n, code)
	})
}

//export ksSignUpdate
func ksSignUpdate(hSession C.CK_SESSION_HANDLE, pPart C.CK_BYTE_PTR, ulPartLen C.CK_ULONG) C.CK_RV {
	return withModule(func(m *module.Module) module.RV {
		if pPart == nil && ulPartLen != 0 {
			return module.CKR_ARGUMENTS_BAD
		}
		return m.SignUpdate(uint(hSession), append([]byte{}, bytesOf(pPart, ulPartLen)...))
	})
}

//export ksSignFinal
func ksSignFinal(hSession C.CK_SESSION_HANDLE, pSignature C.CK_BYTE_PTR, pulSignatureLen C.CK_ULONG_PTR) C.CK_RV {
	return withModule(func(m *module.Module) module.RV {
		if pulSignatureLen == nil {
			return module.CKR_ARGUMENTS_BAD
		}
		n, code := m.SignFinal(uint(hSession), bytesOf(pSignature, *pulSignatureLen), pSignature != nil)
		return setLen(pulSignatureLen, n, code)
	})
}

// setLen reports the signature length when the call succeeded or asked for
// a bigger buffer.
func setLen(p C.CK_ULONG_PTR, n uint, code module.RV) module.RV {
	if code == module.CKR_OK || code == module.CKR_BUFFER_TOO_SMALL {
		*p = C.CK_ULONG(n)
	}
	return code
}
