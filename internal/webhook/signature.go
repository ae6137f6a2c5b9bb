package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

const sigPrefix = "sha256="

// SignGitHub returns the X-Hub-Signature-256 value GitHub would send for
// body; exported for clients and tests that play GitHub.
func SignGitHub(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return sigPrefix + hex.EncodeToString(m.Sum(nil))
}

// SignGeneric returns the X-Hotswap-Signature value for a generic request
// sent at timestamp (the exact X-Hotswap-Timestamp header text). CI
// scripts can compute the same with
// `printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$secret"`.
func SignGeneric(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return sigPrefix + hex.EncodeToString(m.Sum(nil))
}

// validSignature compares a received "sha256=<hex>" header with the
// expected value in constant time. Decoding first means the comparison is
// always between two 32-byte MACs, so timing reveals nothing about how much
// of the header was right.
func validSignature(header, expected string) bool {
	got, ok := decodeSig(header)
	if !ok {
		return false
	}
	want, _ := decodeSig(expected)
	return hmac.Equal(got, want)
}

func decodeSig(s string) ([]byte, bool) {
	hexPart, ok := strings.CutPrefix(s, sigPrefix)
	if !ok || len(hexPart) != 2*sha256.Size {
		return nil, false
	}
	b, err := hex.DecodeString(hexPart)
	if err != nil {
		return nil, false
	}
	return b, true
}

// tokenEqual compares a path token with a configured one in constant time,
// whatever their lengths: both are hashed first, so neither length nor
// content leaks through timing.
func tokenEqual(got string, want []byte) bool {
	if len(want) == 0 {
		return false
	}
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256(want)
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
