// Package integrationsapp is the Integrations function's composition root: it reads the
// settings the template sets, builds the AWS adapters, and hands them to controlcenter
// behind api (New), with the console at /console (NewFunction), fitting the adapters to
// the ports those packages declare. functions/integrations, the local dev server, the API
// fuzzing server and the end-to-end tests build their handlers here.
package integrationsapp
