// Package logging builds the structured JSON logger every function uses.
package logging

import (
	"io"
	"log/slog"
	"strings"
)

// New returns a JSON slog logger writing to w at the named level (DEBUG, INFO, WARN,
// ERROR; INFO when empty or unknown).
func New(w io.Writer, level string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: ParseLevel(level)}))
}

// ParseLevel maps a level name to a slog.Level, defaulting to INFO.
func ParseLevel(s string) slog.Level {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "DEBUG":
		return slog.LevelDebug
	case "WARN", "WARNING":
		return slog.LevelWarn
	case "ERROR":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}
