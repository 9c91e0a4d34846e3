// Package e2e holds tests that cross the product's two functions: integrations configured
// through the Integrations API, then events delivered by the Forwarder, on local stand-ins
// (moto for AWS, the project's mParticle contract server).
package e2e
