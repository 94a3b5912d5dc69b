package module

import "testing"

func TestServerErrorCodeOrStatus(t *testing.T) {
	cases := []struct {
		status int
		code   string
		want   RV
	}{
		{400, "forbidden", CKR_KEY_FUNCTION_NOT_PERMITTED},
		{503, "not_approved", CKR_FUNCTION_REJECTED},
		{401, "", CKR_USER_NOT_LOGGED_IN},
		{403, "odd", CKR_KEY_FUNCTION_NOT_PERMITTED},
		{404, "", CKR_KEY_HANDLE_INVALID},
		{410, "", CKR_PIN_EXPIRED},
		{429, "", CKR_FUNCTION_CANCELED},
		{503, "", CKR_DEVICE_ERROR},
		{500, "odd", CKR_GENERAL_ERROR},
	}
	for _, c := range cases {
		if got := serverError(c.status, c.code, "", "k", "op").RV; got != c.want {
			t.Errorf("serverError(%d, %q) = 0x%x, want 0x%x", c.status, c.code, got, c.want)
		}
	}
}
