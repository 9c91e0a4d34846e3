package api

// ErrorCodes exposes the error codes to the external tests.
var ErrorCodes = errorCodes
