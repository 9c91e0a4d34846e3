// Package app composes the two Lambda functions from their environment: it reads the settings
// the template sets, builds the AWS adapters, and hands them to the domain packages
// (forwarder; controlcenter behind api), fitting the adapters to the ports those packages
// declare. The functions' mains, the local dev server and the soak all build their
// handlers here, so what runs locally is wired exactly as what is deployed.
package app
