// Package forwarderapp is the Forwarder's composition root: it reads the settings the
// template sets, builds the AWS adapters (DynamoDB, SQS, Secrets Manager) and the mParticle
// client, and hands them to package forwarder. functions/forwarder, the local dev server,
// the soak and the end-to-end tests all build their handler with New, so what runs locally
// is wired exactly as what is deployed. It imports nothing of the Integrations API (api,
// controlcenter, console): the Forwarder's binary links, and initialises at every cold
// start, only what it runs.
package forwarderapp
