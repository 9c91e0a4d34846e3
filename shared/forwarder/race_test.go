//go:build race

package forwarder

// raceDetector: the tests run with -race, whose allocations distort heap figures.
const raceDetector = true
