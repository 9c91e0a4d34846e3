// Package app holds what the two functions' composition roots share: the AWS configuration
// a function builds from the environment Lambda sets (LambdaAWSConfig). The roots
// themselves are its subpackages, one per function so that each binary links only what it
// runs: forwarderapp (the Forwarder) and integrationsapp (the Integrations API and its
// console).
package app
