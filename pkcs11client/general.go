package main

/*
#include <p11-kit/pkcs11.h>
*/
import "C"

import (
	"unsafe"

	"keyserver/pkcs11client/internal/module"
)

//export ksInitialize
func ksInitialize(pInitArgs C.CK_VOID_PTR) (r C.CK_RV) {
	defer guard(&r)
	a := module.InitArgs{Present: pInitArgs != nil}
	if a.Present {
		args := (*C.CK_C_INITIALIZE_ARGS)(pInitArgs)
		for _, set := range []bool{args.CreateMutex != nil, args.DestroyMutex != nil, args.LockMutex != nil, args.UnlockMutex != nil} {
			if set {
				a.Mutexes++
			}
		}
		a.Flags = uint(args.flags)
		a.ReservedNotNull = args.pReserved != nil
	}
	if code := module.CheckInitArgs(a); code != module.CKR_OK {
		return rv(code)
	}
	stateMu.Lock()
	defer stateMu.Unlock()
	if mod != nil {
		return rv(module.CKR_CRYPTOKI_ALREADY_INITIALIZED)
	}
	mod = module.New(module.Options{Getenv: cGetenv})
	return rv(module.CKR_OK)
}

//export ksFinalize
func ksFinalize(pReserved C.CK_VOID_PTR) (r C.CK_RV) {
	defer guard(&r)
	if pReserved != nil {
		return rv(module.CKR_ARGUMENTS_BAD)
	}
	stateMu.Lock()
	defer stateMu.Unlock()
	if mod == nil {
		return rv(module.CKR_CRYPTOKI_NOT_INITIALIZED)
	}
	mod = nil
	return rv(module.CKR_OK)
}

//export ksGetInfo
func ksGetInfo(pInfo C.CK_INFO_PTR) C.CK_RV {
	return withModule(func(*module.Module) module.RV {
		if pInfo == nil {
			return module.CKR_ARGUMENTS_BAD
		}
		*pInfo = C.CK_INFO{}
		pInfo.cryptokiVersion = C.CK_VERSION{major: 2, minor: 40}
		setPadded(pInfo.manufacturerID[:], "libpkcs11ks")
		setPadded(pInfo.libraryDescription[:], "Keyserver PKCS#11 module")
		pInfo.libraryVersion = C.CK_VERSION{major: 1, minor: 0}
		return module.CKR_OK
	})
}

//export ksGetSlotList
func ksGetSlotList(tokenPresent C.CK_BBOOL, pSlotList C.CK_SLOT_ID_PTR, pulCount C.CK_ULONG_PTR) C.CK_RV {
	return withModule(func(m *module.Module) module.RV {
		if pulCount == nil {
			return module.CKR_ARGUMENTS_BAD
		}
		return putList(m.SlotList(tokenPresent != 0), pSlotList, pulCount)
	})
}

//export ksGetSlotInfo
func ksGetSlotInfo(slotID C.CK_SLOT_ID, pInfo C.CK_SLOT_INFO_PTR) C.CK_RV {
	return withModule(func(m *module.Module) module.RV {
		if code := module.CheckSlot(uint(slotID)); code != module.CKR_OK {
			return code
		}
		if pInfo == nil {
			return module.CKR_ARGUMENTS_BAD
		}
		*pInfo = C.CK_SLOT_INFO{}
		setPadded(pInfo.slotDescription[:], "Keyserver remote signing")
		setPadded(pInfo.manufacturerID[:], "libpkcs11ks")
		pInfo.flags = C.CK_FLAGS(module.CKF_HW_SLOT)
		if m.TokenPresent() {
			pInfo.flags |= C.CK_FLAGS(module.CKF_TOKEN_PRESENT)
		}
		pInfo.hardwareVersion = C.CK_VERSION{major: 1}
		pInfo.firmwareVersion = C.CK_VERSION{major: 1}
		return module.CKR_OK
	})
}

//export ksGetTokenInfo
func ksGetTokenInfo(slotID C.CK_SLOT_ID, pInfo C.CK_TOKEN_INFO_PTR) C.CK_RV {
	return withModule(func(m *module.Module) module.RV {
		if pInfo == nil {
			return module.CKR_ARGUMENTS_BAD
		}
		ti, code := m.TokenInfo(uint(slotID))
		if code != module.CKR_OK {
			return code
		}
		const unavailable = C.CK_ULONG(module.CK_UNAVAILABLE_INFORMATION)
		*pInfo = C.CK_TOKEN_INFO{}
		setPadded(pInfo.label[:], ti.Label)
		setPadded(pInfo.manufacturerID[:], ti.Manufacturer)
		setPadded(pInfo.model[:], ti.Model)
		setPadded((*[16]C.CK_UTF8CHAR)(unsafe.Pointer(&pInfo.serialNumber))[:], ti.Serial)
		pInfo.flags = C.CK_FLAGS(ti.Flags)
		pInfo.ulMaxSessionCount = 0 // CK_EFFECTIVELY_INFINITE
		pInfo.ulSessionCount = C.CK_ULONG(ti.Sessions)
		pInfo.ulMaxRwSessionCount = 0
		pInfo.ulRwSessionCount = C.CK_ULONG(ti.RWSessions)
		pInfo.ulMaxPinLen = 255
		pInfo.ulMinPinLen = 0
		pInfo.ulTotalPublicMemory = unavailable
		pInfo.ulFreePublicMemory = unavailable
		pInfo.ulTotalPrivateMemory = unavailable
		pInfo.ulFreePrivateMemory = unavailable
		pInfo.hardwareVersion = C.CK_VERSION{major: 1}
		pInfo.firmwareVersion = C.CK_VERSION{major: 1}
		setPadded((*[16]C.CK_UTF8CHAR)(unsafe.Pointer(&pInfo.utcTime))[:], "")
		return module.CKR_OK
	})
}

//export ksGetMechanismList
func ksGetMechanismList(slotID C.CK_SLOT_ID, pList C.CK_MECHANISM_TYPE_PTR, pulCount C.CK_ULONG_PTR) C.CK_RV {
	return withModule(func(m *module.Module) module.RV {
		if pulCount == nil {
			return module.CKR_ARGUMENTS_BAD
		}
		mechs, code := m.MechanismList(uint(slotID))
		if code != module.CKR_OK {
			return code
		}
		return putList(mechs, pList, pulCount)
	})
}

//export ksGetMechanismInfo
func ksGetMechanismInfo(slotID C.CK_SLOT_ID, mechType C.CK_MECHANISM_TYPE, pInfo C.CK_MECHANISM_INFO_PTR) C.CK_RV {
	return withModule(func(m *module.Module) module.RV {
		if pInfo == nil {
			return module.CKR_ARGUMENTS_BAD
		}
		minBits, maxBits, flags, code := m.MechanismInfo(uint(slotID), uint(mechType))
		if code != module.CKR_OK {
			return code
		}
		pInfo.ulMinKeySize = C.CK_ULONG(minBits)
		pInfo.ulMaxKeySize = C.CK_ULONG(maxBits)
		pInfo.flags = C.CK_FLAGS(flags)
		return module.CKR_OK
	})
}
