package main

/*
#include <p11-kit/pkcs11.h>
*/
import "C"

import (
	"unsafe"

	"keyserver/pkcs11client/internal/module"
)

//export ksGetObjectSize
func ksGetObjectSize(hSession C.CK_SESSION_HANDLE, hObject C.CK_OBJECT_HANDLE, pulSize C.CK_ULONG_PTR) C.CK_RV {
	return withModule(func(m *module.Module) module.RV {
		if pulSize == nil {
			return module.CKR_ARGUMENTS_BAD
		}
		n, code := m.ObjectSize(uint(hSession), uint(hObject))
		if code == module.CKR_OK {
			*pulSize = C.CK_ULONG(n)
		}
		return code
	})
}

//export ksGetAttributeValue
func ksGetAttributeValue(hSession C.CK_SESSION_HANDLE, hObject C.CK_OBJECT_HANDLE, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG) C.CK_RV {
	return withModule(func(m *module.Module) module.RV {
		if pTemplate == nil && ulCount != 0 {
			return module.CKR_ARGUMENTS_BAD
		}
		tmpl := unsafe.Slice(pTemplate, int(ulCount))
		q := make([]module.AttrQuery, len(tmpl))
		for i, a := range tmpl {
			q[i] = module.AttrQuery{Type: uint(a._type), HasBuf: a.pValue != nil}
			if a.pValue != nil {
				q[i].Buf = unsafe.Slice((*byte)(a.pValue), int(a.ulValueLen))
			}
		}
		code := m.GetAttributeValue(uint(hSession), uint(hObject), q)
		if code == module.CKR_SESSION_HANDLE_INVALID || code == module.CKR_OBJECT_HANDLE_INVALID {
			return code
		}
		for i := range tmpl {
			tmpl[i].ulValueLen = C.CK_ULONG(q[i].Len)
		}
		return code
	})
}

//export ksFindObjectsInit
func ksFindObjectsInit(hSession C.CK_SESSION_HANDLE, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG) C.CK_RV {
	return withModule(func(m *module.Module) module.RV {
		if pTemplate == nil && ulCount != 0 {
			return module.CKR_ARGUMENTS_BAD
		}
		var tmpl []module.Attribute
		for _, a := range unsafe.Slice(pTemplate, int(ulCount)) {
			if a.pValue == nil && a.ulValueLen != 0 {
				return module.CKR_ARGUMENTS_BAD
			}
			var v []byte
			if a.pValue != nil {
				v = C.GoBytes(a.pValue, C.int(a.ulValueLen))
			}
			tmpl = append(tmpl, module.Attribute{Type: uint(a._type), Value: v})
		}
		return m.FindObjectsInit(uint(hSession), tmpl)
	})
}

//export ksFindObjects
func ksFindObjects(hSession C.CK_SESSION_HANDLE, phObject C.CK_OBJECT_HANDLE_PTR, ulMaxObjectCount C.CK_ULONG, pulObjectCount C.CK_ULONG_PTR) C.CK_RV {
	return withModule(func(m *module.Module) module.RV {
		if pulObjectCount == nil || (phObject == nil && ulMaxObjectCount != 0) {
			return module.CKR_ARGUMENTS_BAD
		}
		hs, code := m.FindObjects(uint(hSession), uint(ulMaxObjectCount))
		if code != module.CKR_OK {
			return code
		}
		copyOut(phObject, hs)
		*pulObjectCount = C.CK_ULONG(len(hs))
		return module.CKR_OK
	})
}

//export ksFindObjectsFinal
func ksFindObjectsFinal(hSession C.CK_SESSION_HANDLE) C.CK_RV {
	return withModule(func(m *module.Module) module.RV {
		return m.FindObjectsFinal(uint(hSession))
	})
}
