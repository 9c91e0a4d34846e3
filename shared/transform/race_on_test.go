//go:build race

package transform

// raceEnabled: the race detector is on, which keeps the compiler from removing some
// allocations (crypto/sha1's AppendBinary makes one).
const raceEnabled = true
