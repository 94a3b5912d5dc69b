package module

// Cryptoki numbers from the PKCS#11 2.40 and 3.0 specifications, the few this
// module uses. They are plain numbers so the package needs no cgo.

// RV is a Cryptoki return value (CK_RV).
type RV uint

// Return values.
const (
	CKR_OK                             RV = 0x000
	CKR_HOST_MEMORY                    RV = 0x002
	CKR_SLOT_ID_INVALID                RV = 0x003
	CKR_GENERAL_ERROR                  RV = 0x005
	CKR_FUNCTION_FAILED                RV = 0x006
	CKR_ARGUMENTS_BAD                  RV = 0x007
	CKR_NEED_TO_CREATE_THREADS         RV = 0x009
	CKR_CANT_LOCK                      RV = 0x00A
	CKR_ATTRIBUTE_READ_ONLY            RV = 0x010
	CKR_ATTRIBUTE_SENSITIVE            RV = 0x011
	CKR_ATTRIBUTE_TYPE_INVALID         RV = 0x012
	CKR_ATTRIBUTE_VALUE_INVALID        RV = 0x013
	CKR_ACTION_PROHIBITED              RV = 0x01B
	CKR_DATA_INVALID                   RV = 0x020
	CKR_DATA_LEN_RANGE                 RV = 0x021
	CKR_DEVICE_ERROR                   RV = 0x030
	CKR_DEVICE_MEMORY                  RV = 0x031
	CKR_DEVICE_REMOVED                 RV = 0x032
	CKR_FUNCTION_CANCELED              RV = 0x050
	CKR_FUNCTION_NOT_SUPPORTED         RV = 0x054
	CKR_KEY_HANDLE_INVALID             RV = 0x060
	CKR_KEY_TYPE_INCONSISTENT          RV = 0x063
	CKR_KEY_FUNCTION_NOT_PERMITTED     RV = 0x068
	CKR_MECHANISM_INVALID              RV = 0x070
	CKR_MECHANISM_PARAM_INVALID        RV = 0x071
	CKR_OBJECT_HANDLE_INVALID          RV = 0x082
	CKR_OPERATION_ACTIVE               RV = 0x090
	CKR_OPERATION_NOT_INITIALIZED      RV = 0x091
	CKR_PIN_EXPIRED                    RV = 0x0A3
	CKR_SESSION_CLOSED                 RV = 0x0B0
	CKR_SESSION_HANDLE_INVALID         RV = 0x0B3
	CKR_SESSION_PARALLEL_NOT_SUPPORTED RV = 0x0B4
	CKR_SESSION_READ_ONLY_EXISTS       RV = 0x0B7
	CKR_TEMPLATE_INCONSISTENT          RV = 0x0D1
	CKR_TOKEN_NOT_PRESENT              RV = 0x0E0
	CKR_TOKEN_WRITE_PROTECTED          RV = 0x0E2
	CKR_USER_ALREADY_LOGGED_IN         RV = 0x100
	CKR_USER_NOT_LOGGED_IN             RV = 0x101
	CKR_USER_TYPE_INVALID              RV = 0x103
	CKR_BUFFER_TOO_SMALL               RV = 0x150
	CKR_CRYPTOKI_NOT_INITIALIZED       RV = 0x190
	CKR_CRYPTOKI_ALREADY_INITIALIZED   RV = 0x191
	CKR_FUNCTION_REJECTED              RV = 0x200
	CKR_TOKEN_RESOURCE_EXCEEDED        RV = 0x201
)

// Object classes, key types, certificate types.
const (
	CKO_CERTIFICATE = 0x1
	CKO_PUBLIC_KEY  = 0x2
	CKO_PRIVATE_KEY = 0x3

	CKK_RSA = 0x0
	CKK_EC  = 0x3

	CKC_X_509 = 0x0

	CK_CERTIFICATE_CATEGORY_UNSPECIFIED = 0
	CK_CERTIFICATE_CATEGORY_TOKEN_USER  = 1

	CK_UNAVAILABLE_INFORMATION = ^uint(0)
)

// Attribute types.
const (
	CKA_CLASS                      = 0x000
	CKA_TOKEN                      = 0x001
	CKA_PRIVATE                    = 0x002
	CKA_LABEL                      = 0x003
	CKA_VALUE                      = 0x011
	CKA_CERTIFICATE_TYPE           = 0x080
	CKA_ISSUER                     = 0x081
	CKA_SERIAL_NUMBER              = 0x082
	CKA_TRUSTED                    = 0x086
	CKA_CERTIFICATE_CATEGORY       = 0x087
	CKA_CHECK_VALUE                = 0x090
	CKA_KEY_TYPE                   = 0x100
	CKA_SUBJECT                    = 0x101
	CKA_ID                         = 0x102
	CKA_SENSITIVE                  = 0x103
	CKA_ENCRYPT                    = 0x104
	CKA_DECRYPT                    = 0x105
	CKA_WRAP                       = 0x106
	CKA_UNWRAP                     = 0x107
	CKA_SIGN                       = 0x108
	CKA_SIGN_RECOVER               = 0x109
	CKA_VERIFY                     = 0x10A
	CKA_VERIFY_RECOVER             = 0x10B
	CKA_DERIVE                     = 0x10C
	CKA_START_DATE                 = 0x110
	CKA_END_DATE                   = 0x111
	CKA_MODULUS                    = 0x120
	CKA_MODULUS_BITS               = 0x121
	CKA_PUBLIC_EXPONENT            = 0x122
	CKA_PRIVATE_EXPONENT           = 0x123
	CKA_PRIME_1                    = 0x124
	CKA_PRIME_2                    = 0x125
	CKA_EXPONENT_1                 = 0x126
	CKA_EXPONENT_2                 = 0x127
	CKA_COEFFICIENT                = 0x128
	CKA_PUBLIC_KEY_INFO            = 0x129
	CKA_EXTRACTABLE                = 0x162
	CKA_LOCAL                      = 0x163
	CKA_NEVER_EXTRACTABLE          = 0x164
	CKA_ALWAYS_SENSITIVE           = 0x165
	CKA_KEY_GEN_MECHANISM          = 0x166
	CKA_MODIFIABLE                 = 0x170
	CKA_COPYABLE                   = 0x171
	CKA_DESTROYABLE                = 0x172
	CKA_EC_PARAMS                  = 0x180
	CKA_EC_POINT                   = 0x181
	CKA_ALWAYS_AUTHENTICATE        = 0x202
	CKA_WRAP_WITH_TRUSTED          = 0x210
	CKA_ALLOWED_MECHANISMS         = 0x40000600
	CKA_URL                        = 0x089
	CKA_HASH_OF_SUBJECT_PUBLIC_KEY = 0x08A
	CKA_HASH_OF_ISSUER_PUBLIC_KEY  = 0x08B
	CKA_JAVA_MIDP_SECURITY_DOMAIN  = 0x088
)

// Mechanisms.
const (
	CKM_RSA_PKCS_KEY_PAIR_GEN = 0x0000
	CKM_RSA_PKCS              = 0x0001
	CKM_RSA_PKCS_PSS          = 0x000D
	CKM_SHA256_RSA_PKCS       = 0x0040
	CKM_SHA384_RSA_PKCS       = 0x0041
	CKM_SHA512_RSA_PKCS       = 0x0042
	CKM_SHA256_RSA_PKCS_PSS   = 0x0043
	CKM_SHA384_RSA_PKCS_PSS   = 0x0044
	CKM_SHA512_RSA_PKCS_PSS   = 0x0045
	CKM_SHA256                = 0x0250
	CKM_SHA384                = 0x0260
	CKM_SHA512                = 0x0270
	CKM_EC_KEY_PAIR_GEN       = 0x1040
	CKM_ECDSA                 = 0x1041
	CKM_ECDSA_SHA256          = 0x1044
	CKM_ECDSA_SHA384          = 0x1045
	CKM_ECDSA_SHA512          = 0x1046

	CKG_MGF1_SHA256 = 0x2
	CKG_MGF1_SHA384 = 0x3
	CKG_MGF1_SHA512 = 0x4
)

// Flags.
const (
	CKF_TOKEN_PRESENT        = 0x1
	CKF_HW_SLOT              = 0x4
	CKF_WRITE_PROTECTED      = 0x2
	CKF_USER_PIN_INITIALIZED = 0x8
	CKF_TOKEN_INITIALIZED    = 0x400
	CKF_RW_SESSION           = 0x2
	CKF_SERIAL_SESSION       = 0x4
	CKF_HW                   = 0x1
	CKF_SIGN                 = 0x800
	CKF_VERIFY               = 0x2000
	CKF_EC_F_P               = 0x100000
	CKF_EC_NAMEDCURVE        = 0x800000
	CKF_EC_UNCOMPRESS        = 0x1000000

	CKU_SO               = 0
	CKU_USER             = 1
	CKU_CONTEXT_SPECIFIC = 2

	CKS_RO_PUBLIC_SESSION = 0
	CKS_RO_USER_FUNCTIONS = 1
	CKS_RW_PUBLIC_SESSION = 2
	CKS_RW_USER_FUNCTIONS = 3
)
