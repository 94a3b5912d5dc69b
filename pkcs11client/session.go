package main

/*
#include <p11-kit/pkcs11.h>
*/
import "C"

import "keyserver/pkcs11client/internal/module"

//export ksOpenSession
func ksOpenSession(slotID C.CK_SLOT_ID, flags C.CK_FLAGS, pApplication C.CK_VOID_PTR, notify C.CK_NOTIFY, phSession C.CK_SESSION_HANDLE_PTR) C.CK_RV {
	return withModule(func(m *module.Module) module.RV {
		if phSession == nil {
			return module.CKR_ARGUMENTS_BAD
		}
		h, code := m.OpenSession(uint(slotID), uint(flags))
		if code == module.CKR_OK {
			*phSession = C.CK_SESSION_HANDLE(h)
		}
		return code
	})
}

//export ksCloseSession
func ksCloseSession(hSession C.CK_SESSION_HANDLE) C.CK_RV {
	return withModule(func(m *module.Module) module.RV {
		return m.CloseSession(uint(hSession))
	})
}

//export ksCloseAllSessions
func ksCloseAllSessions(slotID C.CK_SLOT_ID) C.CK_RV {
	return withModule(func(m *module.Module) module.RV {
		return m.CloseAllSessions(uint(slotID))
	})
}

//export ksGetSessionInfo
func ksGetSessionInfo(hSession C.CK_SESSION_HANDLE, pInfo C.CK_SESSION_INFO_PTR) C.CK_RV {
	return withModule(func(m *module.Module) module.RV {
		if pInfo == nil {
			return module.CKR_ARGUMENTS_BAD
		}
		state, flags, code := m.SessionInfo(uint(hSession))
		if code != module.CKR_OK {
			return code
		}
		pInfo.slotID = C.CK_SLOT_ID(module.SlotID)
		pInfo.state = C.CK_STATE(state)
		pInfo.flags = C.CK_FLAGS(flags)
		pInfo.ulDeviceError = 0
		return module.CKR_OK
	})
}

//export ksLogin
func ksLogin(hSession C.CK_SESSION_HANDLE, userType C.CK_USER_TYPE, pPin C.CK_UTF8CHAR_PTR, ulPinLen C.CK_ULONG) C.CK_RV {
	return withModule(func(m *module.Module) module.RV {
		if pPin == nil && ulPinLen != 0 {
			return module.CKR_ARGUMENTS_BAD
		}
		return m.Login(uint(hSession), uint(userType))
	})
}

//export ksLogout
func ksLogout(hSession C.CK_SESSION_HANDLE) C.CK_RV {
	return withModule(func(m *module.Module) module.RV {
		return m.Logout(uint(hSession))
	})
}
