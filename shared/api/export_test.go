package api

// ErrorCodes exposes the error codes to the external tests.
var ErrorCodes = errorCodes

// CheckName and CanonicalPod expose two input rules, to hold openapi.yaml's patterns to them.
var (
	CheckName    = checkName
	CanonicalPod = canonicalPod
)
