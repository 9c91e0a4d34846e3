package api

import _ "embed"

// Spec is the API's OpenAPI 3.0 description, the contract the tests hold the handler to.
//
//go:embed openapi.yaml
var Spec []byte
