// Package browser holds the console's real-browser tests. TestConsole (browser_test.go) starts
// the local stack as `make dev` does (shared/devtools/devserver: moto, the Integrations API
// with the console and the local OpenID provider, the Forwarder, the mParticle stand-in) and
// runs console_test.py under pytest: Playwright driving Debian's Chromium through the console
// as an operator would, with a screenshot of each step in .artifacts/console/.
//
// It needs Chromium and the pinned Playwright in .venv (`make browser-deps`); without them it
// fails, saying so. `go test -short` skips it.
package browser
